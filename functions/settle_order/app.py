"""Workflow task: give an order that will not ship its final status (after compensation ran)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.approvals_table import ApprovalsTable
from shop.adapters.orders_table import OrdersTable
from shop.domain.ordering import utc_now
from shop.observability import logger, metrics, tracer
from shop.settings import OrderTaskSettings, load_settings
from shop.usecases import fulfillment

settings = load_settings(OrderTaskSettings)
orders = OrdersTable(settings.orders_table_name)
approvals = ApprovalsTable(settings.orders_table_name)


class Settlement(fulfillment.OrderRef):
    outcome: fulfillment.Outcome


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settlement = Settlement.model_validate(event)
    ref = fulfillment.OrderRef(order_id=settlement.order_id, customer_id=settlement.customer_id)
    order = fulfillment.settle_order(orders, approvals, ref, settlement.outcome, utc_now())
    metrics.add_dimension(name="outcome", value=settlement.outcome.value)
    metrics.add_metric(name="OrdersNotShipped", unit="Count", value=1)
    logger.info("order settled", extra={"order_id": order.order_id, "outcome": settlement.outcome.value})
    return {"status": order.status.value, "failureReason": order.failure_reason}

"""Workflow task: end an order that will not ship — refund, give its stock back, close its approval, final status.

Every path of the workflow that does not ship comes here with what its last step left behind (a caught error or
a business outcome); the domain decides what that means for the order.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.approvals_table import ApprovalsTable
from shop.adapters.orders_table import OrdersTable
from shop.adapters.payment_provider import PaymentProvider
from shop.adapters.payments_table import PaymentsLedger
from shop.adapters.stock import StockLedger
from shop.domain.ordering import utc_now
from shop.observability import logger, metrics, tracer
from shop.settings import SettlementSettings, load_settings
from shop.usecases import fulfillment

settings = load_settings(SettlementSettings)
orders = OrdersTable(settings.orders_table_name)
approvals = ApprovalsTable(settings.orders_table_name)
payments = PaymentsLedger(settings.orders_table_name)
provider = PaymentProvider(settings.payment_provider_function_name)
stock = StockLedger(settings.catalog_table_name, settings.orders_table_name)


class WorkflowState(fulfillment.OrderRef):
    """The execution's state as the workflow hands it over: the last step's result or error, and the validation."""

    last: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = WorkflowState.model_validate(event)
    ref = fulfillment.OrderRef(order_id=state.order_id, customer_id=state.customer_id)
    settled = fulfillment.settle_order(
        ref,
        state.last or state.validation,
        utc_now(),
        orders=orders,
        approvals=approvals,
        payments=payments,
        provider=provider,
        stock=stock,
    )
    metrics.add_dimension(name="outcome", value=settled.outcome.value)
    metrics.add_metric(name="OrdersNotShipped", unit="Count", value=1)
    logger.info("order settled", extra={"order_id": ref.order_id, **settled.model_dump(mode="json")})
    return settled.model_dump(mode="json")

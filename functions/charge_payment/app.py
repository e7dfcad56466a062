"""Workflow task: capture the order's payment once (retried by the state machine on transient errors)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.orders_table import OrdersTable
from shop.adapters.payments_table import PaymentsLedger
from shop.domain.ordering import utc_now
from shop.observability import logger, metrics, tracer
from shop.settings import OrderTaskSettings, load_settings
from shop.usecases import fulfillment

settings = load_settings(OrderTaskSettings)
orders = OrdersTable(settings.orders_table_name)
payments = PaymentsLedger(settings.orders_table_name)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ref = fulfillment.OrderRef.model_validate(event)
    payment = fulfillment.charge_payment(orders, payments, ref, utc_now())
    metrics.add_metric(name="PaymentsCaptured", unit="Count", value=1)
    logger.info("payment captured", extra={"order_id": ref.order_id, "amount_cents": payment.amount_cents})
    return payment.model_dump(mode="json")

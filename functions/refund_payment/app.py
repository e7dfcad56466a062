"""Workflow compensation: refund a captured payment (a no-op when nothing was captured)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.orders_table import OrdersTable
from shop.adapters.payments_table import PaymentsLedger
from shop.domain.ordering import utc_now
from shop.observability import logger, tracer
from shop.settings import OrderTaskSettings, load_settings
from shop.usecases import fulfillment

settings = load_settings(OrderTaskSettings)
orders = OrdersTable(settings.orders_table_name)
payments = PaymentsLedger(settings.orders_table_name)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ref = fulfillment.OrderRef.model_validate(event)
    refunded = fulfillment.refund_payment(orders, payments, ref, utc_now())
    logger.info("payment refund", extra={"order_id": ref.order_id, "refunded": refunded})
    return {"refunded": refunded}

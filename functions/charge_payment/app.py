"""Workflow task: take the order's payment once, under an idempotency key derived from the order (a retry after a
time-out reconciles with the provider instead of charging again)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.orders_table import OrdersTable
from shop.adapters.payment_provider import PaymentProvider
from shop.adapters.payments_table import PaymentsLedger
from shop.domain.ordering import utc_now
from shop.observability import logger, metrics, tracer
from shop.settings import PaymentTaskSettings, load_settings
from shop.usecases import fulfillment

settings = load_settings(PaymentTaskSettings)
orders = OrdersTable(settings.orders_table_name)
payments = PaymentsLedger(settings.orders_table_name)
provider = PaymentProvider(settings.payment_provider_function_name)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ref = fulfillment.OrderRef.model_validate(event)
    charged = fulfillment.charge_payment(orders, payments, provider, ref, utc_now())
    metrics.add_dimension(name="outcome", value=charged.outcome.value)
    metrics.add_metric(name="PaymentAttempts", unit="Count", value=1)
    logger.info("payment step", extra={"order_id": ref.order_id, **charged.model_dump(mode="json")})
    return charged.model_dump(mode="json")

"""Workflow task: check the order can still be fulfilled and decide whether it needs an approver."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable
from shop.observability import logger, tracer
from shop.settings import ValidationSettings, load_settings
from shop.usecases import fulfillment

settings = load_settings(ValidationSettings)
orders = OrdersTable(settings.orders_table_name)
catalog = CatalogTable(settings.catalog_table_name)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ref = fulfillment.OrderRef.model_validate(event)
    validation = fulfillment.validate_order(orders, catalog, ref, settings.approval_threshold_cents)
    logger.info(
        "order validated",
        extra={
            "order_id": ref.order_id,
            "outcome": validation.outcome.value,
            "needs_approval": validation.needs_approval,
        },
    )
    return validation.model_dump(mode="json")

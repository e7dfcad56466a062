"""Workflow task: reserve the order's units in one transaction (never below zero, once per order)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.orders_table import OrdersTable
from shop.adapters.stock import StockLedger
from shop.observability import logger, tracer
from shop.settings import StockTaskSettings, load_settings
from shop.usecases import fulfillment

settings = load_settings(StockTaskSettings)
orders = OrdersTable(settings.orders_table_name)
stock = StockLedger(settings.catalog_table_name, settings.orders_table_name)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ref = fulfillment.OrderRef.model_validate(event)
    reserved = fulfillment.reserve_stock(orders, stock, ref)
    logger.info("stock reservation", extra={"order_id": ref.order_id, **reserved.model_dump(mode="json")})
    return reserved.model_dump(mode="json")

"""Workflow task: the warehouse shipped; sell the reserved units and mark the order SHIPPED."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from shop.adapters.orders_table import OrdersTable
from shop.adapters.stock import StockLedger
from shop.domain.ordering import utc_now
from shop.observability import logger, tracer
from shop.settings import StockTaskSettings, load_settings
from shop.usecases import fulfillment

settings = load_settings(StockTaskSettings)
orders = OrdersTable(settings.orders_table_name)
stock = StockLedger(settings.catalog_table_name, settings.orders_table_name)


class Shipment(fulfillment.OrderRef):
    tracking_number: str = Field(min_length=1, max_length=64)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    shipment = Shipment.model_validate(event)
    ref = fulfillment.OrderRef(order_id=shipment.order_id, customer_id=shipment.customer_id)
    order = fulfillment.complete_shipment(orders, stock, ref, shipment.tracking_number, utc_now())
    logger.info("order shipped", extra={"order_id": order.order_id, "tracking_number": order.tracking_number})
    return {"status": order.status.value, "trackingNumber": order.tracking_number}

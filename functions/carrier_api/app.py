"""Carrier API (API key, throttled usage plan): a partner carrier reports a delivery, SHIPPED → DELIVERED."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from shop.adapters.orders_table import OrdersTable
from shop.domain.models import Order, RequestModel, Timestamp
from shop.domain.ordering import utc_now
from shop.http import docs, problems
from shop.http.identity import carrier_caller
from shop.http.limits import guard_request_body
from shop.observability import logger, metrics, tracer
from shop.settings import CarrierApiSettings, load_settings
from shop.usecases import fulfillment

settings = load_settings(CarrierApiSettings)
orders = OrdersTable(settings.orders_table_name)

app = APIGatewayRestResolver(enable_validation=True)
app.configure_openapi(security_schemes=docs.SECURITY_SCHEMES)
problems.register(app)


class DeliveryReport(RequestModel):
    order_id: str = Field(min_length=1, max_length=64)
    tracking_number: str = Field(min_length=1, max_length=64)
    delivered_at: Timestamp


@app.post(
    "/carrier/deliveries",
    tags=["Carrier"],
    summary="Report a delivery",
    security=docs.API_KEY,
    responses=docs.responses(200, "The delivered order", Order, 400, 403, 404, 409, 413, 415),
)
def report_delivery(report: Annotated[DeliveryReport, Body()]) -> Order:
    key_id = carrier_caller(app.current_event)
    # The carrier's clock may run ahead of ours: a delivery is never recorded in the future.
    at = min(report.delivered_at, utc_now())
    order = fulfillment.deliver(orders, report.order_id, report.tracking_number, at)
    metrics.add_metric(name="OrdersDelivered", unit="Count", value=1)
    logger.info("order delivered", extra={"order_id": order.order_id, "api_key_id": key_id})
    return order


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@guard_request_body
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

"""Orders API: place (idempotently), list, read and cancel orders."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.approvals_table import ApprovalsTable
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.dynamodb import default_client
from shop.adapters.orders_table import OrdersTable
from shop.adapters.sessions_table import SessionsTable
from shop.adapters.workflow import OrderWorkflow
from shop.domain.models import Order, OrderPage, PlaceOrderRequest
from shop.domain.ordering import ORDER_ID_PATTERN, utc_now
from shop.http import docs, problems
from shop.http.identity import customer_caller, customer_or_admin_caller
from shop.http.limits import guard_request_body
from shop.observability import logger, metrics, tracer
from shop.settings import OrdersSettings, load_settings
from shop.usecases import orders as ordering

settings = load_settings(OrdersSettings)
orders = OrdersTable(settings.orders_table_name)
products = CatalogTable(settings.catalog_table_name)
sessions = SessionsTable(settings.sessions_table_name)
approvals = ApprovalsTable(settings.orders_table_name)
workflow = OrderWorkflow()

# One order per (customer, Idempotency-Key); the same key with another body is refused.
idempotency = IdempotencyConfig(
    event_key_jmespath="[customerId, idempotencyKey]",
    payload_validation_jmespath="request",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=settings.idempotency_ttl_seconds,
)
place_order_once = idempotent_function(
    ordering.place_order,
    data_keyword_argument="command",
    # The process's one DynamoDB client (a second one would cost ~50 ms of cold start).
    persistence_store=DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table_name, boto3_client=default_client()
    ),
    config=idempotency,
    output_serializer=PydanticSerializer(model=Order),
)

app = APIGatewayRestResolver(enable_validation=True, cors=CORSConfig(max_age=600, allow_headers=["Idempotency-Key"]))
app.configure_openapi(security_schemes=docs.SECURITY_SCHEMES)
problems.register(app)

OrderId = Annotated[str, Path(alias="orderId", min_length=1, max_length=64, pattern=ORDER_ID_PATTERN)]


@app.post(
    "/orders",
    tags=["Orders"],
    summary="Place an order",
    security=docs.ID_TOKEN,
    responses=docs.responses(201, "Order placed", Order, 400, 401, 403, 409, 413, 415),
)
def place_order(
    request: Annotated[PlaceOrderRequest, Body()],
    idempotency_key: Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=64)],
) -> Response[Order]:
    caller = customer_caller(app.current_event)
    command = ordering.PlaceOrder(
        customer_id=caller.customer_id,
        idempotency_key=idempotency_key,
        request=request,
        customer_email=caller.email,
    )
    order = place_order_once(command=command, orders=orders, catalog=products, sessions=sessions, clock=utc_now)
    logger.info("order placed", extra={"order_id": order.order_id, "total_cents": order.total_cents})
    # A relative reference resolves against the request's own URL (/orders, /api/orders, a custom domain...).
    location = f"orders/{order.order_id}"
    return Response(status_code=201, content_type="application/json", body=order, headers={"Location": location})


@app.get(
    "/orders",
    tags=["Orders"],
    summary="List my orders, newest first",
    security=docs.ID_TOKEN,
    responses=docs.responses(200, "One page of orders", OrderPage, 400, 401, 403),
)
def list_orders(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> OrderPage:
    return ordering.list_orders(orders, customer_caller(app.current_event), limit, next_token)


@app.get(
    "/orders/<orderId>",
    tags=["Orders"],
    summary="Get an order (my own, or any for admins)",
    security=docs.ID_TOKEN,
    responses=docs.responses(200, "The order", Order, 401, 403, 404),
)
def get_order(order_id: OrderId) -> Order:
    return ordering.get_order(orders, customer_or_admin_caller(app.current_event), order_id)


@app.post(
    "/orders/<orderId>/cancel",
    tags=["Orders"],
    summary="Cancel my order before it is paid",
    security=docs.ID_TOKEN,
    responses=docs.responses(200, "The cancelled order", Order, 401, 403, 404, 409),
)
def cancel_order(order_id: OrderId) -> Order:
    caller = customer_caller(app.current_event)
    return ordering.cancel_order(orders, approvals, workflow, caller=caller, order_id=order_id, clock=utc_now)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@guard_request_body
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    return app.resolve(event, context)

"""Cart API: the signed-in customer's cart, kept as a session item that expires when left alone."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.catalog_table import CatalogTable
from shop.adapters.sessions_table import SessionsTable
from shop.domain.models import Cart, CartUpdate
from shop.domain.ordering import utc_now
from shop.http import docs, problems
from shop.http.identity import customer_caller
from shop.http.limits import guard_request_body
from shop.observability import logger, metrics, tracer
from shop.settings import CartSettings, load_settings
from shop.usecases import cart

settings = load_settings(CartSettings)
products = CatalogTable(settings.catalog_table_name)
sessions = SessionsTable(settings.sessions_table_name)

app = APIGatewayRestResolver(enable_validation=True, cors=CORSConfig(max_age=600))
app.configure_openapi(security_schemes=docs.SECURITY_SCHEMES)
problems.register(app)


@app.get(
    "/cart",
    tags=["Cart"],
    summary="Read my cart (extends its expiry)",
    security=docs.ID_TOKEN,
    responses=docs.responses(200, "The cart (empty when none is live)", Cart, 401, 403),
)
def get_cart() -> Cart:
    caller = customer_caller(app.current_event)
    return cart.get_cart(sessions, caller.customer_id, utc_now(), settings.cart_ttl)


@app.put(
    "/cart",
    tags=["Cart"],
    summary="Replace my cart's lines",
    security=docs.ID_TOKEN,
    responses=docs.responses(200, "The cart", Cart, 400, 401, 403, 413, 415),
)
def put_cart(update: Annotated[CartUpdate, Body()]) -> Cart:
    caller = customer_caller(app.current_event)
    return cart.replace_cart(
        sessions,
        products,
        customer_id=caller.customer_id,
        update=update,
        now=utc_now(),
        ttl=settings.cart_ttl,
        customer_email=caller.email,
    )


@app.delete(
    "/cart",
    tags=["Cart"],
    summary="Empty my cart",
    security=docs.ID_TOKEN,
    responses=docs.responses(204, "Cart emptied", None, 401, 403),
)
def delete_cart() -> Response[None]:
    caller = customer_caller(app.current_event)
    cart.clear_cart(sessions, caller.customer_id)
    return Response(status_code=204)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@guard_request_body
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

"""Public catalog API: health check and product browsing (no sign-in needed)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from shop.adapters.catalog_table import CatalogTable
from shop.domain.models import Product, ProductId, ProductPage
from shop.http import docs, problems
from shop.http.limits import guard_request_body
from shop.observability import logger, metrics, tracer
from shop.settings import CatalogSettings, load_settings
from shop.usecases import catalog

settings = load_settings(CatalogSettings)
products = CatalogTable(settings.catalog_table_name)

app = APIGatewayRestResolver(enable_validation=True, cors=CORSConfig(max_age=600))
problems.register(app)


class Health(BaseModel):
    status: str = "ok"


@app.get("/health", tags=["Operations"], summary="Liveness check", responses=docs.responses(200, "Alive", Health))
def health() -> Health:
    return Health()


@app.get(
    "/products",
    tags=["Catalog"],
    summary="List products",
    cache_control="public, max-age=60",
    responses=docs.responses(200, "One page of products", ProductPage, 400),
)
def list_products(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> ProductPage:
    return catalog.list_products(products, limit, next_token)


@app.get(
    "/products/<productId>",
    tags=["Catalog"],
    summary="Get one product",
    cache_control="public, max-age=60",
    responses=docs.responses(200, "The product", Product, 404),
)
def get_product(product_id: Annotated[ProductId, Path(alias="productId")]) -> Product:
    return catalog.get_product(products, product_id)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@guard_request_body
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

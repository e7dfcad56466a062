"""Catalog stream consumer: when a batch of Catalog changes shows in some catalog answer (a price, a name, the
units available, a product added or removed), the REST API stage's cache is flushed, so a cached GET /products
is no staler than the stream (docs/api-edge.md states the bound).

One flush serves the whole batch and repeating it is harmless, so there is no per-record work to report: no
partial batch response. A failed flush fails the batch, which Lambda retries (then bisects); past the retries
it goes to the stream failure queue and the cache's TTL is the bound."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.dynamodb import from_attributes
from shop.adapters.stage_cache import StageCache
from shop.observability import logger, metrics, tracer
from shop.settings import CatalogCacheFlushSettings, load_settings
from shop.usecases.catalog_cache import Change, refresh_after

settings = load_settings(CatalogCacheFlushSettings)
stage_cache = StageCache(settings.rest_api_id, settings.api_stage_name)


def _change(record: dict[str, Any]) -> Change:
    images = record.get("dynamodb", {})
    old, new = images.get("OldImage"), images.get("NewImage")
    return (from_attributes(old) if old else None, from_attributes(new) if new else None)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    changes = [_change(record) for record in event.get("Records", [])]
    changed = refresh_after(changes, stage_cache if settings.cache_enabled else None)
    metrics.add_metric(name="CatalogChangesSeenByReaders", unit="Count", value=len(changed))
    if not changed:
        return
    if settings.cache_enabled:
        metrics.add_metric(name="CatalogCacheFlushes", unit="Count", value=1)
        logger.info("stage cache flushed", extra={"stage": settings.api_stage_name, "products": changed})
    else:
        logger.info("catalog changed, the stage has no cache to flush", extra={"products": changed})

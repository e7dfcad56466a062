"""The catalog cache's flusher: a batch of Catalog changes that shows in some catalog answer empties the API
stage's cache once; a change no reader sees (stock moving from reserved to sold) leaves it alone. API Gateway is a
botocore Stubber: a call the test did not expect fails it, and every expected call must have been made."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from shop.adapters.dynamodb import from_attributes
from shop.adapters.stage_cache import StageCache
from shop.domain.catalog_view import changes_what_readers_see
from shop.domain.errors import Throttled
from shop.settings import CatalogCacheFlushSettings, load_settings
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.given import emitted_metrics

EVENT = read_event("catalog_cache_flush")
RESERVED, SHIPPED = EVENT["Records"]
FLUSH = {"restApiId": "f6g7h8i9j0", "stageName": "api"}


@pytest.fixture
def flusher() -> ModuleType:
    return load_function("catalog_cache_flush")


@pytest.fixture
def api_gateway(flusher: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """API Gateway as the function's stage cache sees it; the test says which calls it expects."""
    client = boto3.client("apigateway")
    monkeypatch.setattr(flusher, "stage_cache", StageCache(FLUSH["restApiId"], FLUSH["stageName"], client))
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def handle(flusher: ModuleType, *records: dict[str, Any]) -> None:
    flusher.lambda_handler({"Records": list(records)}, FakeLambdaContext())


def test_a_batch_with_a_reservation_flushes_the_stage_cache_once(
    flusher: ModuleType, api_gateway: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    api_gateway.add_response("flush_stage_cache", {}, FLUSH)

    handle(flusher, RESERVED, SHIPPED, RESERVED)

    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["CatalogCacheFlushes"] == [1.0]
    assert metrics["CatalogChangesSeenByReaders"] == [2.0]


def test_a_shipment_alone_leaves_the_cache_alone(flusher: ModuleType, api_gateway: Stubber) -> None:
    # No response is queued: a flush would fail the test with a StubResponseError.
    handle(flusher, SHIPPED)


def test_a_throttled_flush_fails_the_batch_for_lambda_to_retry(flusher: ModuleType, api_gateway: Stubber) -> None:
    api_gateway.add_client_error("flush_stage_cache", "TooManyRequestsException", http_status_code=429)

    with pytest.raises(Throttled):
        handle(flusher, RESERVED)


def test_a_refused_flush_is_a_fault_not_swallowed(flusher: ModuleType, api_gateway: Stubber) -> None:
    api_gateway.add_client_error("flush_stage_cache", "AccessDeniedException", http_status_code=403)

    with pytest.raises(ClientError, match="AccessDenied"):
        handle(flusher, RESERVED)


def test_without_a_stage_cache_nothing_is_flushed(
    flusher: ModuleType, api_gateway: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    off = load_settings(
        CatalogCacheFlushSettings,
        {"REST_API_ID": "f6g7h8i9j0", "API_STAGE_NAME": "api", "CATALOG_CACHE_ENABLED": "false"},
    )
    monkeypatch.setattr(flusher, "settings", off)

    handle(flusher, RESERVED)


def _images(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return from_attributes(record["dynamodb"]["OldImage"]), from_attributes(record["dynamodb"]["NewImage"])


PRODUCT, _ = _images(RESERVED)


def _with(**changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(PRODUCT)
    changed.update(changes)
    return changed


@pytest.mark.parametrize(
    ("old", "new", "seen"),
    [
        (None, PRODUCT, True),
        (PRODUCT, None, True),
        (PRODUCT, _with(priceCents=2650), True),
        (PRODUCT, _with(name="Espresso beans, dark roast, 1 kg"), True),
        (PRODUCT, _with(currency="EUR"), True),
        (PRODUCT, _with(available=PRODUCT["available"] - 1), True),
        (PRODUCT, _with(reserved=5, sold=9), False),
        (PRODUCT, _with(lastOrderId="ord-1"), False),
        (PRODUCT, copy.deepcopy(PRODUCT), False),
    ],
    ids=["added", "removed", "price", "name", "currency", "available", "reserved-sold", "other", "unchanged"],
)
def test_a_change_shows_to_readers_exactly_when_an_answer_would_differ(
    old: dict[str, Any] | None, new: dict[str, Any] | None, seen: bool
) -> None:
    assert changes_what_readers_see(old, new) is seen

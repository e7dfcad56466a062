"""The stage cache of the public catalog on the local cloud (localcloud.api_cache), with EnableApiCache on: the
template's MethodSettings and cache keys, the TTL, and the flush a catalog change makes (CatalogCacheFlushFunction
calling FlushStageCache at the local AWS endpoint, behind the IAM check)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from localcloud.cloud import Endpoints, LocalCloud
from shop.adapters.catalog_table import CatalogTable
from tools.seed import seed

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

TTL_SECONDS = 3


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    running = LocalCloud(
        api_port=0,
        parameters={"EnableApiCache": "true", "CatalogCacheTtlSeconds": str(TTL_SECONDS)},
        log=lambda _: None,
    )
    endpoints = running.start()
    try:
        seed(str(endpoints.outputs["CatalogTableName"]), running.client("dynamodb"))
        # The seed's writes reach CatalogCacheFlushFunction through the Catalog table's stream: settle them here,
        # or their flush may land between a test's two requests and empty the cache it is about to hit.
        running.drain()
        yield running
        refused = {role: usage["denied"] for role, usage in running.iam.usage().items() if usage["denied"]}
        assert not refused, refused
    finally:
        running.stop()


@pytest.fixture
def endpoints(cloud: LocalCloud) -> Endpoints:
    assert cloud.endpoints is not None
    return cloud.endpoints


def get(endpoints: Endpoints, path: str, **headers: str) -> requests.Response:
    return requests.get(f"{endpoints.api}{path}", headers=headers, timeout=10)


def test_a_cached_route_is_answered_from_the_cache_until_its_ttl(endpoints: Endpoints) -> None:
    first, second = get(endpoints, "/products/scale"), get(endpoints, "/products/scale")

    assert (first.status_code, first.headers["X-Cache"]) == (200, "Miss from api-gateway")
    assert (second.status_code, second.headers["X-Cache"]) == (200, "Hit from api-gateway")
    assert second.json() == first.json()
    assert second.headers["x-amzn-RequestId"] != first.headers["x-amzn-RequestId"]

    time.sleep(TTL_SECONDS + 0.5)
    assert get(endpoints, "/products/scale").headers["X-Cache"] == "Miss from api-gateway"


def test_the_cache_keys_on_the_parameters_that_change_the_answer(endpoints: Endpoints) -> None:
    assert get(endpoints, "/products?limit=1").headers["X-Cache"] == "Miss from api-gateway"
    assert get(endpoints, "/products?limit=2").headers["X-Cache"] == "Miss from api-gateway"  # another answer
    assert get(endpoints, "/products?limit=1").headers["X-Cache"] == "Hit from api-gateway"
    assert get(endpoints, "/products?limit=1&ignored=x").headers["X-Cache"] == "Hit from api-gateway"  # no key
    other_origin = get(endpoints, "/products?limit=1", Origin="https://shop.example")
    assert other_origin.headers["X-Cache"] == "Miss from api-gateway"  # CORS headers differ by Origin
    assert get(endpoints, "/products/descaler").headers["X-Cache"] == "Miss from api-gateway"


def test_only_200_answers_of_public_gets_are_cached(endpoints: Endpoints) -> None:
    missing = [get(endpoints, "/products/no-such-product") for _ in range(2)]
    assert [(answer.status_code, answer.headers["X-Cache"]) for answer in missing] == [
        (404, "Miss from api-gateway")
    ] * 2
    health = get(endpoints, "/health")
    assert health.status_code == 200
    assert "X-Cache" not in health.headers  # a method the stage does not cache
    orders = get(endpoints, "/orders")
    assert orders.status_code == 401
    assert "X-Cache" not in orders.headers


def test_a_price_change_flushes_the_cache_through_the_catalog_stream(cloud: LocalCloud, endpoints: Endpoints) -> None:
    before = get(endpoints, "/products/travel-mug").json()
    assert get(endpoints, "/products/travel-mug").headers["X-Cache"] == "Hit from api-gateway"
    catalog = CatalogTable(str(endpoints.outputs["CatalogTableName"]), cloud.client("dynamodb"))
    product = catalog.get("travel-mug")
    assert product is not None

    catalog.put(product.model_copy(update={"price_cents": product.price_cents + 100}))
    deadline = time.monotonic() + TTL_SECONDS - 0.5  # the flush, not the TTL, must show the new price
    while True:
        answer = get(endpoints, "/products/travel-mug")
        if answer.json()["priceCents"] != before["priceCents"]:
            break
        assert time.monotonic() < deadline, "the cache was not flushed by the catalog change"
        time.sleep(0.1)

    assert answer.json()["priceCents"] == before["priceCents"] + 100
    assert answer.headers["X-Cache"] == "Miss from api-gateway"

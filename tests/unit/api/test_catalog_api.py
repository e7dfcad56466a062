"""The public catalog API: health check, product listing with pagination, one product."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.support.api import ApiCaller
from tools.seed import load_demo_catalog

PROBLEM_JSON = "application/problem+json"
DEMO_PRODUCTS = {product.product_id: product.model_dump(mode="json") for product in load_demo_catalog()}


def token_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def walk_products(catalog_api: ApiCaller, limit: int) -> list[list[dict[str, Any]]]:
    """Every page of GET /products, following nextToken until there is none."""
    pages: list[list[dict[str, Any]]] = []
    query = {"limit": str(limit)}
    for _ in range(len(DEMO_PRODUCTS) + 2):
        response = catalog_api.call("GET", "/products", query=query)
        assert response.status == 200, response.body
        page = response.json()
        pages.append(page["items"])
        if "nextToken" not in page:
            return pages
        query = {"limit": str(limit), "nextToken": page["nextToken"]}
    pytest.fail("the listing never ended")


def test_health_says_ok(catalog_api: ApiCaller) -> None:
    response = catalog_api.call("GET", "/health")

    assert response.status == 200
    assert response.content_type == "application/json"
    assert response.json() == {"status": "ok"}


def test_listing_with_a_limit_walks_every_product_exactly_once(catalog_api: ApiCaller) -> None:
    pages = walk_products(catalog_api, limit=5)

    listed = [product["productId"] for page in pages for product in page]
    assert len(pages) >= 3
    assert all(len(page) <= 5 for page in pages)
    assert len(listed) == len(set(listed))
    assert set(listed) == set(DEMO_PRODUCTS)


def test_listed_products_carry_the_catalog_fields_and_nothing_else(catalog_api: ApiCaller) -> None:
    response = catalog_api.call("GET", "/products", query={"limit": "100"})

    items = response.json()["items"]
    assert {product["productId"]: product for product in items} == DEMO_PRODUCTS
    assert all(set(product) == {"productId", "name", "priceCents", "currency", "available"} for product in items)


def test_the_last_page_has_no_next_token(catalog_api: ApiCaller) -> None:
    response = catalog_api.call("GET", "/products")

    page = response.json()
    assert len(page["items"]) == len(DEMO_PRODUCTS)
    assert "nextToken" not in page


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_a_limit_outside_1_to_100_is_refused_naming_the_field(catalog_api: ApiCaller, limit: str) -> None:
    response = catalog_api.call("GET", "/products", query={"limit": limit})

    assert response.status == 422
    assert response.content_type == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == 422
    assert [error["location"] for error in problem["errors"]] == [["query", "limit"]]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("garbage!!", id="not-base64"),
        pytest.param(base64.urlsafe_b64encode(b"\x81\x00not json").decode(), id="not-json"),
        pytest.param(token_of(["productId"]), id="not-an-object"),
        pytest.param(token_of({"productId": {"N": "1"}}), id="wrong-attribute-type"),
        pytest.param(token_of({"customerId": {"S": "a"}, "sk": {"S": "b"}, "createdAt": {"S": "c"}}), id="orders-key"),
    ],
)
def test_a_next_token_this_api_did_not_issue_is_a_bad_request(catalog_api: ApiCaller, token: str) -> None:
    response = catalog_api.call("GET", "/products", query={"nextToken": token})

    assert response.status == 400
    assert response.content_type == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == 400
    assert problem["title"] == "Bad Request"
    assert "nextToken" in problem["detail"]


def test_a_product_is_read_by_its_id(catalog_api: ApiCaller) -> None:
    response = catalog_api.call(
        "GET",
        "/products/burr-grinder",
        resource="/products/{productId}",
        path_parameters={"productId": "burr-grinder"},
    )

    assert response.status == 200
    assert response.json() == DEMO_PRODUCTS["burr-grinder"]


def test_an_unknown_product_is_not_found(catalog_api: ApiCaller) -> None:
    response = catalog_api.call(
        "GET",
        "/products/no-such-thing",
        resource="/products/{productId}",
        path_parameters={"productId": "no-such-thing"},
    )

    assert response.status == 404
    assert response.content_type == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == 404
    assert problem["title"] == "Not Found"
    assert "no-such-thing" in problem["detail"]

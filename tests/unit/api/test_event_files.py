"""Each API function's file in events/, invoked unmodified (as `sam local invoke -e` would), gives its
documented outcome. (events/post_confirmation.json is used by tests/unit/test_post_confirmation.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urljoin

from tests.support.api import ApiCaller, ApiResponse
from tests.support.fixtures import read_event


def invoke_unmodified(api: ApiCaller, name: str) -> ApiResponse:
    return api.invoke(read_event(name))


def test_the_catalog_event_lists_a_first_page_of_five_products(catalog_api: ApiCaller) -> None:
    response = invoke_unmodified(catalog_api, "catalog_api")

    assert response.status == 200
    assert len(response.json()["items"]) == 5
    assert response.json()["nextToken"]


def test_the_cart_event_saves_its_two_lines(cart_api: ApiCaller) -> None:
    before = datetime.now(UTC)

    response = invoke_unmodified(cart_api, "cart_api")

    assert response.status == 200
    cart = response.json()
    assert cart["items"] == [
        {"productId": "espresso-beans-1kg", "quantity": 2},
        {"productId": "paper-filters-100", "quantity": 1},
    ]
    assert datetime.fromisoformat(cart["expiresAt"]) > before


def test_the_orders_event_places_an_order_for_its_signed_in_customer(orders_api: ApiCaller) -> None:
    claims = read_event("orders_api")["requestContext"]["authorizer"]["claims"]

    response = invoke_unmodified(orders_api, "orders_api")

    assert response.status == 201
    order = response.json()
    assert urljoin("https://shop.example/api/orders", response.headers["Location"]) == (
        f"https://shop.example/api/orders/{order['orderId']}"
    )
    assert order["customerId"] == claims["sub"]
    assert order["status"] == "PLACED"
    assert order["totalCents"] == 2 * 2400

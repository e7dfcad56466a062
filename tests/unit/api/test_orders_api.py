"""The orders API: place, list, read and cancel orders (idempotency has its own module)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import pytest

from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable
from shop.domain.models import Order, OrderStatus
from shop.domain.status import CANCELLABLE
from tests.support.api import ApiCaller, ApiResponse, admin, assert_problem, claims_for, customer
from tests.support.cloud import TABLE_NAMES
from tests.unit.api.given import ADDRESS, line, minutes_from_now, order_body, session_item, stored_order
from tests.unit.api.tables import ContentsReader, OrdersReader, SessionReader

PROBLEM_JSON = "application/problem+json"
ALICE = customer("customer-a")
BOB = customer("customer-b")
ORDER_FIELDS = {
    "orderId",
    "customerId",
    "status",
    "items",
    "totalCents",
    "currency",
    "shippingAddress",
    "createdAt",
    "updatedAt",
    "history",
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# Orders written by the tests start a month ago, an hour apart, so "newest first" has one right answer.
START = (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=0)


def place(
    orders_api: ApiCaller,
    body: Any = None,
    *,
    claims: dict[str, Any] | None = ALICE,
    key: str | None = "key-1",
    **kwargs: Any,
) -> ApiResponse:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return orders_api.call("POST", "/orders", claims=claims, headers=headers, body=body, **kwargs)


def read(orders_api: ApiCaller, order_id: str, claims: dict[str, Any] | None = ALICE) -> ApiResponse:
    return orders_api.call(
        "GET", f"/orders/{order_id}", resource="/orders/{orderId}", path_parameters={"orderId": order_id}, claims=claims
    )


def cancel(orders_api: ApiCaller, order_id: str, claims: dict[str, Any] | None = ALICE) -> ApiResponse:
    return orders_api.call(
        "POST",
        f"/orders/{order_id}/cancel",
        resource="/orders/{orderId}/cancel",
        path_parameters={"orderId": order_id},
        claims=claims,
    )


def listing(orders_api: ApiCaller, claims: dict[str, Any] | None = ALICE, **query: str) -> ApiResponse:
    return orders_api.call("GET", "/orders", claims=claims, query=query or None)


def locations(response: ApiResponse) -> list[list[Any]]:
    return [error["location"] for error in response.json()["errors"]]


def alices_orders(orders_table: OrdersTable, catalog_table: CatalogTable, count: int) -> list[Order]:
    """`count` orders of Alice's, placed an hour apart (oldest first)."""
    return [
        stored_order(orders_table, catalog_table, "customer-a", key=f"k{n}", created_at=START + timedelta(hours=n))
        for n in range(count)
    ]


# --- POST /orders --------------------------------------------------------------------------------------------


def test_placing_an_order_answers_201_with_its_location_and_the_order(orders_api: ApiCaller) -> None:
    response = place(orders_api, order_body(line("espresso-beans-1kg", 2), line("paper-filters-100", 3)))

    assert response.status == 201
    order = response.json()
    assert response.content_type == "application/json"
    # Relative, so it resolves against whatever URL the request came through (stage, custom domain, CDN).
    assert response.headers["Location"] == f"orders/{order['orderId']}"
    assert urljoin("http://127.0.0.1:3000/orders", response.headers["Location"]).endswith(f"/orders/{order['orderId']}")
    assert set(order) == ORDER_FIELDS
    assert order["customerId"] == "customer-a"
    assert order["status"] == "PLACED"
    assert order["currency"] == "USD"
    assert order["shippingAddress"] == ADDRESS


def test_an_order_is_priced_from_the_catalog(orders_api: ApiCaller, catalog_table: CatalogTable) -> None:
    response = place(orders_api, order_body(line("espresso-beans-1kg", 2), line("paper-filters-100", 3)))

    order = response.json()
    assert order["items"] == [
        {
            "productId": "espresso-beans-1kg",
            "name": "Espresso beans, 1 kg",
            "quantity": 2,
            "unitPriceCents": 2400,
            "lineTotalCents": 4800,
        },
        {
            "productId": "paper-filters-100",
            "name": "Paper filters, pack of 100",
            "quantity": 3,
            "unitPriceCents": 650,
            "lineTotalCents": 1950,
        },
    ]
    assert order["totalCents"] == 6750
    assert order["totalCents"] == sum(item["lineTotalCents"] for item in order["items"])
    for item in order["items"]:
        product = catalog_table.get(item["productId"])
        assert product is not None
        assert item["unitPriceCents"] == product.price_cents


def test_a_new_order_has_one_placed_entry_in_its_history(orders_api: ApiCaller) -> None:
    order = place(orders_api, order_body(line("scale"))).json()

    assert TIMESTAMP.match(order["createdAt"])
    assert order["updatedAt"] == order["createdAt"]
    assert order["history"] == [{"status": "PLACED", "at": order["createdAt"]}]


def test_the_payment_token_is_kept_but_never_shown(orders_api: ApiCaller, stored_orders: OrdersReader) -> None:
    response = place(orders_api, order_body(line("scale"), paymentToken="tok_decline"))

    assert "tok_decline" not in response.body
    assert [order["paymentToken"] for order in stored_orders()] == ["tok_decline"]


def test_a_placed_order_reads_back_as_it_was_answered(orders_api: ApiCaller) -> None:
    placed = place(orders_api, order_body(line("scale"), line("descaler", 2)))

    response = read(orders_api, placed.json()["orderId"])

    assert response.status == 200
    assert response.json() == placed.json()


def test_without_items_the_cart_is_ordered_and_then_cleared(
    orders_api: ApiCaller, cart_api: ApiCaller, stored_session: SessionReader
) -> None:
    # Given Alice's cart
    cart_api.call("PUT", "/cart", claims=ALICE, body={"items": [line("gooseneck-kettle"), line("scale", 2)]})

    # When she orders without naming items
    response = place(orders_api, order_body())

    # Then the cart's lines were ordered and the session item is gone
    assert response.status == 201
    order = response.json()
    assert [(item["productId"], item["quantity"]) for item in order["items"]] == [("gooseneck-kettle", 1), ("scale", 2)]
    assert order["totalCents"] == 7400 + 2 * 4900
    assert stored_session("customer-a") is None


def test_ordering_named_items_leaves_the_cart_alone(
    orders_api: ApiCaller, cart_api: ApiCaller, stored_session: SessionReader
) -> None:
    cart_api.call("PUT", "/cart", claims=ALICE, body={"items": [line("gooseneck-kettle")]})

    response = place(orders_api, order_body(line("scale")))

    assert response.status == 201
    session = stored_session("customer-a")
    assert session is not None
    assert session["items"] == [line("gooseneck-kettle")]


def test_an_empty_cart_and_no_items_is_refused_and_changes_nothing(
    orders_api: ApiCaller, table_contents: ContentsReader
) -> None:
    before = table_contents()

    response = place(orders_api, order_body())

    assert_problem(response, 422)
    assert locations(response) == [["body", "items"]]
    assert table_contents() == before


def test_an_expired_cart_is_not_ordered(orders_api: ApiCaller, dynamodb: Any, table_contents: ContentsReader) -> None:
    # Given a cart whose expiry has passed but which TTL has not deleted yet
    dynamodb.put_item(
        TableName=TABLE_NAMES["SessionsTable"], Item=session_item("customer-a", [line("scale")], minutes_from_now(-1))
    )
    before = table_contents()

    response = place(orders_api, order_body())

    assert_problem(response, 422)
    assert locations(response) == [["body", "items"]]
    assert table_contents() == before


def test_a_cart_line_withdrawn_from_the_catalog_is_refused_and_the_cart_kept(
    orders_api: ApiCaller, cart_api: ApiCaller, dynamodb: Any, table_contents: ContentsReader
) -> None:
    # Given a cart whose second product has since left the catalog
    cart_api.call("PUT", "/cart", claims=ALICE, body={"items": [line("scale"), line("limited-edition-cup")]})
    dynamodb.delete_item(TableName=TABLE_NAMES["CatalogTable"], Key={"productId": {"S": "limited-edition-cup"}})
    before = table_contents()

    response = place(orders_api, order_body())

    assert_problem(response, 422)
    assert locations(response) == [["cart", "items", 1, "productId"]]
    assert table_contents() == before


def test_an_unknown_product_is_refused_naming_its_line_and_changes_nothing(
    orders_api: ApiCaller, table_contents: ContentsReader
) -> None:
    before = table_contents()

    response = place(orders_api, order_body(line("scale"), line("no-such-product")))

    assert_problem(response, 422)
    assert locations(response) == [["body", "items", 1, "productId"]]
    assert table_contents() == before


def test_a_missing_idempotency_key_is_refused_naming_the_header(
    orders_api: ApiCaller, table_contents: ContentsReader
) -> None:
    before = table_contents()

    response = place(orders_api, order_body(line("scale")), key=None)

    assert_problem(response, 422)
    assert [[part.lower() for part in location] for location in locations(response)] == [["header", "idempotency-key"]]
    assert table_contents() == before


@pytest.mark.parametrize("key", ["", "k" * 65], ids=["empty", "65-chars"])
def test_an_idempotency_key_outside_1_to_64_characters_is_refused(
    orders_api: ApiCaller, table_contents: ContentsReader, key: str
) -> None:
    before = table_contents()

    response = place(orders_api, order_body(line("scale")), key=key)

    assert_problem(response, 422)
    assert [[part.lower() for part in location] for location in locations(response)] == [["header", "idempotency-key"]]
    assert table_contents() == before


def test_an_idempotency_key_of_64_characters_is_accepted(orders_api: ApiCaller) -> None:
    response = place(orders_api, order_body(line("scale")), key="k" * 64)

    assert response.status == 201


def test_malformed_json_is_a_bad_request_and_changes_nothing(
    orders_api: ApiCaller, table_contents: ContentsReader
) -> None:
    before = table_contents()

    response = place(orders_api, raw_body='{"items": [{"productId": "scale", "quantity": 1}')

    problem = assert_problem(response, 400)
    assert "JSON" in problem["detail"]
    assert table_contents() == before


def test_a_body_over_64_kib_is_refused_with_413_and_nothing_written(
    orders_api: ApiCaller, table_contents: ContentsReader
) -> None:
    # A valid order padded with whitespace: only its size can be the reason for refusing it.
    body = json.dumps(order_body(line("scale")))
    before = table_contents()

    response = place(orders_api, raw_body=body + " " * (64 * 1024 + 1 - len(body)))

    assert_problem(response, 413)
    assert table_contents() == before


def test_a_body_of_exactly_64_kib_is_accepted(orders_api: ApiCaller) -> None:
    body = json.dumps(order_body(line("scale")))

    response = place(orders_api, raw_body=body + " " * (64 * 1024 - len(body)))

    assert response.status == 201


def test_validation_errors_are_problem_documents_naming_each_field(
    orders_api: ApiCaller, table_contents: ContentsReader
) -> None:
    before = table_contents()
    body = {"items": [line("scale", 0)], "shippingAddress": ADDRESS | {"country": "usa"}, "paymentToken": "cash"}

    response = place(orders_api, body)

    problem = assert_problem(response, 422)
    assert problem["title"] == "Unprocessable Entity"
    assert {tuple(location) for location in locations(response)} == {
        ("body", "items", 0, "quantity"),
        ("body", "shippingAddress", "country"),
        ("body", "paymentToken"),
    }
    assert len(problem["errors"]) == 3
    assert all(error["message"] for error in problem["errors"])
    assert table_contents() == before


def test_an_order_without_a_shipping_address_is_refused(orders_api: ApiCaller, table_contents: ContentsReader) -> None:
    before = table_contents()

    response = place(orders_api, {"items": [line("scale")]})

    assert_problem(response, 422)
    assert locations(response) == [["body", "shippingAddress"]]
    assert table_contents() == before


# --- GET /orders ---------------------------------------------------------------------------------------------


def test_my_orders_are_listed_newest_first(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    placed = alices_orders(orders_table, catalog_table, 3)

    response = listing(orders_api)

    assert response.status == 200
    page = response.json()
    assert [order["orderId"] for order in page["items"]] == [order.order_id for order in reversed(placed)]
    assert "nextToken" not in page


def test_listed_orders_are_whole_orders(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    [placed] = alices_orders(orders_table, catalog_table, 1)

    [listed] = listing(orders_api).json()["items"]

    assert listed == placed.model_dump(mode="json")


def test_the_listing_is_paged_with_next_token_and_shows_each_order_once(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    placed = alices_orders(orders_table, catalog_table, 5)
    pages: list[list[str]] = []
    query = {"limit": "2"}

    for _ in range(5):
        page = listing(orders_api, ALICE, **query).json()
        pages.append([order["orderId"] for order in page["items"]])
        if "nextToken" not in page:
            break
        query = {"limit": "2", "nextToken": page["nextToken"]}

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [order_id for page in pages for order_id in page] == [order.order_id for order in reversed(placed)]


def test_the_listing_never_shows_another_customers_orders(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    [alices] = alices_orders(orders_table, catalog_table, 1)
    stored_order(orders_table, catalog_table, "customer-b", key="k0", created_at=START + timedelta(days=1))

    response = listing(orders_api)

    assert [order["orderId"] for order in response.json()["items"]] == [alices.order_id]


def test_a_customer_without_orders_gets_an_empty_listing(orders_api: ApiCaller) -> None:
    response = listing(orders_api)

    assert response.status == 200
    assert response.json() == {"items": []}


def test_a_next_token_from_another_customers_listing_is_a_bad_request(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    # Given a genuine token from Bob's listing
    for n in range(3):
        stored_order(orders_table, catalog_table, "customer-b", key=f"k{n}", created_at=START + timedelta(hours=n))
    bobs_token = listing(orders_api, BOB, limit="1").json()["nextToken"]
    assert listing(orders_api, BOB, limit="1", nextToken=bobs_token).status == 200

    # When Alice presents it
    response = listing(orders_api, ALICE, limit="1", nextToken=bobs_token)

    # Then
    problem = assert_problem(response, 400)
    assert "nextToken" in problem["detail"]


def test_a_garbage_next_token_is_a_bad_request(orders_api: ApiCaller) -> None:
    assert_problem(listing(orders_api, nextToken="not-a-token"), 400)


def _token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "craft",
    [
        pytest.param(lambda key: key | {"sk": {"S": "ORDER#anything"}}, id="an order id of no order"),
        pytest.param(lambda key: key | {"createdAt": {"S": "9999"}}, id="a time in no format"),
        pytest.param(lambda key: key | {"sk": {"N": "1"}}, id="a number for a string"),
        pytest.param(lambda key: key | {"status": {"S": "PAID"}}, id="an attribute too many"),
        pytest.param(lambda key: {k: v for k, v in key.items() if k != "createdAt"}, id="an attribute short"),
        pytest.param(lambda key: key | {"sk": {"S": key["sk"]["S"] + "\n"}}, id="a trailing newline"),
    ],
)
def test_a_crafted_next_token_is_a_bad_request(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable, craft: Callable[[dict], dict]
) -> None:
    # Given a genuine token of Alice's listing, decoded
    for n in range(2):
        stored_order(orders_table, catalog_table, "customer-a", key=f"k{n}", created_at=START + timedelta(hours=n))
    token = listing(orders_api, ALICE, limit="1").json()["nextToken"]
    key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert listing(orders_api, ALICE, limit="1", nextToken=_token(key)).status == 200  # re-encoded as issued

    # When it is changed and re-encoded (or written another way: with its padding)
    for crafted in (_token(craft(key)), token + "=" * (-len(token) % 4) if len(token) % 4 else token + "===="):
        # Then it is refused
        problem = assert_problem(listing(orders_api, ALICE, limit="1", nextToken=crafted), 400)
        assert problem["type"].endswith(":invalid-page-token")


@pytest.mark.parametrize("limit", ["0", "101"])
def test_a_listing_limit_outside_1_to_100_is_refused(orders_api: ApiCaller, limit: str) -> None:
    response = listing(orders_api, limit=limit)

    assert_problem(response, 422)
    assert locations(response) == [["query", "limit"]]


# --- GET /orders/{orderId} -----------------------------------------------------------------------------------


def test_a_customer_reads_their_own_order(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    [placed] = alices_orders(orders_table, catalog_table, 1)

    response = read(orders_api, placed.order_id)

    assert response.status == 200
    assert response.json() == placed.model_dump(mode="json")


def test_another_customers_order_is_not_found(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    bobs = stored_order(orders_table, catalog_table, "customer-b", key="k0", created_at=START)

    response = read(orders_api, bobs.order_id, ALICE)

    problem = assert_problem(response, 404)
    assert "customer-b" not in response.body
    assert problem["title"] == "Not Found"


def test_an_unknown_order_is_not_found(orders_api: ApiCaller) -> None:
    assert_problem(read(orders_api, "ord_does_not_exist"), 404)


@pytest.mark.parametrize("order_id", ["%C3%A9" * 10, "ord%2F..%2Fx", "ord 1", "o" * 65])
def test_an_order_id_that_could_never_be_one_is_refused_by_the_contract(orders_api: ApiCaller, order_id: str) -> None:
    # API Gateway passes the path parameter as sent, percent-encoding and all: the contract's pattern (letters,
    # digits, _ and -; 64 at most) is what the function sees, whatever a client encodes.
    problem = assert_problem(read(orders_api, order_id), 422)

    assert [error["location"] for error in problem["errors"]] == [["path", "orderId"]]


def test_an_admin_reads_any_customers_order(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    bobs = stored_order(orders_table, catalog_table, "customer-b", key="k0", created_at=START)

    response = read(orders_api, bobs.order_id, admin())

    assert response.status == 200
    assert response.json() == bobs.model_dump(mode="json")


def test_an_unknown_order_is_not_found_for_an_admin_either(orders_api: ApiCaller) -> None:
    assert_problem(read(orders_api, "ord_does_not_exist", admin()), 404)


def test_a_signed_in_user_without_a_group_cannot_read_orders(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    [alices] = alices_orders(orders_table, catalog_table, 1)

    response = read(orders_api, alices.order_id, claims_for("customer-a"))

    assert_problem(response, 403)


# --- POST /orders/{orderId}/cancel ---------------------------------------------------------------------------


def test_cancelling_a_placed_order_makes_it_cancelled_with_history(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    [placed] = alices_orders(orders_table, catalog_table, 1)

    response = cancel(orders_api, placed.order_id)

    assert response.status == 200
    order = response.json()
    assert order["status"] == "CANCELLED"
    assert [change["status"] for change in order["history"]] == ["PLACED", "CANCELLED"]
    assert order["history"][-1]["at"] == order["updatedAt"]
    assert order["updatedAt"] > order["createdAt"]
    assert read(orders_api, placed.order_id).json() == order


def test_a_cancellation_is_stored_with_timestamps_in_one_format(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable, stored_orders: OrdersReader
) -> None:
    # The byStatus index sorts on updatedAt as a string, so every write must use the same ISO 8601 form.
    [placed] = alices_orders(orders_table, catalog_table, 1)

    order = cancel(orders_api, placed.order_id).json()

    [stored] = stored_orders()
    assert stored["updatedAt"] == order["updatedAt"]
    assert TIMESTAMP.match(stored["updatedAt"])
    assert TIMESTAMP.match(stored["createdAt"])


@pytest.mark.parametrize("status", sorted(CANCELLABLE))
def test_an_order_not_yet_paid_can_be_cancelled(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable, status: OrderStatus
) -> None:
    order = stored_order(orders_table, catalog_table, "customer-a", key="k0", created_at=START, status=status)

    response = cancel(orders_api, order.order_id)

    assert response.status == 200
    assert response.json()["status"] == "CANCELLED"


@pytest.mark.parametrize("status", sorted(set(OrderStatus) - CANCELLABLE))
def test_cancelling_once_paid_or_final_is_a_conflict_and_changes_nothing(
    orders_api: ApiCaller,
    orders_table: OrdersTable,
    catalog_table: CatalogTable,
    table_contents: ContentsReader,
    status: OrderStatus,
) -> None:
    # Given an order the workflow has moved on (PAID is the case the contract names)
    order = stored_order(orders_table, catalog_table, "customer-a", key="k0", created_at=START, status=status)
    before = table_contents()

    # When
    response = cancel(orders_api, order.order_id)

    # Then
    problem = assert_problem(response, 409)
    assert status.value in problem["detail"]
    assert table_contents() == before
    stored = orders_table.get("customer-a", order.order_id)
    assert stored is not None
    assert stored.status is status


def test_cancelling_an_unknown_order_is_not_found(orders_api: ApiCaller) -> None:
    assert_problem(cancel(orders_api, "ord_does_not_exist"), 404)


def test_cancelling_another_customers_order_is_not_found_and_changes_nothing(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable, table_contents: ContentsReader
) -> None:
    bobs = stored_order(orders_table, catalog_table, "customer-b", key="k0", created_at=START)
    before = table_contents()

    response = cancel(orders_api, bobs.order_id, ALICE)

    assert_problem(response, 404)
    assert table_contents() == before


def test_cancelling_twice_is_a_conflict_the_second_time(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable, table_contents: ContentsReader
) -> None:
    [placed] = alices_orders(orders_table, catalog_table, 1)
    first = cancel(orders_api, placed.order_id)
    before = table_contents()

    second = cancel(orders_api, placed.order_id)

    assert first.status == 200
    assert_problem(second, 409)
    assert table_contents() == before
    assert [change["status"] for change in read(orders_api, placed.order_id).json()["history"]] == [
        "PLACED",
        "CANCELLED",
    ]


def test_an_admin_cannot_cancel_a_customers_order(
    orders_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable, table_contents: ContentsReader
) -> None:
    [placed] = alices_orders(orders_table, catalog_table, 1)
    before = table_contents()

    assert_problem(cancel(orders_api, placed.order_id, admin()), 403)
    assert table_contents() == before


# --- who may call --------------------------------------------------------------------------------------------

Route = Callable[[ApiCaller, dict[str, Any] | None], ApiResponse]
ROUTES: dict[str, Route] = {
    "place": lambda api, claims: place(api, order_body(line("scale")), claims=claims),
    "list": listing,
    "read": lambda api, claims: read(api, "ord_x", claims),
    "cancel": lambda api, claims: cancel(api, "ord_x", claims),
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_orders_route_refuses_a_caller_without_a_token(
    orders_api: ApiCaller, table_contents: ContentsReader, route: str
) -> None:
    before = table_contents()

    response = ROUTES[route](orders_api, None)

    assert_problem(response, 401)
    assert table_contents() == before


@pytest.mark.parametrize("route", ["place", "list", "cancel"])
def test_customer_routes_refuse_a_signed_in_user_outside_the_customers_group(
    orders_api: ApiCaller, table_contents: ContentsReader, route: str
) -> None:
    before = table_contents()

    response = ROUTES[route](orders_api, claims_for("customer-a"))

    assert_problem(response, 403)
    assert table_contents() == before

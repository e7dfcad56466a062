"""The cart API: a signed-in customer's cart, kept as a session item with a sliding expiry."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shop.adapters.catalog_table import CatalogTable
from shop.domain.models import Product
from tests.support.api import ApiCaller, ApiResponse, admin, claims_for, customer
from tests.support.cloud import TABLE_NAMES
from tests.unit.api.given import line, minutes_from_now, session_item
from tests.unit.api.tables import ContentsReader, SessionReader

PROBLEM_JSON = "application/problem+json"
CART_TTL = timedelta(seconds=int(os.environ["CART_TTL_SECONDS"]))
ALICE = customer("customer-a")
BOB = customer("customer-b")


def put_cart(cart_api: ApiCaller, claims: dict[str, Any], *lines: dict[str, Any]) -> ApiResponse:
    return cart_api.call("PUT", "/cart", claims=claims, body={"items": list(lines)})


def get_cart(cart_api: ApiCaller, claims: dict[str, Any]) -> ApiResponse:
    return cart_api.call("GET", "/cart", claims=claims)


def expiry_of(response: ApiResponse) -> datetime:
    return datetime.fromisoformat(response.json()["expiresAt"])


def error_locations(response: ApiResponse) -> list[list[Any]]:
    return [error["location"] for error in response.json()["errors"]]


def assert_expires_about_a_ttl_after(expires_at: datetime, before: datetime, after: datetime) -> None:
    # expiresAt is stored in whole epoch seconds (DynamoDB TTL), so it may be up to a second early.
    assert before + CART_TTL - timedelta(seconds=1) <= expires_at <= after + CART_TTL


def test_a_customer_without_a_cart_gets_an_empty_one(cart_api: ApiCaller) -> None:
    response = get_cart(cart_api, ALICE)

    assert response.status == 200
    assert response.json()["items"] == []
    assert response.json().get("expiresAt") is None


def test_a_saved_cart_is_read_back_expiring_about_one_ttl_ahead(cart_api: ApiCaller) -> None:
    # Given
    saved = put_cart(cart_api, ALICE, line("espresso-beans-1kg", 2), line("paper-filters-100"))
    before = datetime.now(UTC)

    # When
    response = get_cart(cart_api, ALICE)

    # Then
    after = datetime.now(UTC)
    assert saved.status == 200
    assert response.status == 200
    assert response.json()["items"] == [line("espresso-beans-1kg", 2), line("paper-filters-100")]
    assert_expires_about_a_ttl_after(expiry_of(response), before, after)


def test_saving_a_cart_answers_with_the_cart_and_its_expiry(cart_api: ApiCaller) -> None:
    before = datetime.now(UTC)

    response = put_cart(cart_api, ALICE, line("scale", 1))

    assert response.status == 200
    assert response.json()["items"] == [line("scale", 1)]
    assert_expires_about_a_ttl_after(expiry_of(response), before, datetime.now(UTC))


def test_reading_the_cart_slides_its_expiry_forward(
    cart_api: ApiCaller, dynamodb: Any, stored_session: SessionReader
) -> None:
    # Given a cart that would expire in a minute
    dynamodb.put_item(
        TableName=TABLE_NAMES["SessionsTable"], Item=session_item("customer-a", [line("scale")], minutes_from_now(1))
    )
    before = datetime.now(UTC)

    # When
    response = get_cart(cart_api, ALICE)

    # Then it now expires a whole TTL from now, in the table too
    assert response.status == 200
    assert response.json()["items"] == [line("scale")]
    assert_expires_about_a_ttl_after(expiry_of(response), before, datetime.now(UTC))
    session = stored_session("customer-a")
    assert session is not None
    assert session["expiresAt"] == int(expiry_of(response).timestamp())


def test_an_expired_session_that_ttl_has_not_yet_deleted_reads_as_an_empty_cart(
    cart_api: ApiCaller, dynamodb: Any
) -> None:
    # Given a session whose expiry passed a minute ago (DynamoDB's TTL deletes it only later)
    dynamodb.put_item(
        TableName=TABLE_NAMES["SessionsTable"], Item=session_item("customer-a", [line("scale")], minutes_from_now(-1))
    )

    response = get_cart(cart_api, ALICE)

    assert response.status == 200
    assert response.json()["items"] == []
    assert response.json().get("expiresAt") is None


def test_saving_over_an_expired_session_starts_a_fresh_cart(cart_api: ApiCaller, dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName=TABLE_NAMES["SessionsTable"], Item=session_item("customer-a", [line("scale")], minutes_from_now(-1))
    )

    put_cart(cart_api, ALICE, line("descaler", 3))

    assert get_cart(cart_api, ALICE).json()["items"] == [line("descaler", 3)]


def test_an_unknown_product_is_refused_naming_its_line_and_changes_nothing(
    cart_api: ApiCaller, table_contents: ContentsReader
) -> None:
    # Given a saved cart
    put_cart(cart_api, ALICE, line("scale"))
    before = table_contents()

    # When the second line names a product the catalog does not have
    response = put_cart(cart_api, ALICE, line("descaler"), line("no-such-product"))

    # Then
    assert response.status == 422
    assert response.content_type == PROBLEM_JSON
    assert error_locations(response) == [["body", "items", 1, "productId"]]
    assert "no-such-product" in response.json()["errors"][0]["message"]
    assert table_contents() == before


def test_a_product_listed_twice_is_refused_and_changes_nothing(
    cart_api: ApiCaller, table_contents: ContentsReader
) -> None:
    before = table_contents()

    response = put_cart(cart_api, ALICE, line("scale", 1), line("descaler", 1), line("scale", 2))

    assert response.status == 422
    assert response.content_type == PROBLEM_JSON
    assert error_locations(response) == [["body", "items", 2, "productId"]]
    assert table_contents() == before


@pytest.mark.parametrize("quantity", [0, 101, -1])
def test_a_quantity_outside_1_to_100_is_refused_and_changes_nothing(
    cart_api: ApiCaller, table_contents: ContentsReader, quantity: int
) -> None:
    before = table_contents()

    response = put_cart(cart_api, ALICE, line("scale", 1), line("descaler", quantity))

    assert response.status == 422
    assert response.content_type == PROBLEM_JSON
    assert error_locations(response) == [["body", "items", 1, "quantity"]]
    assert table_contents() == before


def test_quantities_of_1_and_100_are_accepted(cart_api: ApiCaller) -> None:
    response = put_cart(cart_api, ALICE, line("scale", 1), line("descaler", 100))

    assert response.status == 200
    assert response.json()["items"] == [line("scale", 1), line("descaler", 100)]


def test_more_than_50_lines_are_refused_and_change_nothing(cart_api: ApiCaller, table_contents: ContentsReader) -> None:
    before = table_contents()

    response = put_cart(cart_api, ALICE, *(line(f"product-{index}") for index in range(51)))

    assert response.status == 422
    assert response.content_type == PROBLEM_JSON
    assert error_locations(response) == [["body", "items"]]
    assert table_contents() == before


def test_50_lines_are_accepted(cart_api: ApiCaller, catalog_table: CatalogTable) -> None:
    for index in range(50):
        catalog_table.put(Product(product_id=f"bulk-{index}", name=f"Bulk item {index}", price_cents=100, available=9))
    lines = [line(f"bulk-{index}") for index in range(50)]

    response = put_cart(cart_api, ALICE, *lines)

    assert response.status == 200
    assert response.json()["items"] == lines


def test_a_misspelt_field_is_refused_rather_than_ignored(cart_api: ApiCaller, table_contents: ContentsReader) -> None:
    before = table_contents()

    response = cart_api.call("PUT", "/cart", claims=ALICE, body={"items": [{"productId": "scale", "qty": 1}]})

    assert response.status == 422
    assert ["body", "items", 0, "qty"] in error_locations(response)
    assert table_contents() == before


def test_saving_no_lines_empties_the_cart(cart_api: ApiCaller, stored_session: SessionReader) -> None:
    put_cart(cart_api, ALICE, line("scale"))

    response = put_cart(cart_api, ALICE)

    assert response.status == 200
    assert response.json()["items"] == []
    assert stored_session("customer-a") is None


def test_deleting_the_cart_answers_204_and_leaves_it_empty(cart_api: ApiCaller, stored_session: SessionReader) -> None:
    # Given
    put_cart(cart_api, ALICE, line("scale"))

    # When
    response = cart_api.call("DELETE", "/cart", claims=ALICE)

    # Then
    assert response.status == 204
    assert response.body == ""
    assert stored_session("customer-a") is None
    assert get_cart(cart_api, ALICE).json()["items"] == []


def test_deleting_a_cart_that_does_not_exist_is_still_204(cart_api: ApiCaller) -> None:
    response = cart_api.call("DELETE", "/cart", claims=ALICE)

    assert response.status == 204


def test_a_customer_never_sees_another_customers_cart(cart_api: ApiCaller) -> None:
    # Given Bob has a cart
    put_cart(cart_api, BOB, line("burr-grinder"))

    # When Alice reads hers
    alices = get_cart(cart_api, ALICE)

    # Then hers is empty and Bob's is untouched
    assert alices.json()["items"] == []
    assert get_cart(cart_api, BOB).json()["items"] == [line("burr-grinder")]


def test_deleting_my_cart_leaves_another_customers_cart(cart_api: ApiCaller) -> None:
    put_cart(cart_api, BOB, line("burr-grinder"))
    put_cart(cart_api, ALICE, line("scale"))

    cart_api.call("DELETE", "/cart", claims=ALICE)

    assert get_cart(cart_api, BOB).json()["items"] == [line("burr-grinder")]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_caller_without_a_token_is_unauthorized(
    cart_api: ApiCaller, table_contents: ContentsReader, method: str
) -> None:
    before = table_contents()

    response = cart_api.call(method, "/cart", body={"items": [line("scale")]} if method == "PUT" else None)

    assert response.status == 401
    assert response.content_type == PROBLEM_JSON
    assert response.json()["status"] == 401
    assert table_contents() == before


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("claims", [claims_for("no-groups"), admin()], ids=["no-group", "admin-only"])
def test_a_signed_in_user_outside_the_customers_group_is_forbidden(
    cart_api: ApiCaller, table_contents: ContentsReader, method: str, claims: dict[str, Any]
) -> None:
    before = table_contents()

    response = cart_api.call(
        method, "/cart", claims=claims, body={"items": [line("scale")]} if method == "PUT" else None
    )

    assert response.status == 403
    assert response.content_type == PROBLEM_JSON
    assert response.json()["status"] == 403
    assert table_contents() == before

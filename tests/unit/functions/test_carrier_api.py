"""The carrier API: a partner carrier (API key, no user token) reports a delivery, SHIPPED → DELIVERED."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable
from shop.domain.models import OrderStatus, iso
from shop.domain.ordering import utc_now
from shop.usecases.warehouse import tracking_number_for
from tests.support.api import ApiCaller, ApiResponse, assert_problem
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.given import an_order

PROBLEM_JSON = "application/problem+json"
REPORT = json.loads(read_event("carrier_api")["body"])
# The order the event file reports: the one orders_api.json placed.
CUSTOMER_ID = read_event("orders_api")["requestContext"]["authorizer"]["claims"]["sub"]


@pytest.fixture
def carrier_api(dynamodb: Any) -> ApiCaller:
    return ApiCaller(load_function("carrier_api"), "carrier_api")


def ship(orders: OrdersTable, catalog: CatalogTable, order_id: str, status: OrderStatus = OrderStatus.PLACED) -> None:
    """An order of the event file's customer, moved to PAID and (for SHIPPED) shipped with its tracking number."""
    shipped_at = utc_now() - timedelta(days=1)
    order = an_order(
        orders,
        catalog,
        customer_id=CUSTOMER_ID,
        order_id=order_id,
        status=OrderStatus.PAID if status is OrderStatus.SHIPPED else status,
        at=shipped_at - timedelta(days=1),
    )
    if status is OrderStatus.SHIPPED:
        orders.transition(order, OrderStatus.SHIPPED, shipped_at, tracking_number=tracking_number_for(order_id))


def report(api: ApiCaller, **changes: Any) -> ApiResponse:
    """The event file's request, with some fields of its body changed (its delivery time is a fixed date,
    which may lie ahead of the clock the tests run on)."""
    event = copy.deepcopy(api.base_event)
    event["body"] = json.dumps(REPORT | changes)
    return api.invoke(event)


def test_a_delivery_of_a_shipped_order_makes_it_delivered_with_history(
    carrier_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    ship(orders_table, catalog_table, REPORT["orderId"], OrderStatus.SHIPPED)
    delivered_at = iso(utc_now() - timedelta(hours=1))

    response = report(carrier_api, deliveredAt=delivered_at)

    assert response.status == 200, response.body
    order = response.json()
    assert order["status"] == "DELIVERED"
    assert order["trackingNumber"] == REPORT["trackingNumber"]
    assert [change["status"] for change in order["history"]] == ["PLACED", "PAID", "SHIPPED", "DELIVERED"]
    assert order["history"][-1]["at"] == delivered_at
    stored = orders_table.get(CUSTOMER_ID, REPORT["orderId"])
    assert stored is not None
    assert stored.status is OrderStatus.DELIVERED


@pytest.mark.parametrize("status", [OrderStatus.PLACED, OrderStatus.PAID, OrderStatus.CANCELLED, OrderStatus.DELIVERED])
def test_a_delivery_of_an_order_that_is_not_shipped_is_a_conflict(
    carrier_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable, status: OrderStatus
) -> None:
    ship(orders_table, catalog_table, REPORT["orderId"], status)
    before = orders_table.get(CUSTOMER_ID, REPORT["orderId"])

    assert_problem(report(carrier_api), 409)
    assert orders_table.get(CUSTOMER_ID, REPORT["orderId"]) == before


def test_a_delivery_twice_is_a_conflict_the_second_time(
    carrier_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    ship(orders_table, catalog_table, REPORT["orderId"], OrderStatus.SHIPPED)
    assert report(carrier_api).status == 200

    assert_problem(report(carrier_api), 409)
    stored = orders_table.get(CUSTOMER_ID, REPORT["orderId"])
    assert stored is not None
    assert [change.status for change in stored.history].count(OrderStatus.DELIVERED) == 1


def test_a_tracking_number_other_than_the_shipments_is_refused_naming_the_field(
    carrier_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    ship(orders_table, catalog_table, REPORT["orderId"], OrderStatus.SHIPPED)

    problem = assert_problem(report(carrier_api, trackingNumber="TRK000000000000"), 422)

    assert [error["location"] for error in problem["errors"]] == [["body", "trackingNumber"]]
    stored = orders_table.get(CUSTOMER_ID, REPORT["orderId"])
    assert stored is not None
    assert stored.status is OrderStatus.SHIPPED


def test_a_delivery_of_an_unknown_order_is_not_found(carrier_api: ApiCaller) -> None:
    assert_problem(report(carrier_api, orderId="ord_nosuchorder"), 404)


def test_a_request_without_an_api_key_id_is_forbidden(
    carrier_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    ship(orders_table, catalog_table, REPORT["orderId"], OrderStatus.SHIPPED)
    event = read_event("carrier_api")
    del event["requestContext"]["identity"]["apiKeyId"]

    assert_problem(carrier_api.invoke(event), 403)
    stored = orders_table.get(CUSTOMER_ID, REPORT["orderId"])
    assert stored is not None
    assert stored.status is OrderStatus.SHIPPED


def test_a_delivery_time_in_the_future_is_recorded_as_now(
    carrier_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    ship(orders_table, catalog_table, REPORT["orderId"], OrderStatus.SHIPPED)
    before = utc_now()

    response = report(carrier_api, deliveredAt="2099-01-01T00:00:00.000Z")

    assert response.status == 200, response.body
    delivered_at = datetime.fromisoformat(response.json()["history"][-1]["at"])
    assert before <= delivered_at <= utc_now()
    assert response.json()["updatedAt"] == response.json()["history"][-1]["at"]


def test_a_delivery_time_before_the_shipment_keeps_the_history_in_order(
    carrier_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    # Given an order shipped yesterday, and a carrier whose clock says it was delivered two days ago
    ship(orders_table, catalog_table, REPORT["orderId"], OrderStatus.SHIPPED)

    response = report(carrier_api, deliveredAt=iso(utc_now() - timedelta(days=2)))

    assert response.status == 200, response.body
    moments = [datetime.fromisoformat(change["at"]) for change in response.json()["history"]]
    assert moments == sorted(moments)

"""The nightly job: yesterday's sales report (UTC days) as JSON in the reports bucket, and a sweep that counts
the orders whose status has not moved for longer than ORDER_SLA_HOURS (the StuckOrders metric)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable
from shop.domain.models import OrderStatus
from shop.domain.ordering import utc_now
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.given import an_order, emitted_metrics

S = OrderStatus
BUCKET = os.environ["REPORTS_BUCKET_NAME"]


@pytest.fixture
def nightly_report(dynamodb: Any) -> ModuleType:
    return load_function("nightly_report")


def midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def run(module: ModuleType) -> dict[str, Any]:
    response: dict[str, Any] = module.lambda_handler(read_event("nightly_report"), FakeLambdaContext())
    return response


def read_report(s3: Any, key: str) -> tuple[dict[str, Any], str]:
    stored = s3.get_object(Bucket=BUCKET, Key=key)
    return json.loads(stored["Body"].read()), stored["ContentType"]


def test_yesterdays_orders_are_counted_by_status_and_the_sold_ones_make_the_revenue(
    nightly_report: ModuleType, reports_bucket: Any, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    today = midnight(utc_now())
    yesterday = today - timedelta(days=1)

    def given(order_id: str, status: OrderStatus, at: datetime, lines: list[tuple[str, int]] | None = None) -> None:
        lines = lines or [("espresso-beans-1kg", 2)]
        an_order(orders_table, catalog_table, customer_id="c1", order_id=order_id, status=status, at=at, lines=lines)

    given("ord_shipped", S.SHIPPED, yesterday + timedelta(hours=9))
    given("ord_delivered", S.DELIVERED, yesterday + timedelta(hours=10), [("burr-grinder", 1), ("descaler", 3)])
    given("ord_cancelled", S.CANCELLED, yesterday + timedelta(hours=11))
    given("ord_placed_at_the_first_millisecond", S.PLACED, yesterday)
    # Outside yesterday: the day before, and today's very first millisecond.
    given("ord_delivered_the_day_before", S.DELIVERED, yesterday - timedelta(hours=12))
    given("ord_placed_today", S.PLACED, today)

    response = run(nightly_report)

    key = f"sales/{yesterday.date().isoformat()}.json"
    assert response["reportKey"] == key
    report, content_type = read_report(reports_bucket, key)
    assert content_type == "application/json"
    assert report["day"] == yesterday.date().isoformat()
    assert report["ordersByStatus"] == {"CANCELLED": 1, "DELIVERED": 1, "PLACED": 1, "SHIPPED": 1}
    assert report["ordersSold"] == 2
    assert report["revenueCents"] == 2 * 2400 + 18900 + 3 * 990
    assert report["unitsByProduct"] == {"burr-grinder": 1, "descaler": 3, "espresso-beans-1kg": 2}


def test_orders_whose_status_has_not_moved_within_the_sla_are_reported_as_stuck(
    nightly_report: ModuleType,
    reports_bucket: Any,
    orders_table: OrdersTable,
    catalog_table: CatalogTable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = utc_now()
    sla = timedelta(hours=int(os.environ["ORDER_SLA_HOURS"]))
    long_ago = now - sla - timedelta(hours=24)
    for order_id, status in [
        ("ord_stuck_placed", S.PLACED),
        ("ord_stuck_paid", S.PAID),
        ("ord_stuck_shipped", S.SHIPPED),
        # An approval left waiting past the SLA is stuck too; final statuses never move again.
        ("ord_stuck_awaiting_approval", S.AWAITING_APPROVAL),
        ("ord_delivered", S.DELIVERED),
        ("ord_cancelled", S.CANCELLED),
        ("ord_failed", S.FAILED),
    ]:
        an_order(orders_table, catalog_table, customer_id="c1", order_id=order_id, status=status, at=long_ago)
    # Within the SLA (an hour to spare): not stuck.
    an_order(orders_table, catalog_table, customer_id="c1", order_id="ord_recent", at=now - sla + timedelta(hours=1))

    response = run(nightly_report)

    assert response["stuckOrders"] == 4
    assert emitted_metrics(capsys.readouterr().out)["StuckOrders"] == [4.0]


def test_a_quiet_day_gives_an_empty_report_and_no_stuck_orders(
    nightly_report: ModuleType, reports_bucket: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    response = run(nightly_report)

    report, _ = read_report(reports_bucket, response["reportKey"])
    assert report["ordersByStatus"] == {}
    assert (report["ordersSold"], report["revenueCents"], report["unitsByProduct"]) == (0, 0, {})
    assert emitted_metrics(capsys.readouterr().out)["StuckOrders"] == [0.0]


def test_a_sale_counts_on_the_day_the_order_shipped_not_the_day_it_was_delivered(
    nightly_report: ModuleType, reports_bucket: Any, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    today = midnight(utc_now())
    yesterday = today - timedelta(days=1)
    # Shipped the day before yesterday, delivered yesterday: a sale of the day before, not of yesterday.
    old = an_order(
        orders_table,
        catalog_table,
        customer_id="c1",
        order_id="ord_old",
        status=S.SHIPPED,
        at=yesterday - timedelta(hours=6),
    )
    orders_table.transition(old, S.DELIVERED, yesterday + timedelta(hours=8))
    # Shipped yesterday, delivered early today before the report ran: a sale of yesterday.
    late = an_order(
        orders_table,
        catalog_table,
        customer_id="c1",
        order_id="ord_late",
        status=S.SHIPPED,
        at=yesterday + timedelta(hours=23),
    )
    orders_table.transition(late, S.DELIVERED, today)

    response = run(nightly_report)

    report, _ = read_report(reports_bucket, response["reportKey"])
    assert report["ordersSold"] == 1
    assert report["revenueCents"] == late.total_cents

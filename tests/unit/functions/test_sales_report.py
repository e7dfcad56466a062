"""The nightly job's last step: yesterday's sales report (UTC days), built from an export of the Orders table in the
format DynamoDB writes (the local cloud's exports, localcloud/table_exports.py, on moto's tables), equals the report
read from the live table, whether the export is full or incremental; an export that lost a file or a line fails the
step instead of shrinking the report."""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from localcloud.table_exports import TableExports
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_exports import ExportIncomplete
from shop.adapters.orders_table import OrdersTable
from shop.domain.models import OrderStatus
from shop.domain.ordering import utc_now
from shop.usecases.reporting import sales_report
from tests.support.cloud import TABLE_NAMES
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.given import an_order

S = OrderStatus
BUCKET = os.environ["REPORTS_BUCKET_NAME"]
TABLE_ARN = os.environ["ORDERS_TABLE_ARN"]
REGION = os.environ["AWS_REGION"]


@pytest.fixture
def sales_report_function(dynamodb: Any, reports_bucket: Any) -> ModuleType:
    dynamodb.update_continuous_backups(
        TableName=TABLE_NAMES["OrdersTable"],
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    return load_function("sales_report")


def midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def orders_table_in_moto() -> Any:
    return dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables[TABLE_NAMES["OrdersTable"]]


def writes_happened_when_the_orders_say() -> None:
    """The tests write orders now with histories in the past; DynamoDB would have logged each write at the time the
    order says it changed (its updatedAt), and the table would have existed then."""
    table = orders_table_in_moto()
    table.created_at = datetime(2020, 1, 1)
    for record in table.stream_shard.items:
        image = record.record["dynamodb"].get("NewImage", {})
        if "updatedAt" in image:
            moment = datetime.fromisoformat(image["updatedAt"]["S"].replace("Z", "+00:00"))
            record.record["dynamodb"]["ApproximateCreationDateTime"] = moment.replace(tzinfo=None)


def export(request: dict[str, Any]) -> str:
    """Export the Orders table; returns the manifest's key, as DescribeExport names it once complete."""
    exports = TableExports(DEFAULT_ACCOUNT_ID, REGION)
    body = {"TableArn": TABLE_ARN, "S3Bucket": BUCKET, "S3Prefix": "exports/orders/test", **request}
    status, _, started = exports.answer("ExportTableToPointInTime", json.dumps(body).encode())
    assert status == 200, started
    arn = json.loads(started)["ExportDescription"]["ExportArn"]
    status, _, described = exports.answer("DescribeExport", json.dumps({"ExportArn": arn}).encode())
    description = json.loads(described)["ExportDescription"]
    assert description["ExportStatus"] == "COMPLETED", description
    return str(description["ExportManifest"])


def data_file_of(s3: Any, manifest: str) -> str:
    """The export's (one) data file, as its manifests name it."""
    files_key = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest)["Body"].read())["manifestFilesS3Key"]
    return str(json.loads(s3.get_object(Bucket=BUCKET, Key=files_key)["Body"].read())["dataFileS3Key"])


def build(module: ModuleType, day: datetime, manifest: str) -> dict[str, Any]:
    event = {"day": day.date().isoformat(), "exportManifest": manifest}
    response: dict[str, Any] = module.lambda_handler(event, FakeLambdaContext())
    return response


def read_report(s3: Any, key: str) -> tuple[dict[str, Any], str]:
    stored = s3.get_object(Bucket=BUCKET, Key=key)
    return json.loads(stored["Body"].read()), stored["ContentType"]


def a_day_of_orders(orders_table: OrdersTable, catalog_table: CatalogTable, yesterday: datetime) -> None:
    today = yesterday + timedelta(days=1)

    def given(order_id: str, status: OrderStatus, at: datetime, lines: list[tuple[str, int]] | None = None) -> Any:
        lines = lines or [("espresso-beans-1kg", 2)]
        return an_order(
            orders_table, catalog_table, customer_id="c1", order_id=order_id, status=status, at=at, lines=lines
        )

    given("ord_shipped", S.SHIPPED, yesterday + timedelta(hours=9))
    given("ord_delivered", S.DELIVERED, yesterday + timedelta(hours=10), [("burr-grinder", 1), ("descaler", 3)])
    given("ord_cancelled", S.CANCELLED, yesterday + timedelta(hours=11))
    given("ord_placed_at_the_first_millisecond", S.PLACED, yesterday)
    # Outside yesterday: the day before, and today's very first millisecond.
    given("ord_delivered_the_day_before", S.DELIVERED, yesterday - timedelta(hours=12))
    given("ord_placed_today", S.PLACED, today)
    # Shipped the day before yesterday, delivered yesterday: a sale of the day before, counted as DELIVERED.
    old = given("ord_old", S.SHIPPED, yesterday - timedelta(hours=6))
    orders_table.transition(old, S.DELIVERED, yesterday + timedelta(hours=8))
    # Shipped yesterday, delivered early today before the report ran: a sale of yesterday, left SHIPPED by the day.
    late = given("ord_late", S.SHIPPED, yesterday + timedelta(hours=22))
    orders_table.transition(late, S.DELIVERED, today)


EXPECTED = {
    "ordersByStatus": {"CANCELLED": 1, "DELIVERED": 2, "PLACED": 1, "SHIPPED": 2},
    "ordersSold": 3,
    "revenueCents": 2 * 2400 + 18900 + 3 * 990 + 2 * 2400,
    "unitsByProduct": {"burr-grinder": 1, "descaler": 3, "espresso-beans-1kg": 4},
}


def figures(report: dict[str, Any]) -> dict[str, Any]:
    return {key: report[key] for key in EXPECTED}


@pytest.mark.parametrize("kind", ["full", "incremental"])
def test_the_report_from_an_export_equals_the_report_from_the_table(
    sales_report_function: ModuleType,
    reports_bucket: Any,
    orders_table: OrdersTable,
    catalog_table: CatalogTable,
    kind: str,
) -> None:
    yesterday = midnight(utc_now()) - timedelta(days=1)
    a_day_of_orders(orders_table, catalog_table, yesterday)
    writes_happened_when_the_orders_say()
    window = {"ExportFromTime": yesterday.timestamp(), "ExportToTime": (yesterday + timedelta(days=1)).timestamp()}
    request = (
        {
            "ExportType": "INCREMENTAL_EXPORT",
            "IncrementalExportSpecification": {**window, "ExportViewType": "NEW_IMAGE"},
        }
        if kind == "incremental"
        else {"ExportType": "FULL_EXPORT"}
    )

    response = build(sales_report_function, yesterday, export(request))

    key = f"sales/{yesterday.date().isoformat()}.json"
    assert response["reportKey"] == key
    report, content_type = read_report(reports_bucket, key)
    assert content_type == "application/json"
    assert report["day"] == yesterday.date().isoformat()
    from_table = sales_report(orders_table, yesterday, utc_now()).model_dump(mode="json", by_alias=True)
    assert figures(report) == figures(from_table) == EXPECTED


def test_an_incremental_export_holds_only_the_days_writes_and_skips_what_is_not_an_order(
    sales_report_function: ModuleType, reports_bucket: Any, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    yesterday = midnight(utc_now()) - timedelta(days=1)
    a_day_of_orders(orders_table, catalog_table, yesterday)
    writes_happened_when_the_orders_say()
    window = {"ExportFromTime": yesterday.timestamp(), "ExportToTime": (yesterday + timedelta(days=1)).timestamp()}
    manifest = export(
        {
            "ExportType": "INCREMENTAL_EXPORT",
            "IncrementalExportSpecification": {**window, "ExportViewType": "NEW_IMAGE"},
        }
    )

    exported = list(load_function("sales_report").exports.orders_in(manifest))

    # ord_placed_today and ord_delivered_the_day_before were not written yesterday; each order appears once.
    assert sorted(order.order_id for order in exported) == [
        "ord_cancelled",
        "ord_delivered",
        "ord_late",
        "ord_old",
        "ord_placed_at_the_first_millisecond",
        "ord_shipped",
    ]
    assert {order.order_id: order.status for order in exported}["ord_late"] is S.SHIPPED  # as the day left it


def test_a_quiet_day_gives_an_empty_report(sales_report_function: ModuleType, reports_bucket: Any) -> None:
    yesterday = midnight(utc_now()) - timedelta(days=1)

    response = build(sales_report_function, yesterday, export({"ExportType": "FULL_EXPORT"}))

    report, _ = read_report(reports_bucket, response["reportKey"])
    assert report["ordersByStatus"] == {}
    assert (report["ordersSold"], report["revenueCents"], report["unitsByProduct"]) == (0, 0, {})


def test_an_export_with_a_line_lost_fails_the_step_and_writes_no_report(
    sales_report_function: ModuleType, reports_bucket: Any, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    yesterday = midnight(utc_now()) - timedelta(days=1)
    a_day_of_orders(orders_table, catalog_table, yesterday)
    manifest = export({"ExportType": "FULL_EXPORT"})
    data_key = data_file_of(reports_bucket, manifest)
    lines = gzip.decompress(reports_bucket.get_object(Bucket=BUCKET, Key=data_key)["Body"].read()).splitlines()
    reports_bucket.put_object(Bucket=BUCKET, Key=data_key, Body=gzip.compress(b"\n".join(lines[1:]) + b"\n"))

    with pytest.raises(ExportIncomplete, match="manifest says"):
        build(sales_report_function, yesterday, manifest)

    assert reports_bucket.list_objects_v2(Bucket=BUCKET, Prefix="sales/").get("KeyCount") == 0


def test_an_export_with_a_data_file_missing_fails_the_step(
    sales_report_function: ModuleType, reports_bucket: Any, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    yesterday = midnight(utc_now()) - timedelta(days=1)
    a_day_of_orders(orders_table, catalog_table, yesterday)
    manifest = export({"ExportType": "FULL_EXPORT"})
    data_key = data_file_of(reports_bucket, manifest)
    reports_bucket.delete_object(Bucket=BUCKET, Key=data_key)

    with pytest.raises(ExportIncomplete, match="missing"):
        build(sales_report_function, yesterday, manifest)


def test_the_sample_event_against_a_bucket_without_its_export_fails_naming_the_manifest(
    sales_report_function: ModuleType, reports_bucket: Any
) -> None:
    event = read_event("sales_report")

    with pytest.raises(ExportIncomplete, match=event["exportManifest"]):
        sales_report_function.lambda_handler(event, FakeLambdaContext())

    assert reports_bucket.list_objects_v2(Bucket=BUCKET, Prefix="sales/").get("KeyCount") == 0

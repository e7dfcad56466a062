"""The nightly job's first step: it starts the export of yesterday's changes to the Orders table (UTC days) for the
sales report, incrementally, or in full when yesterday is outside the table's recovery window; and it counts the
orders whose status has not moved for longer than ORDER_SLA_HOURS (the StuckOrders metric)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_exports import OrdersExports
from shop.adapters.orders_table import OrdersTable
from shop.domain.models import OrderStatus
from shop.domain.ordering import utc_now
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.given import an_order, emitted_metrics

S = OrderStatus
BUCKET = os.environ["REPORTS_BUCKET_NAME"]
TABLE_ARN = os.environ["ORDERS_TABLE_ARN"]


class RecordingExports:
    """DynamoDB's export API as the function sees it: each request kept; `refuse` answers the next ones with an
    error code, as DynamoDB would."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.refuse: list[str] = []

    def export_table_to_point_in_time(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        if self.refuse:
            code = self.refuse.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": code}}, "ExportTableToPointInTime")
        arn = f"{request['TableArn']}/export/01796379438793-{len(self.requests):08x}"
        return {"ExportDescription": {"ExportArn": arn, "ExportStatus": "IN_PROGRESS"}}


@pytest.fixture
def nightly_report(dynamodb: Any) -> ModuleType:
    return load_function("nightly_report")


@pytest.fixture
def export_requests(nightly_report: ModuleType, monkeypatch: pytest.MonkeyPatch) -> RecordingExports:
    recorder = RecordingExports()
    monkeypatch.setattr(nightly_report, "exports", OrdersExports(TABLE_ARN, BUCKET, client=recorder))  # type: ignore[arg-type]
    return recorder


def run(module: ModuleType) -> dict[str, Any]:
    response: dict[str, Any] = module.lambda_handler(read_event("nightly_report"), FakeLambdaContext())
    return response


def yesterday() -> datetime:
    now = utc_now()
    return datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=1)


def test_yesterdays_changes_are_exported_incrementally_under_the_days_prefix(
    nightly_report: ModuleType, export_requests: RecordingExports
) -> None:
    response = run(nightly_report)

    day = yesterday()
    [request] = export_requests.requests
    assert request["TableArn"] == TABLE_ARN
    assert (request["S3Bucket"], request["S3Prefix"]) == (BUCKET, f"exports/orders/{day.date().isoformat()}")
    assert request["ExportType"] == "INCREMENTAL_EXPORT"
    assert request["IncrementalExportSpecification"] == {
        "ExportFromTime": day,
        "ExportToTime": day + timedelta(days=1),
        "ExportViewType": "NEW_IMAGE",
    }
    assert (request["ExportFormat"], request["S3SseAlgorithm"]) == ("DYNAMODB_JSON", "AES256")
    assert response["day"] == day.date().isoformat()
    assert response["exportType"] == "INCREMENTAL_EXPORT"
    assert response["exportArn"].startswith(f"{TABLE_ARN}/export/")


def test_a_retried_step_asks_for_the_same_export_with_the_same_client_token(
    nightly_report: ModuleType, export_requests: RecordingExports
) -> None:
    run(nightly_report)
    run(nightly_report)

    first, second = export_requests.requests
    assert first == second
    assert first["ClientToken"]
    assert len(first["ClientToken"]) <= 64


def test_a_day_outside_the_recovery_window_is_exported_in_full_with_another_token(
    nightly_report: ModuleType, export_requests: RecordingExports
) -> None:
    export_requests.refuse = ["InvalidExportTimeException"]

    response = run(nightly_report)

    incremental, full = export_requests.requests
    assert full["ExportType"] == "FULL_EXPORT"
    assert "IncrementalExportSpecification" not in full
    assert "ExportTime" not in full
    assert full["ClientToken"] != incremental["ClientToken"]
    assert response["exportType"] == "FULL_EXPORT"


@pytest.mark.parametrize("code", ["PointInTimeRecoveryUnavailableException", "ExportConflictException"])
def test_other_refusals_fail_the_step_for_the_workflow_to_see(
    nightly_report: ModuleType, export_requests: RecordingExports, code: str
) -> None:
    export_requests.refuse = [code]

    with pytest.raises(ClientError) as raised:
        run(nightly_report)

    assert raised.value.response["Error"]["Code"] == code
    assert len(export_requests.requests) == 1


def test_orders_whose_status_has_not_moved_within_the_sla_are_reported_as_stuck(
    nightly_report: ModuleType,
    export_requests: RecordingExports,
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


def test_a_quiet_night_finds_no_stuck_orders(
    nightly_report: ModuleType, export_requests: RecordingExports, capsys: pytest.CaptureFixture[str]
) -> None:
    response = run(nightly_report)

    assert response["stuckOrders"] == 0
    assert emitted_metrics(capsys.readouterr().out)["StuckOrders"] == [0.0]

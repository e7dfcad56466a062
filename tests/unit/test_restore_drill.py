"""The restore drill of docs/backups.md in moto: orders placed and moved through the Orders adapter come back the same
from an on-demand backup and from a point-in-time restore, as tools/restore_check.py compares them, and the check
does report an order that a restore changed or lost.

moto's restore_table_to_point_in_time copies the source table as it is at the call, whatever time is asked for, so
only a restore to the latest restorable time is tested here; that a backup keeps the table as it was when taken is
real in moto (a copy made by create_backup) and is tested."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID

from localcloud.provision import create_table_args
from localcloud.table_exports import TableExports
from localcloud.template import load_stack
from shop.adapters.approvals_table import ApprovalsTable
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable, order_sort_key
from shop.domain.models import Order, OrderStatus
from shop.domain.ordering import utc_now
from tests.support.cloud import TABLE_NAMES
from tests.unit.functions.given import a_pending_approval, an_order
from tools.restore_check import check, main

LIVE = TABLE_NAMES["OrdersTable"]
FROM_BACKUP = f"{LIVE}-restored-backup"
TO_POINT_IN_TIME = f"{LIVE}-restored-pitr"
FROM_EXPORT = f"{LIVE}-restored-export"
S = OrderStatus


@pytest.fixture
def placed(dynamodb: Any, orders_table: OrdersTable, catalog_table: CatalogTable) -> dict[OrderStatus, Order]:
    """One order in each status, for two customers, and the approval the one awaiting approval waits on."""
    orders = {
        status: an_order(
            orders_table,
            catalog_table,
            customer_id=("customer-ada", "customer-bob")[index % 2],
            order_id=f"ord_drill_{status.value.lower()}",
            lines=(("espresso-beans-1kg", 1 + index),),
            status=status,
        )
        for index, status in enumerate(S)
    }
    for status, order in orders.items():
        assert order.status is status
    a_pending_approval(ApprovalsTable(LIVE, dynamodb), orders[S.AWAITING_APPROVAL], "token-1", utc_now())
    return orders


def restore_from_backup(client: Any, target: str) -> None:
    backup_arn = client.create_backup(TableName=LIVE, BackupName="drill")["BackupDetails"]["BackupArn"]
    client.restore_table_from_backup(TargetTableName=target, BackupArn=backup_arn)


def counted(printed: str) -> dict[str, list[str]]:
    """The per-status table the check prints: status (or "total") -> [live, restored] counts."""
    rows = [row.split() for row in printed.splitlines()]
    return {row[0]: row[1:] for row in rows if len(row) == 3 and (row[0] in S.__members__ or row[0] == "total")}


def assert_same_orders(client: Any, placed: dict[OrderStatus, Order], restored_table: str) -> None:
    """The check finds no difference, and every order reads back through the adapter as it was placed: same status,
    total, lines and history."""
    comparison = check(client, LIVE, restored_table)
    restored = OrdersTable(restored_table, client)

    assert comparison.differences == ()
    # One order per status; the pending approval in the same table is not an order.
    assert comparison.restored_counts == Counter({status.value: 1 for status in placed})
    assert {status: restored.get(order.customer_id, order.order_id) for status, order in placed.items()} == placed


def test_a_table_restored_from_a_backup_gives_back_the_same_orders(
    dynamodb: Any, placed: dict[OrderStatus, Order]
) -> None:
    restore_from_backup(dynamodb, FROM_BACKUP)

    assert_same_orders(dynamodb, placed, FROM_BACKUP)
    # The restored table's indexes answer too: the status index finds the paid order.
    assert OrdersTable(FROM_BACKUP, dynamodb).with_status(S.PAID) == [placed[S.PAID]]


def test_a_table_restored_to_the_latest_restorable_time_gives_back_the_same_orders(
    dynamodb: Any, placed: dict[OrderStatus, Order]
) -> None:
    dynamodb.restore_table_to_point_in_time(
        SourceTableName=LIVE, TargetTableName=TO_POINT_IN_TIME, UseLatestRestorableTime=True
    )

    assert_same_orders(dynamodb, placed, TO_POINT_IN_TIME)


def test_a_backup_keeps_the_orders_as_they_were_when_it_was_taken(
    dynamodb: Any, orders_table: OrdersTable, catalog_table: CatalogTable, placed: dict[OrderStatus, Order]
) -> None:
    backup_arn = dynamodb.create_backup(TableName=LIVE, BackupName="before")["BackupDetails"]["BackupArn"]
    paid = orders_table.transition(placed[S.PLACED], S.PAID, utc_now())
    later = an_order(orders_table, catalog_table, customer_id="customer-cy", order_id="ord_drill_after_backup")

    dynamodb.restore_table_from_backup(TargetTableName=FROM_BACKUP, BackupArn=backup_arn)
    comparison = check(dynamodb, LIVE, FROM_BACKUP)

    assert [(d.order_id, d.attributes, d.restored is None) for d in comparison.differences] == [
        (paid.order_id, ("history", "status", "updatedAt"), False),  # customer-ada's
        (later.order_id, (), True),  # customer-cy's
    ]
    assert (comparison.live_counts["PAID"], comparison.restored_counts["PAID"]) == (2, 1)
    # Equal counts do not make equal orders: one order left PLACED and another arrived.
    assert (comparison.live_counts["PLACED"], comparison.restored_counts["PLACED"]) == (1, 1)


def test_orders_changed_since_the_restored_time_are_expected_but_an_older_difference_is_not(
    dynamodb: Any,
    orders_table: OrdersTable,
    catalog_table: CatalogTable,
    placed: dict[OrderStatus, Order],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a backup, then a day of business on the live table: an order paid, another placed.
    backup = dynamodb.create_backup(TableName=LIVE, BackupName="nightly")["BackupDetails"]
    dynamodb.restore_table_from_backup(TargetTableName=FROM_BACKUP, BackupArn=backup["BackupArn"])
    as_of = backup["BackupCreationDateTime"].isoformat()
    paid = orders_table.transition(placed[S.PLACED], S.PAID, utc_now())
    later = an_order(orders_table, catalog_table, customer_id="customer-cy", order_id="ord_drill_later", at=utc_now())

    passed = main(["--table", LIVE, "--restored", FROM_BACKUP, "--as-of", as_of])
    printed = capsys.readouterr().out
    # When an order that did not change since is stored differently in the restored table
    shipped = placed[S.SHIPPED]
    OrdersTable(FROM_BACKUP, dynamodb).transition(shipped, S.DELIVERED, shipped.updated_at + timedelta(minutes=1))
    failed = main(["--table", LIVE, "--restored", FROM_BACKUP, "--as-of", as_of])

    assert passed == 0
    assert "2 order(s) changed or placed since the restored time (expected):" in printed
    assert {paid.order_id, later.order_id} <= set(printed.split())
    assert "every other order is the same in both tables" in printed
    assert failed == 1
    [line] = [line for line in capsys.readouterr().out.splitlines() if shipped.order_id in line]
    assert line.endswith("history, status, updatedAt")


def test_the_check_refuses_a_time_without_a_zone() -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--table", LIVE, "--restored", FROM_BACKUP, "--as-of", "2026-12-04T03:00:00"])

    assert refused.value.code == 2


def test_the_check_reports_an_order_whose_status_changed_in_the_restored_table(
    dynamodb: Any, placed: dict[OrderStatus, Order], capsys: pytest.CaptureFixture[str]
) -> None:
    restore_from_backup(dynamodb, FROM_BACKUP)
    order = placed[S.PLACED]
    OrdersTable(FROM_BACKUP, dynamodb).transition(order, S.CANCELLED, order.updated_at + timedelta(minutes=5))

    exit_code = main(["--table", LIVE, "--restored", FROM_BACKUP])

    printed = capsys.readouterr().out
    [line] = [line for line in printed.splitlines() if order.order_id in line]
    assert exit_code == 1
    assert "1 order(s) differ" in printed
    assert f"PLACED {order.updated_at:%Y-%m-%dT%H:%M:%S}" in line
    assert "CANCELLED" in line
    assert line.endswith("history, status, updatedAt")
    assert (counted(printed)["PLACED"], counted(printed)["CANCELLED"]) == (["1", "0"], ["1", "2"])


def test_the_check_reports_an_order_missing_from_the_restored_table(
    dynamodb: Any, placed: dict[OrderStatus, Order], capsys: pytest.CaptureFixture[str]
) -> None:
    restore_from_backup(dynamodb, FROM_BACKUP)
    gone = placed[S.DELIVERED]
    dynamodb.delete_item(
        TableName=FROM_BACKUP,
        Key={"customerId": {"S": gone.customer_id}, "sk": {"S": order_sort_key(gone.order_id)}},
    )

    exit_code = main(["--table", LIVE, "--restored", FROM_BACKUP])

    [line] = [line for line in capsys.readouterr().out.splitlines() if gone.order_id in line]
    assert exit_code == 1
    assert "DELIVERED" in line
    assert re.search(r"\bmissing +the whole order$", line)


def test_the_check_passes_and_counts_each_status_when_the_restore_is_complete(
    dynamodb: Any, placed: dict[OrderStatus, Order], capsys: pytest.CaptureFixture[str]
) -> None:
    restore_from_backup(dynamodb, FROM_BACKUP)

    exit_code = main(["--table", LIVE, "--restored", FROM_BACKUP])

    printed = capsys.readouterr().out
    assert exit_code == 0
    assert counted(printed) == {status.value: ["1", "1"] for status in S} | {"total": [str(len(S))] * 2}
    assert "every order is the same in both tables" in printed


def test_the_check_refuses_to_compare_a_table_with_itself() -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--table", LIVE, "--restored", LIVE])

    assert refused.value.code == 2


def test_a_table_imported_from_an_export_gives_back_the_same_orders(
    dynamodb: Any, placed: dict[OrderStatus, Order]
) -> None:
    # An export as DynamoDB writes it (the local cloud's, on moto's table), imported into a new table by ImportTable,
    # which takes the export's data files: the orders come back the same. ImportTable creates global indexes only,
    # so the byCreatedAt listing (a local index) is not there: docs/backups.md says what that means for a restore.
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="drill-exports")
    exports = TableExports(DEFAULT_ACCOUNT_ID, dynamodb.meta.region_name)
    table_arn = dynamodb.describe_table(TableName=LIVE)["Table"]["TableArn"]
    request = {"TableArn": table_arn, "S3Bucket": "drill-exports", "S3Prefix": "drill"}
    arn = json.loads(exports.answer("ExportTableToPointInTime", json.dumps(request).encode())[2])["ExportDescription"][
        "ExportArn"
    ]
    described = json.loads(exports.answer("DescribeExport", json.dumps({"ExportArn": arn}).encode())[2])
    data = described["ExportDescription"]["ExportManifest"].rsplit("/", 1)[0] + "/data/"
    args = create_table_args(FROM_EXPORT, load_stack().resource("OrdersTable")["Properties"])
    keyed = {part["AttributeName"] for index in args["GlobalSecondaryIndexes"] for part in index["KeySchema"]}
    keyed |= {part["AttributeName"] for part in args["KeySchema"]}

    imported = dynamodb.import_table(
        S3BucketSource={"S3Bucket": "drill-exports", "S3KeyPrefix": data},
        InputFormat="DYNAMODB_JSON",
        InputCompressionType="GZIP",
        TableCreationParameters={
            "TableName": FROM_EXPORT,
            "AttributeDefinitions": [a for a in args["AttributeDefinitions"] if a["AttributeName"] in keyed],
            "KeySchema": args["KeySchema"],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": args["GlobalSecondaryIndexes"],
        },
    )["ImportTableDescription"]
    while imported["ImportStatus"] == "IN_PROGRESS":
        imported = dynamodb.describe_import(ImportArn=imported["ImportArn"])["ImportTableDescription"]

    assert imported["ImportStatus"] == "COMPLETED", imported
    assert_same_orders(dynamodb, placed, FROM_EXPORT)

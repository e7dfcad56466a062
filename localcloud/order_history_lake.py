"""The order history's lake on a local cloud, read back (docs/data-lake.md): its rows counted against the Orders
table per order and status, its failed records counted, and the Athena named queries run over it (DuckDB,
localcloud.lake_queries) and compared with the same questions answered from the table.

Used by `make demo` (it ends by printing the answers), by the chaos run's invariants, and by the tests.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from localcloud.aws_endpoint import observer
from localcloud.lake_queries import Answer, answers, from_resources
from shop.adapters.orders_table import ORDER_PREFIX, order_of_item
from shop.domain.models import Order, OrderStatus
from shop.domain.ordering import utc_now
from shop.usecases.order_history import LakeCheck, MalformedChange, change_of_record, check_lake, order_event_row

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

ROWS_PREFIX = "orders/"
FAILED_PREFIX = "errors/processing-failed/"
_UNPAID = frozenset({OrderStatus.PLACED, OrderStatus.AWAITING_APPROVAL})


@dataclass(frozen=True)
class LakeReading:
    """What the lake holds, counted against the table. `failed` are the records Firehose filed under the error
    prefix: kept, with their data, for a replay, so a change there is not lost; `unreadable` of them are not even a
    change of an order (no row could be made of them)."""

    check: LakeCheck
    failed: int
    unreadable: int
    answers: list[Answer]
    disagreements: list[str]

    @property
    def rows_lost(self) -> int:
        return len(self.check.lost)

    def lines(self) -> list[tuple[str, str]]:
        check = self.check
        return [
            ("order history rows", f"{check.rows} in the lake for the table's status changes"),
            ("order history rows lost", ", ".join(f"{o} {s}" for o, s in check.lost[:5]) or "0"),
            ("order history rows delivered twice", str(sum(c - 1 for c in check.duplicated.values()))),
            ("order history records failed (under errors/)", f"{self.failed} ({self.unreadable} not an order's)"),
            ("lake answers that disagree with the table", "; ".join(self.disagreements) or "0"),
        ]


def lake_objects(cloud: LocalCloud, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """Every object of the lake bucket under `prefix` (read as an observer: not metered, no faults)."""
    s3 = observer(cloud.client("s3"))
    bucket = lake_bucket(cloud)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            yield entry["Key"], bytes(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read())


def lake_bucket(cloud: LocalCloud) -> str:
    bucket = cloud.physical_names("AWS::S3::Bucket").get("OrderHistoryBucket")
    if bucket is None:
        raise LookupError("the template has no OrderHistoryBucket")
    return bucket


def table_orders(cloud: LocalCloud) -> list[Order]:
    outputs = cloud.endpoints.outputs if cloud.endpoints else {}
    dynamodb = observer(cloud.client("dynamodb"))
    request: dict[str, Any] = {"TableName": str(outputs["OrdersTableName"]), "ConsistentRead": True}
    orders: list[Order] = []
    while True:
        page = dynamodb.scan(**request)
        orders.extend(order_of_item(item) for item in page["Items"] if item["sk"]["S"].startswith(ORDER_PREFIX))
        if "LastEvaluatedKey" not in page:
            return orders
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def read_lake(cloud: LocalCloud) -> LakeReading:
    """Flush the order history into the lake, then count it and run the named queries over it."""
    cloud.flush_order_history()
    objects = list(lake_objects(cloud))
    rows = [row for key, body in objects if key.startswith(ROWS_PREFIX) for row in _lines(body)]
    failed = [row for key, body in objects if key.startswith(FAILED_PREFIX) for row in _lines(body)]
    replayable = [row for record in failed if (row := _row_of_failed(record)) is not None]
    orders = table_orders(cloud)
    table, queries = from_resources(cloud.stack.sam["Resources"] if cloud.stack else {})
    found = answers(table, queries, objects)
    return LakeReading(
        check=check_lake(orders, rows + replayable),
        failed=len(failed),
        unreadable=len(failed) - len(replayable),
        answers=found,
        disagreements=disagreements(found, orders),
    )


def disagreements(found: list[Answer], orders: list[Order]) -> list[str]:
    """Where a named query's answer over the lake differs from the same question answered from the table's orders
    (each order's history says when it reached each status)."""
    expected = table_answers(orders)
    problems = []
    for answer in found:
        wanted = expected.get(answer.name)
        if wanted is None:
            problems.append(f"{answer.name}: no answer from the table to compare with")
            continue
        got = wanted[0](answer)
        if got != wanted[1]:
            problems.append(f"{answer.name}: the lake says {got}, the table {wanted[1]}")
    return problems


def table_answers(orders: list[Order]) -> dict[str, tuple[Any, Any]]:
    """Per named query: how to read the figures that matter from its answer, and those figures from the table."""
    shipped = {o.order_id: at for o in orders if (at := _first(o, OrderStatus.SHIPPED)) is not None}
    by_id = {o.order_id: o for o in orders}
    sales: dict[str, tuple[int, Decimal]] = {}
    for order_id, at in shipped.items():
        count, revenue = sales.get(at.date().isoformat(), (0, Decimal(0)))
        sales[at.date().isoformat()] = (count + 1, revenue + Decimal(by_id[order_id].total_cents) / 100)
    failures: Counter[tuple[str, str]] = Counter(
        (o.status.value, o.failure_reason.value if o.failure_reason else o.status.value)
        for o in orders
        if o.status in (OrderStatus.FAILED, OrderStatus.REJECTED, OrderStatus.CANCELLED)
    )
    abandoned: Counter[str] = Counter()
    for order in orders:
        last = order.history[-1]
        before = order.history[-2].status if len(order.history) > 1 else None
        stale = last.status in _UNPAID and last.at < utc_now() - timedelta(days=1)
        if (last.status is OrderStatus.CANCELLED and before in _UNPAID) or stale:
            abandoned[last.at.date().isoformat()] += 1
    return {
        "Sales per day": (
            lambda a: {str(r["day"]): (int(r["orders"]), Decimal(str(r["revenue"]))) for r in a.records()},
            sales,
        ),
        "Share of orders shipped and time to ship": (
            lambda a: [(int(r["placed"]), int(r["shipped"])) for r in a.records()],
            [(len(orders), len(shipped))],
        ),
        "Failure reasons": (
            lambda a: {(str(r["status"]), str(r["reason"])): int(r["orders"]) for r in a.records()},
            dict(failures),
        ),
        "Abandoned carts (orders abandoned before payment)": (
            lambda a: {str(r["day"]): int(r["abandoned_orders"]) for r in a.records()},
            dict(abandoned),
        ),
    }


def _first(order: Order, status: OrderStatus) -> datetime | None:
    return min((change.at for change in order.history if change.status is status), default=None)


def _lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(body).splitlines() if line.strip()]


def _row_of_failed(record: dict[str, Any]) -> dict[str, Any] | None:
    """The row a failed record would have made, when it is an order's change at all (Firehose keeps its data)."""
    try:
        return order_event_row(change_of_record(str(record.get("rawData", ""))))
    except MalformedChange:
        return None

"""The restore drill's check (docs/backups.md): compare the orders of two Orders tables, the live one and one restored
from a backup or to a point in time. It prints how many orders each holds in each status, then every order that is
missing from one of them or stored differently (any attribute: status, updatedAt, totalCents, history, ...).

    python -m tools.restore_check --table <live table> --restored <restored table> [--as-of 2026-12-04T03:00:00Z]
    AWS_ENDPOINT_URL=http://127.0.0.1:4566 python -m tools.restore_check --table ... --restored ...

A restored table is the live one as it was at some time; with --as-of that time, an order the shop changed or placed
since then is listed as changed since, and is not a failure.

Exit status: 0 when both tables hold the same orders (but for those changed since --as-of), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3

from shop.adapters.orders_table import ORDER_PREFIX
from shop.domain.models import iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# (customerId, orderId): an order's identity in the Orders table (its key is customerId + ORDER#<orderId>).
OrderKey = tuple[str, str]
# An item as DynamoDB returns it, typed ({"S": ...}, {"N": ...}): compared as stored, numbers as DynamoDB writes them.
StoredItem = dict[str, Any]
MISSING = "missing"


def read_orders(client: DynamoDBClient, table_name: str) -> dict[OrderKey, StoredItem]:
    """Every order of the table (not its approvals or other items), by a consistent, paginated Scan."""
    orders: dict[OrderKey, StoredItem] = {}
    pages = client.get_paginator("scan").paginate(
        TableName=table_name,
        ConsistentRead=True,
        FilterExpression="begins_with(sk, :order)",
        ExpressionAttributeValues={":order": {"S": ORDER_PREFIX}},
    )
    for page in pages:
        for item in page.get("Items", []):
            key = (_text(item, "customerId"), _text(item, "sk").removeprefix(ORDER_PREFIX))
            orders[key] = dict(item)
    return orders


@dataclass(frozen=True)
class Difference:
    """An order that the two tables do not hold alike: missing from one (its item None), or with `attributes`
    stored differently."""

    customer_id: str
    order_id: str
    live: StoredItem | None
    restored: StoredItem | None
    attributes: tuple[str, ...]

    def since(self, as_of: str) -> bool:
        """Whether the live table's writes after `as_of` (stored form) explain it: an order placed since then that
        the restored table lacks, or one that changed since then. An order missing from the live table never is."""
        if self.live is None:
            return False
        moment = _text(self.live, "createdAt" if self.restored is None else "updatedAt")
        return moment >= as_of  # fixed-width UTC timestamps: text order is time order


@dataclass(frozen=True)
class Comparison:
    live_counts: Counter[str]  # status -> orders
    restored_counts: Counter[str]
    differences: tuple[Difference, ...]  # not explained by the shop's writes since the restored time
    changed_since: tuple[Difference, ...] = ()

    @property
    def same(self) -> bool:
        return not self.differences


def compare(
    live: Mapping[OrderKey, StoredItem], restored: Mapping[OrderKey, StoredItem], as_of: datetime | None = None
) -> Comparison:
    """The two tables' orders compared; with `as_of`, the time the restored table stands for, a difference that the
    live table's later writes explain goes to changed_since instead of differences."""
    found = []
    for customer_id, order_id in sorted(live.keys() | restored.keys()):
        before, after = live.get((customer_id, order_id)), restored.get((customer_id, order_id))
        if before is None or after is None:
            found.append(Difference(customer_id, order_id, before, after, ()))
            continue
        changed = tuple(sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name)))
        if changed:
            found.append(Difference(customer_id, order_id, before, after, changed))
    stamp = iso(as_of) if as_of else None
    return Comparison(
        _per_status(live),
        _per_status(restored),
        tuple(difference for difference in found if stamp is None or not difference.since(stamp)),
        tuple(difference for difference in found if stamp is not None and difference.since(stamp)),
    )


def _per_status(orders: Mapping[OrderKey, StoredItem]) -> Counter[str]:
    return Counter(_text(item, "status") or "(none)" for item in orders.values())


def _text(item: Mapping[str, Any], name: str) -> str:
    """A string or number attribute as text ("" when absent)."""
    value = item.get(name) or {}
    return str(value.get("S", value.get("N", "")))


def _summary(item: StoredItem | None) -> str:
    if item is None:
        return MISSING
    return f"{_text(item, 'status')} {_text(item, 'updatedAt')} {_text(item, 'totalCents')}c"


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in rows
    ]


def _listing(title: str, differences: Sequence[Difference]) -> list[str]:
    rows = [
        ("CUSTOMER", "ORDER", "LIVE", "RESTORED", "DIFFERS IN"),
        *(
            (
                difference.customer_id,
                difference.order_id,
                _summary(difference.live),
                _summary(difference.restored),
                ", ".join(difference.attributes) or "the whole order",
            )
            for difference in differences
        ),
    ]
    return ["", title, *_columns(rows)]


def report(comparison: Comparison, live_name: str, restored_name: str) -> str:
    """Orders per status in both tables, then the orders that differ (live and restored: status, updatedAt, total)."""
    statuses = sorted(comparison.live_counts.keys() | comparison.restored_counts.keys())
    counts = [
        ("STATUS", "LIVE", "RESTORED"),
        *(
            (status, str(comparison.live_counts[status]), str(comparison.restored_counts[status]))
            for status in statuses
        ),
        ("total", str(comparison.live_counts.total()), str(comparison.restored_counts.total())),
    ]
    lines = [f"live: {live_name}", f"restored: {restored_name}", "", *_columns(counts)]
    if comparison.changed_since:
        count = len(comparison.changed_since)
        lines += _listing(
            f"{count} order(s) changed or placed since the restored time (expected):", comparison.changed_since
        )
    if comparison.differences:
        lines += _listing(f"{len(comparison.differences)} order(s) differ:", comparison.differences)
    else:
        lines += ["", f"every {'other ' if comparison.changed_since else ''}order is the same in both tables"]
    return "\n".join(lines)


def check(client: DynamoDBClient, live_table: str, restored_table: str, as_of: datetime | None = None) -> Comparison:
    return compare(read_orders(client, live_table), read_orders(client, restored_table), as_of)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone: add Z (UTC) or an offset")
    return moment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--table", required=True, help="the live Orders table (the stack's OrdersTableName output)")
    parser.add_argument("--restored", required=True, help="the table restored from a backup or to a point in time")
    parser.add_argument(
        "--as-of",
        type=_moment,
        metavar="TIME",
        help="the time the restored table stands for (the recovery point's, or the point in time), e.g. "
        "2026-12-04T03:00:00Z: orders changed since then are expected to differ",
    )
    args = parser.parse_args(argv)
    if args.table == args.restored:
        parser.error("--table and --restored name the same table: the check would compare it with itself")
    comparison = check(boto3.client("dynamodb"), args.table, args.restored, args.as_of)
    print(report(comparison, args.table, args.restored))
    return 0 if comparison.same else 1


if __name__ == "__main__":
    sys.exit(main())

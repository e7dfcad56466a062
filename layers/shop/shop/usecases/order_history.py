"""The order history's rows (docs/data-lake.md): an Orders-table change, as DynamoDB writes it to the Kinesis stream,
flattened into one order-event row, or None when it is not an order's status change."""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from shop.domain.models import Order

# The row's columns, in the order of the Glue table's (template.yaml, OrderHistoryTable).
ROW_KEYS = (
    "orderId",
    "customerId",
    "status",
    "previousStatus",
    "eventName",
    "totalCents",
    "at",
    "failureReason",
    "approximateCreationDateTime",
)
EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})
_deserializer = TypeDeserializer()


class MalformedChange(ValueError):
    """The record is not a DynamoDB change of an order as DynamoDB writes it to Kinesis."""


def _image(change: dict[str, Any], name: str) -> dict[str, Any] | None:
    attributes = change["dynamodb"].get(name)
    if attributes is None:
        return None
    return {key: _deserializer.deserialize(value) for key, value in attributes.items()}


def _iso_from_epoch_millis(value: Any) -> str:
    # DynamoDB writes ApproximateCreationDateTime to Kinesis in epoch milliseconds (the table's default precision).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedChange("ApproximateCreationDateTime is not epoch milliseconds")
    moment = datetime.fromtimestamp(value / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def change_of_record(data: str) -> dict[str, Any]:
    """The change a Firehose record carries: its data, base64 of DynamoDB's JSON object."""
    try:
        change = json.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedChange(f"the record's data is not base64 JSON: {exc}") from exc
    if not isinstance(change, dict):
        raise MalformedChange("the record's data is not a JSON object")
    return change


def order_event_row(change: dict[str, Any]) -> dict[str, Any] | None:
    """The change's order-event row, or None when it is not an order's status change (an approval, a payment, a
    stock marker, or an order write that left its status alone)."""
    try:
        event_name = change["eventName"]
        new, old = _image(change, "NewImage"), _image(change, "OldImage")
        changed_at = _iso_from_epoch_millis(change["dynamodb"]["ApproximateCreationDateTime"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedChange(f"not a DynamoDB change record: {exc!r}") from exc
    if event_name not in EVENT_NAMES:
        raise MalformedChange(f"unknown eventName {event_name!r}")
    image = new if new is not None else old
    if image is None:
        raise MalformedChange("a change record with neither image")
    if image.get("kind") != "ORDER":
        return None
    previous_status = old.get("status") if old is not None else None
    if event_name == "MODIFY" and new is not None and new.get("status") == previous_status:
        return None
    try:
        row = {
            "orderId": str(image["orderId"]),
            "customerId": str(image["customerId"]),
            "status": str(image["status"]),
            "previousStatus": previous_status,
            "eventName": event_name,
            "totalCents": int(image["totalCents"]),
            # When the order says the change happened; a removal is dated by DynamoDB's own clock.
            "at": str(new["updatedAt"]) if new is not None else changed_at,
            "failureReason": image.get("failureReason"),
            "approximateCreationDateTime": changed_at,
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedChange(f"an order item without {exc!r}") from exc
    return row


@dataclass(frozen=True)
class LakeCheck:
    """The lake's rows counted against the table's orders, per order and status (docs/data-lake.md).

    `lost`: a status an order went through (its history in the table) with no row in the lake. `duplicated`: a row
    delivered more than once, with its count (the stream and Firehose deliver at least once: the queries count
    distinct orders, so a duplicate is expected now and then, a loss never). `unknown`: a row for a change the table
    does not know of."""

    lost: tuple[tuple[str, str], ...]
    duplicated: dict[tuple[str, str], int]
    unknown: tuple[tuple[str, str], ...]
    rows: int

    @property
    def whole(self) -> bool:
        """Every change of every order is in the lake, and nothing else is."""
        return not self.lost and not self.unknown


def check_lake(orders: Iterable[Order], rows: Iterable[Mapping[str, Any]]) -> LakeCheck:
    """Count the lake's rows per (order, status) against every order's history."""
    expected = {(order.order_id, change.status.value) for order in orders for change in order.history}
    counted = Counter((str(row.get("orderId")), str(row.get("status"))) for row in rows)
    return LakeCheck(
        lost=tuple(sorted(expected - set(counted))),
        duplicated={key: count for key, count in sorted(counted.items()) if count > 1},
        unknown=tuple(sorted(set(counted) - expected)),
        rows=sum(counted.values()),
    )

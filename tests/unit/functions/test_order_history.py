"""The order history's Firehose transformation: each Orders-table change, as DynamoDB writes it to Kinesis and
Firehose hands it over, becomes exactly one order-event row, is Dropped (not an order, or no status change), or is
ProcessingFailed (malformed) so Firehose files it under the lake's error prefix."""

from __future__ import annotations

import base64
import copy
import json
from types import ModuleType
from typing import Any

import pytest

from shop.domain.models import OrderStatus
from shop.domain.ordering import utc_now
from shop.usecases.order_history import ROW_KEYS
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.given import an_order, order_item
from tests.unit.functions.services import Tables

EVENT = read_event("order_history")


@pytest.fixture(scope="module")
def order_history() -> ModuleType:
    return load_function("order_history")


def change_of(record: dict[str, Any]) -> dict[str, Any]:
    change: dict[str, Any] = json.loads(base64.b64decode(record["data"]))
    return change


def as_record(change: dict[str, Any] | bytes, record_id: str = "r-1") -> dict[str, Any]:
    """A Firehose record from a Kinesis source carrying this DynamoDB change."""
    record = copy.deepcopy(EVENT["records"][0])
    raw = change if isinstance(change, bytes) else json.dumps(change).encode()
    record["recordId"] = record_id
    record["data"] = base64.b64encode(raw).decode()
    return record


def transform(module: ModuleType, *records: dict[str, Any]) -> list[dict[str, Any]]:
    event = dict(EVENT, records=list(records))
    response: dict[str, Any] = module.lambda_handler(event, FakeLambdaContext())
    result: list[dict[str, Any]] = response["records"]
    return result


def rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    text = base64.b64decode(answer["data"]).decode()
    assert text.endswith("\n"), "one JSON line per row, so the lake's objects are JSON lines"
    return [json.loads(line) for line in text.splitlines()]


INSERTED = change_of(EVENT["records"][0])
PAID = change_of(EVENT["records"][1])
APPROVAL = change_of(EVENT["records"][2])


def test_the_sample_event_gives_two_rows_and_drops_the_approval(order_history: ModuleType) -> None:
    answers = transform(order_history, *EVENT["records"])

    assert [(a["recordId"], a["result"]) for a in answers] == [
        (EVENT["records"][0]["recordId"], "Ok"),
        (EVENT["records"][1]["recordId"], "Ok"),
        (EVENT["records"][2]["recordId"], "Dropped"),
    ]


def test_an_insert_is_the_placed_row(order_history: ModuleType) -> None:
    [answer] = transform(order_history, as_record(INSERTED))

    assert answer["result"] == "Ok"
    assert rows(answer) == [
        {
            "orderId": "01JDX3N7Q4K2Z8F5T6W9R1M0AB",
            "customerId": "6c0f4a2e-1f3b-4b6a-9d7e-2f1a7c3b9e10",
            "status": "PLACED",
            "previousStatus": None,
            "eventName": "INSERT",
            "totalCents": 4598,
            "at": "2025-12-03T10:15:30.120Z",
            "failureReason": None,
            "approximateCreationDateTime": "2025-12-03T10:15:30.120Z",
        }
    ]


def test_a_status_change_is_a_row_with_the_previous_status(order_history: ModuleType) -> None:
    [answer] = transform(order_history, as_record(PAID))

    assert rows(answer) == [
        {
            "orderId": "01JDX3N7Q4K2Z8F5T6W9R1M0AB",
            "customerId": "6c0f4a2e-1f3b-4b6a-9d7e-2f1a7c3b9e10",
            "status": "PAID",
            "previousStatus": "PLACED",
            "eventName": "MODIFY",
            "totalCents": 4598,
            "at": "2025-12-03T10:15:34.480Z",
            "failureReason": None,
            "approximateCreationDateTime": "2025-12-03T10:15:34.480Z",
        }
    ]


def test_a_failed_order_carries_its_failure_reason(order_history: ModuleType) -> None:
    failed = copy.deepcopy(PAID)
    failed["dynamodb"]["NewImage"]["status"] = {"S": "FAILED"}
    failed["dynamodb"]["NewImage"]["failureReason"] = {"S": "PAYMENT_DECLINED"}

    [answer] = transform(order_history, as_record(failed))

    [row] = rows(answer)
    assert (row["status"], row["previousStatus"], row["failureReason"]) == ("FAILED", "PLACED", "PAYMENT_DECLINED")


def test_a_removal_is_a_row_of_the_last_status_dated_by_dynamodb(order_history: ModuleType) -> None:
    removed = copy.deepcopy(PAID)
    removed["eventName"] = "REMOVE"
    removed["dynamodb"]["OldImage"] = removed["dynamodb"].pop("NewImage")
    removed["dynamodb"]["ApproximateCreationDateTime"] = 1764800000000

    [answer] = transform(order_history, as_record(removed))

    assert rows(answer) == [
        {
            "orderId": "01JDX3N7Q4K2Z8F5T6W9R1M0AB",
            "customerId": "6c0f4a2e-1f3b-4b6a-9d7e-2f1a7c3b9e10",
            "status": "PAID",
            "previousStatus": "PAID",
            "eventName": "REMOVE",
            "totalCents": 4598,
            "at": "2025-12-03T22:13:20.000Z",
            "failureReason": None,
            "approximateCreationDateTime": "2025-12-03T22:13:20.000Z",
        }
    ]


def test_an_approval_record_of_the_single_table_is_dropped_with_its_data(order_history: ModuleType) -> None:
    record = as_record(APPROVAL)

    [answer] = transform(order_history, record)

    assert answer == {"recordId": "r-1", "result": "Dropped", "data": record["data"]}


def test_an_order_write_that_keeps_its_status_is_dropped(order_history: ModuleType) -> None:
    tracked = copy.deepcopy(PAID)
    tracked["dynamodb"]["OldImage"] = copy.deepcopy(tracked["dynamodb"]["NewImage"])
    tracked["dynamodb"]["NewImage"]["trackingNumber"] = {"S": "1Z999"}

    [answer] = transform(order_history, as_record(tracked))

    assert answer["result"] == "Dropped"


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"eventName": "INSERT"}).encode(),
        json.dumps(dict(INSERTED, eventName="UPSERT")).encode(),
        json.dumps(dict(INSERTED, dynamodb={"ApproximateCreationDateTime": 1764756930120})).encode(),
    ],
    ids=["not-json", "not-an-object", "no-dynamodb", "unknown-event-name", "no-image"],
)
def test_a_malformed_record_fails_processing_and_keeps_its_data(order_history: ModuleType, data: bytes) -> None:
    record = as_record(data)

    [answer] = transform(order_history, record)

    assert answer == {"recordId": "r-1", "result": "ProcessingFailed", "data": record["data"]}


def test_an_order_item_without_its_total_fails_processing(order_history: ModuleType) -> None:
    broken = copy.deepcopy(INSERTED)
    del broken["dynamodb"]["NewImage"]["totalCents"]

    [answer] = transform(order_history, as_record(broken))

    assert answer["result"] == "ProcessingFailed"


def test_one_bad_record_does_not_fail_its_batch(order_history: ModuleType) -> None:
    answers = transform(order_history, as_record(b"{", "bad"), as_record(INSERTED, "good"))

    assert [(a["recordId"], a["result"]) for a in answers] == [("bad", "ProcessingFailed"), ("good", "Ok")]


def test_an_order_as_the_orders_table_writes_it_flattens(order_history: ModuleType, tables: Tables) -> None:
    # Given an order placed and paid through the shop's own adapters (so the item shape is the table's, not a copy)
    order = an_order(tables.orders, tables.catalog, customer_id="c-1", order_id="o-1")
    old = order_item(tables.client, "c-1", "o-1")
    tables.orders.transition(order, OrderStatus.PAID, utc_now())
    new = order_item(tables.client, "c-1", "o-1")
    assert old is not None
    assert new is not None
    change = copy.deepcopy(PAID)
    change["dynamodb"].update(OldImage=old, NewImage=new, Keys={"customerId": new["customerId"], "sk": new["sk"]})

    # When Firehose hands over its change
    [answer] = transform(order_history, as_record(change))

    # Then the row is the order's, with the time the order itself gives
    [row] = rows(answer)
    assert row | {"approximateCreationDateTime": None} == {
        "orderId": "o-1",
        "customerId": "c-1",
        "status": "PAID",
        "previousStatus": "PLACED",
        "eventName": "MODIFY",
        "totalCents": order.total_cents,
        "at": new["updatedAt"]["S"],
        "failureReason": None,
        "approximateCreationDateTime": None,
    }
    assert tuple(row) == ROW_KEYS

"""Given steps of the function tests: orders and approvals written through the real adapters, and events made
from the files in events/ with the ids a test set up. Also readers of what a function left behind."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from shop.adapters.approvals_table import ApprovalsTable
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.dynamodb import from_attributes
from shop.adapters.orders_table import OrdersTable, order_sort_key
from shop.domain.models import CartLine, Order, OrderStatus, ShippingAddress
from shop.domain.ordering import new_order, utc_now
from shop.domain.pricing import price_lines
from tests.support.cloud import TABLE_NAMES
from tests.support.fixtures import read_event
from tests.unit.api.given import ADDRESS, ROUTE_TO

Lines = Sequence[tuple[str, int]]


def an_order(
    orders: OrdersTable,
    catalog: CatalogTable,
    *,
    customer_id: str,
    order_id: str,
    lines: Lines = (("espresso-beans-1kg", 2),),
    status: OrderStatus = OrderStatus.PLACED,
    at: datetime | None = None,
    payment_token: str = "tok_ok",  # noqa: S107 (the simulated provider's test token)
    email: str | None = None,
) -> Order:
    """An order written as POST /orders writes it, then moved by the workflow's transitions to `status`
    (one minute apart from `at`, its creation time)."""
    created = at or utc_now() - timedelta(hours=1)
    created = created.replace(microsecond=created.microsecond // 1000 * 1000)
    cart_lines = [CartLine(product_id=pid, quantity=quantity) for pid, quantity in lines]
    order = new_order(
        customer_id=customer_id,
        idempotency_key=order_id,
        lines=price_lines(cart_lines, catalog.get_many(pid for pid, _ in lines)),
        shipping_address=ShippingAddress.model_validate(ADDRESS),
        now=created,
    ).model_copy(update={"order_id": order_id})
    orders.create(order, payment_token, customer_email=email)
    for step, (target, reason) in enumerate(ROUTE_TO[status], start=1):
        order = orders.transition(order, target, created + timedelta(minutes=step), reason)
    return order


def a_pending_approval(approvals: ApprovalsTable, order: Order, task_token: str, requested_at: datetime) -> None:
    approvals.request(order, task_token, requested_at, requested_at + timedelta(hours=24))


# --- What the tables hold ------------------------------------------------------------------------------------


def order_item(client: Any, customer_id: str, order_id: str, prefix: str = "ORDER#") -> dict[str, Any] | None:
    """An item of the Orders table in DynamoDB's typed form (an order, or `APPROVAL#`/`PAYMENT#` records)."""
    sort_key = order_sort_key(order_id) if prefix == "ORDER#" else f"{prefix}{order_id}"
    response = client.get_item(
        TableName=TABLE_NAMES["OrdersTable"],
        Key={"customerId": {"S": customer_id}, "sk": {"S": sort_key}},
        ConsistentRead=True,
    )
    item: dict[str, Any] | None = response.get("Item")
    return item


def plain_item(client: Any, customer_id: str, order_id: str, prefix: str = "ORDER#") -> dict[str, Any] | None:
    item = order_item(client, customer_id, order_id, prefix)
    return from_attributes(item) if item else None


def stock_of(client: Any, product_id: str) -> dict[str, int]:
    """A product's stock counters."""
    item = client.get_item(TableName=TABLE_NAMES["CatalogTable"], Key={"productId": {"S": product_id}})["Item"]
    return {name: int(item[name]["N"]) for name in ("available", "reserved", "sold")}


# --- Events built from the files in events/ ------------------------------------------------------------------


def stream_record(
    event_file: str,
    *,
    event_name: str,
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    sequence: int = 1,
) -> dict[str, Any]:
    """A DynamoDB stream record shaped like the first record of `event_file`, carrying these typed images."""
    record: dict[str, Any] = copy.deepcopy(read_event(event_file)["Records"][0])
    image = new or old
    assert image is not None, "a stream record carries at least one image"
    stream = record["dynamodb"]
    stream.pop("NewImage", None)
    stream.pop("OldImage", None)
    if new is not None:
        stream["NewImage"] = new
    if old is not None:
        stream["OldImage"] = old
    stream["Keys"] = {name: image[name] for name in stream["Keys"]}
    stream["SequenceNumber"] = f"{int(stream['SequenceNumber']) + sequence}"
    record["eventName"] = event_name
    record["eventID"] = uuid.uuid4().hex
    return record


def records_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def sqs_record(event_file: str, job: dict[str, Any]) -> dict[str, Any]:
    """An SQS record shaped like the first record of `event_file`, carrying `job` as its body."""
    record: dict[str, Any] = copy.deepcopy(read_event(event_file)["Records"][0])
    body = json.dumps(job, separators=(",", ":"))
    record.update(
        {
            "messageId": str(uuid.uuid4()),
            "body": body,
            "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 (what SQS computes)
        }
    )
    return record


def job_of(event_file: str) -> dict[str, Any]:
    """The shipment job in the first record of an SQS event file."""
    job: dict[str, Any] = json.loads(read_event(event_file)["Records"][0]["body"])
    return job


# --- What a function printed ---------------------------------------------------------------------------------


def emitted_metrics(stdout: str) -> dict[str, list[float]]:
    """The metrics in the CloudWatch embedded metric format blobs a function printed, by name."""
    metrics: dict[str, list[float]] = {}
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        blob = json.loads(line)
        if "_aws" not in blob:
            continue
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                metrics.setdefault(metric["Name"], []).extend(value if isinstance(value, list) else [value])
    return metrics

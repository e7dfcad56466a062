"""What the files in events/ name, made in a local cloud so that each of them finds it (`make invoke`).

The sample events tell one story, as the unit tests read them: the customer of orders_api.json places the order that
the workflow tasks' events name (validate_order.json ... settle_order.json), and request_approval.json and
approvals_api.json wait on a second order of theirs, one above the approval threshold. In a fresh local cloud neither
order exists, and a task invoked on an order that does not exist fails (NotFound). So, before an event that names
one of them is invoked, the order is made through the stack itself, and its workflow is let run to where it stops:

- the first order is placed by OrdersApiFunction with orders_api.json, and its workflow ships it (the tasks' events
  then find an order the workflow has done with: a business outcome each, ORDER_GONE or the same answer again);
- the second is written PLACED, as the API writes an order, with one espresso machine, and its workflow parks it
  AWAITING_APPROVAL with a pending approval (request_approval.json asks again, approvals_api.json decides it).

sales_report.json reads an export of the Orders table that the nightly workflow would have made: one is made by
DynamoDB's export and put under the export id the event names.

Everything goes through the AWS endpoint, so a running cloud (`make run`) can be given the same records.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable, order_sort_key
from shop.domain.models import CartLine, ShippingAddress
from shop.domain.ordering import new_order, utc_now
from shop.domain.pricing import price_lines
from tools.seed import seed

EVENTS = Path(__file__).resolve().parent.parent / "events"
# Statuses the workflow moves an order on from by itself (AWAITING_APPROVAL waits for a person, the others are final),
# and how long a sample order may take to leave them on cold workers.
IN_FLIGHT = frozenset({"PLACED", "PAID"})
SETTLE_SECONDS = 60.0
APPROVAL_PRODUCT = "espresso-machine"  # of the demo catalog, above the approval threshold on its own


class SampleError(Exception):
    """A sample order did not reach the status its events expect."""


def read_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


@dataclass(frozen=True)
class SampleOrder:
    customer_id: str
    order_id: str


def placed_order() -> SampleOrder:
    """The order that orders_api.json places, as the task events name it."""
    task = read_event("validate_order")
    return SampleOrder(task["customerId"], task["orderId"])


def approval_order() -> SampleOrder:
    """The order request_approval.json and approvals_api.json wait on."""
    task = read_event("request_approval")
    return SampleOrder(task["customerId"], task["orderId"])


def named_by(event: Any) -> list[SampleOrder]:
    """The sample orders an event names by an `orderId` (in a body, a message or a stream record too), so acts on:
    none for most (the catalog, the cart, a schedule, the payment provider's own call)."""
    named = set(_order_ids(event))
    return [order for order in (placed_order(), approval_order()) if order.order_id in named]


def _order_ids(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "orderId":
                # A stream record types its attributes: {"S": "ord_..."}.
                named = item.get("S") if isinstance(item, dict) else item
                if isinstance(named, str):
                    yield named
            yield from _order_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _order_ids(item)
    elif isinstance(value, str) and value.startswith(("{", "[")):  # a body or a message: JSON in a string
        try:
            inner = json.loads(value)
        except ValueError:
            return
        yield from _order_ids(inner)


Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


class Samples:
    """The sample records in one cloud, made through its AWS endpoint with `client` (a boto3 client factory) and
    `invoke` (a function invoked by logical id: its answer)."""

    def __init__(self, outputs: dict[str, Any], client: Callable[[str], Any], invoke: Invoke) -> None:
        self._dynamodb = client("dynamodb")
        self._catalog = CatalogTable(str(outputs["CatalogTableName"]), self._dynamodb)
        self._orders_table = str(outputs["OrdersTableName"])
        self._orders = OrdersTable(self._orders_table, self._dynamodb)
        self._invoke = invoke
        self._s3 = client("s3")
        self._reports_bucket = str(outputs.get("ReportsBucketName", ""))

    def catalog(self) -> None:
        """The demo products, unless the catalog has them already (`make run` seeds it at its first start)."""
        if self._catalog.get(APPROVAL_PRODUCT) is None:
            seed(self._catalog.table_name, self._dynamodb)

    def prepare(self, orders: list[SampleOrder]) -> None:
        """The catalog, then each order, in the status its events expect (left as it is when it exists)."""
        self.catalog()
        for order in orders:
            if order == placed_order():
                self._place_with_the_api(order)
            else:
                self._write_for_approval(order)

    def export_named_by(self, event: Any) -> None:
        """The export of the Orders table that a sales report event reads (its `exportManifest`), unless it is there:
        made by DynamoDB's export (a full one, now), then put under the export id the event names, as if DynamoDB
        had given it that id."""
        manifest = event.get("exportManifest") if isinstance(event, dict) else None
        if not isinstance(manifest, str) or "/AWSDynamoDB/" not in manifest:
            return
        named = manifest.rsplit("/", 1)[0]  # <prefix>/AWSDynamoDB/<export id>
        if self._s3.list_objects_v2(Bucket=self._reports_bucket, Prefix=manifest).get("KeyCount"):
            return
        table_arn = self._dynamodb.describe_table(TableName=self._orders_table)["Table"]["TableArn"]
        export_arn = self._dynamodb.export_table_to_point_in_time(
            TableArn=table_arn, S3Bucket=self._reports_bucket, S3Prefix=named.split("/AWSDynamoDB/")[0]
        )["ExportDescription"]["ExportArn"]
        deadline = time.monotonic() + SETTLE_SECONDS
        while (described := self._dynamodb.describe_export(ExportArn=export_arn)["ExportDescription"])[
            "ExportStatus"
        ] == "IN_PROGRESS":
            if time.monotonic() > deadline:
                raise SampleError(f"the export {export_arn} is still in progress after {SETTLE_SECONDS:.0f} s")
            time.sleep(0.1)
        if described["ExportStatus"] != "COMPLETED":
            raise SampleError(f"the export {export_arn} failed: {described.get('FailureMessage')}")
        made = str(described["ExportManifest"]).rsplit("/", 1)[0]
        listed = self._s3.list_objects_v2(Bucket=self._reports_bucket, Prefix=f"{made}/").get("Contents", [])
        for entry in listed:
            body = self._s3.get_object(Bucket=self._reports_bucket, Key=entry["Key"])["Body"].read()
            if entry["Key"].endswith(".json"):  # the manifests name the export's other objects by key
                body = body.replace(made.encode(), named.encode())
            self._s3.put_object(Bucket=self._reports_bucket, Key=entry["Key"].replace(made, named, 1), Body=body)

    def _place_with_the_api(self, order: SampleOrder) -> None:
        if self.status(order) is None:
            answer = self._invoke("OrdersApiFunction", read_event("orders_api"))
            placed = json.loads(answer.get("body") or "{}").get("orderId")
            if answer.get("statusCode") != 201 or placed != order.order_id:
                raise SampleError(f"orders_api.json did not place {order.order_id}: {answer}")
        self._wait(order)

    def _write_for_approval(self, order: SampleOrder) -> None:
        if self.status(order) is None:
            address = json.loads(read_event("orders_api")["body"])["shippingAddress"]
            lines = [CartLine(product_id=APPROVAL_PRODUCT, quantity=1)]
            now = utc_now() - timedelta(seconds=1)
            written = new_order(
                customer_id=order.customer_id,
                idempotency_key=order.order_id,
                lines=price_lines(lines, self._catalog.get_many([APPROVAL_PRODUCT])),
                shipping_address=ShippingAddress.model_validate(address),
                now=now.replace(microsecond=now.microsecond // 1000 * 1000),
            ).model_copy(update={"order_id": order.order_id})
            self._orders.create(written, "tok_ok")
        self._wait(order)

    def status(self, order: SampleOrder) -> str | None:
        item = self._dynamodb.get_item(
            TableName=self._orders_table,
            Key={"customerId": {"S": order.customer_id}, "sk": {"S": order_sort_key(order.order_id)}},
            ConsistentRead=True,
        ).get("Item")
        return str(item["status"]["S"]) if item else None

    def _wait(self, order: SampleOrder) -> None:
        """Until the order's workflow stops by itself: shipped (or otherwise final), or waiting for an approver."""
        deadline = time.monotonic() + SETTLE_SECONDS
        status = self.status(order)
        while status in IN_FLIGHT:
            if time.monotonic() > deadline:
                raise SampleError(f"{order.order_id} is still {status} after {SETTLE_SECONDS:.0f} s")
            time.sleep(0.1)
            status = self.status(order)

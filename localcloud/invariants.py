"""The invariants of the order story, counted on a local cloud (docs/architecture.md, "The invariants"):

- every order is final, and its approval, payment and stock records agree with its status;
- stock is conserved per product: available + reserved + sold = what was stocked; the units sold are the units of
  the orders that shipped; and once no order is open, nothing stays reserved;
- money is conserved: what the payment provider charged minus what it refunded equals the totals of the orders
  that shipped, and no order was charged twice (the provider's own ledger says so);
- every message is processed or dead-lettered: each one sent to a queue was deleted from it, moved to a
  dead-letter queue and handled there, or is still queued — never lost;
- every status change of every order is a row of the order history's lake, or a record Firehose kept under its
  error prefix (localcloud.order_history_lake).

Read with observer clients (the fault rules leave the counting alone), from the tables, the provider's ledger and
the AWS endpoint's ledger of SQS messages.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from localcloud.aws_endpoint import observer
from localcloud.order_history_lake import read_lake
from shop.adapters.dynamodb import from_attributes
from shop.domain.approval import ApprovalState
from shop.domain.models import OrderStatus
from shop.domain.payments import PaymentState
from shop.domain.settlement import StockState, disagreements

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

FINAL = frozenset({"SHIPPED", "DELIVERED", "CANCELLED", "REJECTED", "FAILED"})
SHIPPED = frozenset({"SHIPPED", "DELIVERED"})


@dataclass
class Verdict:
    """What the counting found; `holds` when nothing is off."""

    orders: int
    not_final: list[str]
    disagreeing: list[str]
    stock_drift: int
    money_drift: int
    double_charges: int
    messages_lost: int
    history_rows_lost: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    rows: list[tuple[str, str]] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not (
            self.not_final
            or self.disagreeing
            or self.stock_drift
            or self.money_drift
            or self.double_charges
            or self.messages_lost
            or self.history_rows_lost
        )

    def __str__(self) -> str:
        width = max((len(label) for label, _ in self.rows), default=0)
        return "\n".join(f"{label:<{width}}  {value}" for label, value in self.rows)


class Invariants:
    """Counts the invariants of everything a local cloud has done since `baseline()` was taken."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        outputs = cloud.endpoints.outputs if cloud.endpoints else {}
        self.orders_table = str(outputs["OrdersTableName"])
        self.catalog_table = str(outputs["CatalogTableName"])
        self.provider_table = str(outputs["PaymentProviderTableName"])
        self.state_machine = str(outputs["OrderStateMachineArn"])
        self.stocked: dict[str, int] = {}

    def baseline(self) -> None:
        """What is stocked now (available + reserved + sold per product): call once the catalog is seeded."""
        self.stocked = {
            product["productId"]: sum(int(product.get(name, 0)) for name in ("available", "reserved", "sold"))
            for product in self._scan(self.catalog_table)
        }

    def wait_until_settled(self, timeout: float, order_ids: Collection[str] = ()) -> bool:
        """Wait until every order (of `order_ids`, or all) is final, no execution runs and no message is in flight
        in a queue or its dead-letter queue: a job outlives its order's final status by the moment the dead-letter
        handler takes to delete it (a message nobody consumes, such as a discarded stream record, stays visible and
        does not hold the wait). False at the timeout."""
        sfn = self.cloud.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            orders = self.orders()
            wanted = [order for order in orders.values() if not order_ids or order["orderId"] in order_ids]
            settled = all(order["status"] in FINAL for order in wanted) and len(wanted) >= len(order_ids)
            running = sfn.list_executions(stateMachineArn=self.state_machine, statusFilter="RUNNING")["executions"]
            if settled and not running and not self._messages_in_flight():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(1)

    def check(self, order_ids: Collection[str] | None = None) -> Verdict:
        """Count every invariant; `order_ids` limits "not final" to those orders (all orders otherwise)."""
        records = list(self._scan(self.orders_table))
        orders = {item["orderId"]: item for item in records if item.get("kind") == "ORDER"}
        approvals = {
            item["approvalFor"]: str(item["approvalState"]) for item in records if item.get("kind") == "APPROVAL"
        }
        payments = {item["paymentFor"]: str(item["paymentState"]) for item in records if item.get("kind") == "PAYMENT"}
        judged = set(orders) if order_ids is None else set(order_ids)
        not_final = sorted(order_id for order_id in judged if orders.get(order_id, {}).get("status") not in FINAL)
        disagreeing: list[str] = []
        for order_id, order in orders.items():
            problems = disagreements(
                OrderStatus(order["status"]),
                ApprovalState(approvals[order_id]) if order_id in approvals else None,
                PaymentState(payments[order_id]) if order_id in payments else None,
                StockState(order["stockState"]) if "stockState" in order else None,
            )
            disagreeing.extend(f"{order_id}: {problem}" for problem in problems)
        shipped = [order for order in orders.values() if order["status"] in SHIPPED]
        everything_ended = all(order["status"] in FINAL for order in orders.values())
        stock_drift, stock_rows = self._stock(shipped, everything_ended)
        money_drift, double_charges, money_rows = self._money(shipped)
        lost, message_rows = self._messages()
        # The order history: every status change of every order reached the lake (or Firehose kept it under its
        # error prefix, replayable), through the table's Kinesis stream and the transformation, faults and all.
        lake = read_lake(self.cloud)
        outcomes = Counter(
            f"{order['status']}{' ' + order['failureReason'] if order.get('failureReason') else ''}"
            for order in orders.values()
        )
        rows = [
            ("final statuses", ", ".join(f"{status} {count}" for status, count in sorted(outcomes.items()))),
            ("orders not final", ", ".join(not_final[:5]) + (" ..." if len(not_final) > 5 else "") or "0"),
            ("records that disagree with their order", "; ".join(disagreeing[:5]) or "0"),
            *stock_rows,
            *money_rows,
            *message_rows,
            *lake.lines(),
        ]
        return Verdict(
            orders=len(orders),
            not_final=not_final,
            disagreeing=disagreeing,
            stock_drift=stock_drift,
            money_drift=money_drift,
            double_charges=double_charges,
            messages_lost=lost,
            history_rows_lost=lake.rows_lost,
            outcomes=outcomes,
            rows=rows,
        )

    # -- The parts ------------------------------------------------------------------------------------------------

    def _scan(self, table: str) -> Iterator[dict[str, Any]]:
        dynamodb = observer(self.cloud.client("dynamodb"))
        request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        while True:
            page = dynamodb.scan(**request)
            yield from (from_attributes(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def orders(self) -> dict[str, dict[str, Any]]:
        return {item["orderId"]: item for item in self._scan(self.orders_table) if item.get("kind") == "ORDER"}

    def _stock(self, shipped: list[dict[str, Any]], everything_ended: bool) -> tuple[int, list[tuple[str, str]]]:
        units_shipped: Counter[str] = Counter()
        for order in shipped:
            for line in order["items"]:
                units_shipped[line["productId"]] += int(line["quantity"])
        drift = 0
        rows = []
        for product in self._scan(self.catalog_table):
            pid = product["productId"]
            available, reserved, sold = (int(product.get(name, 0)) for name in ("available", "reserved", "sold"))
            off = abs(available + reserved + sold - self.stocked.get(pid, 0)) + abs(sold - units_shipped[pid])
            if everything_ended or reserved < 0:
                off += abs(reserved)  # nothing stays reserved once no order is open (and never below zero)
            drift += off
            if sold or reserved or off:
                rows.append((f"stock {pid}", f"available {available}, reserved {reserved}, sold {sold}, drift {off}"))
        return drift, rows

    def _money(self, shipped: list[dict[str, Any]]) -> tuple[int, int, list[tuple[str, str]]]:
        ledger = list(self._scan(self.provider_table))
        succeeded = [entry for entry in ledger if entry.get("status") == "succeeded"]
        charged = sum(int(entry.get("amountCents", 0)) for entry in succeeded)
        refunded = sum(int(entry.get("refundedCents", 0)) for entry in succeeded)
        shipped_total = sum(int(order["totalCents"]) for order in shipped)
        charges_per_order = Counter(entry.get("merchantReference", "") for entry in succeeded)
        doubles = sum(count - 1 for count in charges_per_order.values() if count > 1)
        voided = sum(1 for entry in ledger if entry.get("status") == "voided")
        rows = [
            ("provider charged / refunded (cents)", f"{charged} / {refunded} ({len(succeeded)} charges)"),
            ("totals of shipped orders (cents)", f"{shipped_total} ({len(shipped)} orders)"),
            ("provider keys voided before a charge", str(voided)),
        ]
        return abs(charged - refunded - shipped_total), doubles, rows

    def _messages_in_flight(self) -> int:
        """Messages not yet done with, in every queue a message was sent to and in those queues' DLQs: received and
        not yet deleted, or waiting in a queue a function consumes (a job moved to the dead-letter queue is still
        to be handled there, whatever its order's status says)."""
        sent, _ = self.cloud.aws_endpoint.messages.snapshot()
        sqs = observer(self.cloud.client("sqs"))
        provisioned = self.cloud.provisioned
        mappings = provisioned.records.get("AWS::Lambda::EventSourceMapping", {}) if provisioned else {}
        consumed = {str(mapping["EventSourceArn"]) for mapping in mappings.values()}
        in_flight = 0
        for queue_url in sent:
            attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
            urls = [queue_url]
            if "RedrivePolicy" in attributes:
                target = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
                urls.append(sqs.get_queue_url(QueueName=target.rsplit(":", 1)[-1])["QueueUrl"])
            for url in urls:
                counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
                in_flight += int(counts["ApproximateNumberOfMessagesNotVisible"])
                if counts["QueueArn"] in consumed:
                    in_flight += int(counts["ApproximateNumberOfMessages"])
        return in_flight

    def _messages(self) -> tuple[int, list[tuple[str, str]]]:
        sent, deleted = self.cloud.aws_endpoint.messages.snapshot()
        sqs = observer(self.cloud.client("sqs"))
        every_deleted: set[str] = set().union(*deleted.values()) if deleted else set()
        rows = []
        lost = 0
        for queue_url, ids in sorted(sent.items()):
            attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
            queued = int(attributes["ApproximateNumberOfMessages"]) + int(
                attributes["ApproximateNumberOfMessagesNotVisible"]
            )
            processed = len(ids & deleted.get(queue_url, set()))
            dead_lettered = len((ids & every_deleted) - deleted.get(queue_url, set()))
            unaccounted = max(0, len(ids) - processed - dead_lettered - queued)
            lost += unaccounted
            rows.append(
                (
                    f"queue {queue_url.rsplit('/', 1)[-1]}",
                    f"sent {len(ids)}, processed {processed}, dead-lettered {dead_lettered}, queued {queued}, "
                    f"lost {unaccounted}",
                )
            )
        return lost, rows


def stock_levels(cloud: LocalCloud, product_ids: Collection[str]) -> Mapping[str, dict[str, int]]:
    """The stock counters of some products, read as the observer."""
    invariants = Invariants(cloud)
    return {
        product["productId"]: {name: int(product.get(name, 0)) for name in ("available", "reserved", "sold")}
        for product in invariants._scan(invariants.catalog_table)
        if product["productId"] in product_ids
    }

"""`make chaos`: the order story at scale against a fresh local cloud with faults on, then every invariant counted.

    python -m localcloud.chaos [--orders 200] [--clients 10] [--seed 7] [--log chaos.log]

Customers place a mix of orders (auto-approved, approved, rejected, timed-out and cancelled approvals; declined,
flaky and undeliverable cards and addresses; a scarce product that sells out), while the local cloud injects every
fault AWS produces under stress at the rates of `FAULTS` below. When every order is final and every execution has
ended, the run counts, from the tables, the payment provider's own ledger and the queues:

- orders not final, and final orders whose approval, payment or stock record disagrees with their status;
- stock drift per product: available + reserved + sold against what was stocked, units sold against units shipped,
  and units still reserved once no order is open;
- money drift: what the provider charged minus what it refunded, against the totals of the orders that shipped;
- double charges: more than one charge for one order at the provider;
- messages lost: every message sent to a queue is processed, dead-lettered, or still queued;
- history rows lost: every status change of every order is a row of the order history's lake (through the Orders
  table's Kinesis stream, Firehose and its transformation), or a record Firehose kept under its error prefix.

The last line is exactly
`chaos: <N> orders, <F> faults injected, <S> not final, <D> stock drift, <M> money drift, <C> double charges,
<L> messages lost, <H> history rows lost`, and the exit status is non-zero unless the last six figures (and the
disagreements) are 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import requests

from localcloud.aws_endpoint import observer
from localcloud.client import FINAL_STATUSES, ShopClient
from localcloud.cloud import LocalCloud
from localcloud.faults import FaultPlan, Rule
from localcloud.invariants import Invariants, Verdict
from localcloud.users import ensure_user, id_token
from tools.seed import load_demo_catalog

PASSWORD = "Chaos-run-Passw0rd"  # noqa: S105  (throwaway users of a throwaway local user pool)
DEFAULT_ORDERS = 200
DEFAULT_CLIENTS = 10
DEFAULT_SEED = 7
# Template parameters shortened so that the slow paths fit in minutes: an unanswered approval expires after 60 s,
# an undeliverable job reaches the DLQ after 5 x 12 s, and the payment function may run 5 at once, so that bursts
# of charges are throttled by Lambda for real, not only by injected throttles. (Here a charge takes 1-4 s on a
# busy 2-core machine, 10 s when the provider is slow: with 2 at once, the 10 clients' steady demand alone would
# exceed what the function can serve, which no retry budget mends. tests/workflow sizes the retries for a burst
# of five times the reservation.)
PARAMETERS = {"ApprovalTimeoutSeconds": "60", "WarehouseTimeoutSeconds": "2", "PaymentReservedConcurrency": "5"}
SCARCE_PRODUCT = "limited-edition-grinder"
PLENTY = 100_000

# The faults of a run and their rates (probability per matching call unless said otherwise).
FAULTS: list[dict[str, Any]] = [
    # DynamoDB under contention: cancelled transactions on the contended items, and throttled calls.
    {"fault": "dynamodb.transaction-conflict", "table": "CatalogTable", "probability": 0.15},
    {"fault": "dynamodb.transaction-throttled", "probability": 0.05},
    {"fault": "dynamodb.throughput-exceeded", "table": "OrdersTable", "probability": 0.03},
    {"fault": "dynamodb.throttling", "probability": 0.02},
    # Lambda: throttles and service errors before a function runs, time-outs after its side effects.
    {"fault": "lambda.throttle", "probability": 0.03},
    {"fault": "lambda.service-error", "probability": 0.02},
    {"fault": "lambda.timeout-after-effects", "probability": 0.02},
    # At-least-once delivery: a batch delivered again after it was processed.
    {"fault": "delivery.redeliver", "probability": 0.1},
    # The payment provider: slow past the payment function's 10 s timeout after it charged, and down for a while.
    {"fault": "lambda.slow", "function": "PaymentProviderFunction", "seconds": 12, "probability": 0.05},
    {
        "fault": "lambda.error",
        "function": "PaymentProviderFunction",
        "error": "ProviderUnavailable",
        "message": "the provider is down",
        "after": 20,
        "for": 15,
    },
]


class Kind(StrEnum):
    """What an order of the run is meant to go through."""

    AUTO = "auto-approved"
    FLAKY = "flaky card"
    DECLINED = "declined card"
    UNDELIVERABLE = "undeliverable"
    SCARCE = "scarce product"
    CANCELLED_EARLY = "cancelled at once"
    APPROVED = "approved"
    REJECTED = "rejected"
    TIMED_OUT = "approval timed out"
    CANCELLED_WAITING = "cancelled awaiting approval"


MIX: dict[Kind, int] = {
    Kind.AUTO: 30,
    Kind.FLAKY: 8,
    Kind.DECLINED: 8,
    Kind.UNDELIVERABLE: 5,
    Kind.SCARCE: 12,
    Kind.CANCELLED_EARLY: 5,
    Kind.APPROVED: 14,
    Kind.REJECTED: 6,
    Kind.TIMED_OUT: 4,
    Kind.CANCELLED_WAITING: 8,
}
NEEDS_APPROVAL = frozenset({Kind.APPROVED, Kind.REJECTED, Kind.TIMED_OUT, Kind.CANCELLED_WAITING})


@dataclass
class Placed:
    index: int
    kind: Kind
    customer: int
    order_id: str = ""
    error: str = ""


@dataclass
class Figures:
    """A run's figures: the invariants counted, with the orders that could not even be placed."""

    orders: int
    faults: int
    unplaced: int
    verdict: Verdict
    rows: list[tuple[str, str]] = field(default_factory=list)

    @property
    def not_final(self) -> int:
        return len(self.verdict.not_final) + self.unplaced

    @property
    def holds(self) -> bool:
        return self.verdict.holds and not self.unplaced

    def last_line(self) -> str:
        v = self.verdict
        return (
            f"chaos: {self.orders} orders, {self.faults} faults injected, {self.not_final} not final, "
            f"{v.stock_drift} stock drift, {v.money_drift} money drift, {v.double_charges} double charges, "
            f"{v.messages_lost} messages lost, {v.history_rows_lost} history rows lost"
        )


def plan_orders(count: int, clients: int, seed: int) -> list[Placed]:
    """The run's orders: every kind of the mix in proportion (each at least once when there is room), shuffled by
    the seed, spread over the customers."""
    total = sum(MIX.values())
    shares = {kind: max(1, round(count * weight / total)) for kind, weight in MIX.items()}
    chosen = [kind for kind, share in shares.items() for _ in range(share)]
    draws = random.Random(seed)  # noqa: S311  (a reproducible plan, not security)
    draws.shuffle(chosen)
    chosen = (chosen * (count // len(chosen) + 1))[:count]
    return [Placed(index=i, kind=kind, customer=i % clients) for i, kind in enumerate(chosen)]


class Run:
    """One chaos run: a fresh local cloud, the customers and the approver, the orders, the checks."""

    def __init__(
        self,
        *,
        orders: int,
        clients: int,
        seed: int,
        rules: list[dict[str, Any]],
        log: Callable[[str], None],
        progress: Callable[[str], None] = print,
        parameters: dict[str, str] | None = None,
    ) -> None:
        self.plan = plan_orders(orders, clients, seed)
        self.clients = clients
        self.seed = seed
        self.rules = [Rule.parse(rule) for rule in rules]
        self.progress = progress
        self.faults = FaultPlan(seed=seed)
        self.cloud = LocalCloud(
            api_port=0, aws_port=0, parameters=PARAMETERS | (parameters or {}), faults=self.faults, log=log
        )
        self._lock = threading.Lock()

    # -- The run --------------------------------------------------------------------------------------------------

    def __call__(self, deadline_seconds: float) -> Figures:
        self.cloud.start()
        try:
            customers, approver = self._set_up()
            self.invariants = Invariants(self.cloud)
            self.invariants.baseline()
            self.faults.add(self.rules)  # faults from here on: the shop under stress, not the set-up
            started = time.monotonic()
            self.progress(f"placing {len(self.plan)} orders from {self.clients} clients, faults on (seed {self.seed})")
            self._play(customers, approver)
            self.progress(
                f"all orders placed in {time.monotonic() - started:.0f} s; waiting until every order is final"
            )
            placed = [placed.order_id for placed in self.plan if placed.order_id]
            self.invariants.wait_until_settled(deadline_seconds - (time.monotonic() - started), placed)
            self.progress(f"settled after {time.monotonic() - started:.0f} s; counting")
            verdict = self.invariants.check(placed)
            verdict.rows.append(("technical failures by cause", self._technical_causes() or "0"))
            return self._count(customers, verdict)
        finally:
            self.faults.clear()
            self.cloud.stop()

    def _set_up(self) -> tuple[list[ShopClient], ShopClient]:
        endpoints = self.cloud.endpoints
        assert endpoints is not None  # noqa: S101  (started above)
        dynamodb = observer(self.cloud.client("dynamodb"))
        catalog = str(endpoints.outputs["CatalogTableName"])
        scarce_units = max(3, sum(1 for placed in self.plan if placed.kind is Kind.SCARCE) // 2)
        products = [(product.product_id, product.name, product.price_cents, PLENTY) for product in load_demo_catalog()]
        products.append((SCARCE_PRODUCT, "Limited-edition grinder", 39000, scarce_units))
        for product_id, name, price, available in products:
            dynamodb.put_item(
                TableName=catalog,
                Item={
                    "productId": {"S": product_id},
                    "name": {"S": name},
                    "priceCents": {"N": str(price)},
                    "currency": {"S": "USD"},
                    "available": {"N": str(available)},
                    "reserved": {"N": "0"},
                    "sold": {"N": "0"},
                },
            )
        cognito = self.cloud.client("cognito-idp")
        client_id = endpoints.user_pool_client_id

        def signed_in(email: str, group: str) -> ShopClient:
            ensure_user(cognito, endpoints.user_pool_id, email, PASSWORD, group)
            return ShopClient(endpoints.api, id_token(cognito, client_id, email, PASSWORD))

        customers = [signed_in(f"chaos-customer-{i}@example.com", "customers") for i in range(self.clients)]
        return customers, signed_in("chaos-approver@example.com", "admins")

    def _play(self, customers: list[ShopClient], approver: ShopClient) -> None:
        # The approvers' pool outlives the customers' (it is left last): customers hand orders to it until the end.
        with ThreadPoolExecutor(self.clients, thread_name_prefix="chaos-approver") as approvers:
            with ThreadPoolExecutor(self.clients, thread_name_prefix="chaos-customer") as shoppers:
                placing = [
                    shoppers.submit(self._place, placed, customers[placed.customer], approver, approvers)
                    for placed in self.plan
                ]
            deciding = [future.result() for future in placing]
            for future in deciding:
                if future is not None:
                    future.result()

    def _place(
        self, placed: Placed, customer: ShopClient, approver: ShopClient, approvers: ThreadPoolExecutor
    ) -> Future[None] | None:
        items, token, address = _order_of(placed.kind)
        try:
            order = customer.place(f"chaos-{self.seed}-{placed.index}", items, payment_token=token, address=address)
        except Exception as exc:  # recorded and counted as an order the run could not place
            placed.error = f"{type(exc).__name__}: {exc}"
            return None
        placed.order_id = order["orderId"]
        if placed.kind is Kind.CANCELLED_EARLY:
            self._expect(placed, customer.cancel(placed.order_id), {200, 409})
        elif placed.kind in NEEDS_APPROVAL:
            return approvers.submit(self._decide, placed, customer, approver)
        return None

    def _decide(self, placed: Placed, customer: ShopClient, approver: ShopClient) -> None:
        try:
            waiting = customer.wait_for(placed.order_id, {"AWAITING_APPROVAL", *FINAL_STATUSES}, timeout=300)
        except Exception as exc:  # the counting finds the order where it stopped
            placed.error = f"{type(exc).__name__}: {exc}"
            return
        if waiting["status"] != "AWAITING_APPROVAL":
            return
        # A 409 is an answer too: the approval timed out (or was answered) first, and the workflow settled it.
        if placed.kind is Kind.APPROVED:
            self._expect(placed, approver.decide(placed.order_id, "approve"), {200, 409})
        elif placed.kind is Kind.REJECTED:
            self._expect(placed, approver.decide(placed.order_id, "reject", "not for resale"), {200, 409})
        elif placed.kind is Kind.CANCELLED_WAITING:
            self._expect(placed, customer.cancel(placed.order_id), {200, 409})
        # TIMED_OUT: nobody answers; the approval expires.

    @staticmethod
    def _expect(placed: Placed, response: requests.Response, statuses: set[int]) -> None:
        if response.status_code not in statuses:
            placed.error = f"{response.request.method} {response.url} answered {response.status_code}: {response.text}"

    # -- The counting ---------------------------------------------------------------------------------------------

    def _technical_causes(self) -> str:
        """What the last step left for Settle, for each order that ended FAILED TECHNICAL_FAILURE."""
        sfn = self.cloud.client("stepfunctions")
        machine = self.invariants.state_machine
        causes: Counter[str] = Counter()
        for order_id, order in self.invariants.orders().items():
            if order.get("failureReason") != "TECHNICAL_FAILURE":
                continue
            execution = machine.replace(":stateMachine:", ":execution:") + f":{order_id}"
            events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
            newest_first = sorted(events, key=lambda event: int(event["id"]), reverse=True)
            entered = [
                event["stateEnteredEventDetails"] for event in newest_first if "stateEnteredEventDetails" in event
            ]
            # Settle's input holds what the step before it (the one that failed) left.
            settled = next((i for i, details in enumerate(entered) if details["name"] == "Settle"), None)
            if settled is None or settled + 1 >= len(entered):
                causes["?"] += 1
                continue
            last = json.loads(entered[settled]["input"]).get("last") or {}
            step = entered[settled + 1]["name"]
            causes[f"{step}: {last.get('Error') or last.get('outcome') or '?'}"] += 1
        return ", ".join(f"{cause} {count}" for cause, count in causes.most_common())

    def _count(self, customers: list[ShopClient], verdict: Verdict) -> Figures:
        placed_ids = [placed.order_id for placed in self.plan if placed.order_id]
        unplaced = [placed for placed in self.plan if not placed.order_id]
        rows = [
            ("orders planned / placed / could not place", f"{len(self.plan)} / {len(placed_ids)} / {len(unplaced)}"),
            *[(f"  {kind}", str(count)) for kind, count in sorted(Counter(p.kind.value for p in self.plan).items())],
            *[(f"fault {label}", str(count)) for label, count in sorted(self.faults.counts().items())],
            ("client retries (5xx, 429 or no answer)", str(sum(customer.retries for customer in customers))),
            ("client errors", "; ".join(placed.error for placed in self.plan if placed.error)[:300] or "0"),
            *verdict.rows,
        ]
        return Figures(
            orders=len(self.plan), faults=self.faults.injected, unplaced=len(unplaced), verdict=verdict, rows=rows
        )


def _order_of(kind: Kind) -> tuple[list[dict[str, Any]], str | None, dict[str, Any] | None]:
    """(items, payment token, address) of an order of this kind."""
    small = [{"productId": "travel-mug", "quantity": 2}]
    large = [{"productId": "espresso-machine", "quantity": 1}]
    if kind is Kind.FLAKY:
        return small, "tok_flaky", None
    if kind is Kind.DECLINED:
        return small, "tok_decline", None
    if kind is Kind.UNDELIVERABLE:
        return (
            small,
            None,
            {"name": "Nobody", "line1": "UNDELIVERABLE", "city": "Nowhere", "postalCode": "0", "country": "US"},
        )
    if kind is Kind.SCARCE:
        return [{"productId": SCARCE_PRODUCT, "quantity": 1}, {"productId": "descaler", "quantity": 1}], None, None
    if kind in NEEDS_APPROVAL:
        return large, None, None
    return small, None, None


def print_report(figures: Figures, out: Callable[[str], None] = print) -> None:
    width = max(len(label) for label, _ in figures.rows)
    out("")
    for label, value in figures.rows:
        out(f"{label:<{width}}  {value}")
    out(figures.last_line())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The order story with faults on, and the invariants counted")
    parser.add_argument("--orders", type=int, default=DEFAULT_ORDERS)
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--deadline", type=float, default=1800, help="seconds to wait for every order to be final")
    parser.add_argument("--log", type=Path, default=None, help="write the local cloud's log here")
    args = parser.parse_args(argv)
    if args.log:
        args.log.parent.mkdir(parents=True, exist_ok=True)
    log_file = args.log.open("w") if args.log else None

    def log(line: str) -> None:
        if log_file is not None:
            log_file.write(line + "\n")

    if log_file is not None:
        # The local cloud's own warnings (a batch refused, a transformation retried: the faults at work) go to the
        # log with the rest, not between the report's lines.
        handler = logging.StreamHandler(log_file)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        logging.basicConfig(level=logging.WARNING, handlers=[handler])

    started = time.monotonic()
    try:
        figures = Run(orders=args.orders, clients=args.clients, seed=args.seed, rules=FAULTS, log=log)(args.deadline)
    finally:
        if log_file is not None:
            log_file.close()
    print_report(figures)
    print(f"(ran {time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0 if figures.holds else 1


if __name__ == "__main__":
    sys.exit(main())

"""The order workflow on the local cloud: template.yaml running on moto with its function workers, event sources and
gateway (localcloud.cloud), driven over HTTP as customers, approvers and the carrier drive it.

One cloud per module (moto's backends are process-wide: a module's cloud is stopped before the next one starts).
Fault rules are switched on only around the tests that need them, and every test ends by counting the invariants of
the order story (localcloud.invariants) over everything the module's cloud has done.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from localcloud.aws_endpoint import observer
from localcloud.client import ShopClient
from localcloud.cloud import Endpoints, LocalCloud
from localcloud.faults import Rule
from localcloud.invariants import Invariants, Verdict
from localcloud.users import ensure_user, id_token
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.dynamodb import from_attributes
from shop.domain.models import Product
from tools.seed import seed

PASSWORD = "Workflow-test-Passw0rd"  # a throwaway user of a throwaway local user pool
# The approval time-out the slow paths wait for; the warehouse's shortest time-out (its queue's visibility is six
# times it: an undeliverable job reaches the DLQ after five receives, about a minute); the payment function may run
# two at once, so that a burst of charges meets Lambda's own throttling.
PARAMETERS = {"ApprovalTimeoutSeconds": "60", "WarehouseTimeoutSeconds": "2", "PaymentReservedConcurrency": "2"}
# A product of which only a few units exist, for orders racing for the last ones.
SCARCE = Product(product_id="numbered-print", name="Numbered print", price_cents=4500, available=3)
SMALL = [{"productId": "travel-mug", "quantity": 2}]  # 50.00 USD: approved automatically
LARGE = [{"productId": "espresso-machine", "quantity": 1}]  # 1,490.00 USD: waits for an approver
UNDELIVERABLE_ADDRESS = {
    "name": "Nobody",
    "line1": "UNDELIVERABLE",
    "city": "Nowhere",
    "postalCode": "00000",
    "country": "US",
}
# What a step of the workflow may take at most here, retries included (the charge's retries back off up to 90 s).
PATIENCE = 150.0


@dataclass
class Run:
    """How an order's execution ended, and the states it entered, in order."""

    status: str
    error: str | None
    states: list[str]
    events: list[dict[str, Any]]

    def errors_of(self, state: str) -> list[str]:
        """The errors the task `state` failed with, one per failed attempt."""
        errors = []
        current = None
        for event in self.events:
            if event["type"].endswith("StateEntered"):
                current = event["stateEnteredEventDetails"]["name"]
            details = event.get("taskFailedEventDetails") or event.get("taskTimedOutEventDetails")
            if current == state and details is not None:
                errors.append(details.get("error", ""))
        return errors


@dataclass
class Shop:
    """A running local cloud with the demo catalog, a customer, an approver and the carrier's key."""

    cloud: LocalCloud
    endpoints: Endpoints
    customer: ShopClient
    approver: ShopClient
    invariants: Invariants
    log: deque[str]  # the cloud's last lines: one per invocation, one per fault injected

    # -- The API, as its users call it --------------------------------------------------------------------------

    def place(
        self,
        items: list[dict[str, Any]],
        *,
        payment_token: str | None = None,
        address: dict[str, Any] | None = None,
    ) -> str:
        # A session of its own per order: orders are placed from several threads at once.
        customer = self.customer.with_token(self.customer.token)
        try:
            order = customer.place(f"wf-{uuid.uuid4()}", items, payment_token=payment_token, address=address)
        finally:
            customer.session.close()
        return str(order["orderId"])

    def order(self, order_id: str) -> dict[str, Any]:
        return self.customer.order(order_id)

    def wait_for(self, order_id: str, statuses: Collection[str], timeout: float = 60.0) -> dict[str, Any]:
        return self.customer.wait_for(order_id, statuses, timeout=timeout)

    def deliver(self, order_id: str, tracking_number: str, delivered_at: str) -> Any:
        return self.customer.session.post(
            f"{self.endpoints.api}/carrier/deliveries",
            json={"orderId": order_id, "trackingNumber": tracking_number, "deliveredAt": delivered_at},
            headers={"x-api-key": self.endpoints.carrier_api_key},
            timeout=15,
        )

    # -- The workflow ---------------------------------------------------------------------------------------------

    def execution_arn(self, order_id: str) -> str:
        machine = str(self.endpoints.outputs["OrderStateMachineArn"])
        return f"{machine.replace(':stateMachine:', ':execution:')}:{order_id}"

    def history(self, order_id: str) -> list[dict[str, Any]]:
        sfn = self.cloud.client("stepfunctions")
        request: dict[str, Any] = {"executionArn": self.execution_arn(order_id), "maxResults": 1000}
        events: list[dict[str, Any]] = []
        while True:
            try:
                page = sfn.get_execution_history(**request)
            except sfn.exceptions.ExecutionDoesNotExist:
                return []  # the Orders stream has not started it yet
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            request["nextToken"] = page["nextToken"]

    def run(self, order_id: str, timeout: float = PATIENCE) -> Run:
        """Wait for the order's execution to end; how it ended and the states it entered."""
        sfn = self.cloud.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            try:
                execution = sfn.describe_execution(executionArn=self.execution_arn(order_id))
            except sfn.exceptions.ExecutionDoesNotExist:
                execution = {"status": "NOT STARTED"}  # the Orders stream has not started it yet
            if execution["status"] not in ("NOT STARTED", "RUNNING"):
                break
            assert time.monotonic() < deadline, (
                f"the execution of {order_id} is {execution['status']} after {timeout:.0f} s; the cloud's last lines:\n"
                + "\n".join(list(self.log)[-30:])
            )
            time.sleep(0.25)
        events = self.history(order_id)
        states = [
            event["stateEnteredEventDetails"]["name"] for event in events if event["type"].endswith("StateEntered")
        ]
        return Run(execution["status"], execution.get("error"), states, events)

    def wait_in_history(self, order_id: str, event_type: str, state: str, count: int = 1, timeout: float = 60) -> None:
        """Wait until the execution recorded `count` events of `event_type` while in `state`."""
        deadline = time.monotonic() + timeout
        while True:
            seen = 0
            current = None
            for event in self.history(order_id):
                if event["type"].endswith("StateEntered"):
                    current = event["stateEnteredEventDetails"]["name"]
                elif event["type"] == event_type and current == state:
                    seen += 1
            if seen >= count:
                return
            assert time.monotonic() < deadline, f"{order_id}: no {event_type} #{count} in {state} after {timeout} s"
            time.sleep(0.25)

    # -- Faults ---------------------------------------------------------------------------------------------------

    @contextmanager
    def faults(self, *rules: dict[str, Any]) -> Iterator[None]:
        """The rules in force for the block (and only for it)."""
        self.cloud.faults.add([Rule.parse(rule) for rule in rules])
        try:
            yield
        finally:
            self.cloud.faults.clear()

    def injected(self, name: str) -> int:
        """How many faults the rule named `name` injected (rules switched off included)."""
        return self.cloud.faults.counts().get(name, 0)

    # -- The records, read as the observer (fault rules leave these reads alone) ----------------------------------

    def _item(self, table_output: str, key: dict[str, Any]) -> dict[str, Any] | None:
        dynamodb = observer(self.cloud.client("dynamodb"))
        table = str(self.endpoints.outputs[table_output])
        item = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return from_attributes(item) if item else None

    def _record(self, order_id: str, prefix: str) -> dict[str, Any] | None:
        customer_id = self.order(order_id)["customerId"]
        return self._item("OrdersTableName", {"customerId": {"S": customer_id}, "sk": {"S": f"{prefix}#{order_id}"}})

    def orders(self) -> list[dict[str, Any]]:
        """Every order of the module's cloud."""
        dynamodb = observer(self.cloud.client("dynamodb"))
        request: dict[str, Any] = {"TableName": str(self.endpoints.outputs["OrdersTableName"]), "ConsistentRead": True}
        orders = []
        while True:
            page = dynamodb.scan(**request)
            orders += [
                from_attributes(item) for item in page.get("Items", []) if item.get("kind", {}).get("S") == "ORDER"
            ]
            if "LastEvaluatedKey" not in page:
                return orders
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def approval_state(self, order_id: str) -> str | None:
        record = self._record(order_id, "APPROVAL")
        return None if record is None else str(record["approvalState"])

    def payment(self, order_id: str) -> dict[str, Any] | None:
        return self._record(order_id, "PAYMENT")

    def provider_entry(self, order_id: str) -> dict[str, Any] | None:
        """The payment provider's own ledger entry for the order's idempotency key."""
        payment = self.payment(order_id)
        if payment is None:
            return None
        return self._item("PaymentProviderTableName", {"idempotencyKey": {"S": str(payment["idempotencyKey"])}})

    def stock(self, product_id: str) -> dict[str, int]:
        product = self._item("CatalogTableName", {"productId": {"S": product_id}}) or {}
        return {name: int(product.get(name, 0)) for name in ("available", "reserved", "sold")}

    # -- The invariants -------------------------------------------------------------------------------------------

    def verdict(self, *order_ids: str, timeout: float = PATIENCE) -> Verdict:
        """Count every invariant once these orders' executions have ended and the shop is at rest ("not final" judges
        these orders, or every order when none is named).

        At rest: no order's workflow is between two steps (whatever its status says), only parked waiting for an
        approver (nothing charged yet). An order between its charge and its shipment or refund holds money that no
        shipment accounts for yet, so money is counted when none is in that stretch. (An order left open by a
        workflow that ended is not waited for: the counting finds it.)
        """
        for order_id in order_ids:
            self.run(order_id, timeout)
        deadline = time.monotonic() + timeout
        while moving := self._moving():
            assert time.monotonic() < deadline, f"orders still moving after {timeout:.0f} s: {moving}"
            time.sleep(0.5)
        return self.invariants.check(order_ids or None)

    def _moving(self) -> list[str]:
        sfn = self.cloud.client("stepfunctions")
        moving = []
        for order in self.orders():
            # A final status is not rest: an order cancelled during its approval is CANCELLED before its workflow
            # has released its stock.
            if order["status"] == "AWAITING_APPROVAL":
                continue
            try:
                running = sfn.describe_execution(executionArn=self.execution_arn(order["orderId"]))["status"]
            except sfn.exceptions.ExecutionDoesNotExist:
                running = "RUNNING"  # the Orders stream has not started it yet
            if running == "RUNNING":
                moving.append(order["orderId"])
        return moving


def states_until(run: Run, last: str) -> list[str]:
    """The states entered, up to the first time `last` was entered."""
    return run.states[: run.states.index(last) + 1] if last in run.states else run.states


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    # Module scope: moto's backends are process-wide, so this cloud must be gone before another module starts one.
    log: deque[str] = deque(maxlen=400)
    cloud = LocalCloud(api_port=0, aws_port=0, parameters=PARAMETERS, log=log.append)
    endpoints = cloud.start()
    try:
        dynamodb = cloud.client("dynamodb")
        catalog = str(endpoints.outputs["CatalogTableName"])
        seed(catalog, dynamodb)
        CatalogTable(catalog, dynamodb).put(SCARCE)
        cognito = cloud.client("cognito-idp")

        def signed_in(email: str, group: str) -> ShopClient:
            ensure_user(cognito, endpoints.user_pool_id, email, PASSWORD, group)
            return ShopClient(endpoints.api, id_token(cognito, endpoints.user_pool_client_id, email, PASSWORD))

        invariants = Invariants(cloud)
        invariants.baseline()
        yield Shop(
            cloud=cloud,
            endpoints=endpoints,
            customer=signed_in("customer@example.com", "customers"),
            approver=signed_in("approver@example.com", "admins"),
            invariants=invariants,
            log=log,
        )
    finally:
        cloud.faults.clear()
        cloud.stop()


def notifications_queue(shop: Shop) -> str:
    """A queue subscribed to every ORDER_STATUS_CHANGED notification the shop publishes (its URL)."""
    sqs, sns = shop.cloud.client("sqs"), shop.cloud.client("sns")
    queue_url = str(sqs.create_queue(QueueName=f"wf-notifications-{uuid.uuid4().hex[:8]}")["QueueUrl"])
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=shop.endpoints.outputs["NotificationsTopicArn"],
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"eventType": ["ORDER_STATUS_CHANGED"]}),
        },
    )
    return queue_url

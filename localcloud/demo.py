"""`make demo`: the whole order story, played against the local cloud with progress output and a timeline.

Exits non-zero if any step does not reach the state it should.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from localcloud.cloud import LocalCloud
from localcloud.lake_queries import format_answers
from localcloud.order_history_lake import read_lake
from localcloud.users import ensure_user, id_token
from tools.seed import seed

PASSWORD = "Local-demo-Passw0rd"  # noqa: S105  (a demo account of the local, throwaway user pool)
ADDRESS = {
    "name": "Dana Demo",
    "line1": "1 Market Street",
    "city": "Springfield",
    "postalCode": "12345",
    "country": "US",
}
FINAL = {"SHIPPED", "DELIVERED", "CANCELLED", "REJECTED", "FAILED"}


class StepFailed(Exception):
    """A step of the story did not reach the state it should."""


@dataclass
class Demo:
    cloud: LocalCloud
    api: str
    started: float = field(default_factory=time.monotonic)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def step(self, title: str, action: Callable[[], str]) -> None:
        began = time.monotonic()
        print(f"▶ {title} ...", flush=True)
        try:
            outcome = action()
        except StepFailed as exc:
            self.failures.append(f"{title}: {exc}")
            outcome = f"FAILED: {exc}"
        elapsed = time.monotonic() - began
        self.timeline.append((time.monotonic() - self.started, f"{title}: {outcome}"))
        print(f"  {outcome}  ({elapsed:.1f} s)", flush=True)

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, f"{self.api}{path}", headers=headers, timeout=15, **kwargs)

    def order(self, token: str, key: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        response = self.call(
            "POST",
            "/orders",
            token,
            json={"items": items, "shippingAddress": ADDRESS, **extra} if items else {"shippingAddress": ADDRESS},
            headers={"Idempotency-Key": key},
        )
        if response.status_code != 201:
            raise StepFailed(f"POST /orders answered {response.status_code}: {response.text}")
        placed: dict[str, Any] = response.json()
        return placed

    def wait(self, token: str, order_id: str, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            order: dict[str, Any] = self.call("GET", f"/orders/{order_id}", token).json()
            if order["status"] in statuses:
                return order
            time.sleep(0.2)
        raise StepFailed(f"order {order_id} did not reach {sorted(statuses)} within {timeout:.0f} s")


def expect(order: dict[str, Any], status: str, reason: str | None = None) -> str:
    if order["status"] != status or order.get("failureReason") != reason:
        raise StepFailed(f"expected {status} {reason or ''}, got {order['status']} {order.get('failureReason', '')}")
    return f"{order['orderId']} is {status}" + (f" ({reason})" if reason else "")


def play(cloud: LocalCloud) -> Demo:  # noqa: PLR0915  (the story reads best as one sequence of steps)
    endpoints = cloud.endpoints
    assert endpoints is not None  # noqa: S101  (started by main)
    demo = Demo(cloud=cloud, api=endpoints.api)
    cognito = cloud.client("cognito-idp")
    tokens: dict[str, str] = {}
    email = f"dana+{int(time.time())}@example.com"

    def sign_up() -> str:
        cognito.sign_up(
            ClientId=endpoints.user_pool_client_id,
            Username=email,
            Password=PASSWORD,
            UserAttributes=[{"Name": "email", "Value": email}],
        )
        cloud.drain()
        cognito.admin_confirm_sign_up(UserPoolId=endpoints.user_pool_id, Username=email)
        cloud.drain()  # the post-confirmation trigger puts the new user in the customers group
        groups = cognito.admin_list_groups_for_user(UserPoolId=endpoints.user_pool_id, Username=email)["Groups"]
        if [group["GroupName"] for group in groups] != ["customers"]:
            raise StepFailed(f"the new user's groups are {groups}")
        return f"{email} signed up, confirmed, and is a customer"

    def sign_in() -> str:
        tokens["customer"] = id_token(cognito, endpoints.user_pool_client_id, email, PASSWORD)
        ensure_user(cognito, endpoints.user_pool_id, "approver@example.com", PASSWORD, "admins")
        tokens["approver"] = id_token(cognito, endpoints.user_pool_client_id, "approver@example.com", PASSWORD)
        return "ID tokens for the customer and the approver"

    def cart() -> str:
        lines = [{"productId": "espresso-beans-1kg", "quantity": 2}, {"productId": "paper-filters-100", "quantity": 1}]
        response = demo.call("PUT", "/cart", tokens["customer"], json={"items": lines})
        if response.status_code != 200:
            raise StepFailed(f"PUT /cart answered {response.status_code}")
        return f"cart of {len(lines)} lines, expires {response.json()['expiresAt']}"

    def small_order() -> str:
        placed = demo.order(tokens["customer"], "demo-small", [])  # the cart's lines
        shipped = demo.wait(tokens["customer"], placed["orderId"], FINAL)
        expect(shipped, "SHIPPED")
        delivered = demo.call(
            "POST",
            "/carrier/deliveries",
            json={
                "orderId": shipped["orderId"],
                "trackingNumber": shipped["trackingNumber"],
                "deliveredAt": shipped["updatedAt"],
            },
            headers={"x-api-key": endpoints.carrier_api_key},
        )
        if delivered.status_code != 200:
            raise StepFailed(f"the carrier's report answered {delivered.status_code}: {delivered.text}")
        return expect(delivered.json(), "DELIVERED") + f", tracking {shipped['trackingNumber']}"

    def decided_order(key: str, decision: str, expected: str) -> Callable[[], str]:
        def run() -> str:
            placed = demo.order(tokens["customer"], key, [{"productId": "espresso-machine", "quantity": 1}])
            demo.wait(tokens["customer"], placed["orderId"], {"AWAITING_APPROVAL"})
            answer = demo.call(
                "POST", f"/approvals/{placed['orderId']}", tokens["approver"], json={"decision": decision}
            )
            if answer.status_code != 200:
                raise StepFailed(f"the decision answered {answer.status_code}: {answer.text}")
            return expect(demo.wait(tokens["customer"], placed["orderId"], FINAL), expected) + f" after '{decision}'"

        return run

    def declined() -> str:
        placed = demo.order(
            tokens["customer"], "demo-decline", [{"productId": "scale", "quantity": 1}], paymentToken="tok_decline"
        )
        return expect(demo.wait(tokens["customer"], placed["orderId"], FINAL), "FAILED", "PAYMENT_DECLINED")

    def undeliverable() -> str:
        # The queue's visibility timeout is 180 s (6 x the warehouse's timeout): shortened here so that the
        # five failed deliveries before the DLQ take seconds, not 15 minutes.
        sqs = cloud.client("sqs")
        sqs.set_queue_attributes(
            QueueUrl=endpoints.outputs["FulfillmentQueueUrl"], Attributes={"VisibilityTimeout": "1"}
        )
        address = {**ADDRESS, "line1": "UNDELIVERABLE"}
        response = demo.call(
            "POST",
            "/orders",
            tokens["customer"],
            json={"items": [{"productId": "descaler", "quantity": 1}], "shippingAddress": address},
            headers={"Idempotency-Key": "demo-undeliverable"},
        )
        if response.status_code != 201:
            raise StepFailed(f"POST /orders answered {response.status_code}")
        failed = demo.wait(tokens["customer"], response.json()["orderId"], FINAL, timeout=90)
        return expect(failed, "FAILED", "SHIPPING_FAILED") + " (5 deliveries failed, DLQ handler failed the task)"

    def abandoned_cart() -> str:
        # A queue that hears the topic's abandoned-cart events, to see the consumer's publication.
        sqs = cloud.client("sqs")
        inbox = sqs.create_queue(QueueName="demo-abandoned-carts")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        cloud.client("sns").subscribe(
            TopicArn=endpoints.outputs["NotificationsTopicArn"],
            Protocol="sqs",
            Endpoint=inbox_arn,
            Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"eventType": ["CART_ABANDONED"]})},
        )
        lines = [{"productId": "travel-mug", "quantity": 1}]
        demo.call("PUT", "/cart", tokens["customer"], json={"items": lines})
        dynamodb = cloud.client("dynamodb")
        sessions = endpoints.outputs["SessionsTableName"]
        items = dynamodb.scan(TableName=sessions)["Items"]
        for item in items:  # let the session lapse instead of waiting 30 minutes
            dynamodb.update_item(
                TableName=sessions,
                Key={"sessionId": item["sessionId"]},
                UpdateExpression="SET expiresAt = :past",
                ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
            )
        cloud.drain()
        left = dynamodb.scan(TableName=sessions)["Items"]
        if left:
            raise StepFailed(f"{len(left)} expired sessions were not reaped")
        empty = demo.call("GET", "/cart", tokens["customer"]).json()
        if empty["items"]:
            raise StepFailed("the expired cart still has lines")
        heard = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
        if len(heard) != 1:
            raise StepFailed(f"{len(heard)} CART_ABANDONED events published, expected 1")
        return "the TTL reaper deleted the session; the abandoned-cart consumer published CART_ABANDONED"

    demo.step("sign up (Cognito) and the post-confirmation trigger", sign_up)
    demo.step("sign in", sign_in)
    demo.step("fill the cart", cart)
    demo.step("small order from the cart -> SHIPPED -> DELIVERED", small_order)
    demo.step(
        "large order -> AWAITING_APPROVAL -> approved -> SHIPPED", decided_order("demo-approve", "approve", "SHIPPED")
    )
    demo.step(
        "large order -> AWAITING_APPROVAL -> rejected -> REJECTED", decided_order("demo-reject", "reject", "REJECTED")
    )
    demo.step("declined card -> FAILED", declined)
    demo.step("UNDELIVERABLE address -> DLQ -> FAILED", undeliverable)
    demo.step("abandoned cart expired by TTL", abandoned_cart)
    return demo


def main() -> int:
    cloud = LocalCloud(api_port=0, aws_port=0, log=lambda _: None)
    try:
        endpoints = cloud.start()
        seed(str(endpoints.outputs["CatalogTableName"]), cloud.client("dynamodb"))
        print(f"local cloud up: API {endpoints.api}, AWS {endpoints.aws}\n", flush=True)
        demo = play(cloud)
        lake = read_lake(cloud)
    finally:
        cloud.stop()
    print("\ntimeline")
    for at, what in demo.timeline:
        print(f"  {at:6.1f} s  {what}")
    # The shop owner's questions (the template's Athena named queries), asked of the order history's lake.
    print("\nthe order history (Athena's named queries over the lake, run by DuckDB)\n")
    print(format_answers(lake.answers))
    width = max(len(label) for label, _ in lake.lines())
    for label, value in lake.lines():
        print(f"  {label:<{width}}  {value}")
    if lake.rows_lost or lake.check.unknown or lake.disagreements:
        demo.failures.append("the order history's lake does not agree with the Orders table (see above)")
    if demo.failures:
        print(f"\n{len(demo.failures)} step(s) failed:")
        for failure in demo.failures:
            print(f"  - {failure}")
        return 1
    print("\nevery step reached its expected state")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make redrive` against a running local cloud: what fails past every retry is left open, listed, and finished by
the redrive (tools/redrive.py), once — a second redrive changes nothing.

Each test breaks one step with a fault rule the workflow or the event source cannot retry away, then runs the
command as an operator would (`--local <aws endpoint>`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from localcloud.aws_endpoint import observer
from localcloud.client import FINAL_STATUSES, ShopClient
from localcloud.faults import Rule
from shop.adapters.dynamodb import from_attributes
from tests.localcloud.conftest import Shop
from tools.redrive import main

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

MUGS = [{"productId": "travel-mug", "quantity": 2}]  # 50.00 USD: no approval


@pytest.fixture(scope="module")
def customer(shop: Shop) -> ShopClient:
    return ShopClient(shop.api, shop.customer_token)


@contextmanager
def faults(shop: Shop, *rules: dict[str, Any]) -> Iterator[None]:
    shop.cloud.faults.add([Rule.parse(rule) for rule in rules])
    try:
        yield
    finally:
        shop.cloud.faults.clear()


def redrive(shop: Shop, capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    """Run the command against the module's cloud; its exit status and what it printed."""
    capsys.readouterr()
    status = main(["--local", shop.endpoints.aws, *arguments])
    return status, capsys.readouterr().out


def execution_arn(shop: Shop, order_id: str) -> str:
    machine = str(shop.endpoints.outputs["OrderStateMachineArn"])
    return f"{machine.replace(':stateMachine:', ':execution:')}:{order_id}"


def ended_execution(shop: Shop, order_id: str, timeout: float = 60) -> dict[str, Any]:
    sfn = shop.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        try:
            execution: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn(shop, order_id))
        except sfn.exceptions.ExecutionDoesNotExist:
            execution = {"status": "NOT STARTED"}
        if execution["status"] not in ("NOT STARTED", "RUNNING"):
            return execution
        assert time.monotonic() < deadline, f"the execution of {order_id} is {execution['status']} after {timeout} s"
        time.sleep(0.2)


def order_record(shop: Shop, customer: ShopClient, order_id: str) -> dict[str, Any]:
    """The order's item as stored (read as the observer: no fault rule touches it)."""
    customer_id = customer.order(order_id)["customerId"]
    item = observer(shop.client("dynamodb")).get_item(
        TableName=str(shop.endpoints.outputs["OrdersTableName"]),
        Key={"customerId": {"S": customer_id}, "sk": {"S": f"ORDER#{order_id}"}},
        ConsistentRead=True,
    )["Item"]
    return from_attributes(item)


def stock(shop: Shop, product_id: str) -> dict[str, int]:
    item = observer(shop.client("dynamodb")).get_item(
        TableName=str(shop.endpoints.outputs["CatalogTableName"]), Key={"productId": {"S": product_id}}
    )["Item"]
    return {name: int(item[name]["N"]) for name in ("available", "reserved", "sold")}


def test_the_local_cloud_serves_the_stack_outputs_the_redrive_finds_its_resources_by(shop: Shop) -> None:
    served = requests.get(f"{shop.endpoints.aws}/_localcloud/outputs", timeout=5)

    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(shop.endpoints.outputs))
    assert {"OrdersTableName", "OrderStateMachineArn", "StreamFailureQueueUrl"} <= set(served.json())


def test_a_shipment_that_could_not_be_recorded_is_marked_shipped_by_the_redrive_once(
    shop: Shop, customer: ShopClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a shipment whose recording fails with an error the MarkShipped state does not retry
    before = stock(shop, "travel-mug")
    bug = {"fault": "lambda.error", "function": "CompleteShipmentFunction", "error": "InjectedBug", "limit": 1}
    with faults(shop, bug):
        order_id = customer.place("redrive-shipped", MUGS)["orderId"]
        execution = ended_execution(shop, order_id)
    assert (execution["status"], execution.get("error")) == ("FAILED", "ShippedButNotRecorded")
    assert customer.order(order_id)["status"] == "PAID"

    # When the operator lists what is open, then redrives it
    listed, listing = redrive(shop, capsys, "--older-than", "0")
    assert customer.order(order_id)["status"] == "PAID"
    applied, report = redrive(shop, capsys, "--older-than", "0", "--apply")

    # Then the dry run named the order and changed nothing; the redrive shipped it with the warehouse's tracking number
    assert listed == 1
    assert order_id in listing
    assert "mark shipped" in listing
    assert applied == 0, report
    shipped = order_record(shop, customer, order_id)
    assert shipped["status"] == "SHIPPED"
    history = shop.client("stepfunctions").get_execution_history(
        executionArn=execution_arn(shop, order_id), maxResults=1000
    )["events"]
    # The warehouse's callback to the ShipOrder task (its SQS message carried the task token)
    callback = next(
        event
        for event in history
        if event["type"] == "TaskSucceeded" and event["taskSucceededEventDetails"]["resourceType"] == "sqs"
    )
    tracking = json.loads(callback["taskSucceededEventDetails"]["output"])["trackingNumber"]
    assert shipped["trackingNumber"] == tracking
    after = stock(shop, "travel-mug")
    assert (after["reserved"], after["sold"]) == (before["reserved"], before["sold"] + 2)

    # And a second redrive finds nothing and changes nothing
    again, second_report = redrive(shop, capsys, "--older-than", "0", "--apply")
    assert again == 0, second_report
    assert order_id not in second_report
    assert order_record(shop, customer, order_id) == shipped
    assert stock(shop, "travel-mug") == after


def test_a_settlement_that_failed_is_settled_by_the_redrive(
    shop: Shop, customer: ShopClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a declined card whose settlement fails with an error the Settle state does not retry
    before = stock(shop, "travel-mug")
    crash = {"fault": "lambda.error", "function": "SettleOrderFunction", "error": "InjectedBug", "limit": 1}
    with faults(shop, crash):
        order_id = customer.place("redrive-settle", MUGS, payment_token="tok_decline")["orderId"]  # noqa: S106
        execution = ended_execution(shop, order_id)
    assert (execution["status"], execution.get("error")) == ("FAILED", "CompensationFailed")
    assert customer.order(order_id)["status"] not in FINAL_STATUSES
    assert stock(shop, "travel-mug")["reserved"] == before["reserved"] + 2

    # When the operator redrives
    applied, report = redrive(shop, capsys, "--older-than", "0", "--apply")

    # Then the order ends as the workflow would have ended it, and its units are back
    assert applied == 0, report
    settled = order_record(shop, customer, order_id)
    assert (settled["status"], settled["failureReason"]) == ("FAILED", "PAYMENT_DECLINED")
    assert stock(shop, "travel-mug") == before


def test_a_stream_batch_lambda_gave_up_on_is_replayed_and_starts_the_workflow(
    shop: Shop, customer: ShopClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the Orders stream consumer failing every call until its mapping's retries (5) are spent
    shop.cloud.drain()
    queue_url = str(shop.endpoints.outputs["StreamFailureQueueUrl"])
    broken = {"fault": "lambda.error", "function": "OrderEventsFunction", "error": "InjectedBug"}
    with faults(shop, broken):
        order_id = customer.place("redrive-stream", MUGS)["orderId"]
        deadline = time.monotonic() + 30
        while not shop.cloud.aws_endpoint.messages.snapshot()[0].get(queue_url):
            assert time.monotonic() < deadline, "no on-failure record reached the StreamFailureQueue"
            time.sleep(0.2)
    sfn = shop.client("stepfunctions")
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.describe_execution(executionArn=execution_arn(shop, order_id))

    # When the operator redrives (the order is too recent for the orders' pass: only the stream batch starts it)
    applied, report = redrive(shop, capsys, "--apply")

    # Then the order's workflow started from the replayed INSERT, and the on-failure message is gone
    assert applied == 0, report
    assert "replayed, message deleted" in report
    assert ended_execution(shop, order_id)["status"] == "SUCCEEDED"
    assert customer.order(order_id)["status"] == "SHIPPED"
    sent, deleted = shop.cloud.aws_endpoint.messages.snapshot()
    assert sent[queue_url]
    assert sent[queue_url] <= deleted.get(queue_url, set())

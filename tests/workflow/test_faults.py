"""The order workflow under the faults AWS produces, on the local cloud, each test named after its fault: every order
still ends final, and the invariants are counted after the run (stock and money conserved, no double charge, no
message lost, records that agree with each order's status).

The undeliverable order (about a minute until its job reaches the dead-letter queue) is placed as the module starts
and checked last. The steps that fail past every retry are finished by the operator's command, tools/redrive.py.
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.workflow.conftest import LARGE, SCARCE, SMALL, UNDELIVERABLE_ADDRESS, Shop, notifications_queue

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

TASK_FUNCTIONS = (
    "ValidateOrderFunction",
    "ReserveStockFunction",
    "RequestApprovalFunction",
    "ChargePaymentFunction",
    "CompleteShipmentFunction",
    "SettleOrderFunction",
)
SHIPPED = ["ShipOrder", "MarkShipped", "Shipped"]


@pytest.fixture(scope="module")
def undeliverable(shop: Shop) -> str:
    """An order to an address the carrier refuses, placed as the module starts: the warehouse fails its job five
    times, SQS moves it to the dead-letter queue, and the DLQ's consumer fails the waiting task."""
    order_id = shop.place(SMALL, address=UNDELIVERABLE_ADDRESS)
    shop.wait_for(order_id, {"PAID"})
    return order_id


def test_an_order_to_an_undeliverable_address_is_paid_and_handed_to_the_warehouse(
    shop: Shop, undeliverable: str
) -> None:
    shop.wait_in_history(undeliverable, "TaskSubmitted", "ShipOrder")

    assert shop.order(undeliverable)["status"] == "PAID"
    assert shop.payment(undeliverable)["paymentState"] == "CAPTURED"  # type: ignore[index]


def test_a_time_out_after_side_effects_on_each_task_function_still_ends_every_order_correctly(shop: Shop) -> None:
    # Given every task function answering once with a time-out after it has done its work (seen after 2 s rather
    # than their 10 s: the retry that follows is the same)
    rules = [
        {
            "fault": "lambda.timeout-after-effects",
            "function": function,
            "seconds": 2,
            "limit": 1,
            "name": f"timed out {function}",
        }
        for function in TASK_FUNCTIONS
    ]
    with shop.faults(*rules):
        # When an order waits for an approver and ships, and another one is declined and settled
        approved = shop.place(LARGE)
        declined = shop.place(SMALL, payment_token="tok_decline")  # noqa: S106  (the provider's test token)
        # The approver decides once the retried request has stored its token (a decision given while the request
        # is timing out is the last test's case).
        shop.wait_in_history(approved, "TaskSubmitted", "RequestApproval", timeout=90)
        decided = shop.approver.decide(approved, "approve")
        assert decided.status_code == 200, decided.text
        runs = {order_id: shop.run(order_id) for order_id in (approved, declined)}

    # Then each function timed out once, was retried, and both orders ended as they would have without it
    assert {function: shop.injected(f"timed out {function}") for function in TASK_FUNCTIONS} == dict.fromkeys(
        TASK_FUNCTIONS, 1
    )
    retried = Counter(error for run in runs.values() for state in set(run.states) for error in run.errors_of(state))
    assert retried == {"Sandbox.Timedout": len(TASK_FUNCTIONS)}
    assert runs[approved].status == "SUCCEEDED"
    assert runs[approved].states[-len(SHIPPED) :] == SHIPPED
    assert shop.order(approved)["status"] == "SHIPPED"
    assert shop.approval_state(approved) == "APPROVED"
    assert runs[declined].states[-3:] == ["Settle", "Settled", "NotShipped"]
    declined_order = shop.order(declined)
    assert (declined_order["status"], declined_order["failureReason"]) == ("FAILED", "PAYMENT_DECLINED")
    verdict = shop.verdict(approved, declined)
    assert verdict.holds, str(verdict)


def test_transaction_conflict_on_reserve_is_retried_not_out_of_stock(shop: Shop) -> None:
    # More conflicts than the reserve step's own six attempts: the workflow's retry policy takes over.
    conflicts = {
        "fault": "dynamodb.transaction-conflict",
        "table": "CatalogTable",
        "item": "descaler",
        "operation": "TransactWriteItems",
        "limit": 8,
        "name": "conflicts on the catalog",
    }
    with shop.faults(conflicts):
        order_id = shop.place([{"productId": "descaler", "quantity": 1}])
        run = shop.run(order_id)

    assert shop.injected("conflicts on the catalog") == 8
    assert run.errors_of("ReserveStock") == ["Throttled"]
    assert (run.status, run.states[-len(SHIPPED) :]) == ("SUCCEEDED", SHIPPED)
    assert shop.order(order_id)["status"] == "SHIPPED"
    verdict = shop.verdict(order_id)
    assert verdict.holds, str(verdict)


def test_transaction_conflicts_on_a_scarce_product_ship_exactly_its_units_and_fail_the_rest_out_of_stock(
    shop: Shop,
) -> None:
    units = shop.stock(SCARCE.product_id)["available"]
    orders = units * 2
    conflicts = {
        "fault": "dynamodb.transaction-conflict",
        "table": "CatalogTable",
        "item": SCARCE.product_id,
        "probability": 0.4,
        "name": "conflicts on the scarce product",
    }
    with shop.faults(conflicts), ThreadPoolExecutor(orders) as customers:
        placed = list(
            customers.map(lambda _: shop.place([{"productId": SCARCE.product_id, "quantity": 1}]), range(orders))
        )
        runs = [shop.run(order_id) for order_id in placed]

    assert shop.injected("conflicts on the scarce product") > 0
    assert {run.status for run in runs} == {"SUCCEEDED"}
    outcomes = Counter((order["status"], order.get("failureReason")) for order in map(shop.order, placed))
    assert outcomes == {("SHIPPED", None): units, ("FAILED", "OUT_OF_STOCK"): orders - units}
    assert shop.stock(SCARCE.product_id) == {"available": 0, "reserved": 0, "sold": units}
    verdict = shop.verdict(*placed)
    assert verdict.holds, str(verdict)


def test_a_burst_of_five_times_the_payment_functions_reserved_concurrency_is_throttled_and_all_ships(
    shop: Shop,
) -> None:
    # PaymentReservedConcurrency=2 (conftest). The provider answering in a second keeps each charge's slot taken
    # long enough for the burst to meet Lambda's throttle for sure.
    slow_provider = {"fault": "lambda.slow", "function": "PaymentProviderFunction", "seconds": 1}
    with shop.faults(slow_provider), ThreadPoolExecutor(10) as customers:
        placed = list(customers.map(lambda _: shop.place(SMALL), range(10)))
        runs = [shop.run(order_id) for order_id in placed]

    throttles = sum(run.errors_of("ChargePayment").count("Lambda.TooManyRequestsException") for run in runs)
    assert throttles > 0
    assert [run.status for run in runs] == ["SUCCEEDED"] * 10
    assert [shop.order(order_id)["status"] for order_id in placed] == ["SHIPPED"] * 10
    verdict = shop.verdict(*placed)
    assert verdict.holds, str(verdict)
    assert verdict.double_charges == 0


def test_a_redelivered_orders_stream_batch_starts_no_second_workflow_and_publishes_nothing_twice(shop: Shop) -> None:
    queue_url = notifications_queue(shop)
    redeliver = {"fault": "delivery.redeliver", "function": "OrderEventsFunction", "name": "stream batch again"}
    with shop.faults(redeliver):
        order_id = shop.place(SMALL)
        run = shop.run(order_id)
        shop.wait_for(order_id, {"SHIPPED"})
        shop.cloud.drain()

    assert shop.injected("stream batch again") >= 1
    assert run.status == "SUCCEEDED"
    machine = str(shop.endpoints.outputs["OrderStateMachineArn"])
    executions = shop.cloud.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    assert [execution["name"] for execution in executions].count(order_id) == 1
    published = [status for changed, status in status_changes(shop, queue_url) if changed == order_id]
    assert published == ["PLACED", "PAID", "SHIPPED"]
    verdict = shop.verdict(order_id)
    assert verdict.holds, str(verdict)


def status_changes(shop: Shop, queue_url: str) -> list[tuple[str, str]]:
    """Every ORDER_STATUS_CHANGED notification the queue received, (order id, status), taking them off the queue."""
    sqs = shop.cloud.client("sqs")
    changes = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    ):
        for message in messages:
            event = json.loads(message["Body"])
            changes.append((event["orderId"], event["status"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return changes


# -- Past every retry: the operator's redrive finishes the order --------------------------------------------------


def redrive(shop: Shop) -> None:
    tools_redrive = pytest.importorskip("tools.redrive")
    result = tools_redrive.main(["--local", shop.endpoints.aws, "--older-than", "0", "--apply"])
    assert result in (0, None)


def test_a_settle_step_failing_past_its_retries_leaves_the_order_open_until_the_redrive_settles_it(shop: Shop) -> None:
    pytest.importorskip("tools.redrive")
    before = shop.stock("travel-mug")
    broken = {"fault": "lambda.error", "function": "SettleOrderFunction", "error": "SettleCrashed", "limit": 1}
    with shop.faults(broken):
        order_id = shop.place(SMALL, payment_token="tok_decline")  # noqa: S106  (the provider's test token)
        run = shop.run(order_id)

    assert (run.status, run.error) == ("FAILED", "CompensationFailed")
    assert run.states[-2:] == ["Settle", "CompensationFailed"]
    assert run.errors_of("Settle") == ["SettleCrashed"]
    assert shop.order(order_id)["status"] == "PLACED"
    assert shop.stock("travel-mug")["reserved"] == before["reserved"] + 2

    redrive(shop)

    settled = shop.wait_for(order_id, {"SHIPPED", "DELIVERED", "CANCELLED", "REJECTED", "FAILED"}, timeout=60)
    assert (settled["status"], settled["failureReason"]) == ("FAILED", "PAYMENT_DECLINED")
    assert shop.stock("travel-mug") == before
    verdict = shop.verdict()
    assert verdict.holds, str(verdict)


def test_a_shipment_that_cannot_be_recorded_leaves_the_order_paid_until_the_redrive_marks_it_shipped(
    shop: Shop,
) -> None:
    pytest.importorskip("tools.redrive")
    broken = {"fault": "lambda.error", "function": "CompleteShipmentFunction", "error": "RecordingCrashed", "limit": 1}
    with shop.faults(broken):
        order_id = shop.place(SMALL)
        run = shop.run(order_id)

    assert (run.status, run.error) == ("FAILED", "ShippedButNotRecorded")
    assert run.states[-3:] == ["ShipOrder", "MarkShipped", "ShippedButNotRecorded"]
    assert shop.order(order_id)["status"] == "PAID"

    redrive(shop)

    shipped = shop.wait_for(order_id, {"SHIPPED"}, timeout=60)
    assert shipped["trackingNumber"].startswith("TRK")
    verdict = shop.verdict()
    assert verdict.holds, str(verdict)


# -- Last: the undeliverable order placed as the module started -----------------------------------------------------


def test_an_undeliverable_address_ends_in_the_dlq_and_the_order_fails_shipping_failed_refunded(
    shop: Shop, undeliverable: str
) -> None:
    run = shop.run(undeliverable, timeout=180)

    assert run.status == "SUCCEEDED"
    assert run.states[-5:] == ["Paid", "ShipOrder", "Settle", "Settled", "NotShipped"]
    assert run.errors_of("ShipOrder") == ["ShippingFailed"]
    order = shop.order(undeliverable)
    assert (order["status"], order["failureReason"]) == ("FAILED", "SHIPPING_FAILED")
    assert shop.payment(undeliverable)["paymentState"] == "REFUNDED"  # type: ignore[index]
    # The job's message was never deleted from the fulfillment queue (the warehouse failed it every time): it was
    # deleted from the dead-letter queue, once its consumer had failed the waiting task.
    (job,) = [event for event in run.events if event["type"] == "TaskSubmitted"]
    message_id = json.loads(job["taskSubmittedEventDetails"]["output"])["MessageId"]
    fulfillment_queue = str(shop.endpoints.outputs["FulfillmentQueueUrl"])
    sent, deleted = shop.cloud.aws_endpoint.messages.snapshot()
    assert message_id in sent.get(fulfillment_queue, set())
    assert message_id not in deleted.get(fulfillment_queue, set())
    assert [queue.rsplit("/", 1)[-1] for queue, ids in deleted.items() if message_id in ids] == ["shop-fulfillment-dlq"]
    verdict = shop.verdict(undeliverable)
    assert verdict.holds, str(verdict)


# -- After everything: while this fails, the orders it leaves behind would fail the counting of any test after it --


def test_a_decision_given_while_its_approval_request_times_out_after_its_effects_still_decides_the_order(
    shop: Shop,
) -> None:
    # Given two approval requests stored (the approver sees them) whose function then times out, so that Step
    # Functions retries each request
    timed_out = {
        "fault": "lambda.timeout-after-effects",
        "function": "RequestApprovalFunction",
        "limit": 2,
        "name": "approval requests timed out",
    }
    with shop.faults(timed_out):
        to_approve, to_reject = shop.place(LARGE), shop.place(LARGE)
        for order_id in (to_approve, to_reject):
            shop.wait_for(order_id, {"AWAITING_APPROVAL"})
        assert {to_approve, to_reject} <= {approval["orderId"] for approval in shop.approver.pending_approvals()}

        # When the approver decides on both before the retries
        approved = shop.approver.decide(to_approve, "approve")
        rejected = shop.approver.decide(to_reject, "reject", "not for resale")
        runs = {order_id: shop.run(order_id) for order_id in (to_approve, to_reject)}

    # Then the orders end as decided, as they do when the requests do not time out
    assert shop.injected("approval requests timed out") == 2
    assert (approved.status_code, rejected.status_code) == (200, 200), approved.text + rejected.text
    failures = {order_id: run.errors_of("RequestApproval") for order_id, run in runs.items()}
    assert (shop.order(to_approve)["status"], shop.approval_state(to_approve)) == ("SHIPPED", "APPROVED"), failures
    assert (shop.order(to_reject)["status"], shop.approval_state(to_reject)) == ("REJECTED", "REJECTED"), failures
    verdict = shop.verdict(to_approve, to_reject)
    assert verdict.holds, str(verdict)

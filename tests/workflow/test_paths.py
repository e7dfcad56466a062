"""Every path of statemachine/order.asl.json, driven on the local cloud as the deployed system is: orders placed over
the API, the Orders stream starting the workflow, Step Functions calling the function workers, the warehouse queue,
approvers and the carrier over HTTP. Each test checks the order's final status, the states its execution entered,
and the invariants of the order story counted over everything the cloud has done.

The orders of the paths that need no fault are placed together as the module starts, and their workflows run side
by side; the two that wait out the approval time-out (a minute) are checked last. Fault rules (a step broken past
its retries, the payment provider down or slow) are switched on only while their own order runs, alone: the orders
still waiting for an approver never call the functions they target.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tests.workflow.conftest import LARGE, SMALL, Shop, states_until
from tools.seed import load_demo_catalog

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

APPROVAL_TIMEOUT_SECONDS = 60
HAPPY_PATH = [
    "Configure",
    "ValidateOrder",
    "Valid",
    "ReserveStock",
    "Reserved",
    "NeedsApproval",
    "ChargePayment",
    "Paid",
    "ShipOrder",
    "MarkShipped",
    "Shipped",
]
UP_TO_APPROVAL = ["Configure", "ValidateOrder", "Valid", "ReserveStock", "Reserved", "NeedsApproval", "RequestApproval"]
SETTLED = ["Settle", "Settled", "NotShipped"]
# The payment provider did not answer: the workflow waits the time ChargePayment chose and charges again.
WAITED_FOR_PROVIDER = ["WaitForProvider", "ChargePayment", "Paid"]


# -- The orders placed as the module starts -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def unanswered(shop: Shop) -> str:
    """A large order nobody decides on: its approval expires while the other tests run, and the last tests check it."""
    order_id = shop.place(LARGE)
    shop.wait_for(order_id, {"AWAITING_APPROVAL"})
    return order_id


class RacingCancel:
    """A large order that its customer cancels just as its approval times out."""

    def __init__(self, shop: Shop) -> None:
        self.order_id = shop.place([{"productId": "burr-grinder", "quantity": 3}])
        shop.wait_in_history(self.order_id, "TaskSubmitted", "RequestApproval")
        started = [event for event in shop.history(self.order_id) if event["type"] == "TaskStarted"][-1]
        # Step Functions counts the time-out from the task's start. The cancel is sent a tenth of a second before:
        # its status write lands first, while its task failure and the time-out race for the waiting task (either
        # may win; the workflow then settles an order that is already cancelled).
        self.expires_at = started["timestamp"].timestamp() + APPROVAL_TIMEOUT_SECONDS
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="racing-cancel")
        self.response: Future[requests.Response] = self._pool.submit(self._cancel_at_expiry, shop)

    def _cancel_at_expiry(self, shop: Shop) -> requests.Response:
        customer = shop.customer.with_token(shop.customer.token)  # a session of its own, in this thread
        time.sleep(max(0.0, self.expires_at - 0.1 - datetime.now(UTC).timestamp()))
        try:
            return customer.cancel(self.order_id)
        finally:
            customer.session.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@pytest.fixture(scope="module")
def racing_cancel(shop: Shop) -> Iterator[RacingCancel]:
    race = RacingCancel(shop)
    yield race
    race.close()


# The paths that need no fault: one product each, so that each order's stock can be checked while the others run.
PATHS: dict[str, tuple[list[dict[str, Any]], str | None]] = {
    "auto-approved": ([{"productId": "scale", "quantity": 1}], None),
    "approved": ([{"productId": "gooseneck-kettle", "quantity": 7}], None),  # 518.00 USD: waits for an approver
    "rejected": ([{"productId": "ceramic-dripper", "quantity": 18}], None),  # 522.00 USD
    "cancelled": ([{"productId": "espresso-beans-1kg", "quantity": 21}], None),  # 504.00 USD
    "declined": ([{"productId": "milk-pitcher", "quantity": 2}], "tok_decline"),
    "flaky": ([{"productId": "descaler", "quantity": 1}], "tok_flaky"),
    "out of stock": ([{"productId": "limited-edition-cup", "quantity": 11}], None),  # 10 in stock
}
SEEDED = {product.product_id: product.available for product in load_demo_catalog()}


@pytest.fixture(scope="module")
def placed(shop: Shop, unanswered: str, racing_cancel: RacingCancel) -> dict[str, str]:
    """The order of each path without faults (by path), all placed at once as the module starts: their workflows
    run side by side."""
    with ThreadPoolExecutor(len(PATHS)) as customers:
        order_ids = customers.map(lambda path: shop.place(path[0], payment_token=path[1]), PATHS.values())
        return dict(zip(PATHS, order_ids, strict=True))


def untouched(product_id: str) -> dict[str, int]:
    return {"available": SEEDED[product_id], "reserved": 0, "sold": 0}


def test_large_orders_wait_for_an_approver_with_their_stock_reserved(
    shop: Shop, unanswered: str, racing_cancel: RacingCancel, placed: dict[str, str]
) -> None:
    waiting = [unanswered, racing_cancel.order_id, placed["approved"], placed["rejected"], placed["cancelled"]]
    for order_id in waiting:
        shop.wait_for(order_id, {"AWAITING_APPROVAL"})

    pending = [approval["orderId"] for approval in shop.approver.pending_approvals()]

    assert set(waiting) <= set(pending)
    assert [shop.approval_state(order_id) for order_id in waiting] == ["PENDING"] * len(waiting)
    assert shop.stock("espresso-machine")["reserved"] == 1
    assert shop.stock("gooseneck-kettle")["reserved"] == 7


# -- The paths that need no fault ---------------------------------------------------------------------------------


def test_a_small_order_is_approved_automatically_shipped_and_delivered_by_the_carrier(
    shop: Shop, placed: dict[str, str]
) -> None:
    order_id = placed["auto-approved"]

    run = shop.run(order_id)

    assert (run.status, run.states) == ("SUCCEEDED", HAPPY_PATH)
    shipped = shop.order(order_id)
    assert shipped["status"] == "SHIPPED"
    assert shipped["trackingNumber"].startswith("TRK")
    assert shop.stock("scale") == {"available": SEEDED["scale"] - 1, "reserved": 0, "sold": 1}
    assert shop.payment(order_id)["paymentState"] == "CAPTURED"  # type: ignore[index]

    delivered = shop.deliver(order_id, shipped["trackingNumber"], shipped["updatedAt"])

    assert delivered.status_code == 200, delivered.text
    assert [change["status"] for change in shop.order(order_id)["history"]] == [
        "PLACED",
        "PAID",
        "SHIPPED",
        "DELIVERED",
    ]
    verdict = shop.verdict(order_id)
    assert verdict.holds, str(verdict)


def test_a_large_order_ships_once_an_approver_approves_it(shop: Shop, placed: dict[str, str]) -> None:
    order_id = placed["approved"]
    shop.wait_for(order_id, {"AWAITING_APPROVAL"})

    decided = shop.approver.decide(order_id, "approve")

    assert decided.status_code == 200, decided.text
    run = shop.run(order_id)
    assert run.status == "SUCCEEDED"
    assert run.states == [*UP_TO_APPROVAL, "ChargePayment", "Paid", "ShipOrder", "MarkShipped", "Shipped"]
    assert shop.order(order_id)["status"] == "SHIPPED"
    assert shop.approval_state(order_id) == "APPROVED"
    assert shop.stock("gooseneck-kettle") == {"available": SEEDED["gooseneck-kettle"] - 7, "reserved": 0, "sold": 7}
    verdict = shop.verdict(order_id)
    assert verdict.holds, str(verdict)


def test_a_large_order_an_approver_rejects_ends_rejected_with_its_stock_back(
    shop: Shop, placed: dict[str, str]
) -> None:
    order_id = placed["rejected"]
    shop.wait_for(order_id, {"AWAITING_APPROVAL"})

    decided = shop.approver.decide(order_id, "reject", "not for resale")

    assert decided.status_code == 200, decided.text
    run = shop.run(order_id)
    assert (run.status, run.states) == ("SUCCEEDED", [*UP_TO_APPROVAL, *SETTLED])
    assert run.errors_of("RequestApproval") == ["OrderRejected"]
    assert shop.order(order_id)["status"] == "REJECTED"
    assert shop.approval_state(order_id) == "REJECTED"
    assert shop.payment(order_id) is None
    assert shop.stock("ceramic-dripper") == untouched("ceramic-dripper")
    verdict = shop.verdict(order_id)
    assert verdict.holds, str(verdict)


def test_an_order_cancelled_while_awaiting_approval_ends_cancelled_with_its_approval_withdrawn(
    shop: Shop, placed: dict[str, str]
) -> None:
    order_id = placed["cancelled"]
    shop.wait_for(order_id, {"AWAITING_APPROVAL"})

    cancelled = shop.customer.cancel(order_id)

    assert cancelled.status_code == 200, cancelled.text
    run = shop.run(order_id)
    assert (run.status, run.states) == ("SUCCEEDED", [*UP_TO_APPROVAL, *SETTLED])
    assert run.errors_of("RequestApproval") == ["OrderCancelled"]
    assert shop.order(order_id)["status"] == "CANCELLED"
    assert shop.approval_state(order_id) == "WITHDRAWN"
    assert shop.stock("espresso-beans-1kg") == untouched("espresso-beans-1kg")
    assert order_id not in [approval["orderId"] for approval in shop.approver.pending_approvals()]
    verdict = shop.verdict(order_id)
    assert verdict.holds, str(verdict)


def test_a_declined_card_fails_the_order_payment_declined_and_releases_its_stock(
    shop: Shop, placed: dict[str, str]
) -> None:
    order_id = placed["declined"]

    run = shop.run(order_id)

    assert (run.status, run.states) == ("SUCCEEDED", [*HAPPY_PATH[:8], *SETTLED])
    order = shop.order(order_id)
    assert (order["status"], order["failureReason"]) == ("FAILED", "PAYMENT_DECLINED")
    assert shop.payment(order_id)["paymentState"] == "DECLINED"  # type: ignore[index]
    assert shop.stock("milk-pitcher") == untouched("milk-pitcher")
    verdict = shop.verdict(order_id)
    assert verdict.holds, str(verdict)


def test_a_flaky_card_is_charged_again_after_a_wait_until_the_order_ships(shop: Shop, placed: dict[str, str]) -> None:
    order_id = placed["flaky"]

    run = shop.run(order_id)

    assert (run.status, run.states) == ("SUCCEEDED", [*HAPPY_PATH[:8], *WAITED_FOR_PROVIDER * 2, *HAPPY_PATH[8:]])
    # The provider's silences are results, never errors of the function (its error alarm stays for faults).
    # (The payment function's reserved concurrency may throttle it while the other orders are charged.)
    assert "PaymentProviderUnavailable" not in run.errors_of("ChargePayment")
    assert shop.order(order_id)["status"] == "SHIPPED"
    entry = shop.provider_entry(order_id)
    assert entry is not None
    assert (entry["status"], entry["attempts"]) == ("succeeded", 3)
    verdict = shop.verdict(order_id)
    assert verdict.holds, str(verdict)


def test_an_order_for_more_than_is_in_stock_fails_out_of_stock_and_reserves_nothing(
    shop: Shop, placed: dict[str, str]
) -> None:
    order_id = placed["out of stock"]

    run = shop.run(order_id)

    assert (run.status, run.states) == ("SUCCEEDED", [*HAPPY_PATH[:5], *SETTLED])
    order = shop.order(order_id)
    assert (order["status"], order["failureReason"]) == ("FAILED", "OUT_OF_STOCK")
    assert shop.stock("limited-edition-cup") == untouched("limited-edition-cup")
    assert shop.payment(order_id) is None
    verdict = shop.verdict(order_id)
    assert verdict.holds, str(verdict)


# -- Technical failures past every retry --------------------------------------------------------------------------


def test_a_step_failing_past_its_retries_after_the_charge_refunds_releases_and_fails_the_workflow(shop: Shop) -> None:
    before = shop.stock("travel-mug")
    # The charge goes through and its answer is lost (a time-out after its effects, retried); the retry then fails
    # with an error no retry policy names.
    rules = (
        {"fault": "lambda.timeout-after-effects", "function": "ChargePaymentFunction", "limit": 1, "name": "lost"},
        {"fault": "lambda.error", "function": "ChargePaymentFunction", "error": "ChargeCrashed", "nth": 2},
    )
    with shop.faults(*rules):
        order_id = shop.place(SMALL)
        run = shop.run(order_id)

    assert (run.status, run.error) == ("FAILED", "OrderWorkflowFailed")
    assert run.states == [*states_until(run, "ChargePayment"), "Settle", "Settled", "WorkflowFailed"]
    assert run.errors_of("ChargePayment") == ["Sandbox.Timedout", "ChargeCrashed"]
    order = shop.order(order_id)
    assert (order["status"], order["failureReason"]) == ("FAILED", "TECHNICAL_FAILURE")
    entry = shop.provider_entry(order_id)
    assert entry is not None
    assert (entry["status"], entry["refundedCents"]) == ("succeeded", order["totalCents"])
    assert shop.payment(order_id)["paymentState"] == "REFUNDED"  # type: ignore[index]
    assert shop.stock("travel-mug") == before
    verdict = shop.verdict(order_id)
    assert verdict.holds, str(verdict)


def test_a_provider_outage_past_the_charge_retries_fails_the_order_with_its_key_voided_and_nothing_charged(
    shop: Shop,
) -> None:
    before = shop.stock("travel-mug")
    # Down for the first attempt and the six retries of the charge; up again when the order is settled.
    outage = {
        "fault": "lambda.error",
        "function": "PaymentProviderFunction",
        "error": "ProviderUnavailable",
        "message": "the provider is down",
        "limit": 7,
        "name": "provider down",
    }
    with shop.faults(outage):
        order_id = shop.place(SMALL)
        run = shop.run(order_id)

    assert shop.injected("provider down") == 7
    assert (run.status, run.error) == ("FAILED", "OrderWorkflowFailed")
    assert run.states == [*HAPPY_PATH[:8], *WAITED_FOR_PROVIDER * 6, "Settle", "Settled", "WorkflowFailed"]
    assert run.errors_of("ChargePayment") == []  # seven silences, each a result: no error alarm for an outage
    order = shop.order(order_id)
    assert (order["status"], order["failureReason"]) == ("FAILED", "TECHNICAL_FAILURE")
    entry = shop.provider_entry(order_id)
    assert entry is not None
    assert entry["status"] == "voided"
    assert shop.payment(order_id)["paymentState"] == "VOIDED"  # type: ignore[index]
    assert shop.stock("travel-mug") == before
    verdict = shop.verdict(order_id)
    assert verdict.holds, str(verdict)


def test_a_provider_answering_after_the_charge_function_timed_out_ships_the_order_with_exactly_one_charge(
    shop: Shop,
) -> None:
    # The provider charges at once and answers 12 s later, past the payment function's 10 s.
    slow = {"fault": "lambda.slow", "function": "PaymentProviderFunction", "seconds": 12, "limit": 1, "name": "slow"}
    with shop.faults(slow):
        order_id = shop.place(SMALL)
        run = shop.run(order_id)

    assert shop.injected("slow") == 1
    assert (run.status, run.states) == ("SUCCEEDED", HAPPY_PATH)
    assert run.errors_of("ChargePayment") == ["Sandbox.Timedout"]
    assert shop.order(order_id)["status"] == "SHIPPED"
    entry = shop.provider_entry(order_id)
    assert entry is not None
    assert (entry["status"], entry["attempts"], entry.get("refundedCents", 0)) == ("succeeded", 2, 0)
    verdict = shop.verdict(order_id)
    assert verdict.holds, str(verdict)
    assert verdict.double_charges == 0


# -- The approval time-out, last: placed as the module started ----------------------------------------------------


def test_an_approval_nobody_answers_expires_and_the_order_is_rejected(shop: Shop, unanswered: str) -> None:
    run = shop.run(unanswered, timeout=APPROVAL_TIMEOUT_SECONDS + 30)

    assert (run.status, run.states) == ("SUCCEEDED", [*UP_TO_APPROVAL, *SETTLED])
    assert run.errors_of("RequestApproval") == ["States.Timeout"]
    assert shop.order(unanswered)["status"] == "REJECTED"
    assert shop.approval_state(unanswered) == "EXPIRED"
    late = shop.approver.decide(unanswered, "approve")
    assert late.status_code == 409, late.text
    verdict = shop.verdict(unanswered)
    assert verdict.holds, str(verdict)


def test_a_cancel_racing_the_approval_time_out_ends_cancelled_not_in_compensation_failed(
    shop: Shop, racing_cancel: RacingCancel
) -> None:
    cancelled = racing_cancel.response.result(timeout=APPROVAL_TIMEOUT_SECONDS + 30)

    assert cancelled.status_code == 200, cancelled.text
    run = shop.run(racing_cancel.order_id)
    assert (run.status, run.states) == ("SUCCEEDED", [*UP_TO_APPROVAL, *SETTLED]), run.error
    # Either the cancel's task failure or the time-out ended the wait: both must settle the order as cancelled.
    assert run.errors_of("RequestApproval") in (["OrderCancelled"], ["States.Timeout"])
    assert shop.order(racing_cancel.order_id)["status"] == "CANCELLED"
    assert shop.approval_state(racing_cancel.order_id) == "WITHDRAWN"
    verdict = shop.verdict(racing_cancel.order_id)
    assert verdict.holds, str(verdict)

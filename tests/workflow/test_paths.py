"""Every path of the order workflow, executed by moto from statemachine/order.asl.json with the real handlers.

Each test drives the story as the deployed system does (API calls in; the Orders stream, the fulfillment queue
and its DLQ pumped into their consumers) and ends with the invariants: stock adds up and is never negative,
captured money equals what shipped, and no order is left open once its workflow has ended.
"""

from __future__ import annotations

from tests.support.workflow import ADDRESS, Shop, WorkflowFigures

SMALL = {"travel-mug": 2}  # 50.00 USD: below the approval threshold
LARGE = {"espresso-machine": 1}  # 1,490.00 USD: at or above it


def statuses_published(shop: Shop, order_id: str) -> list[str]:
    return [
        event["status"]
        for event in shop.notifications()
        if event["eventType"] == "ORDER_STATUS_CHANGED" and event["orderId"] == order_id
    ]


def test_a_small_order_is_approved_automatically_shipped_and_delivered(shop: Shop, figures: WorkflowFigures) -> None:
    order_id = shop.place(SMALL)

    run = shop.finish(order_id)[order_id]

    assert run.status == "SUCCEEDED"
    assert "RequestApproval" not in run.states_entered
    assert run.states_entered[-1] == "Shipped"
    order = shop.order(order_id)
    assert order["status"] == "SHIPPED"
    assert order["trackingNumber"].startswith("TRK")
    assert shop.stock("travel-mug") == {"available": 78, "reserved": 0, "sold": 2}
    assert shop.payment_state(order_id) == "CAPTURED"

    delivered = shop.report_delivery(order_id, order["trackingNumber"])

    assert delivered.status == 200, delivered.body
    assert delivered.json()["status"] == "DELIVERED"
    shop.pump()
    assert statuses_published(shop, order_id) == ["PLACED", "PAID", "SHIPPED", "DELIVERED"]
    figures.record("auto-approved small order -> SHIPPED (-> DELIVERED by the carrier)", run)
    shop.assert_invariants()


def test_a_large_order_waits_for_an_approver_and_ships_once_approved(shop: Shop, figures: WorkflowFigures) -> None:
    order_id = shop.place(LARGE)
    shop.wait_for_status(order_id, "AWAITING_APPROVAL")
    assert [pending["orderId"] for pending in shop.pending_approvals()] == [order_id]
    assert shop.stock("espresso-machine") == {"available": 4, "reserved": 1, "sold": 0}
    shop.pump()
    assert any(e["eventType"] == "APPROVAL_REQUESTED" and e["orderId"] == order_id for e in shop.notifications())

    decided = shop.decide(order_id, "approve")

    assert decided.status == 200, decided.body
    run = shop.finish(order_id)[order_id]
    assert run.status == "SUCCEEDED"
    assert run.states_entered[-1] == "Shipped"
    assert shop.order(order_id)["status"] == "SHIPPED"
    assert shop.approval_state(order_id) == "APPROVED"
    assert shop.stock("espresso-machine") == {"available": 4, "reserved": 0, "sold": 1}
    assert shop.pending_approvals() == []
    assert statuses_published(shop, order_id) == ["PLACED", "AWAITING_APPROVAL", "PAID", "SHIPPED"]
    figures.record("large order -> AWAITING_APPROVAL -> approved -> SHIPPED", run)
    shop.assert_invariants()


def test_a_rejected_order_gives_its_stock_back(shop: Shop, figures: WorkflowFigures) -> None:
    order_id = shop.place(LARGE)
    shop.wait_for_status(order_id, "AWAITING_APPROVAL")

    decided = shop.decide(order_id, "reject", comment="not for resale")

    assert decided.status == 200, decided.body
    run = shop.finish(order_id)[order_id]
    assert run.status == "SUCCEEDED"
    assert run.states_entered[-3:] == ["ReleaseAfterRejection", "MarkRejected", "Rejected"]
    assert shop.order(order_id)["status"] == "REJECTED"
    assert shop.approval_state(order_id) == "REJECTED"
    assert shop.stock("espresso-machine") == {"available": 5, "reserved": 0, "sold": 0}
    assert shop.payment(order_id) is None
    figures.record("large order -> rejected -> REJECTED", run)
    shop.assert_invariants()


def test_an_approval_nobody_answers_in_time_rejects_the_order(impatient_shop: Shop, figures: WorkflowFigures) -> None:
    shop = impatient_shop
    order_id = shop.place(LARGE)
    shop.wait_for_status(order_id, "AWAITING_APPROVAL")

    run = shop.finish(order_id, timeout=20)[order_id]

    assert run.status == "SUCCEEDED"
    assert run.states_entered[-3:] == ["ReleaseAfterExpiry", "MarkApprovalExpired", "Rejected"]
    assert shop.order(order_id)["status"] == "REJECTED"
    assert shop.approval_state(order_id) == "EXPIRED"
    assert shop.stock("espresso-machine") == {"available": 5, "reserved": 0, "sold": 0}
    late = shop.decide(order_id, "approve")
    assert late.status == 409, late.body
    figures.record("large order -> approval timeout -> REJECTED", run)
    shop.assert_invariants()


def test_a_flaky_payment_provider_is_retried_until_the_order_ships(shop: Shop, figures: WorkflowFigures) -> None:
    order_id = shop.place(SMALL, payment_token="tok_flaky")  # noqa: S106  (the simulated provider's test token)

    run = shop.finish(order_id)[order_id]

    assert run.status == "SUCCEEDED"
    assert shop.order(order_id)["status"] == "SHIPPED"
    payment = shop.payment(order_id)
    assert payment is not None
    assert payment["paymentState"] == "CAPTURED"
    assert payment["attempts"] == 3
    failures = [e for e in run.history if e["type"] == "TaskFailed"]
    assert [e["taskFailedEventDetails"]["error"] for e in failures] == ["PaymentProviderUnavailable"] * 2
    figures.record("tok_flaky -> 2 retries -> SHIPPED", run)
    shop.assert_invariants()


def test_a_declined_card_fails_the_order_and_releases_its_stock(shop: Shop, figures: WorkflowFigures) -> None:
    order_id = shop.place(SMALL, payment_token="tok_decline")  # noqa: S106  (the simulated provider's test token)

    run = shop.finish(order_id)[order_id]

    assert run.status == "SUCCEEDED"
    assert run.states_entered[-3:] == ["ReleaseAfterDecline", "MarkPaymentDeclined", "PaymentDeclined"]
    order = shop.order(order_id)
    assert (order["status"], order["failureReason"]) == ("FAILED", "PAYMENT_DECLINED")
    assert shop.payment_state(order_id) == "DECLINED"
    assert shop.stock("travel-mug") == {"available": 80, "reserved": 0, "sold": 0}
    figures.record("tok_decline -> FAILED PAYMENT_DECLINED", run)
    shop.assert_invariants()


def test_an_order_for_more_than_is_in_stock_fails_without_touching_the_stock(
    shop: Shop, figures: WorkflowFigures
) -> None:
    order_id = shop.place({"limited-edition-cup": 11})  # 10 in stock

    run = shop.finish(order_id)[order_id]

    assert run.status == "SUCCEEDED"
    assert run.states_entered[-3:] == ["ReserveStock", "MarkOutOfStock", "OutOfStock"]
    order = shop.order(order_id)
    assert (order["status"], order["failureReason"]) == ("FAILED", "OUT_OF_STOCK")
    assert shop.stock("limited-edition-cup") == {"available": 10, "reserved": 0, "sold": 0}
    assert shop.payment(order_id) is None
    figures.record("more than in stock -> FAILED OUT_OF_STOCK", run)
    shop.assert_invariants()


def test_a_shipment_the_warehouse_cannot_make_ends_in_the_dlq_and_is_refunded(
    shop: Shop, figures: WorkflowFigures
) -> None:
    order_id = shop.place(SMALL, address=ADDRESS | {"line1": "UNDELIVERABLE"})

    run = shop.finish(order_id, timeout=30)[order_id]

    assert run.status == "SUCCEEDED"
    assert run.states_entered[-4:] == [
        "RefundAfterShippingFailure",
        "ReleaseAfterShippingFailure",
        "MarkShippingFailed",
        "ShippingFailed",
    ]
    # The warehouse failed the job maxReceiveCount (5) times; SQS then moved it to the DLQ, whose handler failed
    # the waiting task.
    assert shop.warehouse.received == shop.stack.max_receive_count == 5
    assert all(len(failed) == len(orders) for orders, failed, _ in shop.warehouse.invocations)
    assert shop.fulfillment_dlq.received == 1
    assert shop.fulfillment_dlq.invocations[0][1] == []
    order = shop.order(order_id)
    assert (order["status"], order["failureReason"]) == ("FAILED", "SHIPPING_FAILED")
    assert shop.payment_state(order_id) == "REFUNDED"
    assert shop.stock("travel-mug") == {"available": 80, "reserved": 0, "sold": 0}
    figures.record("UNDELIVERABLE -> DLQ -> FAILED SHIPPING_FAILED, refunded", run)
    shop.assert_invariants()


def test_a_customer_who_cancels_while_awaiting_approval_ends_the_workflow(shop: Shop, figures: WorkflowFigures) -> None:
    order_id = shop.place(LARGE)
    shop.wait_for_status(order_id, "AWAITING_APPROVAL")

    cancelled = shop.cancel(order_id)

    assert cancelled.status == 200, cancelled.body
    assert cancelled.json()["status"] == "CANCELLED"
    try:
        run = shop.finish(order_id, timeout=10)[order_id]
    except AssertionError as exc:
        raise AssertionError(
            "the execution still waits for an approver after the customer cancelled: cancelling must fail the "
            "waiting task (OrderCancelled) so the workflow releases the stock and ends"
        ) from exc
    assert run.status == "SUCCEEDED"
    assert run.states_entered[-2:] == ["ReleaseAfterCancel", "Cancelled"]
    assert shop.order(order_id)["status"] == "CANCELLED"
    assert shop.stock("espresso-machine") == {"available": 5, "reserved": 0, "sold": 0}
    assert shop.pending_approvals() == []
    figures.record("large order -> customer cancels while awaiting approval -> CANCELLED", run)
    shop.assert_invariants()

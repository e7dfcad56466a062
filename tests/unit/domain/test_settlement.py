"""How an order that will not ship ends (shop.domain.settlement): the outcome of what the last step left, the final
status it gets whatever status the order is in, the approval that agrees with it, and what "agree" means."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shop.domain.approval import ApprovalState
from shop.domain.models import FailureReason, OrderStatus
from shop.domain.payments import PaymentState
from shop.domain.settlement import (
    SHIPPED_STATUSES,
    Outcome,
    StockState,
    agreeing_approval,
    disagreements,
    final_status,
    outcome_of,
)
from shop.domain.status import TERMINAL, can_transition

S = OrderStatus


@pytest.mark.parametrize(
    ("last_step", "status", "outcome"),
    [
        ({"outcome": "OUT_OF_STOCK"}, S.PLACED, Outcome.OUT_OF_STOCK),
        ({"outcome": "DECLINED"}, S.AWAITING_APPROVAL, Outcome.PAYMENT_DECLINED),
        ({"outcome": "ORDER_GONE"}, S.CANCELLED, Outcome.CANCELLED),
        ({"Error": "OrderRejected", "Cause": "no"}, S.AWAITING_APPROVAL, Outcome.REJECTED),
        ({"Error": "OrderCancelled", "Cause": ""}, S.CANCELLED, Outcome.CANCELLED),
        ({"Error": "States.Timeout", "Cause": ""}, S.AWAITING_APPROVAL, Outcome.APPROVAL_EXPIRED),
        ({"Error": "States.Timeout", "Cause": ""}, S.PAID, Outcome.SHIPPING_FAILED),
        ({"Error": "States.HeartbeatTimeout", "Cause": ""}, S.PAID, Outcome.SHIPPING_FAILED),
        ({"Error": "ShippingFailed", "Cause": ""}, S.PAID, Outcome.SHIPPING_FAILED),
        ({"Error": "Lambda.Unknown", "Cause": ""}, S.PLACED, Outcome.TECHNICAL_FAILURE),
        ({"Error": "PaymentProviderUnavailable", "Cause": ""}, S.PLACED, Outcome.TECHNICAL_FAILURE),
        ({"outcome": "RESERVED"}, S.PLACED, Outcome.TECHNICAL_FAILURE),  # not a reason to stop: something is wrong
        (None, S.PLACED, Outcome.TECHNICAL_FAILURE),
    ],
)
def test_what_the_last_step_left_decides_the_outcome(
    last_step: dict[str, Any] | None, status: OrderStatus, outcome: Outcome
) -> None:
    assert outcome_of(last_step, status) is outcome


@given(st.sampled_from(list(Outcome)), st.sampled_from(list(OrderStatus)))
def test_every_open_order_gets_a_final_status_it_can_reach_and_an_ended_one_keeps_its_own(
    outcome: Outcome, current: OrderStatus
) -> None:
    target = final_status(outcome, current)

    if current in TERMINAL or current in SHIPPED_STATUSES:
        assert target is None
    else:
        assert target is not None
        assert target[0] in TERMINAL
        assert can_transition(current, target[0], target[1])


def test_an_outcome_the_status_cannot_reach_closes_the_order_as_a_technical_failure() -> None:
    # Shipping cannot fail before payment: the order moved in a way nothing expected, and is closed all the same.
    assert final_status(Outcome.SHIPPING_FAILED, S.PLACED) == (S.FAILED, FailureReason.TECHNICAL_FAILURE)
    assert final_status(Outcome.OUT_OF_STOCK, S.PLACED) == (S.FAILED, FailureReason.OUT_OF_STOCK)


@pytest.mark.parametrize(
    ("final", "outcome", "current", "agreeing"),
    [
        (S.REJECTED, Outcome.APPROVAL_EXPIRED, ApprovalState.APPROVED, ApprovalState.EXPIRED),  # a late decision
        (S.REJECTED, Outcome.APPROVAL_EXPIRED, ApprovalState.PENDING, ApprovalState.EXPIRED),
        (S.REJECTED, Outcome.REJECTED, ApprovalState.REJECTED, None),
        (S.CANCELLED, Outcome.APPROVAL_EXPIRED, ApprovalState.PENDING, ApprovalState.WITHDRAWN),  # cancel won
        (S.CANCELLED, Outcome.CANCELLED, ApprovalState.APPROVED, ApprovalState.WITHDRAWN),
        (S.FAILED, Outcome.TECHNICAL_FAILURE, ApprovalState.PENDING, ApprovalState.WITHDRAWN),
        (S.FAILED, Outcome.PAYMENT_DECLINED, ApprovalState.APPROVED, None),  # approved, then the card said no
        (S.SHIPPED, Outcome.TECHNICAL_FAILURE, ApprovalState.APPROVED, None),
    ],
)
def test_the_approval_is_brought_in_line_with_how_the_order_ended(
    final: OrderStatus, outcome: Outcome, current: ApprovalState, agreeing: ApprovalState | None
) -> None:
    assert agreeing_approval(final, outcome, current) is agreeing


@given(
    st.sampled_from([S.REJECTED, S.CANCELLED, S.FAILED]),
    st.sampled_from(list(Outcome)),
    st.sampled_from(list(ApprovalState)),
)
def test_after_alignment_no_ended_order_disagrees_with_its_approval(
    final: OrderStatus, outcome: Outcome, current: ApprovalState
) -> None:
    if final is S.REJECTED and current in (ApprovalState.WITHDRAWN,):
        return  # a rejected order's approval was never withdrawn: not a state the workflow reaches
    aligned = agreeing_approval(final, outcome, current) or current
    if final is S.FAILED and current in (ApprovalState.REJECTED, ApprovalState.EXPIRED):
        return  # a rejection ends as REJECTED, never FAILED
    if final is S.CANCELLED and current in (ApprovalState.REJECTED, ApprovalState.EXPIRED):
        return  # a rejected order cannot be cancelled
    assert disagreements(final, aligned, None, None) == []


def test_a_shipped_order_must_be_charged_and_its_units_sold() -> None:
    assert disagreements(S.SHIPPED, ApprovalState.APPROVED, PaymentState.CAPTURED, StockState.COMMITTED) == []
    assert disagreements(S.DELIVERED, None, PaymentState.REFUNDED, StockState.COMMITTED) == [
        "payment REFUNDED for a DELIVERED order"
    ]
    assert disagreements(S.SHIPPED, None, PaymentState.CAPTURED, StockState.RESERVED) == [
        "stock RESERVED for a SHIPPED order"
    ]


def test_an_order_that_did_not_ship_holds_neither_money_nor_stock() -> None:
    assert disagreements(S.FAILED, None, PaymentState.VOIDED, StockState.RELEASED) == []
    assert disagreements(S.CANCELLED, ApprovalState.PENDING, PaymentState.PENDING, StockState.RESERVED) == [
        "approval PENDING for a CANCELLED order",
        "payment PENDING for an order that did not ship",
        "stock RESERVED for an order that did not ship",
    ]


def test_an_order_still_open_is_not_judged() -> None:
    assert disagreements(S.AWAITING_APPROVAL, ApprovalState.PENDING, None, StockState.RESERVED) == []

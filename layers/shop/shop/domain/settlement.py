"""How an order that will not ship ends, and what "the records agree" means.

The workflow hands every order that leaves the happy path to one compensating step with what the last step left
behind: an error it caught (`{"Error": ..., "Cause": ...}`) or a business outcome a task returned
(`{"outcome": "OUT_OF_STOCK"}`). This module turns that into the order's outcome, its final status, and the
approval state that agrees with it. It also states, for the invariant checks, which approval, payment and stock
states are consistent with each order status.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from shop.domain.approval import ApprovalState
from shop.domain.models import FailureReason, OrderStatus
from shop.domain.payments import PaymentState
from shop.domain.status import TERMINAL, can_transition


class StockState(StrEnum):
    """Where an order's units are: held for it, given back, or sold."""

    RESERVED = "RESERVED"
    RELEASED = "RELEASED"
    COMMITTED = "COMMITTED"


class StepOutcome(StrEnum):
    """What a workflow task returns when it ran as it should: go on, or a business reason to stop."""

    VALID = "VALID"
    RESERVED = "RESERVED"
    CAPTURED = "CAPTURED"
    OUT_OF_STOCK = "OUT_OF_STOCK"  # short of units, or a product no longer sold
    DECLINED = "DECLINED"  # the card was refused
    ORDER_GONE = "ORDER_GONE"  # the order left the status the step expected (the customer cancelled it)
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"  # the payment provider did not answer: ask again, or give up


# Errors the workflow catches by name: SendTaskFailure errors of people's decisions and the warehouse's give-up,
# the time-out of a waiting task, and the one error a task raises when the order moved on under it.
ORDER_REJECTED = "OrderRejected"
ORDER_CANCELLED = "OrderCancelled"
SHIPPING_FAILED = "ShippingFailed"
ORDER_NO_LONGER_PENDING = "OrderNoLongerPending"
# A waiting task that ran out of time, or whose worker stopped sending heartbeats.
TIMEOUTS = frozenset({"States.Timeout", "States.HeartbeatTimeout"})


class Outcome(StrEnum):
    """Why an order did not ship."""

    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    REJECTED = "REJECTED"
    APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
    CANCELLED = "CANCELLED"
    SHIPPING_FAILED = "SHIPPING_FAILED"
    TECHNICAL_FAILURE = "TECHNICAL_FAILURE"


_WANTED: Mapping[Outcome, tuple[OrderStatus, FailureReason | None]] = {
    Outcome.OUT_OF_STOCK: (OrderStatus.FAILED, FailureReason.OUT_OF_STOCK),
    Outcome.PAYMENT_DECLINED: (OrderStatus.FAILED, FailureReason.PAYMENT_DECLINED),
    Outcome.REJECTED: (OrderStatus.REJECTED, None),
    Outcome.APPROVAL_EXPIRED: (OrderStatus.REJECTED, None),
    Outcome.CANCELLED: (OrderStatus.CANCELLED, None),
    Outcome.SHIPPING_FAILED: (OrderStatus.FAILED, FailureReason.SHIPPING_FAILED),
    Outcome.TECHNICAL_FAILURE: (OrderStatus.FAILED, FailureReason.TECHNICAL_FAILURE),
}
_BY_STEP_OUTCOME: Mapping[str, Outcome] = {
    StepOutcome.OUT_OF_STOCK: Outcome.OUT_OF_STOCK,
    StepOutcome.DECLINED: Outcome.PAYMENT_DECLINED,
    StepOutcome.ORDER_GONE: Outcome.CANCELLED,
    StepOutcome.PROVIDER_UNAVAILABLE: Outcome.TECHNICAL_FAILURE,  # every retry went unanswered
}
_BY_ERROR: Mapping[str, Outcome] = {
    ORDER_REJECTED: Outcome.REJECTED,
    ORDER_CANCELLED: Outcome.CANCELLED,
    ORDER_NO_LONGER_PENDING: Outcome.CANCELLED,
    SHIPPING_FAILED: Outcome.SHIPPING_FAILED,
}
# Statuses after which nothing is ever compensated: the goods left the warehouse.
SHIPPED_STATUSES = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED})


def outcome_of(last_step: Mapping[str, Any] | None, status: OrderStatus) -> Outcome:
    """The outcome that what the last step left behind means, for an order now in `status`."""
    if not last_step:
        return Outcome.TECHNICAL_FAILURE
    error = last_step.get("Error")
    if isinstance(error, str):
        if error in TIMEOUTS:
            # Two tasks wait with a time-out: the approval (before payment) and the warehouse (after it).
            return Outcome.SHIPPING_FAILED if status is OrderStatus.PAID else Outcome.APPROVAL_EXPIRED
        return _BY_ERROR.get(error, Outcome.TECHNICAL_FAILURE)
    return _BY_STEP_OUTCOME.get(str(last_step.get("outcome")), Outcome.TECHNICAL_FAILURE)


def final_status(outcome: Outcome, current: OrderStatus) -> tuple[OrderStatus, FailureReason | None] | None:
    """The status an order in `current` ends with, or None when it has ended already (or shipped).

    A status the outcome cannot reach from `current` (the order moved on in a way the outcome did not expect)
    closes the order as a technical failure rather than leaving it open.
    """
    if current in TERMINAL or current in SHIPPED_STATUSES:
        return None
    wanted_status, wanted_reason = _WANTED[outcome]
    if can_transition(current, wanted_status, wanted_reason):
        return wanted_status, wanted_reason
    return OrderStatus.FAILED, FailureReason.TECHNICAL_FAILURE


def agreeing_approval(final: OrderStatus, outcome: Outcome, current: ApprovalState) -> ApprovalState | None:
    """The approval state that agrees with how the order ended, or None when `current` already does.

    A decision that arrived as the approval timed out is overwritten: the order was rejected, whatever the
    approver's late answer said. A withdrawn order withdraws its approval, granted or not.
    """
    if final is OrderStatus.REJECTED and current in (ApprovalState.PENDING, ApprovalState.APPROVED):
        return ApprovalState.EXPIRED if outcome is Outcome.APPROVAL_EXPIRED else ApprovalState.REJECTED
    if final is OrderStatus.CANCELLED and current in (ApprovalState.PENDING, ApprovalState.APPROVED):
        return ApprovalState.WITHDRAWN
    if final is OrderStatus.FAILED and current is ApprovalState.PENDING:
        return ApprovalState.WITHDRAWN
    return None


# For a final status: the approval, payment and stock states that agree with it (None: no such record).
_AGREEING_APPROVALS: Mapping[OrderStatus, frozenset[ApprovalState | None]] = {
    OrderStatus.SHIPPED: frozenset({None, ApprovalState.APPROVED}),
    OrderStatus.DELIVERED: frozenset({None, ApprovalState.APPROVED}),
    OrderStatus.REJECTED: frozenset({ApprovalState.REJECTED, ApprovalState.EXPIRED}),
    OrderStatus.CANCELLED: frozenset({None, ApprovalState.WITHDRAWN}),
    OrderStatus.FAILED: frozenset({None, ApprovalState.APPROVED, ApprovalState.WITHDRAWN}),
}
_NOT_CHARGED = frozenset({None, PaymentState.DECLINED, PaymentState.REFUNDED, PaymentState.VOIDED})
_NOTHING_HELD = frozenset({None, StockState.RELEASED})


def disagreements(
    status: OrderStatus,
    approval: ApprovalState | None,
    payment: PaymentState | None,
    stock: StockState | None,
) -> list[str]:
    """What, about an order that has ended, its approval, payment and stock records say against its status."""
    if status not in _AGREEING_APPROVALS:
        return []
    problems = []
    if approval not in _AGREEING_APPROVALS[status]:
        problems.append(f"approval {approval} for a {status} order")
    shipped = status in SHIPPED_STATUSES
    if shipped and payment is not PaymentState.CAPTURED:
        problems.append(f"payment {payment} for a {status} order")
    if not shipped and payment not in _NOT_CHARGED:
        problems.append(f"payment {payment} for an order that did not ship")
    if shipped and stock is not StockState.COMMITTED:
        problems.append(f"stock {stock} for a {status} order")
    if not shipped and stock not in _NOTHING_HELD:
        problems.append(f"stock {stock} for an order that did not ship")
    return problems

"""The order status transition table: the single source of truth for which status may follow which."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from shop.domain.models import FailureReason, OrderStatus

S = OrderStatus

TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = MappingProxyType(
    {
        S.PLACED: frozenset({S.AWAITING_APPROVAL, S.PAID, S.CANCELLED, S.FAILED}),
        S.AWAITING_APPROVAL: frozenset({S.PAID, S.CANCELLED, S.REJECTED, S.FAILED}),
        S.PAID: frozenset({S.SHIPPED, S.FAILED}),
        S.SHIPPED: frozenset({S.DELIVERED}),
        S.DELIVERED: frozenset(),
        S.CANCELLED: frozenset(),
        S.REJECTED: frozenset(),
        S.FAILED: frozenset(),
    }
)

# Which failures can happen at which stage: stock is reserved before approval, payment is taken after it,
# and shipping can only fail once the order is paid. A technical failure can end an order at any open stage.
FAILURES_FROM: Mapping[OrderStatus, frozenset[FailureReason]] = MappingProxyType(
    {
        S.PLACED: frozenset(
            {FailureReason.OUT_OF_STOCK, FailureReason.PAYMENT_DECLINED, FailureReason.TECHNICAL_FAILURE}
        ),
        S.AWAITING_APPROVAL: frozenset({FailureReason.PAYMENT_DECLINED, FailureReason.TECHNICAL_FAILURE}),
        S.PAID: frozenset({FailureReason.SHIPPING_FAILED, FailureReason.TECHNICAL_FAILURE}),
    }
)

TERMINAL: frozenset[OrderStatus] = frozenset(status for status, nexts in TRANSITIONS.items() if not nexts)

# A customer may cancel only before any money has been taken.
CANCELLABLE: frozenset[OrderStatus] = frozenset(status for status, nexts in TRANSITIONS.items() if S.CANCELLED in nexts)


def can_transition(current: OrderStatus, target: OrderStatus, reason: FailureReason | None = None) -> bool:
    """Whether an order in `current` may become `target` (with `reason` when, and only when, it fails)."""
    if target not in TRANSITIONS[current]:
        return False
    if target is S.FAILED:
        return reason is not None and reason in FAILURES_FROM.get(current, frozenset())
    return reason is None


def sources_of(target: OrderStatus, reason: FailureReason | None = None) -> frozenset[OrderStatus]:
    """Every status from which `target` can be reached: the condition of a conditional write."""
    return frozenset(status for status in OrderStatus if can_transition(status, target, reason))

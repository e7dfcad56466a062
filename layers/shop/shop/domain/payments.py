"""Payments as the shop sees them: the states of an order's payment, the key that makes a charge happen once, and
the errors of a payment provider."""

from __future__ import annotations

from enum import StrEnum

from shop.domain.errors import DomainError


class PaymentState(StrEnum):
    """An order's payment: PENDING is written before the provider is called, so a charge is never untracked.

    PENDING → CAPTURED | DECLINED | VOIDED (compensated before any charge was made); CAPTURED → REFUNDED.
    """

    PENDING = "PENDING"
    CAPTURED = "CAPTURED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"


class ChargeStatus(StrEnum):
    """What the provider says of the charge made under an idempotency key."""

    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    VOIDED = "voided"  # the key was voided before any charge: no charge will ever be made under it


class RefundStatus(StrEnum):
    """What the provider did when asked to refund (or void) the charge under a key."""

    REFUNDED = "refunded"
    VOIDED = "voided"
    DECLINED = "declined"  # the charge was declined: there is nothing to give back


class PaymentDeclined(DomainError):
    """The card was refused: retrying will not help; the order fails with PAYMENT_DECLINED."""


class PaymentProviderUnavailable(DomainError):
    """The provider did not answer (an outage, a throttle, a time-out): ask again later under the same key."""


# Asking again after the provider did not answer: up to six times, waiting 2, 4, 8, 16, 30, 30 s at most (about a
# minute and a half in all), each wait drawn at random below its ceiling so that a burst of orders spreads out.
PROVIDER_RETRIES = 6
PROVIDER_FIRST_WAIT_SECONDS = 2
PROVIDER_MAX_WAIT_SECONDS = 30


def provider_retry_after(unanswered: int, draw: float) -> int:
    """Seconds to wait before asking the provider again after its `unanswered`-th silence (exponential backoff
    with full jitter, `draw` in [0, 1), at least one second); 0 once the retries are spent."""
    if unanswered > PROVIDER_RETRIES:
        return 0
    ceiling = min(PROVIDER_MAX_WAIT_SECONDS, PROVIDER_FIRST_WAIT_SECONDS * int(2 ** (unanswered - 1)))
    return max(1, round(draw * ceiling))


def idempotency_key(order_id: str) -> str:
    """The provider's idempotency key for an order's charge: the same key is always the same, single charge."""
    return f"charge-{order_id}"

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
    """The provider did not answer (an outage, a throttle, a time-out): the workflow retries with backoff."""


def idempotency_key(order_id: str) -> str:
    """The provider's idempotency key for an order's charge: the same key is always the same, single charge."""
    return f"charge-{order_id}"

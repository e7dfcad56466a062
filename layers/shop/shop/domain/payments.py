"""The simulated payment provider: deterministic like a card network's test tokens.

`tok_ok` (and any other well-formed token) succeeds, `tok_decline` is a hard decline, and `tok_flaky` fails
transiently on its first two attempts and then succeeds.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from shop.domain.errors import DomainError

FLAKY_FAILURES = 2
# The simulated provider's test tokens (like a card network's), not secrets.
DECLINE_TOKEN = "tok_decline"  # noqa: S105
FLAKY_TOKEN = "tok_flaky"  # noqa: S105


class PaymentDeclined(DomainError):
    """The card was refused: retrying will not help; the order fails with PAYMENT_DECLINED."""


class PaymentProviderUnavailable(DomainError):
    """A transient failure at the provider: the workflow retries with backoff and jitter."""


class PaymentState(StrEnum):
    CAPTURED = "CAPTURED"
    REFUNDED = "REFUNDED"
    DECLINED = "DECLINED"


def authorize(payment_token: str, attempt: int) -> None:
    """Decide one charge attempt (1-based). Raises for a decline or a transient failure."""
    if payment_token == DECLINE_TOKEN:
        raise PaymentDeclined("the card was declined")
    if payment_token == FLAKY_TOKEN and attempt <= FLAKY_FAILURES:
        raise PaymentProviderUnavailable(f"the provider timed out (attempt {attempt})")


def provider_reference(order_id: str) -> str:
    """The provider's charge id: one per order, so a retried capture can never be a second charge."""
    return "ch_" + hashlib.sha256(order_id.encode()).hexdigest()[:20]

"""When an order needs a human decision, and the shape of a pending approval."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from shop.domain.models import Cents, Order, ShopModel, Timestamp

# A line this large is unusual for a small shop: a person looks at it whatever the total.
BULK_LINE_QUANTITY = 25


class ApprovalDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ApprovalState(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    WITHDRAWN = "WITHDRAWN"  # the customer cancelled while it waited


def risk_flags(order: Order) -> list[str]:
    """Reasons, other than its total, for which an order must be looked at by a person."""
    flags = []
    if any(line.quantity >= BULK_LINE_QUANTITY for line in order.items):
        flags.append("BULK_QUANTITY")
    return flags


def needs_approval(order: Order, threshold_cents: int) -> bool:
    """At or above the threshold, or flagged: the workflow waits for an approver."""
    return order.total_cents >= threshold_cents or bool(risk_flags(order))


class PendingApproval(ShopModel):
    """What an approver sees (the task token that resumes the workflow is never part of it)."""

    order_id: str
    customer_id: str
    customer_email: str | None = Field(
        default=None, description="The e-mail address in the customer's sign-in token when they placed the order"
    )
    total_cents: Cents
    requested_at: Timestamp
    expires_at: Timestamp

"""Live updates over the WebSocket API (docs/live-updates.md): which change of the Orders table becomes which
message, for whom, and what a connection is. Pure: the push and connection functions' adapters act on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from shop.domain.approval import ApprovalState
from shop.domain.errors import DomainError
from shop.domain.models import Caller, Cents, OrderStatus, ShopModel, Timestamp

# API Gateway closes every WebSocket connection two hours after it opened (its quota, not a setting): a
# connection's record expires then, so DynamoDB's TTL removes what a lost $disconnect left behind.
CONNECTION_LIFETIME = timedelta(hours=2)


class OrderStatusChanged(ShopModel):
    """To the order's customer: the order moved to `status` at `at` (`previous_status` absent for a new order)."""

    type: Literal["ORDER_STATUS_CHANGED"] = "ORDER_STATUS_CHANGED"
    order_id: str
    status: OrderStatus
    previous_status: OrderStatus | None = None
    at: Timestamp


class ApprovalRequested(ShopModel):
    """To every connected approver: an order waits for a decision (the fields of a GET /approvals item)."""

    type: Literal["APPROVAL_REQUESTED"] = "APPROVAL_REQUESTED"
    order_id: str
    customer_id: str
    total_cents: Cents
    requested_at: Timestamp
    expires_at: Timestamp


LiveMessage = OrderStatusChanged | ApprovalRequested


@dataclass(frozen=True)
class LiveUpdate:
    """A message and who receives it: the connections of the customer `customer_id`, or (None) every approver's."""

    message: LiveMessage
    customer_id: str | None = None


def live_update(event_name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> LiveUpdate | None:
    """The update one Orders stream record makes (plain images), or None when it changes nothing a client sees:
    a write that keeps the order's status (a stock marker, a payment record), a removal, an approval decided."""
    if not new or event_name not in ("INSERT", "MODIFY"):
        return None
    kind = new.get("kind")
    if kind == "ORDER":
        previous = (old or {}).get("status") if event_name == "MODIFY" else None
        if previous == new["status"]:
            return None
        message = OrderStatusChanged(
            order_id=new["orderId"],
            status=new["status"],
            previous_status=previous,
            at=new["updatedAt"],
        )
        return LiveUpdate(message, customer_id=new["customerId"])
    if kind == "APPROVAL":
        pending = ApprovalState.PENDING.value
        was_pending = event_name == "MODIFY" and (old or {}).get("approvalState") == pending
        if new.get("approvalState") != pending or was_pending:
            return None
        # Never the task token the item also holds: it would let anyone who sees it resume the workflow.
        request = ApprovalRequested(
            order_id=new["approvalFor"],
            customer_id=new["customerId"],
            total_cents=new["totalCents"],
            requested_at=new["requestedAt"],
            expires_at=new["expiresAt"],
        )
        return LiveUpdate(request)
    return None


class Connection(ShopModel):
    """An open WebSocket connection of a signed-in user, as $connect's authorizer described them."""

    connection_id: str
    customer_id: str
    groups: frozenset[str] = frozenset()
    connected_at: Timestamp
    expires_at: Timestamp


def open_connection(connection_id: str, caller: Caller, connected_at: datetime) -> Connection:
    return Connection(
        connection_id=connection_id,
        customer_id=caller.customer_id,
        groups=caller.groups,
        connected_at=connected_at,
        expires_at=connected_at + CONNECTION_LIFETIME,
    )


class ConnectionGone(DomainError):
    """The client went away (API Gateway answers 410 for the connection): its record can go too."""


class DeliveryRefused(DomainError):
    """API Gateway did not take the message (throttled, unreachable): nothing reached the client, so it may be
    sent again."""


class DeliveryUncertain(DomainError):
    """The message was handed over but no answer came back: the client may or may not have it."""


class InvalidIdToken(DomainError):
    """The token is missing, malformed, forged, expired, from another pool or client, or not an ID token."""

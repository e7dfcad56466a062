"""Reacting to changes in the Orders table (its stream is the outbox): start workflows, publish events."""

from __future__ import annotations

from typing import Any

from shop.adapters.notifications import EventType, NotificationsTopic
from shop.adapters.workflow import OrderWorkflow
from shop.domain.approval import ApprovalState


def on_order_change(
    event_name: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    workflow: OrderWorkflow,
    topic: NotificationsTopic,
) -> list[str]:
    """Handle one stream record of the Orders table; returns what was done (for logs and tests)."""
    done: list[str] = []
    if not new:
        return done
    kind = new.get("kind")
    if kind == "ORDER":
        order_id, customer_id, status = new["orderId"], new["customerId"], new["status"]
        if event_name == "INSERT":
            started = workflow.start(order_id, customer_id)
            done.append("workflow started" if started else "workflow already running")
        if event_name == "INSERT" or (old or {}).get("status") != status:
            detail = {"orderId": order_id, "status": status, "totalCents": new.get("totalCents")}
            if new.get("failureReason"):
                detail["failureReason"] = new["failureReason"]
            if new.get("trackingNumber"):
                detail["trackingNumber"] = new["trackingNumber"]
            if new.get("customerEmail"):
                detail["customerEmail"] = new["customerEmail"]
            topic.publish(EventType.ORDER_STATUS_CHANGED, customer_id, detail, status=status)
            done.append(f"published {status}")
    elif kind == "APPROVAL":
        became_pending = new.get("approvalState") == ApprovalState.PENDING.value and (
            event_name == "INSERT" or (old or {}).get("approvalState") != ApprovalState.PENDING.value
        )
        if became_pending:
            detail = {
                "orderId": new["approvalFor"],
                "totalCents": new.get("totalCents"),
                "expiresAt": new.get("expiresAt"),
            }
            topic.publish(EventType.APPROVAL_REQUESTED, new["customerId"], detail)
            done.append("published approval request")
    return done

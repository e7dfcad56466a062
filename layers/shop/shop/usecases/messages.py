"""Customer-facing messages for the shop's events (what the notification sender delivers)."""

from __future__ import annotations

import json

from shop.domain.models import ShopModel

_STATUS_TEXT = {
    "PLACED": "We received your order {orderId}.",
    "AWAITING_APPROVAL": "Your order {orderId} is being reviewed by our team.",
    "PAID": "Payment for your order {orderId} went through.",
    "SHIPPED": "Your order {orderId} is on its way{tracking}.",
    "DELIVERED": "Your order {orderId} was delivered.",
    "CANCELLED": "Your order {orderId} was cancelled.",
    "REJECTED": "We could not accept your order {orderId}; you have not been charged.",
    "FAILED": "Your order {orderId} could not be completed ({failureReason}); any payment was refunded.",
}


class Message(ShopModel):
    customer_id: str
    recipient: str | None = None
    subject: str
    body: str


def compose(raw: str) -> Message | None:
    """The message for one published event, or None for events customers are not told about."""
    event = json.loads(raw)
    kind = event.get("eventType")
    recipient = event.get("customerEmail")
    if kind == "ORDER_STATUS_CHANGED":
        template = _STATUS_TEXT.get(event.get("status", ""))
        if template is None:
            return None
        tracking = f" (tracking number {event['trackingNumber']})" if event.get("trackingNumber") else ""
        fields = {"failureReason": "", **event, "tracking": tracking}
        return Message(
            customer_id=event["customerId"],
            recipient=recipient,
            subject=f"Order {event['orderId']}: {event['status'].replace('_', ' ').lower()}",
            body=template.format(**fields),
        )
    if kind == "CART_ABANDONED":
        return Message(
            customer_id=event["customerId"],
            recipient=recipient,
            subject="You left something in your cart",
            body=f"Your cart with {event.get('units', 0)} item(s) expired. Your products are still in the shop.",
        )
    return None

"""Given steps shared by the API tests: request bodies, and items written straight into the tables the way
the order workflow (or DynamoDB's late TTL deletion) would leave them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shop.adapters.catalog_table import CatalogTable
from shop.adapters.dynamodb import to_attributes
from shop.adapters.orders_table import OrdersTable
from shop.adapters.sessions_table import cart_session_id
from shop.domain.models import CartLine, FailureReason, Order, OrderStatus, ShippingAddress
from shop.domain.ordering import new_order
from shop.domain.pricing import price_lines

ADDRESS: dict[str, str] = {
    "name": "Alice Example",
    "line1": "1 Market Street",
    "city": "Springfield",
    "postalCode": "12345",
    "country": "US",
}

# The statuses an order passes through to reach each status (FAILED needs a reason).
S = OrderStatus
ROUTE_TO: dict[OrderStatus, list[tuple[OrderStatus, FailureReason | None]]] = {
    S.PLACED: [],
    S.AWAITING_APPROVAL: [(S.AWAITING_APPROVAL, None)],
    S.PAID: [(S.PAID, None)],
    S.SHIPPED: [(S.PAID, None), (S.SHIPPED, None)],
    S.DELIVERED: [(S.PAID, None), (S.SHIPPED, None), (S.DELIVERED, None)],
    S.CANCELLED: [(S.CANCELLED, None)],
    S.REJECTED: [(S.AWAITING_APPROVAL, None), (S.REJECTED, None)],
    S.FAILED: [(S.FAILED, FailureReason.OUT_OF_STOCK)],
}


def line(product_id: str, quantity: int = 1) -> dict[str, Any]:
    return {"productId": product_id, "quantity": quantity}


def order_body(*lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A POST /orders body; without lines it orders the cart."""
    body: dict[str, Any] = {"shippingAddress": ADDRESS}
    if lines:
        body["items"] = list(lines)
    return body | fields


def minutes_from_now(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def stored_order(
    orders: OrdersTable,
    catalog: CatalogTable,
    customer_id: str,
    *,
    key: str,
    created_at: datetime,
    lines: Sequence[tuple[str, int]] = (("espresso-beans-1kg", 1),),
    status: OrderStatus = OrderStatus.PLACED,
) -> Order:
    """An order written through the Orders adapter, then moved by the workflow's transitions to `status`."""
    cart_lines = [CartLine(product_id=pid, quantity=quantity) for pid, quantity in lines]
    order = new_order(
        customer_id=customer_id,
        idempotency_key=key,
        lines=price_lines(cart_lines, catalog.get_many(pid for pid, _ in lines)),
        shipping_address=ShippingAddress.model_validate(ADDRESS),
        now=created_at.replace(microsecond=created_at.microsecond // 1000 * 1000),
    )
    orders.create(order, "tok_ok")
    for step, (target, reason) in enumerate(ROUTE_TO[status], start=1):
        order = orders.transition(order, target, created_at + timedelta(minutes=step), reason)
    return order


def session_item(customer_id: str, lines: Sequence[dict[str, Any]], expires_at: datetime) -> dict[str, Any]:
    """A cart session item in the Sessions table's layout, expiring at `expires_at` (epoch seconds)."""
    return to_attributes(
        {
            "sessionId": cart_session_id(customer_id),
            "kind": "CART",
            "customerId": customer_id,
            "items": list(lines),
            "updatedAt": datetime.now(UTC).isoformat(),
            "expiresAt": int(expires_at.timestamp()),
        }
    )

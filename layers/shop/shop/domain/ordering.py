"""Pure rules for new orders: identity derived from the idempotency key, the initial status and history."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from shop.domain.models import Order, OrderLine, OrderStatus, ShippingAddress, StatusChange
from shop.domain.pricing import order_total

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now in UTC, to the millisecond (what the API shows and what sorts in the table)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# What an order id may look like in a path: the ids order_id_for makes, and nothing that needs percent-encoding
# (API Gateway's proxy integration passes path parameters as sent, encoded: a limit on characters would not hold).
ORDER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


def order_id_for(customer_id: str, idempotency_key: str) -> str:
    """The order's id, derived from who asked and their Idempotency-Key.

    Two concurrent requests that slip past the idempotency record still name the same order, so the
    table's conditional write lets exactly one of them create it.
    """
    digest = hashlib.sha256(f"{customer_id}\n{idempotency_key}".encode()).digest()
    return "ord_" + base64.b32encode(digest).decode().lower()[:26]


def new_order(
    *,
    customer_id: str,
    idempotency_key: str,
    lines: Sequence[OrderLine],
    shipping_address: ShippingAddress,
    now: datetime,
) -> Order:
    return Order(
        order_id=order_id_for(customer_id, idempotency_key),
        customer_id=customer_id,
        status=OrderStatus.PLACED,
        items=list(lines),
        total_cents=order_total(lines),
        shipping_address=shipping_address,
        created_at=now,
        updated_at=now,
        history=[StatusChange(status=OrderStatus.PLACED, at=now)],
    )

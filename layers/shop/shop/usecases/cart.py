"""The customer's cart: a session item whose expiry slides forward every time it is used."""

from __future__ import annotations

from datetime import datetime, timedelta

from shop.adapters.catalog_table import CatalogTable
from shop.adapters.sessions_table import SessionsTable
from shop.domain.models import Cart, CartUpdate
from shop.domain.pricing import check_lines

EMPTY_CART = Cart(items=[], expires_at=None)


def get_cart(sessions: SessionsTable, customer_id: str, now: datetime, ttl: timedelta) -> Cart:
    """The live cart, its expiry pushed back by `ttl`; an empty cart when none is live."""
    return sessions.touch_cart(customer_id, now, now + ttl) or EMPTY_CART


def replace_cart(
    sessions: SessionsTable,
    catalog: CatalogTable,
    *,
    customer_id: str,
    update: CartUpdate,
    now: datetime,
    ttl: timedelta,
    customer_email: str | None = None,
) -> Cart:
    """Replace the cart's lines (every product must exist; each at most once). No lines empties it."""
    if not update.items:
        sessions.delete_cart(customer_id)
        return EMPTY_CART
    check_lines(update.items, catalog.get_many(line.product_id for line in update.items), at=("body", "items"))
    return sessions.save_cart(customer_id, list(update.items), now, now + ttl, customer_email)


def clear_cart(sessions: SessionsTable, customer_id: str) -> None:
    sessions.delete_cart(customer_id)

"""Fixtures of the API tests: readers of what the tables hold, to prove what a request wrote or did not."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api.tables import (
    ContentsReader,
    OrdersReader,
    SessionReader,
    cart_session,
    order_items,
    writable_contents,
)


@pytest.fixture
def table_contents(dynamodb: Any) -> ContentsReader:
    """Call it before and after a refused request: equal results mean nothing was written."""
    return lambda: writable_contents(dynamodb)


@pytest.fixture
def stored_orders(dynamodb: Any) -> OrdersReader:
    return lambda: order_items(dynamodb)


@pytest.fixture
def stored_session(dynamodb: Any) -> SessionReader:
    return lambda customer_id: cart_session(dynamodb, customer_id)

"""Reading the tables behind the API straight from DynamoDB, to check what a request did (or did not) write."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shop.adapters.dynamodb import from_attributes
from shop.adapters.sessions_table import cart_session_id
from tests.support.cloud import TABLE_NAMES

WRITABLE_TABLES = ("OrdersTable", "SessionsTable", "IdempotencyTable")

TableContents = dict[str, list[dict[str, Any]]]
ContentsReader = Callable[[], TableContents]
OrdersReader = Callable[[], list[dict[str, Any]]]
SessionReader = Callable[[str], dict[str, Any] | None]


def scan(client: Any, table_name: str) -> list[dict[str, Any]]:
    """Every item of a table, as plain Python values."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True}
    while True:
        response = client.scan(**request)
        items.extend(from_attributes(item) for item in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return items
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def writable_contents(client: Any) -> TableContents:
    """Every item of the tables the API writes (Orders, Sessions, Idempotency), in a stable order."""
    return {
        logical_id: sorted(scan(client, TABLE_NAMES[logical_id]), key=lambda item: json.dumps(item, sort_keys=True))
        for logical_id in WRITABLE_TABLES
    }


def order_items(client: Any) -> list[dict[str, Any]]:
    """The order items of the Orders table, every customer's partition."""
    return [item for item in scan(client, TABLE_NAMES["OrdersTable"]) if item.get("kind") == "ORDER"]


def cart_session(client: Any, customer_id: str) -> dict[str, Any] | None:
    """A customer's cart session item as the Sessions table holds it (None when there is none)."""
    response = client.get_item(
        TableName=TABLE_NAMES["SessionsTable"],
        Key={"sessionId": {"S": cart_session_id(customer_id)}},
        ConsistentRead=True,
    )
    return from_attributes(response["Item"]) if "Item" in response else None

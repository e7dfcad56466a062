"""The Sessions table: one cart session per customer, expiring through DynamoDB TTL.

TTL deletion can lag by hours, so every read here ignores a session whose `expiresAt` has passed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shop.adapters.dynamodb import default_client, from_attributes, to_attributes, translated_errors
from shop.domain.models import Cart, CartLine, iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

CART_PREFIX = "CART#"


def cart_session_id(customer_id: str) -> str:
    return f"{CART_PREFIX}{customer_id}"


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _cart(item: dict[str, Any]) -> Cart:
    plain = from_attributes(item)
    return Cart(
        items=[CartLine.model_validate(line) for line in plain.get("items", [])],
        expires_at=datetime.fromtimestamp(plain["expiresAt"], tz=UTC),
    )


class SessionsTable:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client or default_client()

    def _key(self, customer_id: str) -> dict[str, Any]:
        return {"sessionId": {"S": cart_session_id(customer_id)}}

    def touch_cart(self, customer_id: str, now: datetime, expires_at: datetime) -> Cart | None:
        """Slide a live cart's expiry to `expires_at` and return it; None when there is no live cart."""
        try:
            with translated_errors(on_condition_failed=_NoLiveCart):
                response = self._client.update_item(
                    TableName=self.table_name,
                    Key=self._key(customer_id),
                    UpdateExpression="SET expiresAt = :expires",
                    ConditionExpression="attribute_exists(sessionId) AND expiresAt > :now",
                    ExpressionAttributeValues={
                        ":expires": {"N": str(_epoch(expires_at))},
                        ":now": {"N": str(_epoch(now))},
                    },
                    ReturnValues="ALL_NEW",
                )
        except _NoLiveCart:
            return None
        return _cart(response["Attributes"])

    def read_cart(self, customer_id: str, now: datetime) -> Cart | None:
        """The live cart without sliding its expiry (None when missing or expired)."""
        with translated_errors():
            response = self._client.get_item(TableName=self.table_name, Key=self._key(customer_id), ConsistentRead=True)
        item = response.get("Item")
        if not item or int(item["expiresAt"]["N"]) <= _epoch(now):
            return None
        return _cart(item)

    def save_cart(
        self,
        customer_id: str,
        lines: list[CartLine],
        now: datetime,
        expires_at: datetime,
        customer_email: str | None = None,
    ) -> Cart:
        item = {
            "sessionId": cart_session_id(customer_id),
            "kind": "CART",
            "customerId": customer_id,
            # Kept so that an abandoned-cart reminder can reach the customer after the session expired.
            "customerEmail": customer_email,
            "items": [line.model_dump(mode="json") for line in lines],
            "updatedAt": iso(now),
            "expiresAt": _epoch(expires_at),
        }
        with translated_errors():
            self._client.put_item(TableName=self.table_name, Item=to_attributes(item))
        return Cart(items=lines, expires_at=datetime.fromtimestamp(_epoch(expires_at), tz=UTC))

    def delete_cart(self, customer_id: str) -> None:
        with translated_errors():
            self._client.delete_item(TableName=self.table_name, Key=self._key(customer_id))

    def delete_cart_operation(self, customer_id: str, seen: Cart) -> TransactWriteItemTypeDef:
        """Delete the cart that was read (`seen`), as one item of a TransactWriteItems call: placing an order
        clears the cart it was made from, and fails if the cart changed (or was ordered) meanwhile."""
        expires = _epoch(seen.expires_at) if seen.expires_at else 0
        return {
            "Delete": {
                "TableName": self.table_name,
                "Key": self._key(customer_id),
                "ConditionExpression": "expiresAt = :seen",
                "ExpressionAttributeValues": {":seen": {"N": str(expires)}},
            }
        }


class _NoLiveCart(Exception):
    """Internal signal: the conditional touch found no live cart."""

"""The Orders table (single-table design): order items keyed by customer, so row-level security works.

Keys: partition `customerId` (the user pool `sub`), sort `sk` = `ORDER#<orderId>`. Indexes: `byCreatedAt`
(LSI, newest-first listing), `byOrderId` (GSI, look-up by id alone), `byStatus` (GSI, status + updatedAt).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shop.adapters.dynamodb import (
    cancellation_codes,
    decode_page_token,
    default_client,
    encode_page_token,
    from_attributes,
    to_attributes,
    translated_errors,
)
from shop.domain.errors import Conflict, InvalidPageToken, InvalidTransition, NotFound
from shop.domain.models import FailureReason, Order, OrderStatus, StatusChange, iso
from shop.domain.status import sources_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

ORDER_PREFIX = "ORDER#"
BY_CREATED_AT = "byCreatedAt"
BY_ORDER_ID = "byOrderId"
BY_STATUS = "byStatus"
# The byCreatedAt listing's key, as a page token carries it: the customer (checked against the caller), the
# order's sort key and its creation time (iso(): UTC, milliseconds, a Z).
_LISTING_KEY_FORMATS = {
    "customerId": re.compile(r"[^\s]{1,128}"),
    "sk": re.compile(r"ORDER#ord_[a-z2-7]{26}"),
    "createdAt": re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"),
}


def order_sort_key(order_id: str) -> str:
    return f"{ORDER_PREFIX}{order_id}"


def order_of_item(attributes: dict[str, Any]) -> Order:
    return Order.model_validate(from_attributes(attributes))


class OrderAlreadyExists(Conflict):
    """An order with this id was written before (the same Idempotency-Key, after its record expired)."""


class CartChanged(Conflict):
    """The cart an order was made from changed, or was ordered, while the order was being placed."""


class OrdersTable:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client or default_client()

    def create(
        self,
        order: Order,
        payment_token: str,
        also: Sequence[TransactWriteItemTypeDef] = (),
        customer_email: str | None = None,
    ) -> None:
        """Write a new order, atomically with the `also` operations (e.g. clearing the cart it came from)."""
        item = order.model_dump(mode="json") | {
            "sk": order_sort_key(order.order_id),
            "kind": "ORDER",
            "paymentToken": payment_token,
            "customerEmail": customer_email,
        }
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self.table_name,
                "Item": to_attributes(item),
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        }
        try:
            with translated_errors():
                self._client.transact_write_items(TransactItems=[put, *also])
        except ClientError as exc:
            codes = cancellation_codes(exc)
            if codes[:1] == ["ConditionalCheckFailed"]:
                raise OrderAlreadyExists(f"order {order.order_id} exists") from exc
            if "ConditionalCheckFailed" in codes:
                raise CartChanged("the cart changed while the order was being placed; read it and try again") from exc
            raise

    def get(self, customer_id: str, order_id: str) -> Order | None:
        with translated_errors():
            response = self._client.get_item(
                TableName=self.table_name,
                Key={"customerId": {"S": customer_id}, "sk": {"S": order_sort_key(order_id)}},
                ConsistentRead=True,
            )
        item = response.get("Item")
        return order_of_item(item) if item else None

    def find(self, order_id: str) -> Order | None:
        """Any customer's order by id alone (admins and the workflow); the GSI is eventually consistent."""
        with translated_errors():
            response = self._client.query(
                TableName=self.table_name,
                IndexName=BY_ORDER_ID,
                KeyConditionExpression="orderId = :id",
                ExpressionAttributeValues={":id": {"S": order_id}},
                Limit=1,
            )
        items = response.get("Items", [])
        return order_of_item(items[0]) if items else None

    def list_for(self, customer_id: str, limit: int, page_token: str | None) -> tuple[list[Order], str | None]:
        """One page of a customer's orders, newest first."""
        start_key = decode_page_token(page_token, _LISTING_KEY_FORMATS)
        if start_key is not None and start_key["customerId"]["S"] != customer_id:
            raise InvalidPageToken("nextToken belongs to another listing")
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": BY_CREATED_AT,
            "KeyConditionExpression": "customerId = :customer",
            "ExpressionAttributeValues": {":customer": {"S": customer_id}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        with translated_errors():
            response = self._client.query(**request)
        orders = [order_of_item(item) for item in response.get("Items", [])]
        return orders, encode_page_token(response.get("LastEvaluatedKey"))

    def with_status(self, status: OrderStatus) -> list[Order]:
        """Every order currently in `status`, least recently updated first (all pages of the byStatus index)."""
        return [order for order, _ in self.with_status_and_email(status)]

    def with_status_and_email(self, status: OrderStatus) -> list[tuple[Order, str | None]]:
        """Every order in `status` as with_status, each with the e-mail address its customer placed it with (None
        when their token had none). The address is on the order's item, not in the Order the API returns."""
        items = self._items(
            {
                "TableName": self.table_name,
                "IndexName": BY_STATUS,
                "KeyConditionExpression": "#status = :status",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":status": {"S": status.value}},
            }
        )
        return [(order_of_item(item), item.get("customerEmail", {}).get("S")) for item in items]

    def updated_between(self, status: OrderStatus, start: datetime, end: datetime) -> list[Order]:
        """Every order in `status` whose last change falls in [start, end) (all pages of the byStatus index)."""
        # BETWEEN is inclusive and a key may not be filtered on: stop one millisecond (the stored precision)
        # before `end`. Fixed-width UTC timestamps sort as text in time order.
        last = end - timedelta(milliseconds=1)
        return self._query_all(
            {
                "TableName": self.table_name,
                "IndexName": BY_STATUS,
                "KeyConditionExpression": "#status = :status AND updatedAt BETWEEN :start AND :last",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":status": {"S": status.value},
                    ":start": {"S": iso(start)},
                    ":last": {"S": iso(last)},
                },
            }
        )

    def _query_all(self, request: dict[str, Any]) -> list[Order]:
        return [order_of_item(item) for item in self._items(request)]

    def _items(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item a query matches, all pages, in DynamoDB's typed form."""
        found: list[dict[str, Any]] = []
        while True:
            with translated_errors():
                response = self._client.query(**request)
            found.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def transition(
        self,
        order: Order,
        target: OrderStatus,
        at: datetime,
        reason: FailureReason | None = None,
        *,
        tracking_number: str | None = None,
    ) -> Order:
        """Move `order` to `target`, conditional on its stored status still allowing it."""
        sources = sorted(sources_of(target, reason))
        if not sources:
            raise InvalidTransition(order.order_id, order.status, target)
        placeholders = {f":from{i}": {"S": status.value} for i, status in enumerate(sources)}
        change = StatusChange(status=target, at=at).model_dump(mode="json")
        values: dict[str, Any] = {
            ":target": {"S": target.value},
            ":at": {"S": iso(at)},
            ":change": {"L": [to_attributes({"change": change})["change"]]},
            **placeholders,
        }
        update = "SET #status = :target, updatedAt = :at, history = list_append(history, :change)"
        if reason is not None:
            update += ", failureReason = :reason"
            values[":reason"] = {"S": reason.value}
        if tracking_number is not None:
            update += ", trackingNumber = :tracking"
            values[":tracking"] = {"S": tracking_number}
        try:
            with translated_errors(on_condition_failed=_StatusMoved):
                response = self._client.update_item(
                    TableName=self.table_name,
                    Key={"customerId": {"S": order.customer_id}, "sk": {"S": order_sort_key(order.order_id)}},
                    UpdateExpression=update,
                    ConditionExpression=f"attribute_exists(sk) AND #status IN ({', '.join(placeholders)})",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                    # The item as it stood when the condition failed: no second read (and no read permission) to
                    # say which status it moved to.
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except _StatusMoved as moved:
            refused = moved.__cause__
            stood = refused.response.get("Item") if isinstance(refused, ClientError) else None
            if not isinstance(stood, dict) or not stood:
                raise NotFound("order", order.order_id) from None
            raise InvalidTransition(order.order_id, order_of_item(stood).status, target) from None
        return order_of_item(response["Attributes"])


class _StatusMoved(Exception):
    """Internal signal: the stored status no longer allows the transition."""

"""Stock movements: reserve, release and commit an order's units, each exactly once per order.

Every movement is one DynamoDB transaction over the order item and its products. The order item carries a
`stockState` marker (RESERVED → RELEASED or COMMITTED) whose condition makes a retried step a no-op, and
each product's counters move together so that available + reserved + sold never changes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shop.adapters.dynamodb import THROTTLING_CODES, cancellation_codes, default_client
from shop.adapters.orders_table import order_sort_key
from shop.domain.errors import OrderNoLongerPending, OutOfStock, Throttled
from shop.domain.models import Order, OrderStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class StockState(StrEnum):
    RESERVED = "RESERVED"
    RELEASED = "RELEASED"
    COMMITTED = "COMMITTED"


class StockLedger:
    def __init__(self, catalog_table: str, orders_table: str, client: DynamoDBClient | None = None) -> None:
        self.catalog_table = catalog_table
        self.orders_table = orders_table
        self._client = client or default_client()

    def reserve(self, order: Order) -> bool:
        """Move the order's units from available to reserved. False if this order had already reserved.

        Raises OutOfStock (naming the short products) or OrderNoLongerPending (the order was cancelled).
        """
        marker = self._mark(
            order,
            to=StockState.RESERVED,
            condition="attribute_not_exists(stockState) AND #status = :placed",
            values={":placed": {"S": OrderStatus.PLACED.value}},
        )
        moves = [
            self._move(line.product_id, line.quantity, "available", "reserved", must_have=True) for line in order.items
        ]
        try:
            self._transact([marker, *moves])
        except ClientError as exc:
            reasons = cancellation_codes(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                current = self._stock_state(order)
                if current is not None:
                    return False
                raise OrderNoLongerPending(f"order {order.order_id} is no longer PLACED") from exc
            short = [line.product_id for line, code in zip(order.items, reasons[1:], strict=False) if code]
            if short:
                raise OutOfStock(short) from exc
            raise
        return True

    def release(self, order: Order) -> bool:
        """Give reserved units back to available. False when nothing was reserved or it was already settled."""
        return self._settle(order, StockState.RELEASED, "available")

    def commit(self, order: Order) -> bool:
        """Turn reserved units into sold ones (the order shipped). False when already settled."""
        return self._settle(order, StockState.COMMITTED, "sold")

    def _settle(self, order: Order, to: StockState, destination: str) -> bool:
        marker = self._mark(
            order,
            to=to,
            condition="stockState = :reserved",
            values={":reserved": {"S": StockState.RESERVED.value}},
        )
        moves = [
            self._move(line.product_id, line.quantity, "reserved", destination, must_have=False) for line in order.items
        ]
        try:
            self._transact([marker, *moves])
        except ClientError as exc:
            reasons = cancellation_codes(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
            raise
        return True

    def _mark(
        self, order: Order, *, to: StockState, condition: str, values: dict[str, Any]
    ) -> TransactWriteItemTypeDef:
        return {
            "Update": {
                "TableName": self.orders_table,
                "Key": {"customerId": {"S": order.customer_id}, "sk": {"S": order_sort_key(order.order_id)}},
                "UpdateExpression": "SET stockState = :to",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#status": "status"} if "#status" in condition else {},
                "ExpressionAttributeValues": {":to": {"S": to.value}, **values},
            }
        }

    def _move(self, product_id: str, quantity: int, source: str, destination: str, *, must_have: bool) -> Any:
        update: dict[str, Any] = {
            "TableName": self.catalog_table,
            "Key": {"productId": {"S": product_id}},
            "UpdateExpression": f"SET {source} = {source} - :q, {destination} = {destination} + :q",
            "ExpressionAttributeValues": {":q": {"N": str(quantity)}},
        }
        # Never below zero: the source counter must hold the units being moved out of it.
        update["ConditionExpression"] = f"{source} >= :q" if must_have else "attribute_exists(productId)"
        return {"Update": update}

    def _transact(self, items: list[Any]) -> None:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in THROTTLING_CODES:
                raise Throttled("stock transaction throttled") from exc
            raise

    def _stock_state(self, order: Order) -> str | None:
        response = self._client.get_item(
            TableName=self.orders_table,
            Key={"customerId": {"S": order.customer_id}, "sk": {"S": order_sort_key(order.order_id)}},
            ProjectionExpression="stockState",
            ConsistentRead=True,
        )
        state = response.get("Item", {}).get("stockState", {}).get("S")
        return str(state) if state else None

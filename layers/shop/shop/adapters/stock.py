"""Stock movements: reserve, release and commit an order's units, each exactly once per order.

Every movement is one DynamoDB transaction over the order item and its products. The order item carries a
`stockState` marker (RESERVED → RELEASED or COMMITTED) whose condition makes a retried step a no-op, and
each product's counters move together so that available + reserved + sold never changes.

A cancelled transaction is read item by item: a failed condition on a product line means that product is short,
on the order item that the order moved on (or already holds its stock); a conflict with another transaction or a
throttle means nothing about stock, and the same transaction is tried again with backoff and jitter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shop.adapters.dynamodb import CONDITION_FAILED, cancellation_codes, default_client, retry_contention
from shop.adapters.orders_table import order_sort_key
from shop.domain.errors import OrderNoLongerPending, OutOfStock
from shop.domain.models import Order, OrderStatus
from shop.domain.settlement import StockState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


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
            if reasons[:1] == [CONDITION_FAILED]:
                if self.state(order) is not None:
                    return False
                raise OrderNoLongerPending(f"order {order.order_id} is no longer PLACED") from exc
            short = [
                line.product_id
                for line, code in zip(order.items, reasons[1:], strict=False)
                if code == CONDITION_FAILED
            ]
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
            if cancellation_codes(exc)[:1] == [CONDITION_FAILED]:
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
        """One transaction, tried again while it is refused for contention (then Throttled)."""
        retry_contention(lambda: self._client.transact_write_items(TransactItems=items))

    def state(self, order: Order) -> StockState | None:
        """Where the order's units are (None: never reserved)."""
        response = self._client.get_item(
            TableName=self.orders_table,
            Key={"customerId": {"S": order.customer_id}, "sk": {"S": order_sort_key(order.order_id)}},
            ProjectionExpression="stockState",
            ConsistentRead=True,
        )
        state = response.get("Item", {}).get("stockState", {}).get("S")
        return StockState(state) if state else None

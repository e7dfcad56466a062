"""Payment records in the Orders table (sort key `PAYMENT#<orderId>`), next to the order they pay for.

One record per order, with the provider's idempotency key. (No `createdAt`: that attribute puts an item in the
byCreatedAt index, where only orders belong.) It is written PENDING before the provider is called, so
that no charge is ever made that the shop does not know to reconcile; every later state is a conditional write from
the state before it, so a retried or duplicated step changes nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shop.adapters.dynamodb import default_client, from_attributes, translated_errors
from shop.adapters.orders_table import order_sort_key
from shop.domain.errors import NotFound
from shop.domain.models import Cents, Order, ShopModel, Timestamp, iso
from shop.domain.payments import PaymentState, idempotency_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PAYMENT_PREFIX = "PAYMENT#"


class Payment(ShopModel):
    payment_for: str
    payment_state: PaymentState
    idempotency_key: str
    amount_cents: Cents = 0
    charge_id: str | None = None
    pending_since: Timestamp | None = None
    captured_at: Timestamp | None = None
    closed_at: Timestamp | None = None


class _StateMoved(Exception):
    """Internal signal: the conditional write found the payment in another state than the one it expected."""


class PaymentsLedger:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client or default_client()

    def _key(self, order: Order) -> dict[str, Any]:
        return {"customerId": {"S": order.customer_id}, "sk": {"S": f"{PAYMENT_PREFIX}{order.order_id}"}}

    def get(self, order: Order) -> Payment | None:
        with translated_errors():
            item = self._client.get_item(TableName=self.table_name, Key=self._key(order), ConsistentRead=True).get(
                "Item"
            )
        return Payment.model_validate(from_attributes(item)) if item else None

    def begin(self, order: Order, at: datetime) -> Payment:
        """The order's payment, written PENDING with its idempotency key unless it exists (then as it is)."""
        with translated_errors():
            response = self._client.update_item(
                TableName=self.table_name,
                Key=self._key(order),
                UpdateExpression=(
                    "SET paymentFor = :order, kind = :kind, idempotencyKey = :key, amountCents = :amount, "
                    "paymentState = if_not_exists(paymentState, :pending), "
                    "pendingSince = if_not_exists(pendingSince, :at)"
                ),
                ExpressionAttributeValues={
                    ":order": {"S": order.order_id},
                    ":kind": {"S": "PAYMENT"},
                    ":key": {"S": idempotency_key(order.order_id)},
                    ":amount": {"N": str(order.total_cents)},
                    ":pending": {"S": PaymentState.PENDING.value},
                    ":at": {"S": iso(at)},
                },
                ReturnValues="ALL_NEW",
            )
        return Payment.model_validate(from_attributes(response["Attributes"]))

    def note_unanswered(self, order: Order) -> int:
        """Count one more call the provider left unanswered for this payment; returns the count so far."""
        with translated_errors():
            response = self._client.update_item(
                TableName=self.table_name,
                Key=self._key(order),
                UpdateExpression="ADD providerUnanswered :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
        return int(response["Attributes"]["providerUnanswered"]["N"])

    def capture(self, order: Order, charge_id: str, at: datetime) -> Payment:
        """PENDING → CAPTURED with the provider's charge. The loser of a race gets the record as the winner left it."""
        return self._move(
            order,
            PaymentState.CAPTURED,
            at,
            sources=(PaymentState.PENDING,),
            extra={"chargeId": {"S": charge_id}, "capturedAt": {"S": iso(at)}},
        )

    def close(self, order: Order, state: PaymentState, at: datetime, sources: tuple[PaymentState, ...]) -> Payment:
        """Move the payment from one of `sources` to a closing state (DECLINED, REFUNDED, VOIDED)."""
        return self._move(order, state, at, sources=sources, extra={"closedAt": {"S": iso(at)}})

    def _move(
        self,
        order: Order,
        state: PaymentState,
        at: datetime,
        *,
        sources: tuple[PaymentState, ...],
        extra: dict[str, Any],
    ) -> Payment:
        names = {f":from{i}": {"S": source.value} for i, source in enumerate(sources)}
        assignments = ", ".join(f"{field} = :{field}" for field in extra)
        try:
            with translated_errors(on_condition_failed=_StateMoved):
                response = self._client.update_item(
                    TableName=self.table_name,
                    Key=self._key(order),
                    UpdateExpression=f"SET paymentState = :state, {assignments}",
                    ConditionExpression=f"paymentState IN ({', '.join(names)})",
                    ExpressionAttributeValues={
                        ":state": {"S": state.value},
                        **names,
                        **{f":{field}": value for field, value in extra.items()},
                    },
                    ReturnValues="ALL_NEW",
                )
        except _StateMoved:
            current = self.get(order)
            if current is None:
                raise NotFound("payment", order.order_id) from None
            return current
        return Payment.model_validate(from_attributes(response["Attributes"]))

    def payment_token(self, order: Order) -> str:
        """The token the customer paid with (kept on the order item, never returned by the API)."""
        with translated_errors():
            item = self._client.get_item(
                TableName=self.table_name,
                Key={"customerId": {"S": order.customer_id}, "sk": {"S": order_sort_key(order.order_id)}},
                ProjectionExpression="paymentToken",
                ConsistentRead=True,
            ).get("Item")
        if not item:
            raise NotFound("order", order.order_id)
        return str(item["paymentToken"]["S"])

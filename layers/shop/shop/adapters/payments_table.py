"""Payment records in the Orders table (sort key `PAYMENT#<orderId>`), next to the order they pay for.

One record per order: a retried capture finds the record CAPTURED and returns it instead of charging again;
a refund is allowed only from CAPTURED, so it also happens at most once.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shop.adapters.dynamodb import default_client, from_attributes, translated_errors
from shop.adapters.orders_table import order_sort_key
from shop.domain.errors import NotFound
from shop.domain.models import Cents, Order, ShopModel, Timestamp, iso
from shop.domain.payments import PaymentDeclined, PaymentState, authorize, provider_reference

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PAYMENT_PREFIX = "PAYMENT#"


class Payment(ShopModel):
    payment_for: str
    payment_state: PaymentState | None = None
    amount_cents: Cents = 0
    attempts: int = 0
    provider_reference: str | None = None
    captured_at: Timestamp | None = None
    refunded_at: Timestamp | None = None


class _AlreadySettled(Exception):
    """Internal signal: the conditional write found the payment past the state it expected."""


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

    def capture(self, order: Order, at: datetime) -> Payment:
        """Charge the order's total with its payment token, once. Raises PaymentDeclined or
        PaymentProviderUnavailable (transient: the caller retries)."""
        existing = self.get(order)
        if existing is not None and existing.payment_state is PaymentState.CAPTURED:
            return existing
        if existing is not None and existing.payment_state is PaymentState.DECLINED:
            raise PaymentDeclined("the card was declined")
        attempt = self._count_attempt(order)
        try:
            authorize(self._payment_token(order), attempt)
        except PaymentDeclined:
            with suppress(_AlreadySettled):
                self._set_state(order, PaymentState.DECLINED, at, condition="attribute_not_exists(paymentState)")
            raise
        with translated_errors():
            response = self._client.update_item(
                TableName=self.table_name,
                Key=self._key(order),
                UpdateExpression=(
                    "SET paymentState = :captured, amountCents = :amount, providerReference = :ref, capturedAt = :at"
                ),
                ConditionExpression="attribute_not_exists(paymentState)",
                ExpressionAttributeValues={
                    ":captured": {"S": PaymentState.CAPTURED.value},
                    ":amount": {"N": str(order.total_cents)},
                    ":ref": {"S": provider_reference(order.order_id)},
                    ":at": {"S": iso(at)},
                },
                ReturnValues="ALL_NEW",
            )
        return Payment.model_validate(from_attributes(response["Attributes"]))

    def refund(self, order: Order, at: datetime) -> bool:
        """Refund a captured payment. False when there was nothing captured (or it was already refunded)."""
        try:
            self._set_state(order, PaymentState.REFUNDED, at, condition="paymentState = :from", source="CAPTURED")
        except _AlreadySettled:
            return False
        return True

    def _count_attempt(self, order: Order) -> int:
        with translated_errors():
            response = self._client.update_item(
                TableName=self.table_name,
                Key=self._key(order),
                UpdateExpression="SET paymentFor = :order, kind = :kind ADD attempts :one",
                ExpressionAttributeValues={
                    ":order": {"S": order.order_id},
                    ":kind": {"S": "PAYMENT"},
                    ":one": {"N": "1"},
                },
                ReturnValues="UPDATED_NEW",
            )
        return int(response["Attributes"]["attempts"]["N"])

    def _payment_token(self, order: Order) -> str:
        with translated_errors():
            item = self._client.get_item(
                TableName=self.table_name,
                Key={"customerId": {"S": order.customer_id}, "sk": {"S": order_sort_key(order.order_id)}},
                ProjectionExpression="paymentToken",
            ).get("Item")
        if not item:
            raise NotFound("order", order.order_id)
        return str(item["paymentToken"]["S"])

    def _set_state(
        self, order: Order, state: PaymentState, at: datetime, *, condition: str, source: str | None = None
    ) -> None:
        field = "refundedAt" if state is PaymentState.REFUNDED else "declinedAt"
        values: dict[str, Any] = {":state": {"S": state.value}, ":at": {"S": iso(at)}}
        if source is not None:
            values[":from"] = {"S": source}
        with translated_errors(on_condition_failed=_AlreadySettled):
            self._client.update_item(
                TableName=self.table_name,
                Key=self._key(order),
                UpdateExpression=f"SET paymentState = :state, {field} = :at",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )

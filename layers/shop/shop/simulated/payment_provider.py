"""The simulated payment provider: a card network's test mode, with its own ledger (a DynamoDB table).

It behaves as card networks' APIs do where the shop's correctness depends on it:

- every charge carries an idempotency key; the same key is the same charge, never a second one (asked again, the
  provider answers with the charge it made, or the decline it gave), and the same key with another amount is
  refused;
- a refund is asked for by the charge's key and happens once; asked for a key under which nothing was charged, it
  voids the key, so that a charge still on its way (a request that timed out on the shop's side) is refused when it
  arrives instead of taking money for an order that was given up;
- test tokens decide the answer deterministically: `tok_decline` is a hard decline, `tok_flaky` fails transiently
  on the first two attempts under a key and then succeeds, any other well-formed token succeeds.

Its ledger is the provider's own record of money: what the invariant checks compare the shop's orders against.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field

from shop.adapters.dynamodb import default_client, from_attributes, translated_errors
from shop.domain.errors import Conflict, DomainError
from shop.domain.models import Cents, ShopModel, Timestamp, iso
from shop.domain.payments import ChargeStatus, RefundStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

FLAKY_FAILURES = 2
# The provider's test tokens (like a card network's), not secrets.
DECLINE_TOKEN = "tok_decline"  # noqa: S105
FLAKY_TOKEN = "tok_flaky"  # noqa: S105


class ProviderUnavailable(DomainError):
    """A transient failure: the caller may try again with the same key."""


class IdempotencyKeyReused(Conflict):
    """The key was used for a charge of another amount: a caller's bug, never a second charge."""


class ChargeRequest(ShopModel):
    idempotency_key: str = Field(min_length=1, max_length=255)
    amount_cents: Cents
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    payment_token: str = Field(min_length=1, max_length=64)
    reference: str = Field(default="", max_length=255, description="The merchant's reference (the order id)")


class Charge(ShopModel):
    """The provider's answer to a charge: what happened under the key."""

    idempotency_key: str
    status: ChargeStatus
    charge_id: str | None = None
    amount_cents: Cents = 0
    reference: str = ""


class LedgerEntry(ShopModel):
    """One key in the provider's ledger (what the invariant checks read)."""

    idempotency_key: str
    status: ChargeStatus | None = None
    charge_id: str | None = None
    amount_cents: Cents = 0
    merchant_reference: str = ""
    attempts: int = 0
    refunded_cents: Cents = 0
    charged_at: Timestamp | None = None
    refunded_at: Timestamp | None = None


class _Lost(Exception):
    """Internal signal: a conditional write found the entry already written by another request."""


def charge_id_for(idempotency_key: str) -> str:
    return "ch_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]


class SimulatedPaymentProvider:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client or default_client()

    def charge(self, request: ChargeRequest, now: datetime) -> Charge:
        """Charge once per key. Raises ProviderUnavailable (transient) or IdempotencyKeyReused."""
        entry = self._count_attempt(request.idempotency_key)
        if entry.status is None:
            status = self._decide(request.payment_token, entry.attempts)
            entry = self._record(request, status, now) or self._entry(request.idempotency_key)
        if entry.status is not ChargeStatus.VOIDED and entry.amount_cents != request.amount_cents:
            raise IdempotencyKeyReused(f"key {request.idempotency_key} was used for another amount")
        return Charge(
            idempotency_key=entry.idempotency_key,
            status=entry.status or ChargeStatus.VOIDED,
            charge_id=entry.charge_id,
            amount_cents=entry.amount_cents if entry.status is ChargeStatus.SUCCEEDED else 0,
            reference=entry.merchant_reference,
        )

    def refund(self, idempotency_key: str, now: datetime) -> RefundStatus:
        """Refund the charge made under the key (once), or void the key when nothing was charged under it."""
        entry = self._entry(idempotency_key)
        if entry.status is None:
            # Nothing charged yet: void the key. A charge that lands first wins the race and is refunded below.
            voided = self._write(
                idempotency_key,
                "SET #status = :voided, voidedAt = :now",
                "attribute_not_exists(#status)",
                {":voided": {"S": ChargeStatus.VOIDED.value}, ":now": {"S": iso(now)}},
            )
            if voided:
                return RefundStatus.VOIDED
            entry = self._entry(idempotency_key)
        if entry.status is ChargeStatus.DECLINED:
            return RefundStatus.DECLINED
        if entry.status is ChargeStatus.VOIDED:
            return RefundStatus.VOIDED
        self._write(
            idempotency_key,
            "SET refundedCents = amountCents, refundedAt = :now",
            "#status = :succeeded AND attribute_not_exists(refundedAt)",
            {":succeeded": {"S": ChargeStatus.SUCCEEDED.value}, ":now": {"S": iso(now)}},
        )
        return RefundStatus.REFUNDED

    def ledger(self) -> list[LedgerEntry]:
        """Every key the provider has seen (a scan: for reconciliation and checks, not for the shop's requests)."""
        entries: list[LedgerEntry] = []
        request: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True}
        while True:
            with translated_errors():
                page = self._client.scan(**request)
            entries.extend(LedgerEntry.model_validate(from_attributes(item)) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return entries
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _decide(payment_token: str, attempt: int) -> ChargeStatus:
        if payment_token == DECLINE_TOKEN:
            return ChargeStatus.DECLINED
        if payment_token == FLAKY_TOKEN and attempt <= FLAKY_FAILURES:
            raise ProviderUnavailable(f"the card network timed out (attempt {attempt})")
        return ChargeStatus.SUCCEEDED

    def _count_attempt(self, idempotency_key: str) -> LedgerEntry:
        with translated_errors():
            response = self._client.update_item(
                TableName=self.table_name,
                Key={"idempotencyKey": {"S": idempotency_key}},
                UpdateExpression="ADD attempts :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )
        return LedgerEntry.model_validate(from_attributes(response["Attributes"]))

    def _record(self, request: ChargeRequest, status: ChargeStatus, now: datetime) -> LedgerEntry | None:
        """Write the charge's result; None when another request under the key wrote first (its result stands)."""
        succeeded = status is ChargeStatus.SUCCEEDED
        values = {
            ":status": {"S": status.value},
            ":charge": {"S": charge_id_for(request.idempotency_key)},
            ":amount": {"N": str(request.amount_cents)},
            ":reference": {"S": request.reference},
            ":now": {"S": iso(now)},
        }
        update = "SET #status = :status, chargeId = :charge, amountCents = :amount, merchantReference = :reference"
        update += ", chargedAt = :now" if succeeded else ", declinedAt = :now"
        written = self._write(request.idempotency_key, update, "attribute_not_exists(#status)", values)
        return self._entry(request.idempotency_key) if written else None

    def _write(self, key: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        """One conditional write; False when the condition did not hold (another request got there first)."""
        try:
            with translated_errors(on_condition_failed=_Lost):
                self._client.update_item(
                    TableName=self.table_name,
                    Key={"idempotencyKey": {"S": key}},
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues=values,
                )
        except _Lost:
            return False
        return True

    def _entry(self, idempotency_key: str) -> LedgerEntry:
        with translated_errors():
            item = self._client.get_item(
                TableName=self.table_name, Key={"idempotencyKey": {"S": idempotency_key}}, ConsistentRead=True
            ).get("Item")
        return LedgerEntry.model_validate(from_attributes(item or {"idempotencyKey": {"S": idempotency_key}}))

"""Pending approvals in the Orders table (sort key `APPROVAL#<orderId>`), holding the workflow's task token.

The token resumes the waiting workflow; it is read only by the code that decides, and no API returns it.
An approval moves PENDING → APPROVED | REJECTED | EXPIRED | WITHDRAWN exactly once (conditional writes).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shop.adapters.dynamodb import default_client, from_attributes, to_attributes, translated_errors
from shop.domain.approval import ApprovalState, PendingApproval
from shop.domain.errors import Conflict, NotFound
from shop.domain.models import Order, iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

APPROVAL_PREFIX = "APPROVAL#"


class AlreadyDecided(Conflict):
    """The approval was decided (or expired, or withdrawn) before this decision arrived."""


class _NotPending(Exception):
    """Internal signal: the conditional write found the approval no longer PENDING."""


class ApprovalsTable:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client or default_client()

    def _key(self, customer_id: str, order_id: str) -> dict[str, Any]:
        return {"customerId": {"S": customer_id}, "sk": {"S": f"{APPROVAL_PREFIX}{order_id}"}}

    def request(self, order: Order, task_token: str, requested_at: datetime, expires_at: datetime) -> None:
        """Store a pending approval with the token that resumes the workflow (a retried request replaces it)."""
        item = {
            "customerId": order.customer_id,
            "sk": f"{APPROVAL_PREFIX}{order.order_id}",
            "kind": "APPROVAL",
            "approvalFor": order.order_id,
            "approvalState": ApprovalState.PENDING.value,
            "totalCents": order.total_cents,
            "requestedAt": iso(requested_at),
            "expiresAt": iso(expires_at),
            "taskToken": task_token,
        }
        with translated_errors(on_condition_failed=lambda: AlreadyDecided(f"approval of {order.order_id} closed")):
            self._client.put_item(
                TableName=self.table_name,
                Item=to_attributes(item),
                ConditionExpression="attribute_not_exists(sk) OR approvalState = :pending",
                ExpressionAttributeValues={":pending": {"S": ApprovalState.PENDING.value}},
            )

    def pending(self, order: Order) -> PendingApproval | None:
        with translated_errors():
            item = self._client.get_item(
                TableName=self.table_name, Key=self._key(order.customer_id, order.order_id), ConsistentRead=True
            ).get("Item")
        if not item:
            return None
        plain = from_attributes(item)
        if plain.get("approvalState") != ApprovalState.PENDING.value:
            return None
        return PendingApproval(
            order_id=plain["approvalFor"],
            customer_id=plain["customerId"],
            total_cents=plain["totalCents"],
            requested_at=plain["requestedAt"],
            expires_at=plain["expiresAt"],
        )

    def state(self, order: Order) -> ApprovalState | None:
        """The approval's state (None: the order never waited for one)."""
        recorded = self.decision(order)
        return None if recorded is None else recorded[0]

    def decision(self, order: Order) -> tuple[ApprovalState, str | None] | None:
        """The approval's state with the approver's comment (None: the order never waited for one)."""
        with translated_errors():
            item = self._client.get_item(
                TableName=self.table_name,
                Key=self._key(order.customer_id, order.order_id),
                ProjectionExpression="approvalState, approverComment",
                ConsistentRead=True,
            ).get("Item")
        if not item:
            return None
        plain = from_attributes(item)
        return ApprovalState(plain["approvalState"]), plain.get("approverComment")

    def settle(self, order: Order, outcome: ApprovalState, at: datetime, sources: tuple[ApprovalState, ...]) -> bool:
        """Bring the approval to `outcome` from one of `sources` (how the order ended decides). False when it had
        moved on meanwhile."""
        names = {f":from{i}": {"S": source.value} for i, source in enumerate(sources)}
        try:
            with translated_errors(on_condition_failed=_NotPending):
                self._client.update_item(
                    TableName=self.table_name,
                    Key=self._key(order.customer_id, order.order_id),
                    UpdateExpression="SET approvalState = :outcome, settledAt = :at",
                    ConditionExpression=f"approvalState IN ({', '.join(names)})",
                    ExpressionAttributeValues={":outcome": {"S": outcome.value}, ":at": {"S": iso(at)}, **names},
                )
        except _NotPending:
            return False
        return True

    def close(self, order: Order, outcome: ApprovalState, at: datetime, comment: str | None = None) -> str:
        """Move a PENDING approval to `outcome` and hand back its task token.

        Raises NotFound when the order never waited for approval, AlreadyDecided when it no longer waits.
        """
        values: dict[str, Any] = {
            ":pending": {"S": ApprovalState.PENDING.value},
            ":outcome": {"S": outcome.value},
            ":at": {"S": iso(at)},
        }
        update = "SET approvalState = :outcome, decidedAt = :at"
        if comment:
            update += ", approverComment = :comment"
            values[":comment"] = {"S": comment}
        try:
            with translated_errors(on_condition_failed=_NotPending):
                response = self._client.update_item(
                    TableName=self.table_name,
                    Key=self._key(order.customer_id, order.order_id),
                    UpdateExpression=update,
                    ConditionExpression="approvalState = :pending",
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
        except _NotPending:
            with translated_errors():
                exists = "Item" in self._client.get_item(
                    TableName=self.table_name, Key=self._key(order.customer_id, order.order_id)
                )
            if not exists:
                raise NotFound("pending approval", order.order_id) from None
            raise AlreadyDecided(f"the approval of order {order.order_id} is already closed") from None
        return str(response["Attributes"]["taskToken"]["S"])

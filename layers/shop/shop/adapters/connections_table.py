"""The Connections table: one item per open WebSocket connection, keyed by its id, with two sparse look-ups.

- "this connection": GetItem/DeleteItem on `connectionId` (the table's key; $disconnect and a 410 know only it);
- "all connections of this customer": Query on the `byCustomer` index (`customerId`);
- "all approvers' connections": Query on the `byApproverGroup` index (`approverGroup`, written only on the
  connections of the approvers group's members, so the index holds nobody else).

`expiresAt` (epoch seconds) is the table's TTL attribute. DynamoDB deletes expired items late (within days), so
the look-ups skip them themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shop.adapters.dynamodb import default_client, to_attributes, translated_errors
from shop.domain.live import Connection
from shop.domain.models import iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BY_CUSTOMER = "byCustomer"
BY_APPROVER_GROUP = "byApproverGroup"


class ConnectionsTable:
    def __init__(self, table_name: str, approvers_group: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.approvers_group = approvers_group
        self._client = client or default_client()

    def add(self, connection: Connection) -> None:
        item = {
            "connectionId": connection.connection_id,
            "customerId": connection.customer_id,
            "groups": sorted(connection.groups),
            "approverGroup": self.approvers_group if self.approvers_group in connection.groups else None,
            "connectedAt": iso(connection.connected_at),
            "expiresAt": int(connection.expires_at.timestamp()),
        }
        with translated_errors():
            self._client.put_item(TableName=self.table_name, Item=to_attributes(item))

    def remove(self, connection_id: str) -> None:
        """Forget a connection (no error if it is already gone: $disconnect and a 410 may both remove it)."""
        with translated_errors():
            self._client.delete_item(TableName=self.table_name, Key={"connectionId": {"S": connection_id}})

    def of_customer(self, customer_id: str, now: datetime) -> list[str]:
        """The ids of the customer's open connections (every tab and device they are signed in on)."""
        return list(self._query(BY_CUSTOMER, "customerId", customer_id, now))

    def of_approvers(self, now: datetime) -> list[str]:
        """The ids of every open connection of a member of the approvers group."""
        return list(self._query(BY_APPROVER_GROUP, "approverGroup", self.approvers_group, now))

    def _query(self, index: str, key: str, value: str, now: datetime) -> Iterator[str]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": "#key = :value",
            "FilterExpression": "expiresAt > :now",
            "ProjectionExpression": "connectionId",
            "ExpressionAttributeNames": {"#key": key},
            "ExpressionAttributeValues": {":value": {"S": value}, ":now": {"N": str(int(now.timestamp()))}},
        }
        while True:
            with translated_errors():
                page = self._client.query(**request)
            for item in page.get("Items", []):
                yield str(item["connectionId"]["S"])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

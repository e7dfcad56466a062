"""Which stream record was sent to which WebSocket connection: one conditional write per pair, in the
Idempotency table (key `id`, TTL `expiration`), claimed before the message is posted.

Why not Powertools' idempotency utility on the whole record, as order_events uses: it remembers a record only
once every connection has been served, and forgets it when the handler raises. A record that reached two of
three connections and failed on the third would, on the retry, reach the first two again. A claim per connection
is taken before its post and kept once the post is made, so a retried or bisected batch (the same eventID) skips
every connection already served and sends only to the others: at most once per connection. A claim is given back
only when API Gateway refused the message (nothing was delivered), so the retry may send it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shop.adapters.dynamodb import default_client, translated_errors
from shop.adapters.stream_records import RECORD_KEY_LIFETIME_SECONDS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY_PREFIX = "live-push"


class _AlreadyClaimed(Exception):
    """Internal signal: the conditional write found the pair claimed."""


class Deliveries:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client or default_client()
        # Longer than a record can be delivered again (the stream keeps it 24 hours).
        self.lifetime = timedelta(seconds=RECORD_KEY_LIFETIME_SECONDS)

    @staticmethod
    def key(connection_id: str, event_id: str) -> str:
        return f"{KEY_PREFIX}#{connection_id}#{event_id}"

    def claim(self, connection_id: str, event_id: str, now: datetime) -> bool:
        """True when this pair was not claimed before (the caller sends), False when it was (the caller skips)."""
        try:
            with translated_errors(on_condition_failed=_AlreadyClaimed):
                self._client.put_item(
                    TableName=self.table_name,
                    Item={
                        "id": {"S": self.key(connection_id, event_id)},
                        "expiration": {"N": str(int((now + self.lifetime).timestamp()))},
                    },
                    ConditionExpression="attribute_not_exists(id)",
                )
        except _AlreadyClaimed:
            return False
        return True

    def release(self, connection_id: str, event_id: str) -> None:
        """Give a claim back: the message did not reach the client, and a retry of the record may send it."""
        with translated_errors():
            self._client.delete_item(TableName=self.table_name, Key={"id": {"S": self.key(connection_id, event_id)}})

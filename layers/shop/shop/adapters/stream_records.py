"""Once per stream record: DynamoDB Streams delivers a record again when its batch is retried (a bisected batch,
a time-out after the work), always with the same eventID. Powertools' idempotency utility keys on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.dynamodb import default_client

# Longer than a record lives in the stream (24 hours): no redelivery can outlive its key.
RECORD_KEY_LIFETIME_SECONDS = 24 * 3600


class OncePerRecord:
    """Wraps `handle(*, change)` so that a change with an eventID already handled returns the first result."""

    def __init__(self, handle: Callable[..., Any], idempotency_table_name: str) -> None:
        self.config = IdempotencyConfig(event_key_jmespath="eventID", expires_after_seconds=RECORD_KEY_LIFETIME_SECONDS)
        self._handle: Callable[..., Any] = idempotent_function(
            handle,
            data_keyword_argument="change",
            persistence_store=DynamoDBPersistenceLayer(
                table_name=idempotency_table_name, boto3_client=default_client()
            ),
            config=self.config,
        )

    def register(self, context: LambdaContext) -> None:
        """Call at the start of each invocation: a record in progress past the remaining time may be taken over."""
        self.config.register_lambda_context(context)

    def __call__(self, change: dict[str, Any]) -> Any:
        return self._handle(change=change)

"""DynamoDB's item calls served by moto's own DynamoHandler methods, without the layers moto's server puts around
them: its service dispatcher, Flask, and the generic serializer that walks botocore's shapes to write a response
which is already DynamoDB's JSON. Those layers cost three times what the call itself does, and every function's
every read and write goes through them.

The handler is moto's (the same validation, the same backend, the same errors); only the way in and out differs.
A request is left to moto's full path when it is not an item call or carries binary attributes (moto's request
parser decodes base64 there, which a plain JSON load does not). tests/localcloud/test_dynamodb_direct.py compares
both paths, answers and errors alike.
"""

from __future__ import annotations

import calendar
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.models import dynamodbstreams_backends

from localcloud.iam import credential_scope

# X-Amz-Target operation -> DynamoHandler method.
OPERATIONS = {
    "GetItem": "get_item",
    "PutItem": "put_item",
    "UpdateItem": "update_item",
    "DeleteItem": "delete_item",
    "Query": "query",
    "Scan": "scan",
    "BatchGetItem": "batch_get_item",
    "BatchWriteItem": "batch_write_item",
    "TransactGetItems": "transact_get_items",
    "TransactWriteItems": "transact_write_items",
}
_BINARY = re.compile(rb'"BS?"\s*:')
CONTENT_TYPE = "application/x-amz-json-1.0"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    answered: dict[str, Any]  # the body's JSON (an error's has its `__type`)


class DirectDynamoDB:
    """Answers DynamoDB item calls for one account from moto's backend in this process."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def answer(self, operation: str, body: bytes, request: dict[str, Any], authorization: str) -> Answer | None:
        """DynamoDB's answer to the call (`request` is `body` parsed), or None when moto's full path should serve it."""
        method = OPERATIONS.get(operation)
        signed = credential_scope(authorization)  # the region the request was signed for
        if method is None or signed is None or _BINARY.search(body):
            return None
        handler = DynamoHandler()
        handler.body = request
        handler.current_account = self.account_id
        handler.region = signed[1]
        try:
            result = getattr(handler, method)().result
        except JsonRESTError as error:  # DynamoDB's errors: validation, conditional checks, cancelled transactions
            return Answer(error.code, _headers(), error.get_body().encode(), {"__type": error.error_type})
        answered = result if isinstance(result, dict) else {}
        return Answer(200, _headers(), json.dumps(answered).encode(), answered)


def stream_answer(account_id: str, operation: str, request: dict[str, Any], authorization: str) -> Answer | None:
    """DynamoDB Streams' GetShardIterator and GetRecords (what every stream poller calls, and each table's stream
    has a poller per function it feeds) from moto's streams backend, as moto's handler makes them; None for any
    other call, or one moto's full path should answer (its own errors)."""
    signed = credential_scope(authorization)
    if operation not in ("GetShardIterator", "GetRecords") or signed is None:
        return None
    backend = dynamodbstreams_backends[account_id][signed[1]]
    try:
        if operation == "GetRecords":
            answered = backend.get_records(str(request["ShardIterator"]), int(request.get("Limit") or 1000))
        else:
            sequence = request.get("SequenceNumber")
            iterator = backend.get_shard_iterator(
                str(request["StreamArn"]),
                str(request["ShardId"]),
                str(request["ShardIteratorType"]),
                cast(Any, int(sequence) if isinstance(sequence, str) else sequence),  # as moto's handler passes it
            )
            answered = {"ShardIterator": iterator.arn}
    except (KeyError, ValueError, TypeError, JsonRESTError):  # moto's path answers a bad call with its own error
        return None
    return Answer(200, _headers(), json.dumps(answered, default=_epoch_seconds).encode(), answered)


def _epoch_seconds(value: Any) -> float:
    """A stream record's ApproximateCreationDateTime (moto keeps a naive UTC datetime), as moto's serializer writes a
    timestamp for DynamoDB Streams' JSON: seconds since the epoch, to the millisecond."""
    if isinstance(value, datetime):
        return calendar.timegm(value.timetuple()) + (value.microsecond // 1000) / 1000.0
    raise TypeError(f"{type(value).__name__} is not JSON")


def _headers() -> list[tuple[str, str]]:
    return [("Content-Type", CONTENT_TYPE), ("x-amzn-RequestId", str(uuid.uuid4()))]

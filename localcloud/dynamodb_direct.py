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

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.responses import DynamoHandler

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


def _headers() -> list[tuple[str, str]]:
    return [("Content-Type", CONTENT_TYPE), ("x-amzn-RequestId", str(uuid.uuid4()))]

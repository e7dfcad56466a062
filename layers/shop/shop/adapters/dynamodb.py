"""DynamoDB plumbing shared by the table adapters: the default client, item conversion, error translation."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from shop.domain.errors import InvalidPageToken, Throttled

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Item = dict[str, Any]
AttributeMap = dict[str, Any]

THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "TransactionConflictException",
    }
)

# What a cancelled transaction's per-item reasons say when the item was not the problem but contention was:
# another transaction held it, or the table was throttled. Retrying the same transaction is right.
CONTENTION_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
CONDITION_FAILED = "ConditionalCheckFailed"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@cache
def default_client() -> DynamoDBClient:
    """One client per process, built on first use (not at import) so cold starts only pay when needed."""
    return boto3.client("dynamodb")


def to_attributes(item: Mapping[str, Any]) -> AttributeMap:
    """A plain JSON-like dict to DynamoDB's typed attribute map (None values are left out)."""
    return {key: _serializer.serialize(value) for key, value in item.items() if value is not None}


def from_attributes(attributes: Mapping[str, Any]) -> Item:
    """DynamoDB's typed attribute map to plain Python, with whole numbers as int (not Decimal)."""
    return {key: _plain(_deserializer.deserialize(value)) for key, value in attributes.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_plain(inner) for inner in value]
    return value


def encode_page_token(last_key: AttributeMap | None) -> str | None:
    """An opaque token for the next page (DynamoDB's LastEvaluatedKey, base64url-encoded JSON)."""
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, sort_keys=True).encode()).decode().rstrip("=")


def decode_page_token(token: str | None, key_formats: Mapping[str, re.Pattern[str]]) -> AttributeMap | None:
    """The LastEvaluatedKey inside a token, or InvalidPageToken if it is not one we could have made: exactly the
    key attributes of the listing, each a string of its stored format, written as encode_page_token writes it."""
    if token is None:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise InvalidPageToken("nextToken is not a token this API issued") from exc
    if not isinstance(decoded, dict) or set(decoded) != set(key_formats):
        raise InvalidPageToken("nextToken is not a token this API issued")
    for name, value in decoded.items():
        if not (isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str)):
            raise InvalidPageToken("nextToken is not a token this API issued")
        if not key_formats[name].fullmatch(value["S"]):
            raise InvalidPageToken("nextToken is not a token this API issued")
    if encode_page_token(decoded) != token:
        raise InvalidPageToken("nextToken is not a token this API issued")
    return decoded


def cancellation_codes(error: ClientError) -> list[str]:
    """Per-item codes of a cancelled transaction ("" where that item was fine); [] for any other error."""
    if error.response["Error"]["Code"] != "TransactionCanceledException":
        return []
    reasons = error.response.get("CancellationReasons", [])
    return ["" if reason.get("Code") in (None, "None") else str(reason["Code"]) for reason in reasons]


def is_contention(error: BaseException) -> bool:
    """A write refused for contention or throttling alone: the same write may succeed when tried again.

    A transaction with any ConditionalCheckFailed is not contention: a condition is the answer, not the weather.
    """
    if not isinstance(error, ClientError):
        return False
    if error.response["Error"]["Code"] in THROTTLING_CODES:
        return True
    codes = set(cancellation_codes(error)) - {""}
    return bool(codes) and CONDITION_FAILED not in codes and codes <= CONTENTION_REASONS


T = TypeVar("T")


def retry_contention(call: Callable[[], T], *, attempts: int = 6, max_wait: float = 2.0) -> T:
    """Run `call`, retrying it with exponential backoff and full jitter while DynamoDB refuses it for contention.

    Past the attempts, the last contention becomes Throttled: the workflow's own retry policy takes over.
    """
    retrying = Retrying(
        retry=retry_if_exception(is_contention),
        wait=wait_random_exponential(multiplier=0.05, max=max_wait),
        stop=stop_after_attempt(attempts),
        reraise=True,
    )
    try:
        return retrying(call)
    except ClientError as exc:
        if is_contention(exc):
            raise Throttled(
                f"DynamoDB kept refusing the write for contention ({exc.response['Error']['Code']})"
            ) from exc
        raise


def _is_condition_failure(error: ClientError) -> bool:
    if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
        return True
    return CONDITION_FAILED in cancellation_codes(error)


@contextmanager
def translated_errors(on_condition_failed: Callable[[], Exception] | None = None) -> Iterator[None]:
    """Turn DynamoDB's error codes into domain exceptions; anything unexpected propagates unchanged."""
    try:
        yield
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if on_condition_failed is not None and _is_condition_failure(exc):
            raise on_condition_failed() from exc
        if code in THROTTLING_CODES:
            raise Throttled(f"DynamoDB throttled the request ({code})") from exc
        raise

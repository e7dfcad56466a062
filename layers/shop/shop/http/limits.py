"""Request guards applied before routing: a body is refused before the API's parser meets it when it is too large,
not JSON by its media type, not UTF-8, nested too deep or carrying a number too long to convert.

Python's own parser would otherwise fail in ways that are not the caller's fault to read: a `RecursionError` on
JSON nested a thousand deep, a `ValueError` on an integer of more than 4,300 digits.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.middleware_factory import lambda_handler_decorator

from shop.http.problems import PROBLEM_JSON, problem_body

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
# Longer numbers than any field of the contract needs (a quantity, an amount in cents) are refused, not converted.
MAX_NUMBER_CHARACTERS = 32
JSON_MEDIA_TYPE = "application/json"


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, detail: str, kind: str) -> None:
        super().__init__(detail)
        self.status, self.detail, self.kind = status, detail, kind


def _header(event: dict[str, Any], name: str) -> str | None:
    """A request header, its name compared case-insensitively (HTTP header names are)."""
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def _body_bytes(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise _Refused(HTTPStatus.BAD_REQUEST, "the request body is not valid base64", "malformed-json") from None
    try:
        return str(body).encode("utf-8")
    except UnicodeEncodeError:
        raise _Refused(HTTPStatus.BAD_REQUEST, "the request body is not UTF-8 text", "malformed-json") from None


def _check_media_type(event: dict[str, Any]) -> None:
    content_type = _header(event, "content-type")
    media_type, *parameters = (content_type or "").split(";")
    if media_type.strip().lower() != JSON_MEDIA_TYPE:
        raise _Refused(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"the request body must be {JSON_MEDIA_TYPE} (got {content_type or 'no Content-Type'})",
            "unsupported-media-type",
        )
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise _Refused(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"the request body must be UTF-8 (got charset {value.strip()})",
                "unsupported-media-type",
            )


def _depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not count)."""
    deepest = depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _number(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def checked(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARACTERS:
            raise _Refused(
                HTTPStatus.BAD_REQUEST,
                f"the request body has a number longer than {MAX_NUMBER_CHARACTERS} characters",
                "malformed-json",
            )
        number = convert(text)
        if isinstance(number, float) and not math.isfinite(number):
            raise _Refused(
                HTTPStatus.BAD_REQUEST, f"the request body has a number out of range ({text})", "malformed-json"
            )
        return number

    return checked


def _not_json(constant: str) -> Any:
    raise _Refused(HTTPStatus.BAD_REQUEST, f"the request body is not valid JSON ({constant})", "malformed-json")


def _check_json(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused(HTTPStatus.BAD_REQUEST, "the request body is not UTF-8 text", "malformed-json") from None
    if _depth(text) > MAX_JSON_DEPTH:
        raise _Refused(
            HTTPStatus.BAD_REQUEST, f"the request body nests deeper than {MAX_JSON_DEPTH} levels", "malformed-json"
        )
    try:
        json.loads(text, parse_int=_number(int), parse_float=_number(float), parse_constant=_not_json)
    except ValueError:
        raise _Refused(HTTPStatus.BAD_REQUEST, "the request body is not valid JSON", "malformed-json") from None
    return text


def _guarded(event: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """The event with its body checked (and, when it came base64-encoded, as the JSON text it is)."""
    raw = _body_bytes(event)
    if len(raw) > max_bytes:
        raise _Refused(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"the request body is larger than {max_bytes} bytes",
            "payload-too-large",
        )
    if not raw.strip():
        return event
    _check_media_type(event)
    text = _check_json(raw)
    # The API's own parser compares the media type as written: hand it the one spelling it reads.
    checked = {**event, "headers": _json_content_type(event.get("headers"))}
    if "multiValueHeaders" in event:
        checked["multiValueHeaders"] = _json_content_type(event.get("multiValueHeaders"), multi=True)
    if event.get("isBase64Encoded"):
        checked.update(body=text, isBase64Encoded=False)
    return checked


def _json_content_type(headers: dict[str, Any] | None, *, multi: bool = False) -> dict[str, Any]:
    kept = {name: value for name, value in (headers or {}).items() if name.lower() != "content-type"}
    kept["Content-Type"] = [JSON_MEDIA_TYPE] if multi else JSON_MEDIA_TYPE
    return kept


@lambda_handler_decorator
def guard_request_body(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    event: dict[str, Any],
    context: Any,
    max_bytes: int = MAX_BODY_BYTES,
) -> dict[str, Any]:
    """Answer 413, 415 or 400 (problem+json) for a body the API will not read; otherwise run the handler."""
    try:
        checked = _guarded(event, max_bytes)
    except _Refused as refused:
        return {
            "statusCode": refused.status.value,
            "headers": {"Content-Type": PROBLEM_JSON},
            "body": problem_body(refused.status, refused.detail, kind=refused.kind),
            "isBase64Encoded": False,
        }
    return handler(checked, context)

"""Request limits applied before routing, so an oversize body is refused before it is even parsed."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.middleware_factory import lambda_handler_decorator

from shop.http.problems import PROBLEM_JSON, problem_body

MAX_BODY_BYTES = 64 * 1024


def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return len(base64.b64decode(body))
        except (binascii.Error, ValueError):
            return len(body)
    return len(body.encode("utf-8"))


@lambda_handler_decorator
def limit_body_size(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    event: dict[str, Any],
    context: Any,
    max_bytes: int = MAX_BODY_BYTES,
) -> dict[str, Any]:
    """Answer 413 for a body over `max_bytes`; otherwise run the handler."""
    if _body_size(event) > max_bytes:
        return {
            "statusCode": HTTPStatus.REQUEST_ENTITY_TOO_LARGE.value,
            "headers": {"Content-Type": PROBLEM_JSON},
            "body": problem_body(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the request body is larger than {max_bytes} bytes",
                kind="payload-too-large",
            ),
            "isBase64Encoded": False,
        }
    return handler(event, context)

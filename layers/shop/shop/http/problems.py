"""The one place where exceptions become HTTP responses: RFC 9457 problem details.

Every error an API function returns is `application/problem+json` with `type`, `title`, `status`, `detail`
and, for field problems, `errors`. Status codes come from exception types, never from message text.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from pydantic import BaseModel, Field

from shop.domain.errors import (
    Conflict,
    InvalidPageToken,
    InvalidRequest,
    NotFound,
    OwnOrder,
    Throttled,
)
from shop.observability import logger

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:problem:order-fulfillment:"


class FieldError(BaseModel):
    location: list[str | int] = Field(description="Path to the offending field, e.g. ['body', 'items', 0]")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response carries them."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


def problem_body(
    status: HTTPStatus,
    detail: str,
    *,
    kind: str | None = None,
    errors: list[FieldError] | None = None,
) -> str:
    problem = Problem(
        type=f"{PROBLEM_TYPE_BASE}{kind}" if kind else "about:blank",
        title=status.phrase,
        status=status.value,
        detail=detail,
        errors=errors,
    )
    return json.dumps(problem.model_dump(exclude_none=True), separators=(",", ":"))


def problem(
    status: HTTPStatus,
    detail: str,
    *,
    kind: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    return Response(
        status_code=status.value,
        content_type=PROBLEM_JSON,
        body=problem_body(status, detail, kind=kind, errors=errors),
        headers=headers,
    )


def _field_errors(errors: list[dict[str, Any]]) -> list[FieldError]:
    return [
        FieldError(location=list(error.get("loc", ())), message=str(error.get("msg", "invalid"))) for error in errors
    ]


def register(app: ApiGatewayResolver) -> None:
    """Install the problem-details handlers on a resolver."""

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response[str]:
        errors = exc.errors()
        if any(error.get("type") == "json_invalid" for error in errors):
            return problem(HTTPStatus.BAD_REQUEST, "the request body is not valid JSON", kind="malformed-json")
        return problem(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "the request does not match the API contract",
            kind="validation",
            errors=_field_errors(list(errors)),
        )

    @app.exception_handler(InvalidRequest)
    def _business_rule(exc: InvalidRequest) -> Response[str]:
        errors = [FieldError(location=list(p.location), message=p.message) for p in exc.problems]
        return problem(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc), kind="validation", errors=errors)

    @app.exception_handler(InvalidPageToken)
    def _bad_token(exc: InvalidPageToken) -> Response[str]:
        return problem(HTTPStatus.BAD_REQUEST, str(exc), kind="invalid-page-token")

    @app.exception_handler(OwnOrder)
    def _own_order(exc: OwnOrder) -> Response[str]:
        return problem(HTTPStatus.FORBIDDEN, str(exc), kind="own-order")

    @app.exception_handler(NotFound)
    def _not_found(exc: NotFound) -> Response[str]:
        return problem(HTTPStatus.NOT_FOUND, str(exc), kind="not-found")

    @app.exception_handler(IdempotencyValidationError)
    def _key_reused(exc: IdempotencyValidationError) -> Response[str]:
        return problem(
            HTTPStatus.CONFLICT,
            "this Idempotency-Key was already used with a different request body",
            kind="idempotency-key-reused",
        )

    @app.exception_handler(IdempotencyAlreadyInProgressError)
    def _in_progress(exc: IdempotencyAlreadyInProgressError) -> Response[str]:
        return problem(
            HTTPStatus.CONFLICT,
            "a request with this Idempotency-Key is still being processed; retry shortly",
            kind="idempotency-key-in-progress",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Conflict)
    def _conflict(exc: Conflict) -> Response[str]:
        return problem(HTTPStatus.CONFLICT, str(exc), kind="conflict")

    @app.exception_handler(Throttled)
    def _throttled(exc: Throttled) -> Response[str]:
        return problem(HTTPStatus.TOO_MANY_REQUESTS, "the service is busy; retry shortly", headers={"Retry-After": "1"})

    @app.exception_handler(ServiceError)
    def _http_error(exc: ServiceError) -> Response[str]:
        return problem(HTTPStatus(exc.status_code), str(exc.msg))

    @app.not_found
    def _no_route(exc: Exception) -> Response[str]:
        return problem(HTTPStatus.NOT_FOUND, "no such resource", kind="not-found")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        # Internals stay in the log; the caller only learns that it was our fault.
        logger.exception("unhandled error")
        return problem(HTTPStatus.INTERNAL_SERVER_ERROR, "an internal error occurred")

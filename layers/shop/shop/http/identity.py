"""The caller's identity from the claims that API Gateway's Cognito authorizer put in the event.

API Gateway already refuses unauthenticated calls; checking again here means a misconfigured route
(an authorizer accidentally removed) fails closed instead of serving anonymous requests.
"""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.event_handler.exceptions import ForbiddenError, UnauthorizedError
from pydantic import ValidationError

from shop.domain.models import Caller

_GROUP_SEPARATORS = re.compile(r"[,\s]+")


def parse_groups(claim: Any) -> frozenset[str]:
    """`cognito:groups` arrives as "a,b" from REST APIs, "[a b]" from HTTP APIs, or a list from tests."""
    if isinstance(claim, list):
        return frozenset(str(group) for group in claim)
    if not isinstance(claim, str):
        return frozenset()
    return frozenset(group for group in _GROUP_SEPARATORS.split(claim.strip("[]")) if group)


def caller_from_claims(claims: dict[str, Any] | None) -> Caller:
    if not claims or claims.get("token_use", "id") != "id":
        raise UnauthorizedError("a valid ID token is required")
    try:
        return Caller(
            customer_id=claims.get("sub", ""),
            groups=parse_groups(claims.get("cognito:groups")),
            email=claims.get("email"),
        )
    except ValidationError as exc:
        raise UnauthorizedError("a valid ID token is required") from exc


def signed_in_caller(event: Any) -> Caller:
    """Any signed-in user (customer or admin)."""
    authorizer = event.request_context.authorizer
    return caller_from_claims(authorizer.claims if authorizer else None)


def customer_caller(event: Any) -> Caller:
    """A signed-in member of the `customers` group."""
    caller = signed_in_caller(event)
    if not caller.is_customer:
        raise ForbiddenError("this action is for customers")
    return caller


def admin_caller(event: Any) -> Caller:
    """A signed-in member of the `admins` group."""
    caller = signed_in_caller(event)
    if not caller.is_admin:
        raise ForbiddenError("this action is for admins")
    return caller


def customer_or_admin_caller(event: Any) -> Caller:
    """A signed-in member of `customers` or `admins`."""
    caller = signed_in_caller(event)
    if not (caller.is_customer or caller.is_admin):
        raise ForbiddenError("this action is for customers and admins")
    return caller


def carrier_caller(event: Any) -> str:
    """A partner carrier: API Gateway matched its API key. Returns the key's id (for the logs)."""
    key_id = getattr(event.request_context.identity, "api_key_id", None)
    if not key_id:
        raise ForbiddenError("an API key is required")
    return str(key_id)

"""The answer of a Lambda REQUEST authorizer: an IAM policy on the route's method ARN, and a context that API
Gateway hands to the integration of every route of the connection (`requestContext.authorizer`). Context values
may only be strings, numbers or booleans, hence the groups joined with commas."""

from __future__ import annotations

from typing import Any

from shop.domain.models import Caller

ANONYMOUS = "anonymous"


def _policy(effect: str, principal_id: str, method_arn: str) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}],
        },
    }


def allow(method_arn: str, caller: Caller) -> dict[str, Any]:
    answer = _policy("Allow", caller.customer_id, method_arn)
    answer["context"] = {
        "customerId": caller.customer_id,
        "groups": ",".join(sorted(caller.groups)),
        "email": caller.email or "",
    }
    return answer


def deny(method_arn: str) -> dict[str, Any]:
    return _policy("Deny", ANONYMOUS, method_arn)


def caller_from_context(context: dict[str, Any] | None) -> Caller | None:
    """The caller that `allow` described, as a route's integration receives it (requestContext.authorizer); None
    when there is none (a route left without the authorizer: the caller then fails closed)."""
    context = context or {}
    customer_id = str(context.get("customerId") or "")
    if not customer_id:
        return None
    groups = str(context.get("groups") or "")
    return Caller(
        customer_id=customer_id,
        groups=frozenset(group for group in groups.split(",") if group),
        email=str(context["email"]) if context.get("email") else None,
    )

"""Calling an API function the way API Gateway does: a REST proxy event in, a proxy response out."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.support.context import FakeLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"
STAGE = "api"


def claims_for(sub: str, *groups: str, email: str | None = None) -> dict[str, Any]:
    """The claims API Gateway's Cognito authorizer passes for an ID token (groups as one string)."""
    claims: dict[str, Any] = {
        "sub": sub,
        "email": email or f"{sub}@example.com",
        "email_verified": "true",
        "token_use": "id",
        "aud": "testclientid",
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test",
        "cognito:username": sub,
        "auth_time": "1764062400",
        "exp": "Tue Nov 25 10:00:00 UTC 2026",
        "iat": "Tue Nov 25 09:00:00 UTC 2026",
    }
    if groups:
        claims["cognito:groups"] = ",".join(groups)
    return claims


def customer(sub: str = "customer-a") -> dict[str, Any]:
    return claims_for(sub, "customers")


def admin(sub: str = "admin-1") -> dict[str, Any]:
    return claims_for(sub, "admins")


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


class ApiCaller:
    """Builds events from the function's file in events/ and invokes its handler in-process."""

    def __init__(self, module: ModuleType, event_name: str) -> None:
        self.module = module
        self.base_event = json.loads((EVENTS / f"{event_name}.json").read_text())

    def event(
        self,
        method: str,
        path: str,
        *,
        resource: str | None = None,
        path_parameters: dict[str, str] | None = None,
        body: Any = None,
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        claims: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        event = copy.deepcopy(self.base_event)
        all_headers = {"Accept": "application/json", "Content-Type": "application/json"} | (headers or {})
        event.update(
            {
                "httpMethod": method,
                "path": path,
                "resource": resource or path,
                "pathParameters": path_parameters,
                "queryStringParameters": query,
                "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
                "headers": all_headers,
                "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
                "body": raw_body if raw_body is not None else (json.dumps(body) if body is not None else None),
                "isBase64Encoded": False,
            }
        )
        context = event["requestContext"]
        context.update(
            {
                "httpMethod": method,
                "path": f"/{STAGE}{path}",
                "resourcePath": resource or path,
                "stage": STAGE,
                "requestId": str(uuid.uuid4()),
            }
        )
        if claims is None:
            context.pop("authorizer", None)
        else:
            context["authorizer"] = {"claims": claims}
        return event

    def invoke(self, event: dict[str, Any]) -> ApiResponse:
        result = self.module.lambda_handler(event, FakeLambdaContext())
        headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers.setdefault(name, values[-1])
        return ApiResponse(status=result["statusCode"], headers=headers, body=result.get("body") or "")

    def call(self, method: str, path: str, **kwargs: Any) -> ApiResponse:
        return self.invoke(self.event(method, path, **kwargs))


PROBLEM_JSON = "application/problem+json"


def assert_problem(response: ApiResponse, status: int) -> dict[str, Any]:
    """The response is a problem document (RFC 9457) with this status; returns it."""
    assert response.status == status, response.body
    assert response.content_type == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem

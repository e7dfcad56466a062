"""OpenAPI descriptions shared by the API functions: the ID-token security scheme and problem responses.

Only documentation: what the routes really do is decided by the resolver, identity and problems modules.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from shop.http.problems import PROBLEM_JSON, Problem

# Plain OpenAPI dicts rather than Powertools' pydantic models: importing those models costs every API
# function ~50 ms of cold start (measured with `make bench`), and the generated document is identical.
SECURITY_SCHEMES: dict[str, Any] = {
    "CognitoIdToken": {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "The Cognito ID token, bare or prefixed with 'Bearer '",
    },
    "CarrierApiKey": {
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
        "description": "A partner carrier's API key (its usage plan throttles it)",
    },
}
ID_TOKEN: list[dict[str, list[str]]] = [{"CognitoIdToken": []}]
API_KEY: list[dict[str, list[str]]] = [{"CarrierApiKey": []}]


def responses(
    status: int,
    description: str,
    model: type | None,
    *errors: int,
) -> dict[int, Any]:
    """The success response and the problem responses a route can give: 500 always, 422 when validated, and 429
    (API Gateway throttles any route: the stage's limits, and the carrier's usage plan)."""
    success: dict[str, Any] = {"description": description, "content": {}}  # no body: Powertools would document one
    if model is not None:
        success["content"] = {"application/json": {"model": model}}
    documented: dict[int, Any] = {status: success}
    for code in sorted({*errors, 422, 429, 500}):
        documented[code] = {
            "description": HTTPStatus(code).phrase,
            "content": {PROBLEM_JSON: {"model": Problem}},
        }
    return documented

"""The REST API's routes, read from its OpenAPI body as API Gateway reads it: which function each method of each
resource invokes and which check guards it (a Cognito authorizer, an API key, none), and the resource paths
compiled for matching a request's path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Auth = Literal["cognito", "api_key", "none"]

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})
_ANY_METHOD = "x-amazon-apigateway-any-method"


@dataclass(frozen=True)
class Route:
    """One method of one API resource, proxied to one function."""

    method: str  # "GET", or "ANY" for x-amazon-apigateway-any-method
    resource: str  # "/orders/{orderId}" (API Gateway resource path)
    function_logical_id: str  # "OrdersApiFunction" (from the integration uri)
    auth: Auth
    # The integration's cacheKeyParameters (method.request.path.productId...): what the stage cache keys on.
    cache_key_parameters: tuple[str, ...] = ()


_FUNCTION_IN_URI = re.compile(r"/functions/\$\{(?P<ref>[A-Za-z0-9]+(?:\.Arn)?)\}/invocations$")
_ALIAS_REF = re.compile(r"^(?P<function>[A-Za-z0-9]+)Alias[A-Za-z0-9]+$")  # SAM names aliases <Function>Alias<name>


def routes_from_rest_api(body: Mapping[str, Any]) -> list[Route]:
    """The proxy routes of a RestApi Body (OpenAPI 3 or Swagger 2) from the transformed template.

    CORS preflight mocks are skipped (the gateway answers OPTIONS itself); any other integration type or
    authorizer this emulator cannot honour is a ValueError rather than a route served without its checks.
    """
    schemes: Mapping[str, Any] = body.get("components", {}).get("securitySchemes") or body.get(
        "securityDefinitions", {}
    )
    default_security: list[Mapping[str, Any]] = body.get("security") or []
    routes: list[Route] = []
    for resource, operations in body.get("paths", {}).items():
        for key, operation in operations.items():
            method = "ANY" if key == _ANY_METHOD else key.upper() if key.lower() in _HTTP_METHODS else None
            if method is None:  # "parameters", vendor extensions
                continue
            where = f"{method} {resource}"
            integration = operation.get("x-amazon-apigateway-integration", {})
            kind = integration.get("type")
            if kind == "mock" and method == "OPTIONS":
                continue
            if kind != "aws_proxy":
                raise ValueError(f"{where}: integration type {kind!r} is not supported (only aws_proxy)")
            security = operation.get("security", default_security)
            routes.append(
                Route(
                    method=method,
                    resource=resource,
                    function_logical_id=_function_of(integration.get("uri"), where),
                    auth=_auth_of(security, schemes, where),
                    cache_key_parameters=tuple(str(name) for name in integration.get("cacheKeyParameters", [])),
                )
            )
    return routes


def _function_of(uri: Any, where: str) -> str:
    """The function's logical id in `Fn::Sub: ...functions/${<Function>Aliaslive}/invocations` (or `.Arn`)."""
    variables: Mapping[str, Any] = {}
    if isinstance(uri, Mapping) and "Fn::Sub" in uri:
        uri = uri["Fn::Sub"]
        if isinstance(uri, list) and len(uri) == 2:
            uri, variables = uri
    match = _FUNCTION_IN_URI.search(uri) if isinstance(uri, str) else None
    if match is None:
        raise ValueError(f"{where}: cannot tell which function the integration uri {uri!r} invokes")
    ref = match["ref"]
    bound = variables.get(ref)
    if isinstance(bound, Mapping) and "Fn::GetAtt" in bound:
        return str(bound["Fn::GetAtt"][0])
    if isinstance(bound, Mapping) and "Ref" in bound:
        ref = str(bound["Ref"])
    if ref.endswith(".Arn"):
        return ref.removesuffix(".Arn")
    alias = _ALIAS_REF.match(ref)
    if alias is None:
        raise ValueError(f"{where}: {ref!r} is neither a function's Arn nor a SAM function alias")
    return alias["function"]


def _auth_of(security: Sequence[Mapping[str, Any]], schemes: Mapping[str, Any], where: str) -> Auth:
    names = {name for requirement in security for name in requirement if name != "NONE"}
    kinds = {_scheme_kind(schemes.get(name), name, where) for name in names}
    if len(kinds) > 1:
        raise ValueError(f"{where}: combining {sorted(names)} is not supported")
    return kinds.pop() if kinds else "none"


def _scheme_kind(scheme: Any, name: str, where: str) -> Auth:
    if not isinstance(scheme, Mapping):
        raise ValueError(f"{where}: security scheme {name!r} is not declared")
    authorizer = scheme.get("x-amazon-apigateway-authorizer", {})
    if scheme.get("x-amazon-apigateway-authtype") == "cognito_user_pools" or (
        authorizer.get("type") == "cognito_user_pools"
    ):
        return "cognito"
    if (
        not authorizer
        and scheme.get("type") == "apiKey"
        and scheme.get("in") == "header"
        and str(scheme.get("name", "")).lower() == "x-api-key"
    ):
        return "api_key"
    raise ValueError(f"{where}: security scheme {name!r} is not supported (Cognito user pools and API keys only)")


@dataclass(frozen=True)
class Resource:
    """A resource path compiled for matching, with its routes by method."""

    resource: str
    pattern: re.Pattern[str]
    parameters: tuple[str, ...]
    specificity: tuple[int, ...]  # per segment: literal 0, {param} 1, {proxy+} 2; smaller wins
    routes: dict[str, Route] = field(default_factory=dict)

    @classmethod
    def compile(cls, resource: str) -> Resource:
        parts: list[str] = []
        names: list[str] = []
        kinds: list[int] = []
        for segment in resource.strip("/").split("/") if resource != "/" else []:
            if segment.startswith("{") and segment.endswith("+}"):
                parts.append("(.+)")
                names.append(segment[1:-2])
                kinds.append(2)
            elif segment.startswith("{") and segment.endswith("}"):
                parts.append("([^/]+)")
                names.append(segment[1:-1])
                kinds.append(1)
            else:
                parts.append(re.escape(segment))
                kinds.append(0)
        return cls(resource, re.compile("/" + "/".join(parts)), tuple(names), tuple(kinds))

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        return None if found is None else dict(zip(self.parameters, found.groups(), strict=True))

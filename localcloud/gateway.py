"""The local API Gateway: template.yaml's REST API (Lambda proxy integrations) answering requests under its stage.

It builds the proxy events API Gateway builds (the shape of `sam local generate-event apigateway aws-proxy`),
checks Cognito ID tokens and API keys and the stage's throttle before any function runs, and answers its own
refusals in problem+json as the template's GatewayResponses declare. The HTTP server in front of it is the
distribution's (localcloud.distribution).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from localcloud.api_cache import ApiCache, cache_key
from localcloud.cognito_tokens import JwksUnavailable, TokenVerifier, Unauthorized
from localcloud.rest_api import Resource, Route
from localcloud.throttling import QuotaCounter, Throttle, TokenBucket, UsagePlan

logger = logging.getLogger(__name__)

Invoke = Callable[[str, dict[str, Any]], tuple[int | None, Any]]

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
API_ID = "localapi01"

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def request_time(moment: datetime) -> str:
    """API Gateway's requestContext.requestTime: Common Log Format, English month names, UTC."""
    return f"{moment.day:02d}/{_MONTHS[moment.month - 1]}/{moment.year}:{moment:%H:%M:%S} +0000"


_REQUEST_HOP_BY_HOP = frozenset({"transfer-encoding", "connection", "keep-alive"})
_HOP_BY_HOP = _REQUEST_HOP_BY_HOP | {"content-length"}  # of a response: the distribution sets its own length


@dataclass
class Request:
    """An HTTP request as it reached the local cloud's port."""

    method: str
    path: str  # as sent, percent-encoded, without the query
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str
    local_port: int

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        found = None
        for key, value in self.headers:
            if key.lower() == wanted:
                found = value
        return found


@dataclass(frozen=True)
class _Grant:
    """What passed the route's checks: the token's claims, or the API key and its id."""

    claims: dict[str, str] | None = None
    api_key: tuple[str, str] | None = None


@dataclass
class Reply:
    """An HTTP response; `function` names the function that answered, if one did."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    function: str | None = None


class Gateway:
    """API Gateway REST proxy integrations for the given routes, answering the requests under its stage."""

    def __init__(
        self,
        *,
        routes: Sequence[Route],
        invoke: Invoke,
        verifier: TokenVerifier | None,
        api_keys: Mapping[str, str],  # key value -> key id
        usage_plan: UsagePlan,
        stage: str = "api",
        # The stage's default method throttling (MethodSettings for /* and *): a bucket for each method.
        stage_throttle: Throttle | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),  # what the usage plan's quota periods follow
        cors_origin: str = "*",
        cors_headers: str = "Authorization,Content-Type,Idempotency-Key,X-Api-Key",
        cors_methods: str = "GET,PUT,POST,DELETE,OPTIONS",
        cors_max_age: int = 600,
        # The API's binary media types: a body whose Content-Type is one of them reaches the function in base64,
        # any other as text, as API Gateway's REST proxy integration passes it.
        binary_media_types: Sequence[str] = (),
        account_id: str = DEFAULT_ACCOUNT_ID,  # the API's account, in each event's requestContext
        cache: ApiCache | None = None,  # the stage's cache (localcloud.api_cache), when its cluster is on
    ) -> None:
        self.cache = cache
        self._account_id = account_id
        self._binary_media_types = [media_type.replace("~1", "/").lower() for media_type in binary_media_types]
        if verifier is None and any(route.auth == "cognito" for route in routes):
            raise ValueError("routes with a Cognito authorizer need a TokenVerifier")
        resources: dict[str, Resource] = {}
        for route in routes:
            compiled = resources.setdefault(route.resource, Resource.compile(route.resource))
            if route.method in compiled.routes:
                raise ValueError(f"{route.method} {route.resource} is declared twice")
            compiled.routes[route.method] = route
        self._resources = sorted(resources.values(), key=lambda resource: resource.specificity)
        self._invoke = invoke
        self._verifier = verifier
        self._api_keys = dict(api_keys)
        self._buckets = {key: TokenBucket(usage_plan.throttle) for key in self._api_keys}
        self._quota = QuotaCounter(usage_plan.quota, clock) if usage_plan.quota is not None else None
        self._stage_throttle = stage_throttle
        self._method_buckets: dict[tuple[str, str], TokenBucket] = {}
        self._method_buckets_lock = threading.Lock()
        self._stage = stage
        self._cors_origin = cors_origin
        self._preflight_headers = [
            ("Access-Control-Allow-Origin", cors_origin),
            ("Access-Control-Allow-Methods", cors_methods),
            ("Access-Control-Allow-Headers", cors_headers),
            ("Access-Control-Max-Age", str(cors_max_age)),
        ]

    def serves(self, path: str) -> bool:
        """Whether the path is under the stage's prefix, the only place API Gateway (and CloudFront's /api/*)
        serves the API."""
        prefix = f"/{self._stage}"
        return path == prefix or path.startswith(prefix + "/")

    def answer(self, request: Request) -> Reply:
        """What API Gateway answers: the route's function's response, or the gateway's own refusal."""
        found = self._match(request.path)
        if found is None:
            return self.not_found()
        path, resource, parameters = found
        route = resource.routes.get(request.method) or resource.routes.get("ANY")
        if route is None:
            if request.method == "OPTIONS":  # the template's CORS mock integration
                return Reply(200, [*self._preflight_headers, ("Content-Type", "application/json")], b"{}")
            return self.not_found()
        if not self._method_allows(route):
            return self.problem(429, "Too Many Requests", "Too Many Requests", "TooManyRequestsException")
        grant = self._authorize(route, request)
        if isinstance(grant, Reply):
            return grant
        return self._cached_or_integrated(route, request, path, parameters, grant)

    def _cached_or_integrated(
        self, route: Route, request: Request, path: str, parameters: dict[str, str], grant: _Grant
    ) -> Reply:
        """The stage cache's answer for a cached method (localcloud.api_cache), else the integration's."""
        ttl = self.cache.ttl_of(request.method, route.resource) if self.cache is not None else None
        if self.cache is None or ttl is None:
            return self._integrated(route, request, path, parameters, grant)
        key = cache_key(
            request.method,
            route.resource,
            route.cache_key_parameters,
            path=parameters,
            query=request.query,
            headers=request.headers,
        )
        kept = self.cache.get(key)
        if isinstance(kept, Reply):  # the integration does not run: no function, a request id of its own
            fresh = [("x-amzn-RequestId", str(uuid.uuid4())), ("X-Cache", "Hit from api-gateway")]
            return Reply(kept.status, [*kept.headers, *fresh], kept.body)
        reply = self._integrated(route, request, path, parameters, grant)
        if reply.status == 200:
            own = [(name, value) for name, value in reply.headers if name.lower() != "x-amzn-requestid"]
            self.cache.put(key, Reply(reply.status, own, reply.body), ttl)
        reply.headers.append(("X-Cache", "Miss from api-gateway"))
        return reply

    def _integrated(
        self, route: Route, request: Request, path: str, parameters: dict[str, str], grant: _Grant
    ) -> Reply:
        event = self._event(request, path=path, route=route, parameters=parameters, grant=grant)
        reply = self._integrate(route, event)
        reply.function = route.function_logical_id
        return reply

    def not_found(self) -> Reply:
        """API Gateway's answer to a path it has no route for."""
        # MISSING_AUTHENTICATION_TOKEN (unknown path, or known path and wrong method) is 404 in template.yaml.
        return self.problem(404, "Not Found", "no such resource", "MissingAuthenticationTokenException")

    def problem(self, status: int, title: str, detail: str, error_type: str) -> Reply:
        """A refusal as the template's GatewayResponses shape it: problem+json, with the API's CORS origin."""
        body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
        headers = [
            ("Content-Type", "application/problem+json"),
            ("Access-Control-Allow-Origin", self._cors_origin),
            ("x-amzn-ErrorType", error_type),
        ]
        return Reply(status, headers, body.encode())

    def _method_allows(self, route: Route) -> bool:
        """The stage's throttle for this method (each method has its own bucket), before anything else runs."""
        if self._stage_throttle is None:
            return True
        with self._method_buckets_lock:
            bucket = self._method_buckets.setdefault((route.resource, route.method), TokenBucket(self._stage_throttle))
        return bucket.take()

    def _authorize(self, route: Route, request: Request) -> _Grant | Reply:
        """The route's check: the refusal, or what the event carries about the caller."""
        if route.auth == "cognito" and self._verifier is not None:  # __init__ ensures there is one
            return self._check_token(self._verifier, request.header("Authorization"))
        if route.auth == "api_key":
            return self._check_api_key(request.header("x-api-key"))
        return _Grant()

    def _check_token(self, verifier: TokenVerifier, authorization: str | None) -> _Grant | Reply:
        try:
            return _Grant(claims=verifier.claims(authorization))
        except Unauthorized as exc:
            return self.problem(401, "Unauthorized", str(exc), "UnauthorizedException")
        except JwksUnavailable:
            logger.exception("the user pool's JWKS could not be fetched")
            return self.problem(
                500, "Internal Server Error", "an internal error occurred", "AuthorizerConfigurationException"
            )

    def _check_api_key(self, value: str | None) -> _Grant | Reply:
        key_id = self._api_keys.get(value) if value else None
        if value is None or key_id is None:
            return self.problem(403, "Forbidden", "Forbidden", "ForbiddenException")
        if not self._buckets[value].take():
            return self.problem(429, "Too Many Requests", "Too Many Requests", "TooManyRequestsException")
        if self._quota is not None and not self._quota.take(value):
            return self.problem(429, "Too Many Requests", "Limit Exceeded", "LimitExceededException")
        return _Grant(api_key=(value, key_id))

    def _integrate(self, route: Route, event: dict[str, Any]) -> Reply:
        """Invoke the function: a function error or a malformed proxy response is API Gateway's 502; an invoke that
        Lambda refused (throttled, its own failure) is the 500 that `invoke` answers with."""
        try:
            error_status, response = self._invoke(route.function_logical_id, event)
        except Exception:  # whatever broke, the client sees what API Gateway shows for a failed integration
            logger.exception("invoking the function failed", extra={"function": route.function_logical_id})
            error_status, response = 502, None
        reply = None if error_status is not None else _proxy_reply(response)
        if reply is None:
            if error_status is None:
                logger.warning("malformed Lambda proxy response", extra={"function": route.function_logical_id})
            status = error_status or 502
            return self.problem(status, "Internal Server Error", "an internal error occurred", "InternalServerError")
        # The function's own headers only, as API Gateway's proxy integration passes them: CORS on a function's
        # answer is the function's to give (Powertools' CORSConfig echoes an allowed Origin), never the gateway's.
        reply.headers.append(("x-amzn-RequestId", event["requestContext"]["requestId"]))
        return reply

    def _match(self, path: str) -> tuple[str, Resource, dict[str, str]] | None:
        """The route under the stage's prefix, and the path below the prefix."""
        if not self.serves(path):
            return None
        candidate = path[len(f"/{self._stage}") :] or "/"
        for resource in self._resources:
            parameters = resource.match(candidate)
            if parameters is not None:
                return candidate, resource, parameters
        return None

    def _is_binary(self, content_type: str) -> bool:
        """Whether API Gateway treats the body as binary: its media type matches one of the API's (`*` wildcards)."""
        media_type = content_type.split(";", 1)[0].strip().lower()
        return any(fnmatch.fnmatchcase(media_type, pattern) for pattern in self._binary_media_types)

    def _event(
        self, request: Request, *, path: str, route: Route, parameters: dict[str, str], grant: _Grant
    ) -> dict[str, Any]:
        headers = _forwarded_headers(request)
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        names: dict[str, str] = {}  # one spelling per header, the first one sent
        for sent_name, value in headers:
            name = names.setdefault(sent_name.lower(), sent_name)
            single[name] = value
            multi.setdefault(name, []).append(value)
        query_single: dict[str, str] = {}
        query_multi: dict[str, list[str]] = {}
        for pair in filter(None, request.query.split("&")):
            key, _, value = pair.partition("=")
            key, value = unquote(key), unquote(value)
            query_single[key] = value
            query_multi.setdefault(key, []).append(value)
        body: str | None = None
        is_base64 = False
        if request.body:
            content_type = next((value for name, value in headers if name.lower() == "content-type"), "")
            if self._is_binary(content_type):
                body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
            else:
                # Text, as API Gateway passes a body without a binary media type: bytes that are not UTF-8 arrive
                # replaced (U+FFFD), never in base64.
                body = request.body.decode("utf-8", errors="replace")
        now = datetime.now(UTC)
        identity: dict[str, Any] = {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "accessKey": None,
            "sourceIp": request.source_ip,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": single.get(names.get("user-agent", "User-Agent")),
            "user": None,
        }
        if grant.api_key is not None:
            identity["apiKey"], identity["apiKeyId"] = grant.api_key
        context: dict[str, Any] = {
            "accountId": self._account_id,
            "resourceId": hashlib.sha256(route.resource.encode()).hexdigest()[:6],
            "stage": self._stage,
            "requestId": str(uuid.uuid4()),
            "requestTime": (request_time(now)),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": identity,
            "path": f"/{self._stage}{path}" if path != "/" else f"/{self._stage}/",
            "resourcePath": route.resource,
            "httpMethod": request.method,
            "apiId": API_ID,
            "protocol": request.protocol,
            "domainName": single.get(names.get("host", "Host")) or f"127.0.0.1:{request.local_port}",
            "extendedRequestId": secrets.token_urlsafe(11)[:15] + "=",
        }
        if grant.claims is not None:
            context["authorizer"] = {"claims": grant.claims}
        return {
            "body": body,
            "resource": route.resource,
            "path": path,
            "httpMethod": request.method,
            "isBase64Encoded": is_base64,
            "queryStringParameters": query_single or None,
            "multiValueQueryStringParameters": query_multi or None,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "headers": single,
            "multiValueHeaders": multi,
            "requestContext": context,
        }


def _forwarded_headers(request: Request) -> list[tuple[str, str]]:
    """The request's headers (hop-by-hop ones end at the gateway) plus those API Gateway adds."""
    headers = [(name, value) for name, value in request.headers if name.lower() not in _REQUEST_HOP_BY_HOP]
    present = {name.lower() for name, _ in headers}
    forwarded_for = request.header("X-Forwarded-For")
    if forwarded_for is None:
        headers.append(("X-Forwarded-For", request.source_ip))
    else:
        headers = [(name, value) for name, value in headers if name.lower() != "x-forwarded-for"]
        headers.append(("X-Forwarded-For", f"{forwarded_for}, {request.source_ip}"))
    if "x-forwarded-port" not in present:
        headers.append(("X-Forwarded-Port", str(request.local_port)))
    if "x-forwarded-proto" not in present:
        headers.append(("X-Forwarded-Proto", "http"))
    if "x-amzn-trace-id" not in present:
        headers.append(("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"))
    return headers


def _proxy_reply(response: Any) -> Reply | None:
    """The HTTP response a Lambda proxy response stands for, or None when API Gateway would call it malformed."""
    if not isinstance(response, Mapping):
        return None
    status = response.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return None
    headers = response.get("headers") or {}
    multi = response.get("multiValueHeaders") or {}
    body = response.get("body")
    if not isinstance(headers, Mapping) or not isinstance(multi, Mapping) or not isinstance(body, str | None):
        return None
    # Both maps merge; for a name in both, only multiValueHeaders' values are sent (as API Gateway does).
    merged: dict[str, tuple[str, list[str]]] = {}
    for name, value in headers.items():
        if value is not None:
            merged[str(name).lower()] = (str(name), [_header_value(value)])
    for name, values in multi.items():
        if isinstance(values, list):
            merged[str(name).lower()] = (str(name), [_header_value(value) for value in values if value is not None])
    pairs = [(name, value) for key, (name, values) in merged.items() if key not in _HOP_BY_HOP for value in values]
    if "content-type" not in merged:
        pairs.append(("Content-Type", "application/json"))
    try:
        content = base64.b64decode(body or "", validate=True) if response.get("isBase64Encoded") else (body or "")
    except ValueError:
        return None
    return Reply(status, pairs, content.encode() if isinstance(content, str) else content)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

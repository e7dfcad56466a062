"""The local API Gateway: template.yaml's REST API (Lambda proxy integrations) served on 127.0.0.1.

It builds the proxy events API Gateway builds (the shape of `sam local generate-event apigateway aws-proxy`),
checks Cognito ID tokens and API keys before any function runs, and answers its own refusals in
problem+json as the template's GatewayResponses declare. For the web console it serves static files, extra
files (config.json) and, at POST /cognito, a same-origin proxy to the user pool's public actions.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import hashlib
import json
import logging
import mimetypes
import re
import secrets
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import unquote, urlsplit

import jwt

logger = logging.getLogger(__name__)

Auth = Literal["cognito", "api_key", "none"]
Invoke = Callable[[str, dict[str, Any]], tuple[int | None, Any]]

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
API_ID = "localapi01"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit (the functions enforce 64 KiB themselves)
# A refused oversized body is read and dropped up to this size so the client sees the 413, not a reset.
_MAX_DRAIN_BYTES = 64 * 1024 * 1024

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})
_ANY_METHOD = "x-amazon-apigateway-any-method"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Browsers need these right whatever the machine's mime.types says (Python 3.11 calls .js application/...).
_WEB_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".webmanifest": "application/manifest+json",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
_REQUEST_HOP_BY_HOP = frozenset({"transfer-encoding", "connection", "keep-alive"})
_HOP_BY_HOP = _REQUEST_HOP_BY_HOP | {"content-length"}  # of a response: the gateway sets its own length
# What a browser may call on Cognito's public endpoint without AWS credentials; moto's server would also take
# unsigned admin actions (AdminAddUserToGroup...), which the console's same-origin proxy must not pass on.
_COGNITO_TARGET = "AWSCognitoIdentityProviderService."
_COGNITO_PUBLIC_ACTIONS = frozenset(
    {
        "SignUp",
        "ConfirmSignUp",
        "ResendConfirmationCode",
        "InitiateAuth",
        "RespondToAuthChallenge",
        "ForgotPassword",
        "ConfirmForgotPassword",
        "GetUser",
        "ChangePassword",
        "GlobalSignOut",
        "RevokeToken",
    }
)


# ---------------------------------------------------------------------------------------------------------
# Routes from the RestApi Body
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One method of one API resource, proxied to one function."""

    method: str  # "GET", or "ANY" for x-amazon-apigateway-any-method
    resource: str  # "/orders/{orderId}" (API Gateway resource path)
    function_logical_id: str  # "OrdersApiFunction" (from the integration uri)
    auth: Auth


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
class _Resource:
    """A resource path compiled for matching, with its routes by method."""

    resource: str
    pattern: re.Pattern[str]
    parameters: tuple[str, ...]
    specificity: tuple[int, ...]  # per segment: literal 0, {param} 1, {proxy+} 2; smaller wins
    routes: dict[str, Route] = field(default_factory=dict)

    @classmethod
    def compile(cls, resource: str) -> _Resource:
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


# ---------------------------------------------------------------------------------------------------------
# Cognito ID tokens
# ---------------------------------------------------------------------------------------------------------


class Unauthorized(Exception):
    """The request carries no valid ID token; the message is API Gateway's for the case."""


class JwksUnavailable(RuntimeError):
    """The user pool's keys could not be fetched: a configuration problem, not the caller's fault."""


class TokenVerifier:
    """Verifies Cognito ID tokens like API Gateway's user-pool authorizer: RS256 signature against the pool's
    JWKS (fetched from jwks_url with urllib and cached), exp, iss == issuer, token_use == "id", aud in client_ids.
    Returns the claims as API Gateway passes them (all values as strings; cognito:groups comma-separated).

    jwks_url may be http(s) (moto's server, a test's) or file:// (a key set written to disk).
    """

    def __init__(self, *, jwks_url: str, issuer: str, client_ids: Collection[str]) -> None:
        self._keys = _KeySet(jwks_url)
        self._issuer = issuer
        self._audience = list(client_ids)

    def claims(self, authorization_header: str | None) -> dict[str, str]:
        token = (authorization_header or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            raise Unauthorized("Unauthorized")
        try:
            key = self._keys.get(jwt.get_unverified_header(token).get("kid"))
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iss", "aud", "token_use"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The incoming token has expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Unauthorized") from exc
        if claims.get("token_use") != "id":
            raise Unauthorized("Unauthorized")
        return {name: _claim_string(name, value) for name, value in claims.items()}


class _KeySet:
    """The pool's signing keys by kid, fetched on first use, again after `lifespan`, and when an unknown kid
    shows up (rotation) but not more than once per `cooldown`, so forged kids cannot make it fetch in a loop."""

    def __init__(self, url: str, *, lifespan: float = 3600, cooldown: float = 10) -> None:
        if urlsplit(url).scheme not in ("http", "https", "file"):
            raise ValueError(f"jwks_url must be http, https or file: {url!r}")
        self._url = url
        self._lifespan = lifespan
        self._cooldown = cooldown
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def get(self, kid: Any) -> Any:
        """The public key for kid (a cryptography key object), or jwt.InvalidKeyError."""
        with self._lock:
            now = time.monotonic()
            age = None if self._fetched_at is None else now - self._fetched_at
            if age is None or age > self._lifespan or (kid not in self._keys and age > self._cooldown):
                self._fetch(now)
            key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise jwt.InvalidKeyError("no key of the user pool has this kid")
        return key

    def _fetch(self, now: float) -> None:
        try:
            with urllib.request.urlopen(self._url, timeout=5) as response:  # noqa: S310  (scheme checked above)
                document = json.load(response)
            key_set = jwt.PyJWKSet.from_dict(document)
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise JwksUnavailable(f"cannot read the user pool's keys at {self._url}: {exc}") from exc
        self._keys = {key.key_id: key.key for key in key_set.keys if key.key_id}
        self._fetched_at = now


def _claim_string(name: str, value: Any) -> str:
    """A claim as API Gateway's REST authorizer renders it (exp and iat as Java's Date.toString)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if name in ("exp", "iat") and isinstance(value, int):
        moment = datetime.fromtimestamp(value, UTC)
        day, month = _DAYS[moment.weekday()], _MONTHS[moment.month - 1]
        return f"{day} {month} {moment.day:02d} {moment:%H:%M:%S} UTC {moment.year}"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# ---------------------------------------------------------------------------------------------------------
# The gateway
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Throttle:
    """API Gateway's token bucket: `rate` requests a second on average, up to `burst` at once."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"a throttle needs a positive rate and a burst of at least 1, not {self}")


QUOTA_PERIODS = ("DAY", "WEEK", "MONTH")


@dataclass(frozen=True)
class Quota:
    """A usage plan's quota: `limit` requests per API key in each calendar `period` (UTC), then 429 until the next."""

    limit: int
    period: str

    def __post_init__(self) -> None:
        if self.limit < 1 or self.period not in QUOTA_PERIODS:
            raise ValueError(f"a quota needs a positive limit and a period in {QUOTA_PERIODS}, not {self}")

    def period_of(self, now: datetime) -> tuple[int, ...]:
        """Which period `now` falls in: requests in the same one count against the same limit."""
        day = now.astimezone(UTC).date()
        if self.period == "DAY":
            return (day.year, day.month, day.day)
        if self.period == "WEEK":
            year, week, _ = day.isocalendar()
            return (year, week)
        return (day.year, day.month)


@dataclass(frozen=True)
class UsagePlan:
    """What the template's usage plan sets for each of its API keys."""

    throttle: Throttle
    quota: Quota | None = None


class _TokenBucket:
    """One throttle's bucket: full at `burst` tokens, refilled at `rate` a second, one token per request."""

    def __init__(self, throttle: Throttle) -> None:
        self._rate = throttle.rate
        self._capacity = float(throttle.burst)
        self._tokens = self._capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class _QuotaCounter:
    """Requests counted per API key and quota period."""

    def __init__(self, quota: Quota, clock: Callable[[], datetime]) -> None:
        self._quota = quota
        self._clock = clock
        self._counts: dict[tuple[str, tuple[int, ...]], int] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        period = self._quota.period_of(self._clock())
        with self._lock:
            used = self._counts.get((key, period), 0)
            if used >= self._quota.limit:
                return False
            self._counts = {k: v for k, v in self._counts.items() if k[1] == period}  # earlier periods are over
            self._counts[(key, period)] = used + 1
            return True


@dataclass
class _Request:
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
class _Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    function: str | None = None


class Gateway:
    """API Gateway REST proxy integrations for the given routes, served on a background thread."""

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
        static_dir: Path | None = None,
        extra_files: Mapping[str, bytes] | None = None,  # URL path -> content, served before static_dir
        cognito_url: str | None = None,  # where POST /cognito is proxied (the console's same-origin Cognito)
        on_request: Callable[[dict[str, Any]], None] | None = None,
        # Headers the template's CloudFront viewer-response function sets (localcloud.edge): added to every
        # response below 400, replacing the origin's, as CloudFront does in front of the deployed stack.
        viewer_response_headers: Mapping[str, str] | None = None,
        # The API's binary media types: a body whose Content-Type is one of them reaches the function in base64,
        # any other as text, as API Gateway's REST proxy integration passes it.
        binary_media_types: Sequence[str] = (),
        account_id: str = DEFAULT_ACCOUNT_ID,  # the API's account, in each event's requestContext
    ) -> None:
        self._account_id = account_id
        self._binary_media_types = [media_type.replace("~1", "/").lower() for media_type in binary_media_types]
        if verifier is None and any(route.auth == "cognito" for route in routes):
            raise ValueError("routes with a Cognito authorizer need a TokenVerifier")
        resources: dict[str, _Resource] = {}
        for route in routes:
            compiled = resources.setdefault(route.resource, _Resource.compile(route.resource))
            if route.method in compiled.routes:
                raise ValueError(f"{route.method} {route.resource} is declared twice")
            compiled.routes[route.method] = route
        self._resources = sorted(resources.values(), key=lambda resource: resource.specificity)
        self._invoke = invoke
        self._verifier = verifier
        self._api_keys = dict(api_keys)
        self._buckets = {key: _TokenBucket(usage_plan.throttle) for key in self._api_keys}
        self._quota = _QuotaCounter(usage_plan.quota, clock) if usage_plan.quota is not None else None
        self._stage_throttle = stage_throttle
        self._method_buckets: dict[tuple[str, str], _TokenBucket] = {}
        self._method_buckets_lock = threading.Lock()
        self._stage = stage
        self._cors_origin = cors_origin
        self._preflight_headers = [
            ("Access-Control-Allow-Origin", cors_origin),
            ("Access-Control-Allow-Methods", cors_methods),
            ("Access-Control-Allow-Headers", cors_headers),
            ("Access-Control-Max-Age", str(cors_max_age)),
        ]
        self._static_dir = static_dir.resolve() if static_dir is not None else None
        self._extra_files = dict(extra_files or {})
        self._cognito_url = cognito_url
        self._on_request = on_request
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._viewer_headers = dict(viewer_response_headers or {})
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 3000) -> int:
        """Serve on a thread; returns the bound port (port 0 = any free port)."""
        if self._server is not None:
            raise RuntimeError("the gateway is already serving")
        self._server = _Server((host, port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="gateway", daemon=True
        )
        self._thread.start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        with self._connections_lock:
            open_connections = list(self._connections)
        for connection in open_connections:  # idle keep-alive connections would otherwise linger
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        thread.join()
        self._server = self._thread = None

    def _track(self, connection: socket.socket, *, opened: bool) -> None:
        with self._connections_lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    # --- answering ---------------------------------------------------------------------------------------

    def answer(self, request: _Request) -> _Reply:
        """What the deployed stack (CloudFront, then API Gateway or the console bucket) would answer."""
        reply = self._answer(request)
        if reply.status < 400 and self._viewer_headers:
            owned = {name.lower() for name in self._viewer_headers}
            kept = [(name, value) for name, value in reply.headers if name.lower() not in owned]
            reply.headers[:] = [*kept, *self._viewer_headers.items()]
        return reply

    def _answer(self, request: _Request) -> _Reply:
        found = self._match(request.path)
        if found is None:
            return self._static_or_not_found(request)
        path, resource, parameters = found
        route = resource.routes.get(request.method) or resource.routes.get("ANY")
        if route is None:
            if request.method == "OPTIONS":  # the template's CORS mock integration
                return _Reply(200, [*self._preflight_headers, ("Content-Type", "application/json")], b"{}")
            return self._not_found()
        if not self._method_allows(route):
            return self._problem(429, "Too Many Requests", "Too Many Requests", "TooManyRequestsException")
        grant = self._authorize(route, request)
        if isinstance(grant, _Reply):
            return grant
        event = self._event(request, path=path, route=route, parameters=parameters, grant=grant)
        reply = self._integrate(route, event)
        reply.function = route.function_logical_id
        return reply

    def _method_allows(self, route: Route) -> bool:
        """The stage's throttle for this method (each method has its own bucket), before anything else runs."""
        if self._stage_throttle is None:
            return True
        with self._method_buckets_lock:
            bucket = self._method_buckets.setdefault((route.resource, route.method), _TokenBucket(self._stage_throttle))
        return bucket.take()

    def _authorize(self, route: Route, request: _Request) -> _Grant | _Reply:
        """The route's check: the refusal, or what the event carries about the caller."""
        if route.auth == "cognito" and self._verifier is not None:  # __init__ ensures there is one
            return self._check_token(self._verifier, request.header("Authorization"))
        if route.auth == "api_key":
            return self._check_api_key(request.header("x-api-key"))
        return _Grant()

    def _check_token(self, verifier: TokenVerifier, authorization: str | None) -> _Grant | _Reply:
        try:
            return _Grant(claims=verifier.claims(authorization))
        except Unauthorized as exc:
            return self._problem(401, "Unauthorized", str(exc), "UnauthorizedException")
        except JwksUnavailable:
            logger.exception("the user pool's JWKS could not be fetched")
            return self._problem(
                500, "Internal Server Error", "an internal error occurred", "AuthorizerConfigurationException"
            )

    def _check_api_key(self, value: str | None) -> _Grant | _Reply:
        key_id = self._api_keys.get(value) if value else None
        if value is None or key_id is None:
            return self._problem(403, "Forbidden", "Forbidden", "ForbiddenException")
        if not self._buckets[value].take():
            return self._problem(429, "Too Many Requests", "Too Many Requests", "TooManyRequestsException")
        if self._quota is not None and not self._quota.take(value):
            return self._problem(429, "Too Many Requests", "Limit Exceeded", "LimitExceededException")
        return _Grant(api_key=(value, key_id))

    def _integrate(self, route: Route, event: dict[str, Any]) -> _Reply:
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
            return self._problem(status, "Internal Server Error", "an internal error occurred", "InternalServerError")
        # The function's own headers only, as API Gateway's proxy integration passes them: CORS on a function's
        # answer is the function's to give (Powertools' CORSConfig echoes an allowed Origin), never the gateway's.
        reply.headers.append(("x-amzn-RequestId", event["requestContext"]["requestId"]))
        return reply

    def _static_or_not_found(self, request: _Request) -> _Reply:
        if request.path == "/cognito" and request.method == "POST" and self._cognito_url is not None:
            return self._cognito(self._cognito_url, request)
        if request.method in ("GET", "HEAD") and request.path in self._extra_files:
            content_type = _WEB_TYPES.get(Path(request.path).suffix.lower(), "application/octet-stream")
            headers = [("Content-Type", content_type), ("Cache-Control", "no-cache")]
            return _Reply(200, headers, self._extra_files[request.path])
        if request.method in ("GET", "HEAD") and self._static_dir is not None:
            served = self._static(self._static_dir, request.path)
            if served is not None:
                return served
        return self._not_found()

    def _cognito(self, url: str, request: _Request) -> _Reply:
        """Cognito's JSON 1.1 API for the console: the public actions only, passed on unchanged."""
        target = request.header("X-Amz-Target") or ""
        action = target.removeprefix(_COGNITO_TARGET) if target.startswith(_COGNITO_TARGET) else ""
        if action not in _COGNITO_PUBLIC_ACTIONS:  # what Cognito answers to an unsigned admin call
            refusal = {"__type": "MissingAuthenticationTokenException", "message": "Missing Authentication Token"}
            return _Reply(400, [("Content-Type", "application/x-amz-json-1.1")], json.dumps(refusal).encode())
        forwarded = urllib.request.Request(  # noqa: S310  (cognito_url is the local moto server's http URL)
            url,
            data=request.body,
            method="POST",
            headers={
                "Content-Type": request.header("Content-Type") or "application/x-amz-json-1.1",
                "X-Amz-Target": target,
            },
        )
        try:
            with urllib.request.urlopen(forwarded, timeout=10) as response:  # noqa: S310
                status, headers, content = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:  # Cognito's own 4xx: the console shows its message
            status, headers, content = error.code, error.headers, error.read()
        except OSError:
            logger.exception("the Cognito endpoint could not be reached", extra={"url": url})
            return self._problem(502, "Bad Gateway", "the user pool could not be reached", "InternalServerError")
        return _Reply(status, [("Content-Type", headers.get("Content-Type") or "application/x-amz-json-1.1")], content)

    def _match(self, path: str) -> tuple[str, _Resource, dict[str, str]] | None:
        """The route under the stage's prefix, the only place API Gateway (and CloudFront's /api/*) serves it."""
        prefix = f"/{self._stage}"
        if path != prefix and not path.startswith(prefix + "/"):
            return None
        candidate = path[len(prefix) :] or "/"
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
        self, request: _Request, *, path: str, route: Route, parameters: dict[str, str], grant: _Grant
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
            "requestTime": (
                f"{now.day:02d}/{_MONTHS[now.month - 1]}/{now.year}:{now:%H:%M:%S} +0000"  # CLF, English months
            ),
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

    def _static(self, root: Path, path: str) -> _Reply | None:
        if path == f"/{self._stage}" or path.startswith(f"/{self._stage}/"):
            return None  # the API's own prefix is never the console's
        decoded = unquote(path)
        if "\x00" in decoded:
            return None  # no file has a NUL in its name (and the OS refuses the question)
        target = (root / decoded.lstrip("/")).resolve()
        if not target.is_relative_to(root):
            return None
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return None
        content_type = _WEB_TYPES.get(target.suffix.lower()) or mimetypes.guess_type(target.name)[0]
        headers = [("Content-Type", content_type or "application/octet-stream"), ("Cache-Control", "no-cache")]
        return _Reply(200, headers, target.read_bytes())

    def _not_found(self) -> _Reply:
        # MISSING_AUTHENTICATION_TOKEN (unknown path, or known path and wrong method) is 404 in template.yaml.
        return self._problem(404, "Not Found", "no such resource", "MissingAuthenticationTokenException")

    def _problem(self, status: int, title: str, detail: str, error_type: str) -> _Reply:
        body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
        headers = [
            ("Content-Type", "application/problem+json"),
            ("Access-Control-Allow-Origin", self._cors_origin),
            ("x-amzn-ErrorType", error_type),
        ]
        return _Reply(status, headers, body.encode())

    def _too_large(self) -> _Reply:
        return self._problem(413, "Content Too Large", "Request Too Long", "RequestTooLargeException")

    def _bad_request(self, detail: str) -> _Reply:
        return self._problem(400, "Bad Request", detail, "BadRequestException")

    def _report(self, method: str, path: str, reply: _Reply, started: float) -> None:
        if self._on_request is None:
            return
        record = {
            "method": method,
            "path": path,
            "status": reply.status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "function": reply.function,
        }
        try:
            self._on_request(record)
        except Exception:  # a broken log hook must not take the gateway down with it
            logger.exception("on_request failed")


def _forwarded_headers(request: _Request) -> list[tuple[str, str]]:
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


def _proxy_reply(response: Any) -> _Reply | None:
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
    return _Reply(status, pairs, content.encode() if isinstance(content, str) else content)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() does not wait for idle keep-alive connections
    # Connections waiting to be accepted (socketserver's default is 5: a burst of clients got resets).
    request_queue_size = 512  # the kernel caps it at net.core.somaxconn (4096 by default)

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.gateway = gateway
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer (it timed out, and may retry) is its business, not a crash."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _BodyTooLarge(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a browser talking to API Gateway
    disable_nagle_algorithm = True  # headers and body are two writes; no 40 ms delayed-ACK stall between them
    timeout = 120  # idle keep-alive connections close after this

    def version_string(self) -> str:
        return "localcloud-gateway"

    @property
    def gateway(self) -> Gateway:
        return cast(_Server, self.server).gateway

    def setup(self) -> None:
        super().setup()
        self.gateway._track(self.connection, opened=True)

    def finish(self) -> None:
        self.gateway._track(self.connection, opened=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)  # on_request is the access log

    def handle_expect_100(self) -> bool:
        # Refuse an oversized body before the client sends it.
        length = _content_length(self.headers.get("Content-Length"))
        if length is not None and length > MAX_REQUEST_BYTES:
            self.close_connection = True
            started = time.perf_counter()
            reply = self.gateway._too_large()
            self.gateway._report(self.command, urlsplit(self.path).path, reply, started)
            self._send(reply)
            return False
        return super().handle_expect_100()

    def _serve(self) -> None:
        started = time.perf_counter()
        target = urlsplit(self.path)
        path = target.path or "/"
        try:
            body = self._read_body()
        except _BodyTooLarge:
            reply = self.gateway._too_large()
        except ValueError as exc:
            self.close_connection = True
            reply = self.gateway._bad_request(str(exc))
        else:
            request = _Request(
                method=self.command,
                path=path,
                query=target.query,
                headers=list(self.headers.items()),
                body=body,
                source_ip=str(self.client_address[0]),
                protocol=self.request_version,
                local_port=cast(_Server, self.server).server_port,
            )
            reply = self.gateway.answer(request)
        # Reported before it is sent: whoever has the response can count on the record being there.
        self.gateway._report(self.command, path, reply, started)
        self._send(reply)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve
    # Methods no route takes get the gateway's answer for any unknown route, not http.server's HTML page.
    do_TRACE = do_CONNECT = _serve

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a request line too long, headers too large, a malformed request) answered
        as the gateway answers everything: problem+json, never an HTML page."""
        self.close_connection = True
        self.request_version = "HTTP/1.1"  # http.server answers an unparsable line as HTTP/0.9: no status, no headers
        status = HTTPStatus(code)
        error_type = "BadRequestException" if code < 500 else "InternalServerErrorException"
        self._send(self.gateway._problem(code, status.phrase, message or status.description, error_type))

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        header = self.headers.get("Content-Length")
        if header is None:
            return b""
        length = _content_length(header)
        if length is None:
            raise ValueError("invalid Content-Length")
        if length > MAX_REQUEST_BYTES:
            if length <= _MAX_DRAIN_BYTES:
                self._drain(length)
            else:
                self.close_connection = True
            raise _BodyTooLarge
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        received = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError as exc:
                raise ValueError("invalid chunked body") from exc
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            received += size
            if received > MAX_REQUEST_BYTES:
                self.close_connection = True
                raise _BodyTooLarge
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # the CRLF after the chunk

    def _drain(self, length: int) -> None:
        while length > 0:
            piece = self.rfile.read(min(length, 1 << 20))
            if not piece:
                return
            length -= len(piece)

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        no_body = reply.status in (204, 304) or reply.status < 200
        if not no_body:
            self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not no_body and self.command != "HEAD":
            self.wfile.write(reply.body)


def _content_length(header: str | None) -> int | None:
    if header is None or not header.strip().isdigit():
        return None
    return int(header)

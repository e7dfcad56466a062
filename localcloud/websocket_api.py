"""API Gateway's WebSocket APIs (AWS::ApiGatewayV2::Api, ProtocolType WEBSOCKET), served from the template on a
port of their own: SAM has no resource for them and `sam local` cannot serve one.

- **The handshake** (`ws://127.0.0.1:<port>/<stage>`) runs the `$connect` route as API Gateway does: its REQUEST
  authorizer first, in its worker (a missing identity source is 401 without it; a raised "Unauthorized" is 401, a
  Deny 403, any other error 500), then its integration, whose non-2xx answer refuses the connection. The refusal is
  an HTTP answer with API Gateway's JSON message, and no connection is made.
- **Messages** go to the route the API's RouteSelectionExpression names (`$request.body.<key>`), else `$default`,
  with the authorizer's context in each event. A route with a route response sends the function's body back; a
  function error sends API Gateway's `Internal server error` message; no route, its `Forbidden`.
- **Limits**: 128 KB a message and 32 KB a frame (the connection is closed with 1009), 10 minutes idle and 2 hours
  in all (closed with 1001, "Going away"). `$disconnect` runs when a connection ends, whoever ended it.
- **The @connections management API** (POST a message, GET a connection, DELETE it; 410 GoneException for a
  connection that is not open) is served at the local AWS endpoint under `/<api id>/<stage>/@connections/<id>`,
  where the functions' SDK sends it (AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI), behind the IAM check of
  `execute-api:ManageConnections` (localcloud.iam).
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import json
import logging
import math
import secrets
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.sync.server import Server, ServerConnection, serve

from localcloud.gateway import request_time

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 128 * 1024
MAX_FRAME_BYTES = 32 * 1024
IDLE_TIMEOUT_SECONDS = 10 * 60.0
MAX_CONNECTION_SECONDS = 2 * 3600.0
_LAMBDA_URI = "/2015-03-31/functions/"

# (function name or ARN, event) -> (errored, the answer's JSON); raises when Lambda refused the invoke.
Invoke = Callable[[str, dict[str, Any]], tuple[bool, Any]]


@dataclass(frozen=True)
class Authorizer:
    function: str
    identity_sources: tuple[str, ...]  # route.request.querystring.<name> or route.request.header.<name>


@dataclass(frozen=True)
class Route:
    key: str
    function: str | None  # its AWS_PROXY integration's function (None: no Lambda integration)
    authorizer: Authorizer | None = None
    answers: bool = False  # a route response: the function's body goes back on the socket


@dataclass(frozen=True)
class Definition:
    """One WebSocket API and its stage, as the template declares them."""

    api_id: str
    stage: str
    selection_expression: str
    routes: Mapping[str, Route]

    @property
    def management_prefix(self) -> str:
        """The @connections API's path at the local AWS endpoint: the host part of AWS's URL goes into the path."""
        return f"/{self.api_id}/{self.stage}"


def definitions(records: Mapping[str, Mapping[str, Any]], refs: Mapping[str, Any]) -> list[Definition]:
    """The WebSocket APIs among provisioning's records (type -> logical id -> resolved properties)."""
    by_ref = {
        str(refs[logical_id]): logical_id for kind in records.values() for logical_id in kind if logical_id in refs
    }
    integrations = records.get("AWS::ApiGatewayV2::Integration", {})
    authorizers = records.get("AWS::ApiGatewayV2::Authorizer", {})
    answered = {str(response["RouteId"]) for response in records.get("AWS::ApiGatewayV2::RouteResponse", {}).values()}
    found = []
    for logical_id, api in records.get("AWS::ApiGatewayV2::Api", {}).items():
        api_id = str(refs[logical_id])
        stages = [stage for stage in records.get("AWS::ApiGatewayV2::Stage", {}).values() if stage["ApiId"] == api_id]
        routes: dict[str, Route] = {}
        for route_id, route in records.get("AWS::ApiGatewayV2::Route", {}).items():
            if route["ApiId"] != api_id:
                continue
            target = str(route.get("Target", ""))
            integration = integrations.get(by_ref.get(target.removeprefix("integrations/"), ""), {})
            authorizer = authorizers.get(by_ref.get(str(route.get("AuthorizerId", "")), ""))
            routes[str(route["RouteKey"])] = Route(
                key=str(route["RouteKey"]),
                function=_function_of(integration.get("IntegrationUri")),
                authorizer=(
                    Authorizer(
                        function=_function_of(authorizer["AuthorizerUri"]) or "",
                        identity_sources=tuple(str(source) for source in authorizer.get("IdentitySource", [])),
                    )
                    if authorizer and route.get("AuthorizationType") == "CUSTOM"
                    else None
                ),
                answers=str(refs.get(route_id, "")) in answered,
            )
        found.append(
            Definition(
                api_id=api_id,
                stage=str(stages[0]["StageName"]) if stages else "$default",
                selection_expression=str(api.get("RouteSelectionExpression", "$request.body.action")),
                routes=routes,
            )
        )
    return found


def _function_of(uri: Any) -> str | None:
    """arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations -> the ARN."""
    text = str(uri or "")
    if _LAMBDA_URI not in text or not text.endswith("/invocations"):
        return None
    return text.split(_LAMBDA_URI, 1)[1].removesuffix("/invocations")


class Gone(Exception):
    """The connection is not open (any more)."""


class PayloadTooLarge(Exception):
    pass


@dataclass
class _Connection:
    connection_id: str
    connected_at: float  # epoch seconds
    source_ip: str
    user_agent: str
    authorizer: dict[str, Any] = field(default_factory=dict)
    last_active: float = 0.0
    socket: ServerConnection | None = None


class WebSocketApi:
    """One WebSocket API's stage, served on a background thread (a thread per connection)."""

    def __init__(
        self,
        definition: Definition,
        *,
        invoke: Invoke,
        account_id: str,
        region: str,
        idle_timeout_seconds: float = IDLE_TIMEOUT_SECONDS,
        max_connection_seconds: float = MAX_CONNECTION_SECONDS,
        meter: Callable[[str, float], None] | None = None,  # (line, amount): what API Gateway bills (localcloud.meter)
    ) -> None:
        self.definition = definition
        self._invoke = invoke
        self._account_id = account_id
        self._region = region
        self._idle_timeout = idle_timeout_seconds
        self._max_duration = max_connection_seconds
        self._meter = meter or (lambda _line, _amount: None)
        self._lock = threading.Lock()
        self._open: dict[str, _Connection] = {}
        # Each accepted handshake's connection until its handler takes it (a handshake failing later leaves none).
        self._handshaking: weakref.WeakKeyDictionary[ServerConnection, _Connection] = weakref.WeakKeyDictionary()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a thread; returns the stage's URL (ws://host:port/<stage>)."""
        self._server = serve(
            self._serve_connection,
            host,
            port,
            process_request=self._handshake,
            process_response=self._opened,
            max_size=(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES),
            compression=None,  # API Gateway negotiates no extension
            server_header=None,
            ping_interval=None,  # API Gateway answers pings; it sends none of its own
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="websocket-api", daemon=True)
        self._thread.start()
        bound = self._server.socket.getsockname()
        self.url = f"ws://{bound[0]}:{bound[1]}/{self.definition.stage}"
        return self.url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        with self._lock:
            sockets = [connection.socket for connection in self._open.values() if connection.socket is not None]
        for socket in sockets:  # each one's handler then runs $disconnect
            socket.close(CloseCode.GOING_AWAY, "Going away")
        thread.join()
        self._server = self._thread = None

    def connection_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._open)

    # --- the handshake and $connect ----------------------------------------------------------------------

    def _handshake(self, socket: ServerConnection, request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        if unquote(path).rstrip("/") != f"/{self.definition.stage}":
            return _refusal(socket, 403, "Forbidden")
        headers = list(request.headers.raw_items())
        single = dict(headers)
        source_ip = str(socket.remote_address[0])
        connection = _Connection(
            connection_id=_new_id(),
            connected_at=time.time(),
            source_ip=source_ip,
            user_agent=single.get("User-Agent", ""),
        )
        pairs = parse_qsl(query, keep_blank_values=True)
        request_parts = {
            "headers": single,
            "multiValueHeaders": _multi(headers),
            "queryStringParameters": dict(pairs) or None,
            "multiValueQueryStringParameters": _multi(pairs) or None,
        }
        route = self.definition.routes.get("$connect")
        if route is not None and route.authorizer is not None:
            refused = self._authorize(socket, route.authorizer, connection, request_parts)
            if refused is not None:
                return refused
        if route is not None and route.function is not None:
            event = {
                **request_parts,
                "requestContext": self._context(connection, "$connect", "CONNECT"),
                "isBase64Encoded": False,
            }
            try:
                errored, answer = self._invoke(route.function, event)
            except Exception as refused:  # Lambda refused the invoke (throttled, its own failure): API Gateway's 500
                logger.warning("the $connect integration was not invoked: %r", refused)
                return _refusal(socket, 500, "Internal server error")
            status = answer.get("statusCode") if isinstance(answer, dict) else None
            if errored or not isinstance(status, int):
                return _refusal(socket, 500, "Internal server error")
            if not 200 <= status < 300:
                return _refusal(socket, status, "Forbidden")
        with self._lock:
            self._handshaking[socket] = connection
        return None

    def _authorize(
        self, socket: ServerConnection, authorizer: Authorizer, connection: _Connection, parts: dict[str, Any]
    ) -> Response | None:
        headers = {name.lower(): value for name, value in (parts["headers"] or {}).items()}
        query = parts["queryStringParameters"] or {}
        for source in authorizer.identity_sources:
            kind, _, name = source.removeprefix("route.request.").partition(".")
            present = query.get(name) if kind == "querystring" else headers.get(name.lower())
            if not present:
                return _refusal(socket, 401, "Unauthorized")  # API Gateway's answer: the function never runs
        method_arn = (
            f"arn:aws:execute-api:{self._region}:{self._account_id}:"
            f"{self.definition.api_id}/{self.definition.stage}/$connect"
        )
        event = {
            "type": "REQUEST",
            "methodArn": method_arn,
            **parts,
            "stageVariables": {},
            "requestContext": self._context(connection, "$connect", "CONNECT"),
        }
        try:
            errored, answer = self._invoke(authorizer.function, event)
        except Exception as refused:  # Lambda refused the invoke (throttled, its own failure)
            logger.warning("the authorizer was not invoked: %r", refused)
            return _refusal(socket, 500, "Internal server error")
        if errored:
            unauthorized = isinstance(answer, dict) and answer.get("errorMessage") == "Unauthorized"
            return (
                _refusal(socket, 401, "Unauthorized")
                if unauthorized
                else _refusal(socket, 500, "Internal server error")
            )
        if not isinstance(answer, dict) or not _allows(answer.get("policyDocument"), method_arn):
            return _refusal(socket, 403, "Forbidden")
        context = answer.get("context")
        connection.authorizer = {
            **(context if isinstance(context, dict) else {}),
            "principalId": answer.get("principalId"),
        }
        return None

    # --- an open connection ------------------------------------------------------------------------------

    def _opened(self, socket: ServerConnection, request: Request, response: Response) -> Response:
        """The connection is open (and @connections can reach it) before the client sees its 101."""
        with self._lock:
            connection = self._handshaking.get(socket)
            if connection is not None and response.status_code == 101:
                connection.socket = socket
                connection.last_active = time.time()
                self._open[connection.connection_id] = connection
        return response

    def _serve_connection(self, socket: ServerConnection) -> None:
        with self._lock:
            connection = self._handshaking.pop(socket)
        ends_at = connection.connected_at + self._max_duration
        try:
            while True:
                wait = min(self._idle_timeout, ends_at - time.time())
                if wait <= 0:
                    socket.close(CloseCode.GOING_AWAY, "Going away")
                    break
                try:
                    message = socket.recv(timeout=wait)
                except TimeoutError:
                    socket.close(CloseCode.GOING_AWAY, "Going away")
                    break
                except ConnectionClosed:
                    break
                connection.last_active = time.time()
                self._meter("apigateway.websocket_messages", _message_units(message))
                self._route(connection, message)
        finally:
            with self._lock:
                self._open.pop(connection.connection_id, None)
            self._meter("apigateway.connection_minutes", math.ceil((time.time() - connection.connected_at) / 60))
            self._disconnected(connection, socket)

    def _route(self, connection: _Connection, message: str | bytes) -> None:
        key = self._selected_route(message)
        route = self.definition.routes.get(key) or self.definition.routes.get("$default")
        request_id = _new_id()
        if route is None or route.function is None:
            self._send_error(connection, "Forbidden", request_id)
            return
        text = message if isinstance(message, str) else None
        event = {
            "requestContext": {
                **self._context(connection, route.key, "MESSAGE", request_id=request_id),
                "messageId": _new_id(),
            },
            "body": text
            if text is not None
            else base64.b64encode(message if isinstance(message, bytes) else b"").decode(),
            "isBase64Encoded": text is None,
        }
        try:
            errored, answer = self._invoke(route.function, event)
        except Exception as refused:  # Lambda refused the invoke (throttled, its own failure)
            logger.warning("a route's integration was not invoked: %r", refused)
            errored, answer = True, None
        if errored:
            self._send_error(connection, "Internal server error", request_id)
            return
        if route.answers and isinstance(answer, dict) and answer.get("body") is not None:
            self._send(connection, str(answer["body"]))

    def _selected_route(self, message: str | bytes) -> str:
        """The route key the selection expression ($request.body.<path>) picks from a JSON message."""
        path = self.definition.selection_expression.removeprefix("$request.body.")
        if path == self.definition.selection_expression or not isinstance(message, str):
            return "$default"
        try:
            value: Any = json.loads(message)
        except ValueError:
            return "$default"
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        return value if isinstance(value, str) and value in self.definition.routes else "$default"

    def _disconnected(self, connection: _Connection, socket: ServerConnection) -> None:
        route = self.definition.routes.get("$disconnect")
        if route is None or route.function is None:
            return
        context = self._context(connection, "$disconnect", "DISCONNECT")
        context["disconnectStatusCode"] = socket.close_code if socket.close_code is not None else 1006
        context["disconnectReason"] = socket.close_reason or ""
        event = {
            "headers": {"Host": self.url.split("/")[2]},
            "multiValueHeaders": {"Host": [self.url.split("/")[2]]},
            "requestContext": context,
            "isBase64Encoded": False,
        }
        try:
            self._invoke(route.function, event)  # what it answers goes nowhere: the client is gone
        except Exception as refused:  # Lambda refused the invoke (throttled, its own failure)
            logger.warning("the $disconnect integration was not invoked: %r", refused)

    def _send(self, connection: _Connection, data: str | bytes) -> None:
        if connection.socket is None:
            raise Gone(connection.connection_id)
        # Open from API Gateway's side as soon as $connect answered: the 101 may still be on its way out.
        deadline = time.monotonic() + 1.0
        while connection.socket.state is State.CONNECTING and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            connection.socket.send(data)
        except ConnectionClosed as closed:
            raise Gone(connection.connection_id) from closed
        self._meter("apigateway.websocket_messages", _message_units(data))

    def _send_error(self, connection: _Connection, message: str, request_id: str) -> None:
        error = {"message": message, "connectionId": connection.connection_id, "requestId": request_id}
        with contextlib.suppress(Gone):  # the client left meanwhile: nobody to tell
            self._send(connection, json.dumps(error))

    def _context(
        self, connection: _Connection, route_key: str, event_type: str, *, request_id: str | None = None
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        request_id = request_id or _new_id()
        context: dict[str, Any] = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": request_time(now),
            "messageDirection": "IN",
            "stage": self.definition.stage,
            "connectedAt": int(connection.connected_at * 1000),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
            "requestId": request_id,
            "domainName": self.url.split("/")[2] if self.url else "",
            "connectionId": connection.connection_id,
            "apiId": self.definition.api_id,
        }
        if connection.authorizer:
            context["authorizer"] = connection.authorizer
        return context

    # --- @connections -------------------------------------------------------------------------------------

    def post(self, connection_id: str, data: bytes) -> None:
        if len(data) > MAX_MESSAGE_BYTES:
            raise PayloadTooLarge(f"{len(data)} bytes: a message holds at most {MAX_MESSAGE_BYTES}")
        with self._lock:
            connection = self._open.get(connection_id)
        if connection is None:
            raise Gone(connection_id)
        try:
            text: str | bytes = data.decode()
        except UnicodeDecodeError:
            text = data
        self._send(connection, text)

    def describe(self, connection_id: str) -> dict[str, Any]:
        with self._lock:
            connection = self._open.get(connection_id)
        if connection is None:
            raise Gone(connection_id)
        return {  # the wire's names (the SDK's are ConnectedAt, Identity...)
            "connectedAt": _iso(connection.connected_at),
            "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
            "lastActiveAt": _iso(connection.last_active),
        }

    def disconnect(self, connection_id: str) -> None:
        with self._lock:
            connection = self._open.get(connection_id)
        if connection is None or connection.socket is None:
            raise Gone(connection_id)
        connection.socket.close(CloseCode.NORMAL_CLOSURE, "")

    def manage(  # noqa: PLR0911  (one answer per method and per error, as the API has them)
        self, method: str, path: str, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """The @connections API's answer to a request at the local AWS endpoint, or None when it is not for this
        API's stage. Errors in API Gateway's REST-JSON form (botocore reads x-amzn-ErrorType)."""
        prefix = f"{self.definition.management_prefix}/@connections/"
        if not path.startswith(prefix):
            return None
        connection_id = unquote(path.removeprefix(prefix))
        try:
            if method == "POST":
                self.post(connection_id, body)
                return 200, [], b""
            if method == "GET":
                return 200, [("Content-Type", "application/json")], json.dumps(self.describe(connection_id)).encode()
            if method == "DELETE":
                self.disconnect(connection_id)
                return 204, [], b""
        except Gone:
            return _management_error(410, "GoneException", None)
        except PayloadTooLarge as too_large:
            return _management_error(413, "PayloadTooLargeException", str(too_large))
        return _management_error(403, "ForbiddenException", "Forbidden")


def _management_error(status: int, error_type: str, message: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-ErrorType", error_type),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ]
    return status, headers, json.dumps({"message": message}).encode()


def _refusal(socket: ServerConnection, status: int, message: str) -> Response:
    """API Gateway's answer to a handshake it refuses: the status and its JSON message; no connection."""
    response = socket.respond(status, json.dumps({"message": message}))
    del response.headers["Content-Type"]  # respond() says text/plain
    response.headers["Content-Type"] = "application/json"
    return response


def _allows(policy: Any, method_arn: str) -> bool:
    """Whether an authorizer's policy allows execute-api:Invoke on the method (an explicit Deny wins)."""
    if not isinstance(policy, dict):
        return False
    allowed = False
    for statement in policy.get("Statement", []):
        if not isinstance(statement, dict):
            continue
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = actions if isinstance(actions, list) else [actions]
        resources = resources if isinstance(resources, list) else [resources]
        applies = any(fnmatch.fnmatchcase("execute-api:Invoke", str(action)) for action in actions) and any(
            fnmatch.fnmatchcase(method_arn, str(resource)) for resource in resources
        )
        if applies and statement.get("Effect") == "Deny":
            return False
        allowed = allowed or (applies and statement.get("Effect") == "Allow")
    return allowed


def _new_id() -> str:
    """An id in the shape of API Gateway's (16 characters, `=` at the end), without `/`: it goes into URL paths."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode()


def _message_units(message: str | bytes) -> int:
    """Messages are billed in 32 KB units."""
    size = len(message.encode() if isinstance(message, str) else message)
    return max(1, math.ceil(size / MAX_FRAME_BYTES))


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    return multi


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat().replace("+00:00", "Z")

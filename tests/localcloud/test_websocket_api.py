"""The local WebSocket API (localcloud.websocket_api) on its own, with functions played by the test: the handshake
through the $connect authorizer and integration, route selection, API Gateway's limits, and @connections."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import CloseCode
from websockets.sync.client import ClientConnection, connect

from localcloud.websocket_api import (
    MAX_FRAME_BYTES,
    MAX_MESSAGE_BYTES,
    Authorizer,
    Definition,
    Route,
    WebSocketApi,
)

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

ACCOUNT = "123456789012"
ALLOW = {
    "principalId": "customer-1",
    "policyDocument": {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*"}],
    },
    "context": {"customerId": "customer-1", "groups": "customers"},
}
DENY = {**ALLOW, "policyDocument": {"Statement": [{**ALLOW["policyDocument"]["Statement"][0], "Effect": "Deny"}]}}  # type: ignore[index]


class Functions:
    """The API's functions: what each answers, and every event each was sent."""

    def __init__(self) -> None:
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.answers: dict[str, Callable[[dict[str, Any]], tuple[bool, Any]]] = {
            "authorizer": lambda event: (False, ALLOW),
            "connections": lambda event: (False, {"statusCode": 200, "body": json.dumps({"echo": event.get("body")})}),
        }
        self.disconnected = threading.Event()

    def __call__(self, function: str, event: dict[str, Any]) -> tuple[bool, Any]:
        self.events.setdefault(function, []).append(event)
        if event.get("requestContext", {}).get("eventType") == "DISCONNECT":
            self.disconnected.set()
        return self.answers[function](event)

    def route_keys(self) -> list[str]:
        return [event["requestContext"]["routeKey"] for event in self.events.get("connections", [])]


DEFINITION = Definition(
    api_id="abc123defg",
    stage="live",
    selection_expression="$request.body.action",
    routes={
        "$connect": Route(
            "$connect", "connections", Authorizer("authorizer", ("route.request.querystring.token",)), answers=False
        ),
        "$disconnect": Route("$disconnect", "connections"),
        "$default": Route("$default", "connections", answers=True),
        "ping": Route("ping", "connections", answers=True),
    },
)


@pytest.fixture
def functions() -> Functions:
    return Functions()


@pytest.fixture
def start(functions: Functions) -> Iterator[Callable[..., WebSocketApi]]:
    started: list[WebSocketApi] = []

    def run(**settings: Any) -> WebSocketApi:
        api = WebSocketApi(DEFINITION, invoke=functions, account_id=ACCOUNT, region="us-east-1", **settings)
        api.start()
        started.append(api)
        return api

    yield run
    for api in started:
        api.stop()


@pytest.fixture
def api(start: Callable[..., WebSocketApi]) -> WebSocketApi:
    return start()


def open_socket(api: WebSocketApi, query: str = "?token=t0ken") -> ClientConnection:
    return connect(api.url + query, open_timeout=5)


def closing_of(socket: ClientConnection, message: str | list[str]) -> ConnectionClosed:
    """How the server closes the connection after `message` (while it is still being sent, or after)."""
    try:
        socket.send(message)
        socket.recv(timeout=5)
    except ConnectionClosed as closed:
        return closed
    raise AssertionError("the connection stayed open")


def keep_busy(socket: ClientConnection, answers: list[str], seconds: float) -> None:
    """Send and read until the server closes the connection (or `seconds` pass)."""
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        socket.send("busy")
        answers.append(str(socket.recv(timeout=5)))


def refusal(api: WebSocketApi, url: str) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=5)
    response = refused.value.response
    assert response.headers["Content-Type"] == "application/json"
    assert api.connection_ids() == []
    return response.status_code, json.loads(bytes(response.body or b""))


# --- the handshake --------------------------------------------------------------------------------------------


def test_a_handshake_runs_the_authorizer_then_connect_with_its_context(api: WebSocketApi, functions: Functions) -> None:
    with open_socket(api) as socket:
        (authorizing,) = functions.events["authorizer"]
        (connecting,) = functions.events["connections"]
        assert api.connection_ids() == [connecting["requestContext"]["connectionId"]]
        socket.close()

    assert authorizing["type"] == "REQUEST"
    assert authorizing["methodArn"] == f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123defg/live/$connect"
    assert authorizing["queryStringParameters"] == {"token": "t0ken"}
    assert authorizing["requestContext"]["connectionId"] == connecting["requestContext"]["connectionId"]
    assert connecting["requestContext"]["authorizer"] == {
        "customerId": "customer-1",
        "groups": "customers",
        "principalId": "customer-1",
    }
    assert (connecting["requestContext"]["eventType"], connecting["requestContext"]["routeKey"]) == (
        "CONNECT",
        "$connect",
    )


REFUSALS = {
    "no identity source: the function never runs": ("", "authorizer", (False, ALLOW), 401, "Unauthorized"),
    "an empty identity source": ("?token=", "authorizer", (False, ALLOW), 401, "Unauthorized"),
    "a Deny": ("?token=x", "authorizer", (False, DENY), 403, "Forbidden"),
    'a raised "Unauthorized"': (
        "?token=x",
        "authorizer",
        (True, {"errorMessage": "Unauthorized"}),
        401,
        "Unauthorized",
    ),
    "an authorizer error": ("?token=x", "authorizer", (True, {"errorMessage": "boom"}), 500, "Internal server error"),
    "no policy": ("?token=x", "authorizer", (False, {"principalId": "p"}), 403, "Forbidden"),
    "$connect answers 403": ("?token=x", "connections", (False, {"statusCode": 403}), 403, "Forbidden"),
    "$connect fails": ("?token=x", "connections", (True, {"errorMessage": "boom"}), 500, "Internal server error"),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refused_handshake_gets_api_gateways_answer_and_no_connection(
    api: WebSocketApi, functions: Functions, case: tuple[str, str, tuple[bool, Any], int, str]
) -> None:
    query, function, result, status, message = case
    functions.answers[function] = lambda event: result

    assert refusal(api, api.url + query) == (status, {"message": message})
    if not query.removeprefix("?token="):
        assert "authorizer" not in functions.events
    assert "$disconnect" not in functions.route_keys()


def test_a_path_outside_the_stage_is_forbidden(api: WebSocketApi, functions: Functions) -> None:
    assert refusal(api, api.url.replace("/live", "/other") + "?token=x") == (403, {"message": "Forbidden"})
    assert functions.events == {}


# --- messages ---------------------------------------------------------------------------------------------------


def test_a_message_goes_to_the_route_its_action_names_else_to_default(api: WebSocketApi, functions: Functions) -> None:
    with open_socket(api) as socket:
        socket.send(json.dumps({"action": "ping"}))
        assert json.loads(socket.recv(timeout=5)) == {"echo": json.dumps({"action": "ping"})}
        for other in ("not json", json.dumps({"action": "nowhere"}), json.dumps({"action": 7}), json.dumps([1])):
            socket.send(other)
            assert json.loads(socket.recv(timeout=5)) == {"echo": other}

    assert functions.route_keys()[1:5] == ["ping", "$default", "$default", "$default"]
    message = functions.events["connections"][1]
    assert message["requestContext"]["authorizer"]["customerId"] == "customer-1"
    assert message["requestContext"]["eventType"] == "MESSAGE"
    assert message["isBase64Encoded"] is False


def test_a_function_error_on_a_message_sends_api_gateways_error(api: WebSocketApi, functions: Functions) -> None:
    with open_socket(api) as socket:
        functions.answers["connections"] = lambda event: (True, {"errorMessage": "boom"})
        socket.send("hello")
        answer = json.loads(socket.recv(timeout=5))

    assert answer["message"] == "Internal server error"
    assert answer["connectionId"] == functions.events["connections"][0]["requestContext"]["connectionId"]


def test_disconnect_runs_when_the_client_leaves(api: WebSocketApi, functions: Functions) -> None:
    with open_socket(api) as socket:
        connection_id = api.connection_ids()[0]
        socket.close(CloseCode.NORMAL_CLOSURE, "bye")

    assert functions.disconnected.wait(5)
    disconnect = functions.events["connections"][-1]["requestContext"]
    assert (disconnect["routeKey"], disconnect["connectionId"]) == ("$disconnect", connection_id)
    assert disconnect["disconnectStatusCode"] == 1000
    assert api.connection_ids() == []


# --- limits ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        pytest.param("x" * (MAX_FRAME_BYTES + 1), id="a frame over 32 KB"),
        pytest.param(["x" * MAX_FRAME_BYTES] * 5, id="a message over 128 KB in 32 KB frames"),
    ],
)
def test_an_oversized_frame_or_message_closes_the_connection_with_1009(
    api: WebSocketApi, functions: Functions, message: str | list[str]
) -> None:
    with open_socket(api) as socket:
        closed = closing_of(socket, message)

    assert closed.rcvd is not None
    assert closed.rcvd.code == CloseCode.MESSAGE_TOO_BIG
    assert functions.disconnected.wait(5)
    assert functions.route_keys() == ["$connect", "$disconnect"]  # the message reached no route


def test_a_message_of_128_kb_in_32_kb_frames_is_taken(api: WebSocketApi, functions: Functions) -> None:
    with open_socket(api) as socket:
        socket.send(["x" * MAX_FRAME_BYTES] * (MAX_MESSAGE_BYTES // MAX_FRAME_BYTES))
        assert json.loads(socket.recv(timeout=5))["echo"] == "x" * MAX_MESSAGE_BYTES


def test_an_idle_connection_is_closed_with_going_away(start: Callable[..., WebSocketApi], functions: Functions) -> None:
    api = start(idle_timeout_seconds=0.5)
    with open_socket(api) as socket:
        socket.send("still here")
        socket.recv(timeout=5)
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)

    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (CloseCode.GOING_AWAY, "Going away")
    assert functions.disconnected.wait(5)


def test_a_connection_ends_at_its_longest_life_however_busy(
    start: Callable[..., WebSocketApi], functions: Functions
) -> None:
    api = start(idle_timeout_seconds=10, max_connection_seconds=1.0)
    started = time.monotonic()
    answered: list[str] = []
    with open_socket(api) as socket, pytest.raises(ConnectionClosed) as closed:
        keep_busy(socket, answered, seconds=5)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.GOING_AWAY
    assert len(answered) > 10
    assert 0.9 < time.monotonic() - started < 5


# --- @connections ---------------------------------------------------------------------------------------------


def test_connections_api_posts_describes_and_deletes_a_connection(api: WebSocketApi, functions: Functions) -> None:
    prefix = f"/{DEFINITION.api_id}/{DEFINITION.stage}/@connections/"
    with open_socket(api) as socket:
        (connection_id,) = api.connection_ids()

        assert api.manage("POST", prefix + connection_id, b'{"type":"HELLO"}') == (200, [], b"")
        assert socket.recv(timeout=5) == '{"type":"HELLO"}'
        status, _, body = api.manage("GET", prefix + connection_id, b"") or (0, [], b"")
        assert status == 200
        assert set(json.loads(body)) == {"connectedAt", "identity", "lastActiveAt"}

        status, _, _ = api.manage("POST", prefix + connection_id, b"x" * (MAX_MESSAGE_BYTES + 1)) or (0, [], b"")
        assert status == 413
        assert api.manage("DELETE", prefix + connection_id, b"") == (204, [], b"")
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=5)

    assert functions.disconnected.wait(5)
    status, headers, _ = api.manage("POST", prefix + connection_id, b"late") or (0, [], b"")
    assert (status, dict(headers)["x-amzn-ErrorType"]) == (410, "GoneException")
    assert api.manage("POST", "/other-api/live/@connections/" + connection_id, b"") is None

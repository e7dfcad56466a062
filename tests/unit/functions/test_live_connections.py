"""The WebSocket routes: $connect keeps the connection with the caller the authorizer described (customer id,
groups, when it opened, and its expiry at API Gateway's two-hour limit), $disconnect forgets it, and $default
answers a ping and refuses any other message in a sentence. Inputs are events/live_connections.json."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from shop.adapters.dynamodb import from_attributes
from tests.support.cloud import TABLE_NAMES
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event

CONNECT = read_event("live_connections")
CONNECTION_ID = CONNECT["requestContext"]["connectionId"]
BOB = CONNECT["requestContext"]["authorizer"]["customerId"]
OPENED = datetime.fromtimestamp(CONNECT["requestContext"]["connectedAt"] / 1000, UTC)


@pytest.fixture
def routes(dynamodb: Any) -> ModuleType:
    return load_function("live_connections")


def connection_item(client: Any, connection_id: str = CONNECTION_ID) -> dict[str, Any] | None:
    item = client.get_item(
        TableName=TABLE_NAMES["ConnectionsTable"], Key={"connectionId": {"S": connection_id}}, ConsistentRead=True
    ).get("Item")
    return from_attributes(item) if item else None


def on_route(route: str, event_type: str, **changes: Any) -> dict[str, Any]:
    """events/live_connections.json as another route of the same connection receives it."""
    event = copy.deepcopy(CONNECT)
    event["requestContext"].update(routeKey=route, eventType=event_type)
    event.update(changes)
    return event


def message(body: str) -> dict[str, Any]:
    event = on_route("$default", "MESSAGE", body=body)
    event["requestContext"]["messageId"] = "Cq4Ad9aZIAMCJ9Q="
    for key in ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters"):
        event.pop(key)
    return event


def call(routes: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = routes.lambda_handler(event, FakeLambdaContext())
    return answer


def test_connect_keeps_the_connection_with_its_customer_groups_and_two_hour_expiry(
    routes: ModuleType, dynamodb: Any
) -> None:
    answer = call(routes, CONNECT)

    assert answer == {"statusCode": 200}
    assert connection_item(dynamodb) == {
        "connectionId": CONNECTION_ID,
        "customerId": BOB,
        "groups": ["customers"],
        "connectedAt": "2026-11-25T09:30:00.000Z",
        "expiresAt": int((OPENED + timedelta(hours=2)).timestamp()),
    }


def test_an_approvers_connection_is_marked_for_the_approvers_lookup(routes: ModuleType, dynamodb: Any) -> None:
    event = copy.deepcopy(CONNECT)
    event["requestContext"]["authorizer"]["groups"] = "admins,customers"

    call(routes, event)

    item = connection_item(dynamodb)
    assert item is not None
    assert (item["groups"], item["approverGroup"]) == (["admins", "customers"], "admins")


def test_connect_without_the_authorizers_context_is_refused_and_keeps_nothing(
    routes: ModuleType, dynamodb: Any
) -> None:
    event = copy.deepcopy(CONNECT)
    del event["requestContext"]["authorizer"]

    answer = call(routes, event)

    assert answer == {"statusCode": 401}
    assert connection_item(dynamodb) is None


def test_disconnect_forgets_the_connection(routes: ModuleType, dynamodb: Any) -> None:
    call(routes, CONNECT)
    disconnect = on_route("$disconnect", "DISCONNECT")
    disconnect["requestContext"].update(disconnectStatusCode=1001, disconnectReason="Going away")

    answer = call(routes, disconnect)

    assert answer == {"statusCode": 200}
    assert connection_item(dynamodb) is None


def test_disconnect_of_a_connection_already_forgotten_is_fine(routes: ModuleType, dynamodb: Any) -> None:
    answer = call(routes, on_route("$disconnect", "DISCONNECT"))

    assert answer == {"statusCode": 200}


def test_a_ping_is_answered_with_a_pong(routes: ModuleType) -> None:
    answer = call(routes, message('{"action": "ping"}'))

    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"type": "PONG"}


@pytest.mark.parametrize("body", ['{"action": "subscribe"}', '{"hello": 1}', "not json", "[1, 2]", ""])
def test_any_other_message_gets_unknown_action_and_changes_nothing(
    routes: ModuleType, dynamodb: Any, body: str
) -> None:
    answer = call(routes, message(body))

    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"type": "ERROR", "error": "unknown action", "actions": ["ping"]}
    assert connection_item(dynamodb) is None

"""Live updates on the local cloud, end to end with real WebSocket clients: template.yaml's WebSocket API, its
authorizer and route functions in their workers, the Orders stream's push through @connections (docs/live-updates.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import CloseCode
from websockets.sync.client import ClientConnection, connect

from localcloud.client import DEFAULT_ADDRESS
from localcloud.cloud import FAKE_CREDENTIALS
from localcloud.websocket_api import MAX_FRAME_BYTES
from tests.localcloud.conftest import Shop

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

FINAL = {"SHIPPED", "DELIVERED", "CANCELLED", "REJECTED", "FAILED"}


def open_socket(shop: Shop, token: str) -> ClientConnection:
    return connect(f"{shop.endpoints.websocket}?token={token}", open_timeout=10)


def messages(socket: ClientConnection, until: Any, timeout: float = 30) -> list[dict[str, Any]]:
    """What the socket receives until `until(received)` holds (or the time-out passes)."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not until(received) and time.monotonic() < deadline:
        try:
            received.append(json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic()))))
        except TimeoutError:
            break
    return received


def place(shop: Shop, token: str, key: str, items: list[dict[str, Any]]) -> str:
    response = requests.post(
        f"{shop.api}/orders",
        json={"items": items, "shippingAddress": DEFAULT_ADDRESS},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    order_id: str = response.json()["orderId"]
    return order_id


def connections(shop: Shop) -> list[dict[str, Any]]:
    table = str(shop.endpoints.outputs["ConnectionsTableName"])
    items: list[dict[str, Any]] = shop.client("dynamodb").scan(TableName=table)["Items"]
    return items


def settled_connections(shop: Shop) -> list[dict[str, Any]]:
    """The table's connections once every closed one's $disconnect has run (it runs after the socket closes)."""
    deadline = time.monotonic() + 10
    while True:
        items = connections(shop)
        if {item["connectionId"]["S"] for item in items} <= set(shop.cloud.websocket_apis[0].connection_ids()):
            return items
        assert time.monotonic() < deadline, "a closed connection's $disconnect never ran"
        time.sleep(0.1)


def management(shop: Shop) -> Any:
    """A client of the @connections API where the functions' SDK finds it."""
    api = shop.cloud.websocket_apis[0].definition
    return boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=shop.endpoints.region,
    ).client("apigatewaymanagementapi", endpoint_url=shop.endpoints.aws + api.management_prefix)


@pytest.fixture
def other_customer(shop: Shop) -> str:
    return shop.token_for("other-live-customer@example.com", "customers")


@pytest.fixture
def customer_socket(shop: Shop) -> Iterator[ClientConnection]:
    with open_socket(shop, shop.customer_token) as socket:
        yield socket


def test_make_run_names_the_websocket_url_on_a_line_of_its_own(shop: Shop) -> None:
    from localcloud.__main__ import websocket_line

    (line,) = websocket_line(shop.endpoints).splitlines()
    assert line.startswith("WebSocket ")
    assert line.split()[1] == shop.endpoints.websocket
    assert shop.endpoints.websocket.startswith("ws://127.0.0.1:")


def test_a_customer_hears_every_status_of_their_order_and_nothing_of_anothers(
    shop: Shop, customer_socket: ClientConnection, other_customer: str
) -> None:
    others = place(shop, other_customer, "live-other", [{"productId": "descaler", "quantity": 1}])
    mine = place(shop, shop.customer_token, "live-mine", [{"productId": "scale", "quantity": 1}])

    received = messages(
        customer_socket, until=lambda got: any(m.get("orderId") == mine and m["status"] in FINAL for m in got)
    )

    assert {message["orderId"] for message in received} == {mine}, others
    assert [message["status"] for message in received] == ["PLACED", "PAID", "SHIPPED"]
    assert [message.get("previousStatus") for message in received] == [None, "PLACED", "PAID"]
    assert all(message["type"] == "ORDER_STATUS_CHANGED" for message in received)


def test_an_approver_hears_each_approval_request(shop: Shop) -> None:
    with open_socket(shop, shop.approver_token) as approver:
        order_id = place(shop, shop.customer_token, "live-large", [{"productId": "espresso-machine", "quantity": 1}])
        received = messages(approver, until=lambda got: any(m["type"] == "APPROVAL_REQUESTED" for m in got))

    (request,) = [message for message in received if message["type"] == "APPROVAL_REQUESTED"]
    assert request["orderId"] == order_id
    assert request["totalCents"] == 149000
    assert "taskToken" not in json.dumps(request)
    assert not [message for message in received if message["type"] == "ORDER_STATUS_CHANGED"]  # not the approver's


def test_a_handshake_without_a_valid_id_token_is_refused_and_changes_nothing(shop: Shop) -> None:
    before = settled_connections(shop)
    access = shop.client("cognito-idp").initiate_auth(
        ClientId=shop.endpoints.user_pool_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "customer@example.com", "PASSWORD": "Local-test-Passw0rd"},
    )["AuthenticationResult"]["AccessToken"]
    header, payload, signature = shop.customer_token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    refusals = {}
    for name, query in {
        "no token": "",
        "tampered": f"?token={tampered}",
        "an access token": f"?token={access}",
        "not a JWT": "?token=hello",
    }.items():
        with pytest.raises(InvalidStatus) as refused:
            connect(shop.endpoints.websocket + query, open_timeout=10)
        refusals[name] = (refused.value.response.status_code, json.loads(bytes(refused.value.response.body or b"")))

    assert refusals == {
        "no token": (401, {"message": "Unauthorized"}),
        "tampered": (403, {"message": "Forbidden"}),
        "an access token": (403, {"message": "Forbidden"}),
        "not a JWT": (403, {"message": "Forbidden"}),
    }
    assert settled_connections(shop) == before


def test_bad_messages_get_api_gateways_or_the_functions_answer(shop: Shop, customer_socket: ClientConnection) -> None:
    customer_socket.send(json.dumps({"action": "ping"}))
    assert json.loads(customer_socket.recv(timeout=10)) == {"type": "PONG"}
    customer_socket.send(json.dumps({"action": "shout"}))
    assert json.loads(customer_socket.recv(timeout=10)) == {
        "type": "ERROR",
        "error": "unknown action",
        "actions": ["ping"],
    }

    customer_socket.send("x" * (MAX_FRAME_BYTES + 1))
    with pytest.raises(ConnectionClosed) as closed:
        customer_socket.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.MESSAGE_TOO_BIG


def test_the_connections_api_answers_for_open_connections_and_410_for_gone_ones(shop: Shop) -> None:
    client = management(shop)
    with open_socket(shop, shop.customer_token) as socket:
        connection_id = shop.cloud.websocket_apis[0].connection_ids()[-1]
        assert {item["connectionId"]["S"] for item in connections(shop)} >= {connection_id}

        client.post_to_connection(ConnectionId=connection_id, Data=b'{"type":"HELLO"}')
        assert json.loads(socket.recv(timeout=10)) == {"type": "HELLO"}
        described = client.get_connection(ConnectionId=connection_id)
        assert described["Identity"]["SourceIp"] == "127.0.0.1"
        client.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=10)

    with pytest.raises(ClientError) as gone:
        client.post_to_connection(ConnectionId=connection_id, Data=b"late")
    assert gone.value.response["Error"]["Code"] == "GoneException"
    assert connection_id not in {item["connectionId"]["S"] for item in settled_connections(shop)}


def test_a_connection_left_behind_by_a_lost_disconnect_is_forgotten_at_its_410(shop: Shop) -> None:
    # Given a connection the table still holds but API Gateway closed long ago (its $disconnect never ran)
    table = str(shop.endpoints.outputs["ConnectionsTableName"])
    with open_socket(shop, shop.customer_token):
        (kept,) = [
            item
            for item in connections(shop)
            if item["connectionId"]["S"] in shop.cloud.websocket_apis[0].connection_ids()
        ]
    stale = {**kept, "connectionId": {"S": "stale-connection="}}
    shop.client("dynamodb").put_item(TableName=table, Item=stale)

    with open_socket(shop, shop.customer_token) as socket:
        order_id = place(shop, shop.customer_token, "live-stale", [{"productId": "travel-mug", "quantity": 1}])
        received = messages(socket, until=lambda got: any(m.get("status") in FINAL for m in got))

    assert [message["status"] for message in received if message["orderId"] == order_id][-1] == "SHIPPED"
    assert "stale-connection=" not in {item["connectionId"]["S"] for item in connections(shop)}

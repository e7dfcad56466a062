"""Live updates from the Orders stream: a status change reaches the connections of the order's customer and no
one else's, a new pending approval reaches every connected approver, a connection that answers 410 is forgotten,
a batch delivered again sends nothing twice to a connection, and a write that keeps the status sends nothing.

moto's @connections API accepts a post to any id and never answers 410, so the function's ConnectionsApi is given
a stand-in client here (the seam the adapter takes), which checks each call against the service's own model and
keeps what it was sent."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import botocore.session
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.validate import validate_parameters

from shop.adapters.connections_api import ConnectionsApi
from shop.adapters.connections_table import ConnectionsTable
from shop.adapters.dynamodb import from_attributes, to_attributes
from shop.domain.live import open_connection
from shop.domain.models import Caller, OrderStatus
from shop.domain.ordering import utc_now
from shop.settings import LivePushSettings, load_settings
from tests.support.cloud import TABLE_NAMES
from tests.support.context import FakeLambdaContext
from tests.support.event_filters import filter_patterns, passes_filters
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.given import a_pending_approval, an_order, order_item, records_event, stream_record
from tests.unit.functions.services import Tables

_MODEL = botocore.session.get_session().get_service_model("apigatewaymanagementapi")
SHIPPED = read_event("live_push")
ORDER_ID = SHIPPED["Records"][0]["dynamodb"]["NewImage"]["orderId"]["S"]
ALICE = SHIPPED["Records"][0]["dynamodb"]["NewImage"]["customerId"]["S"]
BOB = read_event("live_connections")["requestContext"]["authorizer"]["customerId"]
ENDPOINT = os.environ["CONNECTIONS_ENDPOINT_URL"]


@dataclass
class ConnectionsApiStandIn:
    """The @connections API of the stage: what each connection was sent, and the answers a test asks for."""

    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)  # answer 410 GoneException
    throttled: set[str] = field(default_factory=set)  # answer 429 LimitExceededException, once
    unanswered: set[str] = field(default_factory=set)  # the request goes out, the answer never comes

    def post_to_connection(self, **params: Any) -> dict[str, Any]:
        shape = _MODEL.operation_model("PostToConnection").input_shape
        assert shape is not None
        validate_parameters(params, shape)
        connection_id = params["ConnectionId"]
        if connection_id in self.gone:
            raise _error("GoneException", 410)
        if connection_id in self.throttled:
            self.throttled.discard(connection_id)
            raise _error("LimitExceededException", 429)
        self.posts.append((connection_id, json.loads(params["Data"])))
        if connection_id in self.unanswered:
            raise ReadTimeoutError(endpoint_url=ENDPOINT)
        return {}

    def sent_to(self, connection_id: str) -> list[dict[str, Any]]:
        return [message for to, message in self.posts if to == connection_id]


def _error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PostToConnection")


@pytest.fixture
def push(dynamodb: Any) -> ModuleType:
    return load_function("live_push")


@pytest.fixture
def sockets(push: ModuleType, monkeypatch: pytest.MonkeyPatch) -> ConnectionsApiStandIn:
    stand_in = ConnectionsApiStandIn()
    monkeypatch.setattr(push, "api", ConnectionsApi(ENDPOINT, client=stand_in))
    return stand_in


@pytest.fixture
def connections(dynamodb: Any) -> ConnectionsTable:
    return ConnectionsTable(TABLE_NAMES["ConnectionsTable"], os.environ["APPROVERS_GROUP"], dynamodb)


Connect = Callable[..., str]


@pytest.fixture
def connect(connections: ConnectionsTable) -> Connect:
    """Open a connection as $connect keeps it; returns its id."""
    opened: list[str] = []

    def open_one(customer_id: str, *groups: str, at: datetime | None = None) -> str:
        connection_id = f"conn-{len(opened)}-{customer_id[:8]}="
        caller = Caller(customer_id=customer_id, groups=frozenset(groups or ("customers",)))
        connections.add(open_connection(connection_id, caller, at or utc_now()))
        opened.append(connection_id)
        return connection_id

    return open_one


def handle(module: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = module.lambda_handler(event, FakeLambdaContext())
    return response


def connection_ids(client: Any) -> set[str]:
    items = client.scan(TableName=TABLE_NAMES["ConnectionsTable"])["Items"]
    return {from_attributes(item)["connectionId"] for item in items}


def test_a_status_change_reaches_every_connection_of_the_orders_customer_and_no_one_else(
    push: ModuleType, sockets: ConnectionsApiStandIn, connect: Connect
) -> None:
    phone, laptop = connect(ALICE), connect(ALICE)
    someone_else, approver = connect(BOB), connect(BOB, "admins")

    response = handle(push, SHIPPED)

    assert response == {"batchItemFailures": []}
    expected = {
        "type": "ORDER_STATUS_CHANGED",
        "orderId": ORDER_ID,
        "status": "SHIPPED",
        "previousStatus": "PAID",
        "at": "2026-11-25T09:30:09.087Z",
    }
    assert sockets.sent_to(phone) == sockets.sent_to(laptop) == [expected]
    assert sockets.sent_to(someone_else) == sockets.sent_to(approver) == []


def test_a_pushed_update_is_logged_at_info_level_without_breaking_the_record(
    push: ModuleType, sockets: ConnectionsApiStandIn, connect: Connect
) -> None:
    # The tests' environment logs warnings only; Lambda's logs INFO, where a structured key that clashes with the
    # logging module's own (such as "message") would fail every record.
    push.logger.setLevel("INFO")
    try:
        tab = connect(ALICE)

        response = handle(push, SHIPPED)
    finally:
        push.logger.setLevel("WARNING")

    assert response == {"batchItemFailures": []}
    assert len(sockets.sent_to(tab)) == 1


def test_a_new_order_is_sent_as_placed_with_no_previous_status(
    push: ModuleType, sockets: ConnectionsApiStandIn, connect: Connect
) -> None:
    tab = connect(ALICE)

    handle(push, read_event("order_events"))

    assert sockets.sent_to(tab) == [
        {"type": "ORDER_STATUS_CHANGED", "orderId": ORDER_ID, "status": "PLACED", "at": "2026-11-25T09:30:00.000Z"}
    ]


def test_a_pending_approval_reaches_the_connected_approvers_only(
    push: ModuleType, sockets: ConnectionsApiStandIn, connect: Connect, tables: Tables
) -> None:
    order = an_order(
        tables.orders,
        tables.catalog,
        customer_id=ALICE,
        order_id=ORDER_ID,
        lines=[("espresso-machine", 1)],
        status=OrderStatus.AWAITING_APPROVAL,
    )
    requested = utc_now().replace(microsecond=0)
    a_pending_approval(tables.approvals, order, "the-secret-task-token", requested)
    approval = order_item(tables.client, ALICE, ORDER_ID, prefix="APPROVAL#")
    first, second = connect(BOB, "admins"), connect("c0ffee00-0000-4000-8000-00000000a11c", "admins", "customers")
    customer = connect(ALICE)

    response = handle(push, records_event(stream_record("live_push", event_name="INSERT", new=approval)))

    assert response == {"batchItemFailures": []}
    expected = {
        "type": "APPROVAL_REQUESTED",
        "orderId": ORDER_ID,
        "customerId": ALICE,
        "totalCents": 149000,
        "requestedAt": requested.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "expiresAt": (requested + timedelta(hours=24)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    assert sockets.sent_to(first) == sockets.sent_to(second) == [expected]
    assert sockets.sent_to(customer) == []
    assert "the-secret-task-token" not in json.dumps(sockets.posts)


def test_a_connection_that_answers_gone_is_forgotten_and_the_others_still_get_the_change(
    push: ModuleType, sockets: ConnectionsApiStandIn, connect: Connect, dynamodb: Any
) -> None:
    closed_tab, open_tab = connect(ALICE), connect(ALICE)
    sockets.gone.add(closed_tab)

    response = handle(push, SHIPPED)

    assert response == {"batchItemFailures": []}
    assert connection_ids(dynamodb) == {open_tab}
    assert len(sockets.sent_to(open_tab)) == 1


def test_a_batch_delivered_again_sends_nothing_twice(
    push: ModuleType, sockets: ConnectionsApiStandIn, connect: Connect
) -> None:
    tabs = [connect(ALICE), connect(ALICE), connect(ALICE)]

    first = handle(push, SHIPPED)
    again = handle(push, SHIPPED)

    assert first == again == {"batchItemFailures": []}
    assert sorted(to for to, _ in sockets.posts) == sorted(tabs)


def test_a_connection_that_was_throttled_gets_the_change_on_the_retry_and_the_others_not_again(
    push: ModuleType, sockets: ConnectionsApiStandIn, connect: Connect
) -> None:
    served, throttled = connect(ALICE), connect(ALICE)
    sockets.throttled.add(throttled)

    # The batch's only record fails: Lambda delivers the batch again (bisected, then retried).
    with pytest.raises(BatchProcessingError):
        handle(push, SHIPPED)
    assert [to for to, _ in sockets.posts] == [served]
    retried = handle(push, SHIPPED)

    assert retried == {"batchItemFailures": []}
    assert len(sockets.sent_to(served)) == len(sockets.sent_to(throttled)) == 1


def test_a_failing_record_is_reported_alone(push: ModuleType, sockets: ConnectionsApiStandIn, connect: Connect) -> None:
    throttled = connect(ALICE)
    sockets.throttled.add(throttled)
    ignored = stream_record("live_push", event_name="MODIFY", old=_image(), new=_image(), sequence=1)

    response = handle(push, records_event(SHIPPED["Records"][0], ignored))

    assert response == {"batchItemFailures": [{"itemIdentifier": SHIPPED["Records"][0]["dynamodb"]["SequenceNumber"]}]}


def test_a_message_whose_answer_never_came_is_not_sent_again(
    push: ModuleType, sockets: ConnectionsApiStandIn, connect: Connect
) -> None:
    tab = connect(ALICE)
    sockets.unanswered.add(tab)

    handle(push, SHIPPED)
    handle(push, SHIPPED)

    assert len(sockets.sent_to(tab)) == 1


def _image(**changes: Any) -> dict[str, Any]:
    image: dict[str, Any] = json.loads(json.dumps(SHIPPED["Records"][0]["dynamodb"]["NewImage"]))
    image.update(to_attributes(changes))
    return image


def test_a_write_that_keeps_the_status_sends_nothing(
    push: ModuleType, sockets: ConnectionsApiStandIn, connect: Connect
) -> None:
    connect(ALICE)
    # What the carrier's tracking update or a stock marker does to a shipped order: no status change.
    record = stream_record(
        "live_push", event_name="MODIFY", old=_image(stockState="RESERVED"), new=_image(stockState="COMMITTED")
    )

    response = handle(push, records_event(record))

    assert response == {"batchItemFailures": []}
    assert sockets.posts == []


def test_a_connection_past_its_two_hours_is_not_sent_to(
    push: ModuleType, sockets: ConnectionsApiStandIn, connect: Connect
) -> None:
    # DynamoDB's TTL deletes expired items late: the item is still there, the connection is not.
    connect(ALICE, at=utc_now() - timedelta(hours=2, seconds=1))

    handle(push, SHIPPED)

    assert sockets.posts == []


def test_with_no_one_connected_the_connections_api_is_not_called_at_all(
    push: ModuleType, monkeypatch: pytest.MonkeyPatch, connect: Connect
) -> None:
    connect(BOB)  # someone, but not the order's customer
    never_built = ConnectionsApi(ENDPOINT)
    monkeypatch.setattr(push, "api", never_built)

    response = handle(push, SHIPPED)

    assert response == {"batchItemFailures": []}
    assert never_built._client is None  # no client built, no call made


def test_the_connections_api_is_the_stages_unless_the_sdk_names_its_endpoint(push: ModuleType) -> None:
    emulated = "http://127.0.0.1:4566/a1b2c3d4e5/live"

    configured = load_settings(LivePushSettings, {**os.environ, "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": emulated})

    assert push.api.endpoint_url == ENDPOINT  # in Lambda, which never sets the SDK's variable
    assert configured.management_endpoint_url == emulated


def test_the_stream_filter_passes_orders_and_pending_approvals_only(tables: Tables) -> None:
    patterns = filter_patterns("LivePushFunction", "StatusChanges")
    order = an_order(tables.orders, tables.catalog, customer_id=ALICE, order_id=ORDER_ID)
    a_pending_approval(tables.approvals, order, "token", utc_now() - timedelta(seconds=1))
    pending = order_item(tables.client, ALICE, ORDER_ID, prefix="APPROVAL#")
    assert pending is not None
    approved = pending | to_attributes({"approvalState": "APPROVED"})
    payment = to_attributes({"customerId": ALICE, "sk": f"PAYMENT#{ORDER_ID}", "kind": "PAYMENT", "attempts": 1})
    shipped = SHIPPED["Records"][0]

    assert passes_filters(read_event("order_events")["Records"][0], patterns)
    assert passes_filters(shipped, patterns)
    assert passes_filters(stream_record("live_push", event_name="INSERT", new=pending), patterns)
    assert not passes_filters(stream_record("live_push", event_name="MODIFY", old=pending, new=approved), patterns)
    assert not passes_filters(stream_record("live_push", event_name="INSERT", new=payment), patterns)
    assert not passes_filters(
        stream_record("live_push", event_name="REMOVE", old=shipped["dynamodb"]["NewImage"]), patterns
    )

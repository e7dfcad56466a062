"""What an order costs on AWS (localcloud.meter): DynamoDB's capacity units sized as DynamoDB sizes items, prices
per million orders, and the units a real order through the local cloud is billed."""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any

import pytest
import requests

from localcloud.aws_endpoint import FaultInjection
from localcloud.client import DEFAULT_ADDRESS
from localcloud.faults import FaultPlan
from localcloud.meter import (
    PRICES,
    Meter,
    cost_lines,
    dynamodb_units,
    item_size,
    since,
    state_transitions,
)
from tests.localcloud.conftest import Shop

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])
# The happy path's states: Configure, ValidateOrder, Valid, ReserveStock, Reserved, NeedsApproval, ChargePayment,
# Paid, ShipOrder, MarkShipped, Shipped.
HAPPY_PATH_TRANSITIONS = 11


def padded(size: int) -> dict[str, Any]:
    """An item of exactly `size` bytes as DynamoDB counts them (name "pk" + a string value)."""
    return {"pk": {"S": "x" * (size - 2)}}


def test_an_items_size_is_its_names_and_values() -> None:
    item = {"pk": {"S": "abc"}, "n": {"N": "123"}, "ok": {"BOOL": True}, "tags": {"SS": ["a", "bc"]}}

    # "pk"+"abc" = 5; "n" + 123 as a number (two digits a byte, plus one) = 1 + 3; "ok" + 1; "tags" + 1 + 2
    assert item_size(item) == 5 + 4 + 3 + 7


@pytest.mark.parametrize(
    ("operation", "request_", "response", "units"),
    [
        ("PutItem", {"Item": padded(1024)}, {}, (1.0, 0.0)),
        ("PutItem", {"Item": padded(1025)}, {}, (2.0, 0.0)),
        ("TransactWriteItems", {"TransactItems": [{"Put": {"Item": padded(1500)}}, {"Update": {}}]}, {}, (6.0, 0.0)),
        ("GetItem", {}, {"Item": padded(5000)}, (0.0, 1.0)),  # eventually consistent: half of two units
        ("GetItem", {"ConsistentRead": True}, {"Item": padded(5000)}, (0.0, 2.0)),
        ("GetItem", {}, {}, (0.0, 0.5)),  # a miss still reads
        ("Query", {}, {"Items": [padded(3000), padded(3000)]}, (0.0, 1.0)),  # sizes summed, then rounded
        ("DescribeTable", {}, {"Table": {}}, (0.0, 0.0)),
    ],
)
def test_capacity_units_are_counted_as_dynamodb_counts_them(
    operation: str, request_: dict[str, Any], response: dict[str, Any], units: tuple[float, float]
) -> None:
    assert dynamodb_units(operation, request_, response) == units


def test_an_error_consumes_no_units() -> None:
    meter = Meter()

    meter.dynamodb("PutItem", {"Item": {"pk": {"S": "a"}}}, {"__type": "ConditionalCheckFailedException"})

    assert meter.counts() == {}


def test_the_endpoint_sizes_a_write_from_the_request_as_sent_though_moto_consumed_it() -> None:
    def moto(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.input"].read()  # the backend reads the request body to its end
        start_response("200 OK", [])
        return [b"{}"]

    endpoint = FaultInjection(moto, faults=FaultPlan(), names=lambda name: (name,), key_names=lambda _: ["pk"])
    body = json.dumps({"TableName": "t", "Item": padded(3000), "ConsistentRead": False}).encode()
    environ = {
        "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }

    list(endpoint(environ, lambda *_: None))

    assert endpoint.meter.counts() == {"dynamodb.write_units": 3.0}  # 3,000 bytes: three 1 KB units


def test_the_cost_per_million_orders_is_the_units_per_order_at_list_price() -> None:
    units = {"apigateway.requests": 6.0, "states.transitions": 22.0}  # for two orders

    lines = cost_lines(units, orders=2)

    api = next(line for line in lines if "REST requests" in line)
    states = next(line for line in lines if "state transitions" in line)
    assert api.split()[-1] == f"{3 * PRICES['apigateway.requests'].usd:,.2f}"  # 3 per order: 3 M requests
    assert states.split()[-1] == f"{11 * 1e6 / 1e3 * PRICES['states.transitions'].usd:,.2f}"
    assert lines[-1].split()[-1] == f"{3 * 3.50 + 11_000 * 0.025:,.2f}"


def test_an_order_through_the_local_cloud_is_metered(shop: Shop) -> None:
    before = shop.cloud.meter.counts()
    auth = {"Authorization": f"Bearer {shop.customer_token}"}
    placed = requests.post(
        f"{shop.api}/orders",
        json={"items": [{"productId": "scale", "quantity": 1}], "shippingAddress": DEFAULT_ADDRESS},
        headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        timeout=10,
    )
    order_id = placed.json()["orderId"]
    reads = 0
    deadline = time.monotonic() + 60
    while requests.get(f"{shop.api}/orders/{order_id}", headers=auth, timeout=10).json()["status"] != "SHIPPED":
        reads += 1
        assert time.monotonic() < deadline
        time.sleep(0.3)
    refused = requests.get(f"{shop.api}/orders", timeout=10)  # no token: the authorizer's, not billed
    units = since(shop.cloud.meter.counts(), before)
    arn = str(shop.endpoints.outputs["OrderStateMachineArn"]).replace(":stateMachine:", ":execution:")

    assert refused.status_code == 401
    assert units["apigateway.requests"] == 1 + reads + 1  # the POST and every GET that reached a function
    assert units["cloudfront.requests"] == units["apigateway.requests"] + 1  # the refused one reached the edge
    assert units["lambda.requests"] >= 8  # the API, the stream consumer, five tasks, the provider, the warehouse
    assert units["dynamodb.write_units"] > 0
    assert units["dynamodb.read_units"] > 0
    assert units["sqs.requests"] >= 2  # the warehouse job sent, received and deleted
    assert state_transitions(shop.client("stepfunctions"), [f"{arn}:{order_id}"]) == HAPPY_PATH_TRANSITIONS

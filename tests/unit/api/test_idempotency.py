"""Placing an order is idempotent per customer and Idempotency-Key (Powertools idempotency on the use case)."""

from __future__ import annotations

import importlib.util
import threading
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto.core.botocore_stubber import BotocoreStubber

from tests.support.api import ApiCaller, ApiResponse, customer
from tests.support.fixtures import ROOT
from tests.unit.api.given import line, order_body
from tests.unit.api.tables import ContentsReader, OrdersReader

ALICE = customer("customer-a")
BOB = customer("customer-b")
CONCURRENT_REQUESTS = 50


def place(orders_api: ApiCaller, body: dict[str, Any], key: str, claims: dict[str, Any] = ALICE) -> ApiResponse:
    return orders_api.call("POST", "/orders", claims=claims, headers={"Idempotency-Key": key}, body=body)


def test_the_same_key_twice_places_one_order_and_answers_the_same_bytes(
    orders_api: ApiCaller, stored_orders: OrdersReader
) -> None:
    body = order_body(line("scale"), line("descaler", 2))

    first = place(orders_api, body, "key-1")
    second = place(orders_api, body, "key-1")

    assert first.status == 201
    assert second.status == 201
    assert second.body == first.body
    assert second.headers["Location"] == first.headers["Location"]
    assert [order["orderId"] for order in stored_orders()] == [first.json()["orderId"]]


def test_the_same_key_with_another_body_is_a_conflict_and_keeps_the_first_order(
    orders_api: ApiCaller, stored_orders: OrdersReader, table_contents: ContentsReader
) -> None:
    # Given
    first = place(orders_api, order_body(line("scale")), "key-1")
    before = table_contents()

    # When the key comes back with a different body
    response = place(orders_api, order_body(line("burr-grinder")), "key-1")

    # Then
    assert response.status == 409
    assert response.content_type == "application/problem+json"
    assert response.json()["status"] == 409
    assert "Idempotency-Key" in response.json()["detail"]
    assert table_contents() == before
    assert [order["orderId"] for order in stored_orders()] == [first.json()["orderId"]]


def test_the_same_key_from_two_customers_places_two_orders(orders_api: ApiCaller, stored_orders: OrdersReader) -> None:
    alices = place(orders_api, order_body(line("scale")), "shared-key", ALICE)
    bobs = place(orders_api, order_body(line("scale")), "shared-key", BOB)

    assert alices.status == 201
    assert bobs.status == 201
    assert alices.json()["orderId"] != bobs.json()["orderId"]
    assert sorted((order["customerId"], order["orderId"]) for order in stored_orders()) == sorted(
        [("customer-a", alices.json()["orderId"]), ("customer-b", bobs.json()["orderId"])]
    )


def test_a_refused_request_does_not_use_up_its_key(orders_api: ApiCaller, stored_orders: OrdersReader) -> None:
    refused = place(orders_api, order_body(line("no-such-product")), "key-1")

    retried = place(orders_api, order_body(line("scale")), "key-1")

    assert refused.status == 422
    assert retried.status == 201
    assert len(stored_orders()) == 1


def test_a_retried_cart_order_replays_the_first_answer_after_the_cart_is_gone(
    orders_api: ApiCaller, cart_api: ApiCaller, stored_orders: OrdersReader
) -> None:
    # Given an order placed from the cart, which cleared the cart
    cart_api.call("PUT", "/cart", claims=ALICE, body={"items": [line("scale")]})
    first = place(orders_api, order_body(), "key-1")

    # When the client retries, its cart now empty
    retried = place(orders_api, order_body(), "key-1")

    # Then it gets the same order, not "your cart is empty"
    assert first.status == 201
    assert retried.status == 201
    assert retried.body == first.body
    assert len(stored_orders()) == 1


# --- many requests at once -----------------------------------------------------------------------------------


def lambda_environment(name: str, number: int) -> ModuleType:
    """A fresh import of functions/<name>/app.py: one more Lambda execution environment, with its own resolver.

    Lambda gives each concurrent request its own environment; sharing one imported module between threads would
    test Powertools' resolver state (not built for threads) rather than our idempotency. Powertools still keeps
    the current event on a class attribute that every resolver shares; the fifty events differ only in their
    request id, so that does not change what is tested.
    """
    spec = importlib.util.spec_from_file_location(
        f"functions_{name}_app_environment_{number}", ROOT / "functions" / name / "app.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let moto apply one request at a time, as DynamoDB applies each conditional write atomically.

    moto checks a condition and then writes without a lock, so two threads could both pass a check that
    DynamoDB itself would let only one of them pass.
    """
    lock = threading.Lock()
    process = BotocoreStubber.process_request

    def one_at_a_time(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return process(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", one_at_a_time)


@pytest.fixture
def orders_api_environments(orders_api: ApiCaller, monkeypatch: pytest.MonkeyPatch) -> list[ModuleType]:
    """One warm orders API environment per concurrent request."""
    shared = boto3.session.Session()
    with monkeypatch.context() as patch:
        # Every environment still builds its own clients; one shared session only spares parsing botocore's
        # JSON models fifty times over (seconds on a small machine).
        patch.setattr(boto3.session, "Session", lambda *args, **kwargs: shared)
        return [lambda_environment("orders_api", n) for n in range(CONCURRENT_REQUESTS)]


@pytest.mark.usefixtures("atomic_dynamodb")
def test_fifty_simultaneous_requests_with_one_key_place_exactly_one_order(
    orders_api_environments: list[ModuleType], stored_orders: OrdersReader
) -> None:
    # Given fifty warm environments, each about to post the same order under the same key
    body = order_body(line("espresso-beans-1kg", 2))
    start = threading.Barrier(CONCURRENT_REQUESTS)

    def post(environment: ModuleType) -> ApiResponse:
        caller = ApiCaller(environment, "orders_api")
        event = caller.event("POST", "/orders", claims=ALICE, headers={"Idempotency-Key": "same-key"}, body=body)
        start.wait(timeout=60)  # a thread that failed early breaks the barrier instead of hanging the rest
        return caller.invoke(event)

    # When they all post at once
    with ThreadPoolExecutor(max_workers=CONCURRENT_REQUESTS) as pool:
        responses = list(pool.map(post, orders_api_environments))

    # Then one order exists; every success is that order, and every other answer is a conflict
    placed = [response for response in responses if response.status == 201]
    refused = [response for response in responses if response.status != 201]
    assert placed
    assert len({response.body for response in placed}) == 1
    assert all(response.status == 409 for response in refused)
    assert all(response.content_type == "application/problem+json" for response in refused)
    assert all(response.json()["status"] == 409 for response in refused)
    assert [order["orderId"] for order in stored_orders()] == [placed[0].json()["orderId"]]

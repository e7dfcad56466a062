"""The abandoned-cart consumer: a cart session that DynamoDB's TTL deleted becomes a CART_ABANDONED event and an
AbandonedCarts metric. The event source mapping's filter lets through only deletions made by DynamoDB itself."""

from __future__ import annotations

import copy
from types import ModuleType
from typing import Any

import pytest

from shop.adapters.dynamodb import from_attributes
from tests.support.context import FakeLambdaContext
from tests.support.event_filters import filter_patterns, passes_filters
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.given import emitted_metrics
from tests.unit.functions.services import NotificationsInbox

EXPIRED = read_event("abandoned_cart")["Records"][0]
CART = from_attributes(EXPIRED["dynamodb"]["OldImage"])


@pytest.fixture
def abandoned_cart(dynamodb: Any) -> ModuleType:
    return load_function("abandoned_cart")


def handle(module: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = module.lambda_handler(event, FakeLambdaContext())
    return response


def test_a_cart_expired_by_ttl_is_published_as_abandoned(
    abandoned_cart: ModuleType, notifications: NotificationsInbox
) -> None:
    response = handle(abandoned_cart, read_event("abandoned_cart"))

    assert response == {"batchItemFailures": []}
    [published] = notifications.all()
    assert published.attributes == {"eventType": "CART_ABANDONED", "customerId": CART["customerId"]}
    assert published.message == {
        "eventType": "CART_ABANDONED",
        "customerId": CART["customerId"],
        "customerEmail": "alice@example.com",
        "lines": 2,
        "units": 3,
        "items": [
            {"productId": "espresso-beans-1kg", "quantity": 2},
            {"productId": "paper-filters-100", "quantity": 1},
        ],
    }


def test_a_cart_expired_by_ttl_counts_as_one_abandoned_cart(
    abandoned_cart: ModuleType, notifications: NotificationsInbox, capsys: pytest.CaptureFixture[str]
) -> None:
    handle(abandoned_cart, read_event("abandoned_cart"))

    assert emitted_metrics(capsys.readouterr().out)["AbandonedCarts"] == [1.0]


def test_a_retried_batch_sends_one_reminder_per_cart_not_two(
    abandoned_cart: ModuleType, notifications: NotificationsInbox
) -> None:
    another = copy.deepcopy(EXPIRED) | {"eventID": "another-expired-cart"}

    handle(abandoned_cart, read_event("abandoned_cart"))
    handle(abandoned_cart, {"Records": [EXPIRED, another]})  # the first record again, in a retried batch

    assert len(notifications.all()) == 2


def test_the_filter_passes_deletions_by_the_ttl_process_only() -> None:
    patterns = filter_patterns("AbandonedCartFunction", "ExpiredSessions")
    by_customer = copy.deepcopy(EXPIRED)
    del by_customer["userIdentity"]  # DeleteItem by the cart API or by placing an order: no userIdentity
    by_someone_else = copy.deepcopy(EXPIRED)
    by_someone_else["userIdentity"] = {"type": "Service", "principalId": "backup.amazonaws.com"}
    saved = copy.deepcopy(EXPIRED)
    saved.pop("userIdentity")
    saved["eventName"] = "INSERT"
    saved["dynamodb"]["NewImage"] = saved["dynamodb"].pop("OldImage")

    assert passes_filters(EXPIRED, patterns)
    assert not passes_filters(by_customer, patterns)
    assert not passes_filters(by_someone_else, patterns)
    assert not passes_filters(saved, patterns)

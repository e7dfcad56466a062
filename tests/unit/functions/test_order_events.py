"""The Orders stream consumer: a new order starts its workflow (named after the order), every status change and
approval request is published, a redelivered record is handled once, and failures are reported per record."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from shop.adapters.dynamodb import to_attributes
from shop.domain.models import Order, OrderStatus, iso
from shop.domain.ordering import utc_now
from tests.support.context import FakeLambdaContext
from tests.support.event_filters import filter_patterns, passes_filters
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.fakes import StepFunctionsStub
from tests.unit.functions.given import a_pending_approval, an_order, order_item, records_event, stream_record
from tests.unit.functions.services import NotificationsInbox, Tables

STATE_MACHINE_ARN = os.environ["STATE_MACHINE_ARN"]
INSERTED = read_event("order_events")["Records"][0]
ORDER_ID = INSERTED["dynamodb"]["NewImage"]["orderId"]["S"]
CUSTOMER_ID = INSERTED["dynamodb"]["NewImage"]["customerId"]["S"]


@pytest.fixture
def order_events(dynamodb: Any) -> ModuleType:
    return load_function("order_events")


@pytest.fixture
def sfn(order_events: ModuleType, step_functions: Callable[[ModuleType], StepFunctionsStub]) -> StepFunctionsStub:
    return step_functions(order_events)


def handle(module: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = module.lambda_handler(event, FakeLambdaContext())
    return response


def failed_sequence_numbers(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def an_order_change(tables: Tables, order: Order, target: OrderStatus, **changes: Any) -> dict[str, Any]:
    """The MODIFY record of moving `order` to `target`, with both images as the table held them."""
    old = order_item(tables.client, order.customer_id, order.order_id)
    tables.orders.transition(order, target, utc_now(), **changes)
    new = order_item(tables.client, order.customer_id, order.order_id)
    return stream_record("order_events", event_name="MODIFY", old=old, new=new, sequence=2)


def test_a_new_order_starts_one_workflow_named_after_it(
    order_events: ModuleType, sfn: StepFunctionsStub, notifications: NotificationsInbox
) -> None:
    response = handle(order_events, read_event("order_events"))

    assert response == {"batchItemFailures": []}
    assert sfn.calls_to("StartExecution") == [
        {
            "stateMachineArn": STATE_MACHINE_ARN,
            "name": ORDER_ID,
            "input": json.dumps({"orderId": ORDER_ID, "customerId": CUSTOMER_ID}),
        }
    ]


def test_a_new_order_is_published_as_a_status_change_with_filterable_attributes(
    order_events: ModuleType, sfn: StepFunctionsStub, notifications: NotificationsInbox
) -> None:
    handle(order_events, read_event("order_events"))

    [published] = notifications.all()
    assert published.attributes == {
        "eventType": "ORDER_STATUS_CHANGED",
        "customerId": CUSTOMER_ID,
        "status": "PLACED",
    }
    assert published.message == {
        "eventType": "ORDER_STATUS_CHANGED",
        "customerId": CUSTOMER_ID,
        "orderId": ORDER_ID,
        "status": "PLACED",
        "totalCents": 4800,
        "customerEmail": "alice@example.com",
    }


def test_a_workflow_that_already_exists_is_success_not_a_failure(
    order_events: ModuleType, sfn: StepFunctionsStub, notifications: NotificationsInbox
) -> None:
    sfn.answer_with_error(ORDER_ID, "ExecutionAlreadyExists")

    response = handle(order_events, read_event("order_events"))

    assert response == {"batchItemFailures": []}
    assert len(sfn.calls_to("StartExecution")) == 1


def test_a_status_change_is_published_once_and_starts_nothing(
    order_events: ModuleType, sfn: StepFunctionsStub, notifications: NotificationsInbox, tables: Tables
) -> None:
    order = an_order(tables.orders, tables.catalog, customer_id=CUSTOMER_ID, order_id=ORDER_ID, status=OrderStatus.PAID)
    change = an_order_change(tables, order, OrderStatus.SHIPPED, tracking_number="TRK0123456789AB")

    response = handle(order_events, records_event(change))

    assert response == {"batchItemFailures": []}
    [published] = notifications.all()
    assert published.attributes["status"] == "SHIPPED"
    assert published.message["status"] == "SHIPPED"
    assert published.message["trackingNumber"] == "TRK0123456789AB"
    assert sfn.calls == []


def test_a_change_that_keeps_the_status_publishes_nothing(
    order_events: ModuleType, sfn: StepFunctionsStub, notifications: NotificationsInbox, tables: Tables
) -> None:
    an_order(tables.orders, tables.catalog, customer_id=CUSTOMER_ID, order_id=ORDER_ID)
    old = order_item(tables.client, CUSTOMER_ID, ORDER_ID)
    assert old is not None
    # What the stock ledger does to the order item when it reserves: a marker, no status change.
    new = old | to_attributes({"stockState": "RESERVED"})
    change = stream_record("order_events", event_name="MODIFY", old=old, new=new)

    response = handle(order_events, records_event(change))

    assert response == {"batchItemFailures": []}
    assert notifications.all() == []
    assert sfn.calls == []


def test_a_pending_approval_is_published_as_an_approval_request_without_its_token(
    order_events: ModuleType, sfn: StepFunctionsStub, notifications: NotificationsInbox, tables: Tables
) -> None:
    order = an_order(
        tables.orders,
        tables.catalog,
        customer_id=CUSTOMER_ID,
        order_id=ORDER_ID,
        lines=[("espresso-machine", 1)],
        status=OrderStatus.AWAITING_APPROVAL,
    )
    requested = utc_now()
    a_pending_approval(tables.approvals, order, "the-secret-task-token", requested)
    approval = order_item(tables.client, CUSTOMER_ID, ORDER_ID, prefix="APPROVAL#")
    record = stream_record("order_events", event_name="INSERT", new=approval)

    response = handle(order_events, records_event(record))

    assert response == {"batchItemFailures": []}
    [published] = notifications.all()
    assert published.attributes == {"eventType": "APPROVAL_REQUESTED", "customerId": CUSTOMER_ID}
    assert published.message["orderId"] == ORDER_ID
    assert published.message["totalCents"] == 149000
    assert published.message["expiresAt"] == iso(requested + timedelta(hours=24))
    assert "the-secret-task-token" not in json.dumps(published.message)
    assert sfn.calls == []


def test_a_record_delivered_twice_is_handled_once(
    order_events: ModuleType, sfn: StepFunctionsStub, notifications: NotificationsInbox
) -> None:
    handle(order_events, read_event("order_events"))

    response = handle(order_events, read_event("order_events"))

    assert response == {"batchItemFailures": []}
    assert len(notifications.all()) == 1
    assert len(sfn.calls_to("StartExecution")) == 1


def test_a_failing_record_is_reported_alone_and_the_others_are_handled(
    order_events: ModuleType, sfn: StepFunctionsStub, notifications: NotificationsInbox, tables: Tables
) -> None:
    records = []
    for number, order_id in enumerate(["ord_first", "ord_throttled", "ord_third"], start=1):
        an_order(tables.orders, tables.catalog, customer_id=CUSTOMER_ID, order_id=order_id)
        new = order_item(tables.client, CUSTOMER_ID, order_id)
        records.append(stream_record("order_events", event_name="INSERT", new=new, sequence=number))
    sfn.answer_with_error("ord_throttled", "ThrottlingException")

    response = handle(order_events, records_event(*records))

    assert failed_sequence_numbers(response) == [records[1]["dynamodb"]["SequenceNumber"]]
    assert sorted(n.message["orderId"] for n in notifications.all()) == ["ord_first", "ord_third"]


def test_a_failed_record_is_handled_when_it_is_retried(
    order_events: ModuleType, sfn: StepFunctionsStub, notifications: NotificationsInbox
) -> None:
    sfn.answer_with_error(ORDER_ID, "ThrottlingException")
    # A batch whose every record failed fails as a whole: Lambda retries it.
    with pytest.raises(BatchProcessingError):
        handle(order_events, read_event("order_events"))
    sfn.errors.clear()

    response = handle(order_events, read_event("order_events"))

    assert response == {"batchItemFailures": []}
    assert len(sfn.calls_to("StartExecution")) == 2
    assert [n.attributes["status"] for n in notifications.all()] == ["PLACED"]


def test_the_stream_filter_passes_orders_and_approvals_only(tables: Tables) -> None:
    patterns = filter_patterns("OrderEventsFunction", "OrderChanges")
    order = an_order(tables.orders, tables.catalog, customer_id=CUSTOMER_ID, order_id=ORDER_ID)
    a_pending_approval(tables.approvals, order, "token", utc_now() - timedelta(seconds=1))
    payment = to_attributes({"customerId": CUSTOMER_ID, "sk": f"PAYMENT#{ORDER_ID}", "kind": "PAYMENT", "attempts": 1})
    approval = order_item(tables.client, CUSTOMER_ID, ORDER_ID, prefix="APPROVAL#")
    assert approval is not None
    removed_order = stream_record("order_events", event_name="REMOVE", old=INSERTED["dynamodb"]["NewImage"])

    assert passes_filters(INSERTED, patterns)
    assert passes_filters(stream_record("order_events", event_name="INSERT", new=approval), patterns)
    assert not passes_filters(stream_record("order_events", event_name="INSERT", new=payment), patterns)
    assert not passes_filters(removed_order, patterns)

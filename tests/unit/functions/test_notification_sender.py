"""The notification sender: each shop event from the topic becomes a customer message, e-mailed through SES
when a sender address is configured (SENDER_EMAIL) and the event names a recipient, otherwise only logged."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from shop.settings import NotificationSettings
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.given import emitted_metrics
from tests.unit.functions.services import SENDER

SHIPPED = json.loads(read_event("notification_sender")["Records"][0]["Sns"]["Message"])
SentEmails = Callable[[], list[Any]]


@pytest.fixture
def notification_sender(dynamodb: Any) -> ModuleType:
    return load_function("notification_sender")


@pytest.fixture
def with_sender(notification_sender: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """The function as deployed with the SenderEmail parameter set."""
    monkeypatch.setattr(notification_sender, "settings", NotificationSettings.model_validate({"SENDER_EMAIL": SENDER}))


def send(module: ModuleType, *messages: dict[str, Any]) -> dict[str, Any]:
    """Invoke with the event file, its record repeated with each message (none: the file's own message)."""
    event = read_event("notification_sender")
    if messages:
        template = event["Records"][0]
        event["Records"] = []
        for message in messages:
            record = copy.deepcopy(template)
            record["Sns"]["Message"] = json.dumps(message)
            event["Records"].append(record)
    response: dict[str, Any] = module.lambda_handler(event, FakeLambdaContext())
    return response


def test_without_a_sender_address_the_message_is_composed_but_no_email_is_sent(
    notification_sender: ModuleType, sent_emails: SentEmails, capsys: pytest.CaptureFixture[str]
) -> None:
    assert notification_sender.settings.sender_email == ""

    response = send(notification_sender)

    assert response == {"sent": 1}
    assert sent_emails() == []
    assert emitted_metrics(capsys.readouterr().out)["NotificationsSent"] == [1.0]


def test_with_a_sender_address_the_customer_gets_an_email(
    notification_sender: ModuleType, with_sender: None, sent_emails: SentEmails
) -> None:
    response = send(notification_sender)

    assert response == {"sent": 1}
    [email] = sent_emails()
    assert email.source == SENDER
    assert email.destinations["ToAddresses"] == [SHIPPED["customerEmail"]]
    assert email.subject == f"Order {SHIPPED['orderId']}: shipped"
    assert email.body == f"Your order {SHIPPED['orderId']} is on its way (tracking number {SHIPPED['trackingNumber']})."


@pytest.mark.parametrize(
    ("changes", "subject", "body"),
    [
        ({"status": "PLACED"}, "Order {orderId}: placed", "We received your order {orderId}."),
        (
            {"status": "AWAITING_APPROVAL"},
            "Order {orderId}: awaiting approval",
            "Your order {orderId} is being reviewed by our team.",
        ),
        ({"status": "DELIVERED"}, "Order {orderId}: delivered", "Your order {orderId} was delivered."),
        (
            {"status": "FAILED", "failureReason": "PAYMENT_DECLINED"},
            "Order {orderId}: failed",
            "Your order {orderId} could not be completed (PAYMENT_DECLINED); any payment was refunded.",
        ),
        (
            {"status": "REJECTED"},
            "Order {orderId}: rejected",
            "We could not accept your order {orderId}; you have not been charged.",
        ),
    ],
)
@pytest.mark.usefixtures("with_sender")
def test_each_status_change_has_its_own_message(
    notification_sender: ModuleType,
    sent_emails: SentEmails,
    changes: dict[str, str],
    subject: str,
    body: str,
) -> None:
    event = {key: value for key, value in SHIPPED.items() if key != "trackingNumber"} | changes

    assert send(notification_sender, event) == {"sent": 1}

    [email] = sent_emails()
    assert (email.subject, email.body) == (subject.format(**SHIPPED), body.format(**SHIPPED))


def test_an_abandoned_cart_is_composed_as_a_reminder(
    notification_sender: ModuleType, with_sender: None, sent_emails: SentEmails
) -> None:
    cart = {"eventType": "CART_ABANDONED", "customerId": SHIPPED["customerId"], "lines": 2, "units": 3, "items": []}

    response = send(notification_sender, cart, cart | {"customerEmail": "alice@example.com"})

    assert response == {"sent": 2}
    # The first event names no recipient (the cart session holds none): composed and logged, not e-mailed.
    [email] = sent_emails()
    assert email.subject == "You left something in your cart"
    assert "3 item(s)" in email.body


def test_events_customers_are_not_told_about_compose_no_message(
    notification_sender: ModuleType, with_sender: None, sent_emails: SentEmails
) -> None:
    approval = {
        "eventType": "APPROVAL_REQUESTED",
        "customerId": SHIPPED["customerId"],
        "orderId": SHIPPED["orderId"],
        "totalCents": 149000,
        "expiresAt": "2026-11-26T09:30:05.000Z",
    }

    response = send(notification_sender, approval, SHIPPED | {"status": "SOMETHING_NEW"})

    assert response == {"sent": 0}
    assert sent_emails() == []

"""Handles on the AWS services around the functions under test (in moto): what they received or hold."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shop.adapters.approvals_table import ApprovalsTable
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable

# The shop's verified SES identity when a test configures SENDER_EMAIL.
SENDER = "shop@example.com"


@dataclass(frozen=True)
class Notification:
    """One message the notifications topic published: its JSON body and its message attributes."""

    message: dict[str, Any]
    attributes: dict[str, str]


@dataclass
class NotificationsInbox:
    """An SQS queue subscribed to the notifications topic with raw delivery, so every publish is kept."""

    sqs: Any
    queue_url: str
    topic_arn: str
    received: list[Notification] = field(default_factory=list)

    def all(self) -> list[Notification]:
        """Every message published since the test began."""
        while True:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
            )
            messages = response.get("Messages", [])
            if not messages:
                return list(self.received)
            for message in messages:
                attributes = message.get("MessageAttributes", {})
                strings = {name: value["StringValue"] for name, value in attributes.items()}
                self.received.append(Notification(json.loads(message["Body"]), strings))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@dataclass(frozen=True)
class Tables:
    """The template's tables in moto: the raw client, and the adapters that write orders and approvals."""

    client: Any
    orders: OrdersTable
    catalog: CatalogTable
    approvals: ApprovalsTable

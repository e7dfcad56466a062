"""The notifications topic (SNS): every event carries message attributes that subscriptions filter on."""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


class EventType(StrEnum):
    ORDER_STATUS_CHANGED = "ORDER_STATUS_CHANGED"
    APPROVAL_REQUESTED = "APPROVAL_REQUESTED"
    CART_ABANDONED = "CART_ABANDONED"


@cache
def default_client() -> SNSClient:
    return boto3.client("sns")


class NotificationsTopic:
    def __init__(self, topic_arn: str, client: SNSClient | None = None) -> None:
        self.topic_arn = topic_arn
        self._client = client or default_client()

    def publish(self, event_type: EventType, customer_id: str, detail: dict[str, Any], status: str = "") -> str:
        """Publish one event; returns SNS's message id."""
        attributes = {
            "eventType": {"DataType": "String", "StringValue": event_type.value},
            "customerId": {"DataType": "String", "StringValue": customer_id},
        }
        if status:
            attributes["status"] = {"DataType": "String", "StringValue": status}
        response = self._client.publish(
            TopicArn=self.topic_arn,
            Message=json.dumps({"eventType": event_type.value, "customerId": customer_id, **detail}),
            MessageAttributes=attributes,  # type: ignore[arg-type]
        )
        return str(response["MessageId"])

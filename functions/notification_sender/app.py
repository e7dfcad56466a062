"""Notification sender (SNS subscription, asynchronous invoke): turns shop events into customer messages.

Emails go out through SES when SENDER_EMAIL is set and the event names a recipient; otherwise the message
is only logged. Failures are retried by Lambda and then land in the async failure queue (EventInvokeConfig).
"""

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.observability import logger, metrics, tracer
from shop.settings import NotificationSettings, load_settings
from shop.usecases.messages import compose

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

settings = load_settings(NotificationSettings)


@cache
def ses() -> "SESV2Client":
    return boto3.client("sesv2")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=SNSEvent)
def lambda_handler(event: SNSEvent, context: LambdaContext) -> dict[str, Any]:
    sent = 0
    for record in event.records:
        message = compose(record.sns.message)
        if message is None:
            continue
        if settings.sender_email and message.recipient:
            ses().send_email(
                FromEmailAddress=settings.sender_email,
                Destination={"ToAddresses": [message.recipient]},
                Content={"Simple": {"Subject": {"Data": message.subject}, "Body": {"Text": {"Data": message.body}}}},
            )
        logger.info("notification sent", extra={"subject": message.subject, "customer_id": message.customer_id})
        metrics.add_metric(name="NotificationsSent", unit="Count", value=1)
        sent += 1
    return {"sent": sent}

"""Fixtures of the function tests: the notifications topic with an inbox, the reports bucket, SES, and a
Step Functions stand-in put in place of the client of a function's workflow adapter."""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from shop.adapters.approvals_table import ApprovalsTable
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable
from shop.adapters.workflow import OrderWorkflow
from tests.support.cloud import TABLE_NAMES
from tests.unit.functions.fakes import StepFunctionsStub
from tests.unit.functions.services import SENDER, NotificationsInbox, Tables

# One session for the run: a fresh one per test would parse botocore's service models again each time.
_session = boto3.session.Session()
REGION = os.environ["AWS_REGION"]


@pytest.fixture
def notifications(dynamodb: Any) -> NotificationsInbox:
    """The topic the functions publish to (NOTIFICATIONS_TOPIC_ARN), and an inbox that reads it."""
    topic_arn = os.environ["NOTIFICATIONS_TOPIC_ARN"]
    sns = _session.client("sns")
    sqs = _session.client("sqs")
    assert sns.create_topic(Name=topic_arn.rsplit(":", 1)[1])["TopicArn"] == topic_arn
    queue_url = sqs.create_queue(QueueName="notifications-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    return NotificationsInbox(sqs, queue_url, topic_arn)


@pytest.fixture
def reports_bucket(dynamodb: Any) -> Any:
    """The reports bucket (REPORTS_BUCKET_NAME); returns an S3 client to read it."""
    s3 = _session.client("s3")
    s3.create_bucket(Bucket=os.environ["REPORTS_BUCKET_NAME"])
    return s3


@pytest.fixture
def sent_emails(dynamodb: Any) -> Callable[[], list[Any]]:
    """SES with the shop's sender address verified; returns a reader of the messages SES accepted."""
    _session.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    return lambda: list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


@pytest.fixture
def step_functions(monkeypatch: pytest.MonkeyPatch) -> Callable[[ModuleType], StepFunctionsStub]:
    """Give a function module's workflow adapter a recording Step Functions client; returns the recorder."""

    def install(module: ModuleType) -> StepFunctionsStub:
        stub = StepFunctionsStub()
        workflow = OrderWorkflow(module.workflow.state_machine_arn, client=stub)  # type: ignore[arg-type]
        monkeypatch.setattr(module, "workflow", workflow)
        return stub

    return install


@pytest.fixture
def approvals_table(dynamodb: Any) -> ApprovalsTable:
    return ApprovalsTable(TABLE_NAMES["OrdersTable"], dynamodb)


@pytest.fixture
def tables(
    dynamodb: Any, orders_table: OrdersTable, catalog_table: CatalogTable, approvals_table: ApprovalsTable
) -> Tables:
    return Tables(dynamodb, orders_table, catalog_table, approvals_table)

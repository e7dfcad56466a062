"""SNS notifications and InvocationType Event reach functions asynchronously on the local cloud, in the shape Lambda
gives them, through the function's EventInvokeConfig (tests/localcloud/async_sources)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import SnsModel

from localcloud.cloud import LocalCloud

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])
TEMPLATE = Path(__file__).with_name("async_sources") / "template.yaml"


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    # Module scope: moto's backends are process-wide, so the cloud must be gone before other tests' mock_aws.
    cloud = LocalCloud(template=TEMPLATE, stack_name="async", api_port=0, log=lambda _: None)
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


def output(cloud: LocalCloud, name: str) -> str:
    assert cloud.endpoints is not None
    return str(cloud.endpoints.outputs[name])


def next_messages(cloud: LocalCloud, queue: str, count: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The next `count` messages of one of the template's queues (their bodies, as JSON), taken off the queue."""
    sqs, url = cloud.client("sqs"), output(cloud, queue)
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(bodies) < count:
        assert time.monotonic() < deadline, f"{queue}: {len(bodies)} of {count} messages"
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def publish(cloud: LocalCloud, message: dict[str, Any], event_type: str, **extra: Any) -> str:
    published = cloud.client("sns").publish(
        TopicArn=output(cloud, "TopicArn"),
        Message=json.dumps(message),
        MessageAttributes={"eventType": {"DataType": "String", "StringValue": event_type}, **extra},
    )
    return str(published["MessageId"])


def test_an_sns_notification_reaches_the_subscribed_function_asynchronously_as_sns_sent_it(cloud: LocalCloud) -> None:
    topic = output(cloud, "TopicArn")
    (subscription,) = cloud.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    started = time.monotonic()

    message_id = publish(
        cloud,
        {"orderId": "o-1", "sleep": 2},
        "WANTED",
        customerId={"DataType": "String", "StringValue": "c-1"},
    )
    published_in = time.monotonic() - started
    (event,) = next_messages(cloud, "ReceivedQueueUrl")

    assert published_in < 2  # SNS did not wait for the function, which takes 2 s
    (record,) = SnsModel.model_validate(event).Records
    assert record.EventSubscriptionArn == subscription["SubscriptionArn"]
    assert (record.Sns.TopicArn, record.Sns.MessageId) == (topic, message_id)
    assert json.loads(event["Records"][0]["Sns"]["Message"]) == {"orderId": "o-1", "sleep": 2}
    assert event["Records"][0]["Sns"]["MessageAttributes"] == {
        "eventType": {"Type": "String", "Value": "WANTED"},
        "customerId": {"Type": "String", "Value": "c-1"},
    }
    assert event["Records"][0]["Sns"]["Subject"] is None


def test_the_subscription_filter_policy_still_decides_what_reaches_the_function(cloud: LocalCloud) -> None:
    publish(cloud, {"orderId": "o-filtered-out"}, "UNWANTED")
    publish(cloud, {"orderId": "o-wanted"}, "WANTED")

    (event,) = next_messages(cloud, "ReceivedQueueUrl")
    cloud.drain()

    assert json.loads(event["Records"][0]["Sns"]["Message"]) == {"orderId": "o-wanted"}
    assert cloud.client("sqs").receive_message(QueueUrl=output(cloud, "ReceivedQueueUrl")).get("Messages", []) == []


def test_a_notification_that_fails_is_recorded_on_the_on_failure_queue_of_the_alias_it_was_sent_to(
    cloud: LocalCloud,
) -> None:
    publish(cloud, {"orderId": "o-failing", "fail": True}, "WANTED")

    (record,) = next_messages(cloud, "FailuresQueueUrl")
    next_messages(cloud, "ReceivedQueueUrl")  # what the function saw before it failed

    context = record["requestContext"]
    assert (context["condition"], context["approximateInvokeCount"]) == ("RetriesExhausted", 1)  # no retries
    assert context["functionArn"].endswith(f":function:{cloud.function_names['Recorder']}:live")
    assert record["requestPayload"]["Records"][0]["Sns"]["TopicArn"] == output(cloud, "TopicArn")
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "asked to fail"


def test_an_invoke_with_invocation_type_event_is_accepted_at_once_and_run_later(cloud: LocalCloud) -> None:
    started = time.monotonic()

    answer = cloud.client("lambda").invoke(
        FunctionName=cloud.function_names["Recorder"],
        Qualifier="live",
        InvocationType="Event",
        Payload=json.dumps({"invoked": "asynchronously", "sleep": 2}).encode(),
    )
    answered_in = time.monotonic() - started
    (event,) = next_messages(cloud, "ReceivedQueueUrl")

    assert answer["StatusCode"] == 202
    assert answered_in < 2
    assert event == {"invoked": "asynchronously", "sleep": 2}

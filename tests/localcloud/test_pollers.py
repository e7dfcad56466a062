"""Event source mappings, schedules and the TTL reaper of the local cloud, against moto in server mode."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamLambdaOnFailureDestinationModel,
    DynamoDBStreamModel,
    EventBridgeModel,
    SqsModel,
)
from moto.backends import get_backend
from moto.server import ThreadedMotoServer

from localcloud.faults import Call, Fault, FaultPlan, Rule
from localcloud.pollers import InvokeOutcome, Pollers, Schedule, SqsPoller, StreamPoller, TtlReaper
from localcloud.provision import create_table
from localcloud.template import load_stack
from tests.localcloud import behaviours
from tests.localcloud.behaviours import Behaviour, in_turn, raises, service_error, succeeds, throttles
from tests.support.event_filters import filter_patterns, passes_filters

# Every test talks to moto's server over a local socket.
pytestmark = pytest.mark.enable_socket

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
SERVICE = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/shop-NightlyReportFunctionNightly-1AB2"


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / name).read_text())
    return event


# --------------------------------------------------------------------------------------------------------------
# Fixtures: moto's server, queues and tables made from template.yaml, a scripted function
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Cloud:
    dynamodb: Any
    streams: Any
    sqs: Any


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    session = boto3.session.Session(**FAKE_CREDENTIALS, region_name=REGION)
    endpoint = f"http://{host}:{port}"
    try:
        yield Cloud(
            dynamodb=session.client("dynamodb", endpoint_url=endpoint),
            streams=session.client("dynamodbstreams", endpoint_url=endpoint),
            sqs=session.client("sqs", endpoint_url=endpoint),
        )
    finally:
        server.stop()


def reports(*identifiers: str) -> InvokeOutcome:
    return InvokeOutcome(
        payload={"batchItemFailures": [{"itemIdentifier": identifier} for identifier in identifiers]}, errored=False
    )


def once(first: Behaviour) -> Behaviour:
    """Answer the first invocation with `first`, every later one with success."""
    answered: list[bool] = []

    def behaviour(event: dict[str, Any]) -> InvokeOutcome:
        if answered:
            return succeeds(event)
        answered.append(True)
        return first(event)

    return behaviour


class FakeFunction(behaviours.FakeFunction):
    """A stand-in function that reads the records of the batches it was invoked with."""

    def bodies(self) -> list[list[str]]:
        """Per invocation, the SQS message bodies."""
        return [[record["body"] for record in event["Records"]] for event in self.events]

    def keys(self) -> list[list[str]]:
        """Per invocation, the sort keys (Orders) or session ids (Sessions) of the stream records."""
        return [[_key(record) for record in event["Records"]] for event in self.events]


def _key(record: dict[str, Any]) -> str:
    keys = record["dynamodb"]["Keys"]
    return str((keys.get("sk") or keys["sessionId"])["S"])


@dataclass
class Queue:
    url: str
    arn: str


def make_queue(cloud: Cloud, **attributes: str) -> Queue:
    url = cloud.sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:12]}", Attributes=attributes)["QueueUrl"]
    arn = cloud.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Queue(url=url, arn=arn)


def counts(cloud: Cloud, queue: Queue) -> tuple[int, int]:
    """(visible, in flight) messages of the queue."""
    attributes = cloud.sqs.get_queue_attributes(
        QueueUrl=queue.url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def send(cloud: Cloud, queue: Queue, *bodies: str) -> None:
    for body in bodies:
        cloud.sqs.send_message(QueueUrl=queue.url, MessageBody=body)


def sqs_poller(cloud: Cloud, queue: Queue, function: FakeFunction, **overrides: Any) -> SqsPoller:
    settings: dict[str, Any] = {
        "function": "warehouse",
        "queue_url": queue.url,
        "queue_arn": queue.arn,
        "batch_size": 10,
        "batching_window_seconds": 0,
        "report_batch_item_failures": True,
        "invoke": function,
        "sqs": cloud.sqs,
    }
    return SqsPoller(**(settings | overrides))


def make_table(cloud: Cloud, logical_id: str) -> tuple[str, str]:
    """A table with the template's own properties for `logical_id`; returns (name, stream ARN)."""
    name = f"{logical_id}-{uuid.uuid4().hex[:8]}"
    create_table(cloud.dynamodb, name, load_stack().resource(logical_id)["Properties"])
    return name, cloud.dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]


@pytest.fixture
def orders(cloud: Cloud) -> tuple[str, str]:
    return make_table(cloud, "OrdersTable")


@pytest.fixture
def sessions(cloud: Cloud) -> tuple[str, str]:
    return make_table(cloud, "SessionsTable")


def put_order(cloud: Cloud, table: str, sk: str, kind: str = "ORDER") -> None:
    cloud.dynamodb.put_item(
        TableName=table, Item={"customerId": {"S": "customer-a"}, "sk": {"S": sk}, "kind": {"S": kind}}
    )


def stream_poller(cloud: Cloud, stream_arn: str, function: FakeFunction, **overrides: Any) -> StreamPoller:
    settings: dict[str, Any] = {
        "function": "order-events",
        "stream_arn": stream_arn,
        "starting_position": "TRIM_HORIZON",
        "batch_size": 25,
        "batching_window_seconds": 0,
        "filters": (),
        "bisect_on_error": False,
        "maximum_retry_attempts": 2,
        "report_batch_item_failures": False,
        "on_failure_queue_url": None,
        "invoke": function,
        "streams": cloud.streams,
        "sqs": cloud.sqs,
    }
    return StreamPoller(**(settings | overrides))


def failure_records(cloud: Cloud, queue: Queue) -> list[dict[str, Any]]:
    messages = cloud.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def sequence_numbers(event: dict[str, Any]) -> list[str]:
    return [record["dynamodb"]["SequenceNumber"] for record in event["Records"]]


# --------------------------------------------------------------------------------------------------------------
# SQS
# --------------------------------------------------------------------------------------------------------------


def test_sqs_records_have_the_shape_lambda_gives_them(cloud: Cloud) -> None:
    queue = make_queue(cloud)
    function = FakeFunction()
    send(cloud, queue, '{"orderId": "o-1"}')

    assert sqs_poller(cloud, queue, function).poll_once() == 1

    ((name, event),) = function.calls
    (record,) = event["Records"]
    expected = sample("warehouse.json")["Records"][0]
    assert name == "warehouse"
    assert set(record) == set(expected)
    assert set(expected["attributes"]) <= set(record["attributes"])
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert (record["body"], record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == (
        '{"orderId": "o-1"}',
        "aws:sqs",
        queue.arn,
        REGION,
    )
    SqsModel.model_validate(event)


def test_sqs_message_attributes_are_spelled_as_lambda_spells_them(cloud: Cloud) -> None:
    queue = make_queue(cloud)
    function = FakeFunction()
    cloud.sqs.send_message(
        QueueUrl=queue.url,
        MessageBody="job",
        MessageAttributes={
            "eventType": {"DataType": "String", "StringValue": "SHIP"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x01\x02"},
        },
    )

    sqs_poller(cloud, queue, function).poll_once()

    (record,) = function.events[0]["Records"]
    assert record["messageAttributes"] == {
        "eventType": {"stringValue": "SHIP", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AQI=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    assert "md5OfMessageAttributes" in record


def test_sqs_batches_hold_at_most_the_batch_size(cloud: Cloud) -> None:
    queue = make_queue(cloud)
    function = FakeFunction()
    send(cloud, queue, *(f"m{i}" for i in range(5)))
    poller = sqs_poller(cloud, queue, function, batch_size=2)

    delivered = [poller.poll_once() for _ in range(4)]

    assert delivered == [2, 2, 1, 0]
    assert sorted(body for batch in function.bodies() for body in batch) == [f"m{i}" for i in range(5)]


def test_sqs_batching_window_waits_for_more_messages(cloud: Cloud) -> None:
    queue = make_queue(cloud)
    function = FakeFunction()
    send(cloud, queue, "first")
    later = threading.Timer(0.2, send, args=(cloud, queue, "second", "third"))
    later.start()

    delivered = sqs_poller(cloud, queue, function, batch_size=3, batching_window_seconds=2).poll_once()
    later.join()

    assert delivered == 3
    assert sorted(function.bodies()[0]) == ["first", "second", "third"]


def test_sqs_full_batch_is_not_held_for_the_window(cloud: Cloud) -> None:
    queue = make_queue(cloud)
    function = FakeFunction()
    send(cloud, queue, "a", "b")
    started = time.monotonic()

    delivered = sqs_poller(cloud, queue, function, batch_size=2, batching_window_seconds=5).poll_once()

    assert delivered == 2
    assert time.monotonic() - started < 2


def test_sqs_messages_of_a_successful_batch_are_deleted(cloud: Cloud) -> None:
    queue = make_queue(cloud)
    send(cloud, queue, "a", "b", "c")

    sqs_poller(cloud, queue, FakeFunction()).poll_once()

    assert counts(cloud, queue) == (0, 0)


def test_sqs_function_error_deletes_nothing(cloud: Cloud) -> None:
    queue = make_queue(cloud)
    send(cloud, queue, "a", "b", "c")

    sqs_poller(cloud, queue, FakeFunction(raises)).poll_once()

    assert counts(cloud, queue) == (0, 3)  # in flight until the visibility timeout ends


def test_sqs_partial_batch_response_keeps_only_the_reported_messages(cloud: Cloud) -> None:
    queue = make_queue(cloud)
    send(cloud, queue, "a", "b", "c")
    function = FakeFunction(lambda event: reports(event["Records"][1]["messageId"]))

    sqs_poller(cloud, queue, function).poll_once()

    assert counts(cloud, queue) == (0, 1)
    failed = function.events[0]["Records"][1]
    cloud.sqs.change_message_visibility(QueueUrl=queue.url, ReceiptHandle=failed["receiptHandle"], VisibilityTimeout=0)
    left = cloud.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)["Messages"]
    assert [message["Body"] for message in left] == [failed["body"]]


def test_sqs_partial_batch_response_naming_an_unknown_message_fails_the_whole_batch(cloud: Cloud) -> None:
    queue = make_queue(cloud)
    send(cloud, queue, "a", "b", "c")

    sqs_poller(cloud, queue, FakeFunction(lambda _event: reports("not-in-this-batch"))).poll_once()

    assert counts(cloud, queue) == (0, 3)


def test_sqs_partial_batch_response_is_ignored_without_report_batch_item_failures(cloud: Cloud) -> None:
    queue = make_queue(cloud)
    send(cloud, queue, "a", "b")
    function = FakeFunction(lambda event: reports(event["Records"][0]["messageId"]))

    sqs_poller(cloud, queue, function, report_batch_item_failures=False).poll_once()

    assert counts(cloud, queue) == (0, 0)


def test_sqs_messages_matching_no_filter_are_deleted_without_an_invocation(cloud: Cloud) -> None:
    queue = make_queue(cloud)
    send(cloud, queue, '{"kind": "OTHER"}', "plain text", '{"kind": "JOB", "id": 1}')
    function = FakeFunction()

    delivered = sqs_poller(cloud, queue, function, filters=['{"body": {"kind": ["JOB"]}}']).poll_once()

    assert delivered == 1
    assert function.bodies() == [['{"kind": "JOB", "id": 1}']]
    assert counts(cloud, queue) == (0, 0)


def test_sqs_failed_message_returns_after_the_visibility_timeout_and_ends_in_the_dlq(cloud: Cloud) -> None:
    dlq = make_queue(cloud)
    queue = make_queue(
        cloud,
        VisibilityTimeout="1",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 2}),
    )
    send(cloud, queue, "poison")
    function = FakeFunction(raises)
    poller = sqs_poller(cloud, queue, function)

    assert poller.poll_once() == 1
    assert poller.poll_once() == 0  # still invisible
    time.sleep(1.1)
    assert poller.poll_once() == 1
    time.sleep(1.1)
    assert poller.poll_once() == 0  # SQS moved it to the DLQ on this receive

    assert [e["Records"][0]["attributes"]["ApproximateReceiveCount"] for e in function.events] == ["1", "2"]
    assert counts(cloud, queue) == (0, 0)
    assert counts(cloud, dlq) == (1, 0)


@pytest.mark.parametrize("refusal", [throttles, service_error], ids=["throttle", "service-error"])
def test_sqs_batch_lambda_refuses_is_retried_with_backoff_well_before_the_visibility_timeout(
    cloud: Cloud, refusal: Behaviour
) -> None:
    queue = make_queue(cloud, VisibilityTimeout="30")
    send(cloud, queue, "a", "b")
    function = FakeFunction(in_turn(refusal, refusal, refusal))
    started = time.monotonic()

    Pollers([sqs_poller(cloud, queue, function)]).drain(timeout=10)

    assert time.monotonic() - started < 10  # not the 30 s the messages would take to come back
    assert function.bodies() == [["a", "b"]] * 4  # the same batch: three refusals, then it ran
    assert {r["attributes"]["ApproximateReceiveCount"] for e in function.events for r in e["Records"]} == {"1"}
    assert all(gap >= 0.1 * 2**n for n, gap in enumerate(function.gaps()))  # the waits double: 0.1 s, 0.2 s, 0.4 s
    assert counts(cloud, queue) == (0, 0)


def test_sqs_batch_refused_past_the_visibility_timeout_returns_to_the_queue_with_its_receive_count_grown(
    cloud: Cloud,
) -> None:
    queue = make_queue(cloud, VisibilityTimeout="1")
    send(cloud, queue, "job")

    def throttled_on_the_first_receive(event: dict[str, Any]) -> InvokeOutcome:
        first = event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "1"
        return throttles(event) if first else succeeds(event)

    function = FakeFunction(throttled_on_the_first_receive)
    poller = sqs_poller(cloud, queue, function)

    # Until a batch runs (poll_once counts only the messages a function was given without a refusal). Not "until the
    # queue counts (0, 0)": moto reads its visible and in-flight counts at two instants, so the moment the message
    # comes back it can be counted in neither.
    wait_for(lambda: poller.poll_once() > 0, timeout=5)

    receive_counts = [event["Records"][0]["attributes"]["ApproximateReceiveCount"] for event in function.events]
    assert receive_counts[-1] == "2"
    assert len(receive_counts) > 2  # retried while invisible, before it came back
    assert set(receive_counts[:-1]) == {"1"}
    # The retries stopped with the visibility timeout (1 s): the last one may start a few milliseconds after it on a
    # loaded machine (a clean-clone CI run measured 1.01 s), never a whole backoff later.
    assert function.times[-2] - function.times[0] < 1.25
    assert counts(cloud, queue) == (0, 0)


def test_sqs_batch_lambda_keeps_refusing_is_moved_to_the_dlq_by_the_redrive_policy(cloud: Cloud) -> None:
    dlq = make_queue(cloud)
    queue = make_queue(
        cloud,
        VisibilityTimeout="1",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 1}),
    )
    send(cloud, queue, "job")
    poller = sqs_poller(cloud, queue, FakeFunction(throttles))

    wait_for(lambda: poller.poll_once() == 0 and counts(cloud, dlq) == (1, 0), timeout=5)

    assert counts(cloud, queue) == (0, 0)


def test_sqs_redeliver_fault_hands_processed_messages_to_the_function_once_more_and_counts_them(
    cloud: Cloud,
) -> None:
    queue = make_queue(cloud, VisibilityTimeout="30")
    send(cloud, queue, "a", "b")
    plan = FaultPlan()
    plan.add([Rule(Fault.REDELIVER, function="WarehouseFunction", source="FulfillmentQueue")])
    function = FakeFunction()
    known_as = Call(function=("warehouse", "WarehouseFunction"), source=(queue.arn, "FulfillmentQueue"))

    Pollers([sqs_poller(cloud, queue, function, faults=plan, known_as=known_as)]).drain(timeout=10)

    first, second = function.events  # every message twice, and not a third time
    assert [r["messageId"] for r in second["Records"]] == [r["messageId"] for r in first["Records"]]
    assert {r["attributes"]["ApproximateReceiveCount"] for r in second["Records"]} == {"2"}
    assert plan.counts() == {"delivery.redeliver(function=WarehouseFunction, source=FulfillmentQueue)": 2}
    assert counts(cloud, queue) == (0, 0)


def test_sqs_redeliver_fault_for_another_source_leaves_the_queue_alone(cloud: Cloud) -> None:
    queue = make_queue(cloud)
    send(cloud, queue, "a")
    plan = FaultPlan()
    plan.add([Rule(Fault.REDELIVER, source="SomeOtherQueue")])
    function = FakeFunction()

    Pollers([sqs_poller(cloud, queue, function, faults=plan)]).drain(timeout=10)

    assert function.bodies() == [["a"]]
    assert plan.injected == 0


# --------------------------------------------------------------------------------------------------------------
# DynamoDB streams
# --------------------------------------------------------------------------------------------------------------


def test_stream_records_have_the_shape_lambda_gives_them(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    function = FakeFunction()
    put_order(cloud, table, "ORDER#1")

    assert stream_poller(cloud, stream_arn, function).poll_once() == 1

    (record,) = function.events[0]["Records"]
    expected = sample("order_events.json")["Records"][0]
    assert set(record) == set(expected)
    assert set(record["dynamodb"]) == set(expected["dynamodb"])
    assert (record["eventName"], record["eventVersion"], record["eventSourceARN"]) == ("INSERT", "1.1", stream_arn)
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert record["dynamodb"]["NewImage"]["kind"] == {"S": "ORDER"}
    DynamoDBStreamModel.model_validate(function.events[0])


def test_stream_trim_horizon_starts_with_the_oldest_record(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#before")
    function = FakeFunction()
    poller = stream_poller(cloud, stream_arn, function, starting_position="TRIM_HORIZON")
    put_order(cloud, table, "ORDER#after")

    poller.poll_once()

    assert function.keys() == [["ORDER#before", "ORDER#after"]]


def test_stream_latest_starts_after_the_records_already_there(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#before")
    function = FakeFunction()
    poller = stream_poller(cloud, stream_arn, function, starting_position="LATEST")
    put_order(cloud, table, "ORDER#after")

    poller.poll_once()

    assert function.keys() == [["ORDER#after"]]


def test_stream_batches_hold_at_most_the_batch_size_in_order(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    for n in range(5):
        put_order(cloud, table, f"ORDER#{n}")
    function = FakeFunction()
    poller = stream_poller(cloud, stream_arn, function, batch_size=2)

    delivered = [poller.poll_once() for _ in range(4)]

    assert delivered == [2, 2, 1, 0]
    assert function.keys() == [["ORDER#0", "ORDER#1"], ["ORDER#2", "ORDER#3"], ["ORDER#4"]]


def test_stream_batching_window_waits_for_more_records(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#0")
    later = threading.Timer(0.2, lambda: [put_order(cloud, table, f"ORDER#{n}") for n in (1, 2)])
    later.start()
    function = FakeFunction()

    stream_poller(cloud, stream_arn, function, batch_size=3, batching_window_seconds=2).poll_once()
    later.join()

    assert function.keys() == [["ORDER#0", "ORDER#1", "ORDER#2"]]


def test_stream_records_matching_no_filter_never_reach_the_function(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "PAYMENT#1", kind="PAYMENT")
    put_order(cloud, table, "ORDER#1")
    put_order(cloud, table, "STOCK#1", kind="STOCK")
    function = FakeFunction()
    poller = stream_poller(cloud, stream_arn, function, filters=filter_patterns("OrderEventsFunction", "OrderChanges"))

    assert [poller.poll_once(), poller.poll_once()] == [1, 0]
    assert function.keys() == [["ORDER#1"]]


def test_stream_batch_that_keeps_failing_goes_to_the_on_failure_destination(
    cloud: Cloud, orders: tuple[str, str]
) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#1")
    put_order(cloud, table, "ORDER#2")
    on_failure = make_queue(cloud)
    function = FakeFunction(raises)
    poller = stream_poller(cloud, stream_arn, function, maximum_retry_attempts=2, on_failure_queue_url=on_failure.url)

    assert poller.poll_once() == 6  # the first attempt and two retries

    assert function.keys() == [["ORDER#1", "ORDER#2"]] * 3
    (failure,) = failure_records(cloud, on_failure)
    parsed = DynamoDBStreamLambdaOnFailureDestinationModel.model_validate(failure)
    batch = parsed.ddb_stream_batch_info
    shard = cloud.streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    assert (batch.shard_id, batch.stream_arn, batch.batch_size) == (shard, stream_arn, 2)
    assert [batch.start_sequence_number, batch.end_sequence_number] == sequence_numbers(function.events[0])
    assert parsed.request_context.condition == "RetryAttemptsExhausted"
    assert parsed.request_context.approximate_invoke_count == 3
    assert parsed.request_context.function_arn == f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:order-events"
    assert parsed.response_context.function_error == "Unhandled"


def test_stream_moves_on_after_discarding_a_failed_batch(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#poison")
    function = FakeFunction(
        lambda event: raises(event) if _key(event["Records"][0]) == "ORDER#poison" else succeeds(event)
    )
    poller = stream_poller(cloud, stream_arn, function, maximum_retry_attempts=0)
    poller.poll_once()
    put_order(cloud, table, "ORDER#next")

    poller.poll_once()

    assert function.keys() == [["ORDER#poison"], ["ORDER#next"]]


def test_stream_bisect_isolates_the_record_that_fails(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    for sk in ("ORDER#a", "ORDER#b", "ORDER#poison", "ORDER#c"):
        put_order(cloud, table, sk)
    on_failure = make_queue(cloud)

    def fails_with_poison(event: dict[str, Any]) -> InvokeOutcome:
        return raises(event) if "ORDER#poison" in [_key(r) for r in event["Records"]] else succeeds(event)

    function = FakeFunction(fails_with_poison)
    poller = stream_poller(
        cloud,
        stream_arn,
        function,
        bisect_on_error=True,
        maximum_retry_attempts=1,
        on_failure_queue_url=on_failure.url,
    )

    poller.poll_once()

    assert function.keys() == [
        ["ORDER#a", "ORDER#b", "ORDER#poison", "ORDER#c"],
        ["ORDER#a", "ORDER#b"],
        ["ORDER#poison", "ORDER#c"],
        ["ORDER#poison"],  # split: no retry used
        ["ORDER#poison"],  # its one retry
        ["ORDER#c"],
    ]
    (failure,) = failure_records(cloud, on_failure)
    poison = sequence_numbers(function.events[3])[0]
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1
    assert failure["DDBStreamBatchInfo"]["startSequenceNumber"] == poison
    assert failure["DDBStreamBatchInfo"]["endSequenceNumber"] == poison


def test_stream_partial_batch_response_retries_from_the_reported_record(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    for n in range(3):
        put_order(cloud, table, f"ORDER#{n}")
    function = FakeFunction(once(lambda event: reports(sequence_numbers(event)[1])))
    on_failure = make_queue(cloud)
    poller = stream_poller(
        cloud, stream_arn, function, report_batch_item_failures=True, on_failure_queue_url=on_failure.url
    )

    poller.poll_once()

    assert function.keys() == [["ORDER#0", "ORDER#1", "ORDER#2"], ["ORDER#1", "ORDER#2"]]
    assert failure_records(cloud, on_failure) == []


def test_stream_partial_batch_response_naming_an_unknown_record_retries_the_whole_batch(
    cloud: Cloud, orders: tuple[str, str]
) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#0")
    put_order(cloud, table, "ORDER#1")
    function = FakeFunction(once(lambda _event: reports("999")))

    stream_poller(cloud, stream_arn, function, report_batch_item_failures=True).poll_once()

    assert function.keys() == [["ORDER#0", "ORDER#1"], ["ORDER#0", "ORDER#1"]]


def test_stream_partial_batch_response_is_ignored_without_report_batch_item_failures(
    cloud: Cloud, orders: tuple[str, str]
) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#0")
    put_order(cloud, table, "ORDER#1")
    function = FakeFunction(lambda event: reports(sequence_numbers(event)[0]))

    stream_poller(cloud, stream_arn, function, report_batch_item_failures=False).poll_once()

    assert function.keys() == [["ORDER#0", "ORDER#1"]]


def test_stream_with_unlimited_retries_holds_the_shard_until_the_batch_succeeds(
    cloud: Cloud, orders: tuple[str, str]
) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#0")
    function = FakeFunction(raises)
    poller = stream_poller(cloud, stream_arn, function, maximum_retry_attempts=-1)
    poller.poll_once()
    put_order(cloud, table, "ORDER#1")
    poller.poll_once()
    assert poller.stalled

    function.behaviour = succeeds
    poller.poll_once()
    poller.poll_once()

    assert function.keys() == [["ORDER#0"], ["ORDER#0"], ["ORDER#0"], ["ORDER#1"]]
    assert not poller.stalled


def test_stream_refusals_are_retried_with_backoff_without_using_maximum_retry_attempts(
    cloud: Cloud, orders: tuple[str, str]
) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#1")
    on_failure = make_queue(cloud)
    function = FakeFunction(in_turn(throttles, service_error, throttles, raises, service_error, raises))
    poller = stream_poller(cloud, stream_arn, function, maximum_retry_attempts=1, on_failure_queue_url=on_failure.url)

    Pollers([poller]).drain(timeout=10)

    assert function.keys() == [["ORDER#1"]] * 6  # four refusals did not use the one retry; two errors did
    (failure,) = failure_records(cloud, on_failure)
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert not poller.stalled


def test_stream_refusals_do_not_bisect_the_batch(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#1")
    put_order(cloud, table, "ORDER#2")
    function = FakeFunction(in_turn(throttles, throttles))
    poller = stream_poller(cloud, stream_arn, function, bisect_on_error=True, maximum_retry_attempts=0)

    Pollers([poller]).drain(timeout=10)

    assert function.keys() == [["ORDER#1", "ORDER#2"]] * 3


def test_stream_shard_waits_for_a_refused_batch_before_moving_on(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#1")
    function = FakeFunction(in_turn(throttles))
    poller = stream_poller(cloud, stream_arn, function, batch_size=1)
    assert poller.poll_once() == 0
    put_order(cloud, table, "ORDER#2")

    assert poller.poll_once() == 0  # its backoff is not over: nothing, not even the next record
    assert poller.stalled
    Pollers([poller]).drain(timeout=10)

    assert function.keys() == [["ORDER#1"], ["ORDER#1"], ["ORDER#2"]]


def test_stream_redeliver_fault_delivers_the_same_event_ids_again_before_the_shard_moves_on(
    cloud: Cloud, orders: tuple[str, str]
) -> None:
    table, stream_arn = orders
    for n in range(3):
        put_order(cloud, table, f"ORDER#{n}")
    plan = FaultPlan()
    plan.add([Rule(Fault.REDELIVER, function="OrderEventsFunction", source="OrdersTable", nth=1)])
    function = FakeFunction()
    known_as = Call(function=("order-events", "OrderEventsFunction"), source=(stream_arn, "OrdersTable"))
    poller = stream_poller(cloud, stream_arn, function, batch_size=2, faults=plan, known_as=known_as)

    delivered = [poller.poll_once(), poller.poll_once(), poller.poll_once()]

    assert delivered == [4, 1, 0]
    assert function.keys() == [["ORDER#0", "ORDER#1"], ["ORDER#0", "ORDER#1"], ["ORDER#2"]]
    event_ids = [[record["eventID"] for record in event["Records"]] for event in function.events]
    assert event_ids[0] == event_ids[1]
    assert plan.counts() == {"delivery.redeliver(function=OrderEventsFunction, source=OrdersTable)": 1}


def test_stream_batch_is_redelivered_at_most_once_even_by_a_rule_that_always_fires(
    cloud: Cloud, orders: tuple[str, str]
) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#0")
    plan = FaultPlan()
    plan.add([Rule(Fault.REDELIVER)])
    function = FakeFunction()

    stream_poller(cloud, stream_arn, function, faults=plan).poll_once()

    assert function.keys() == [["ORDER#0"]] * 2
    assert plan.injected == 1


# --------------------------------------------------------------------------------------------------------------
# The TTL reaper
# --------------------------------------------------------------------------------------------------------------


def put_session(cloud: Cloud, table: str, session_id: str, expires_at: dict[str, str] | None) -> None:
    item = {"sessionId": {"S": session_id}, "kind": {"S": "CART"}}
    if expires_at is not None:
        item["expiresAt"] = expires_at
    cloud.dynamodb.put_item(TableName=table, Item=item)


def reaper(cloud: Cloud, table: str) -> TtlReaper:
    ttl = load_stack().resource("SessionsTable")["Properties"]["TimeToLiveSpecification"]["AttributeName"]
    return TtlReaper(table_name=table, ttl_attribute=ttl, account_id=ACCOUNT_ID, region=REGION)


def removals(cloud: Cloud, stream_arn: str) -> dict[str, dict[str, Any]]:
    """Every REMOVE record of the stream, by session id, as Lambda would deliver it."""
    function = FakeFunction()
    stream_poller(cloud, stream_arn, function).poll_once()
    return {_key(r): r for event in function.events for r in event["Records"] if r["eventName"] == "REMOVE"}


def test_reaper_deletions_are_recorded_as_made_by_dynamodb_and_pass_the_abandoned_cart_filter(
    cloud: Cloud, sessions: tuple[str, str]
) -> None:
    table, stream_arn = sessions
    now = time.time()
    put_session(cloud, table, "CART#expired", {"N": str(int(now) - 60)})
    put_session(cloud, table, "CART#checked-out", {"N": str(int(now) - 60)})
    cloud.dynamodb.delete_item(TableName=table, Key={"sessionId": {"S": "CART#checked-out"}})

    assert reaper(cloud, table).sweep(now) == 1

    removed = removals(cloud, stream_arn)
    patterns = filter_patterns("AbandonedCartFunction", "ExpiredSessions")
    assert removed["CART#expired"]["userIdentity"] == SERVICE
    assert passes_filters(removed["CART#expired"], patterns)
    assert "userIdentity" not in removed["CART#checked-out"]
    assert not passes_filters(removed["CART#checked-out"], patterns)


def test_only_expired_carts_reach_the_abandoned_cart_function(cloud: Cloud, sessions: tuple[str, str]) -> None:
    table, stream_arn = sessions
    now = time.time()
    put_session(cloud, table, "CART#expired", {"N": str(int(now) - 60)})
    put_session(cloud, table, "CART#removed-by-customer", {"N": str(int(now) + 600)})
    cloud.dynamodb.delete_item(TableName=table, Key={"sessionId": {"S": "CART#removed-by-customer"}})
    reaper(cloud, table).sweep(now)
    function = FakeFunction()
    poller = stream_poller(
        cloud, stream_arn, function, filters=filter_patterns("AbandonedCartFunction", "ExpiredSessions")
    )

    poller.poll_once()

    assert function.keys() == [["CART#expired"]]
    assert function.events[0]["Records"][0]["userIdentity"] == SERVICE


def test_reaper_deletes_only_items_whose_number_ttl_has_passed(cloud: Cloud, sessions: tuple[str, str]) -> None:
    table, _ = sessions
    now = 1_795_600_000.0
    put_session(cloud, table, "CART#past", {"N": str(int(now) - 1)})
    put_session(cloud, table, "CART#now", {"N": str(int(now))})
    put_session(cloud, table, "CART#future", {"N": str(int(now) + 1)})
    put_session(cloud, table, "CART#string", {"S": str(int(now) - 1)})
    put_session(cloud, table, "CART#no-ttl", None)
    put_session(cloud, table, "CART#six-years-ago", {"N": str(int(now) - 6 * 365 * 24 * 3600)})

    deleted = reaper(cloud, table).sweep(now)

    left = {item["sessionId"]["S"] for item in cloud.dynamodb.scan(TableName=table)["Items"]}
    assert deleted == 2
    assert left == {"CART#future", "CART#string", "CART#no-ttl", "CART#six-years-ago"}


# --------------------------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def schedule(expression: str, function: FakeFunction | None = None) -> Schedule:
    return Schedule(function="nightly", expression=expression, invoke=function or FakeFunction(), rule_arn=RULE_ARN)


def test_the_templates_nightly_schedule_fires_at_a_quarter_past_three_utc() -> None:
    nightly = load_stack().resource("NightlyReportStateMachineNightly")["Properties"]["ScheduleExpression"]

    assert schedule(nightly).next_fire(at("2026-11-25T10:00:00")) == at("2026-11-26T03:15:00")
    assert schedule(nightly).next_fire(at("2026-11-26T03:14:59")) == at("2026-11-26T03:15:00")
    assert schedule(nightly).next_fire(at("2026-11-26T03:15:00")) == at("2026-11-27T03:15:00")


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0/15 * * * ? *)", "2026-11-25T10:07:00", "2026-11-25T10:15:00"),
        ("cron(5,35 14 * * ? *)", "2026-11-25T14:05:00", "2026-11-25T14:35:00"),
        ("cron(0 9-17/4 * * ? *)", "2026-11-25T10:00:00", "2026-11-25T13:00:00"),
        ("cron(0 8 ? * MON-FRI *)", "2026-11-27T09:00:00", "2026-11-30T08:00:00"),  # Friday -> Monday
        ("cron(0 18 ? * 1 *)", "2026-11-25T00:00:00", "2026-11-29T18:00:00"),  # 1 is Sunday
        ("cron(0 12 1 JAN,JUL ? 2027)", "2026-11-25T00:00:00", "2027-01-01T12:00:00"),
        ("cron(0 0 29 2 ? *)", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),
        ("rate(5 minutes)", "2026-11-25T10:00:30", "2026-11-25T10:05:30"),
        ("rate(1 hour)", "2026-11-25T10:00:00", "2026-11-25T11:00:00"),
        ("rate(2 days)", "2026-11-25T10:00:00", "2026-11-27T10:00:00"),
    ],
)
def test_next_fire(expression: str, after: str, expected: str) -> None:
    assert schedule(expression).next_fire(at(after)) == at(expected)


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 12 * * * *)",  # day-of-month and day-of-week both given
        "cron(0 12 ? * ? *)",  # neither given
        "cron(0 12 * * ?)",  # five fields
        "cron(60 * * * ? *)",
        "cron(0 12 L * ? *)",  # not supported by the local cloud
        "rate(5 minute)",
        "rate(1 minutes)",
        "rate(0 minutes)",
        "at(2026-11-25T10:00:00)",
    ],
)
def test_invalid_schedule_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        schedule(expression)


def test_a_fired_schedule_sends_eventbridges_scheduled_event() -> None:
    function = FakeFunction()

    sent = schedule("cron(15 3 * * ? *)", function).fire_now()

    ((name, event),) = function.calls
    expected = sample("nightly_report.json")
    assert event == sent
    assert name == "nightly"
    assert set(event) == set(expected)
    assert (event["detail-type"], event["source"], event["detail"]) == ("Scheduled Event", "aws.events", {})
    assert (event["account"], event["region"], event["resources"]) == (ACCOUNT_ID, REGION, [RULE_ARN])
    assert abs(EventBridgeModel.model_validate(event).time - datetime.now(UTC)) < timedelta(seconds=5)


# --------------------------------------------------------------------------------------------------------------
# Running them together
# --------------------------------------------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def poller_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("localcloud ")]


def test_started_pollers_deliver_in_the_background_and_stop_joins_their_threads(cloud: Cloud) -> None:
    queue = make_queue(cloud)
    function = FakeFunction()
    pollers = Pollers([sqs_poller(cloud, queue, function)], interval_seconds=0.05)

    pollers.start()
    try:
        send(cloud, queue, "hello")
        wait_for(lambda: function.bodies() == [["hello"]])
    finally:
        pollers.stop()

    assert poller_threads() == []


def test_running_pollers_fire_schedules_when_due(cloud: Cloud) -> None:
    class Soon(Schedule):
        def next_fire(self, after: datetime) -> datetime:
            return after + timedelta(seconds=0.1)

    function = FakeFunction()
    pollers = Pollers([Soon(function="nightly", expression="rate(1 day)", invoke=function, rule_arn=RULE_ARN)])

    pollers.start()
    try:
        wait_for(lambda: len(function.events) >= 2)
    finally:
        pollers.stop()

    assert {event["detail-type"] for event in function.events} == {"Scheduled Event"}
    assert poller_threads() == []


def test_drain_follows_work_from_a_queue_through_a_table_to_its_stream(
    cloud: Cloud, orders: tuple[str, str], sessions: tuple[str, str]
) -> None:
    orders_table, orders_stream = orders
    sessions_table, sessions_stream = sessions
    queue = make_queue(cloud)
    send(cloud, queue, "ORDER#from-queue")
    put_session(cloud, sessions_table, "CART#expired", {"N": str(int(time.time()) - 60)})

    def ships(event: dict[str, Any]) -> InvokeOutcome:
        for record in event["Records"]:
            put_order(cloud, orders_table, record["body"])
        return succeeds(event)

    warehouse = FakeFunction(ships)
    order_events, abandoned_cart = FakeFunction(), FakeFunction()
    abandoned_filters = filter_patterns("AbandonedCartFunction", "ExpiredSessions")
    pollers = Pollers(
        [
            stream_poller(cloud, orders_stream, order_events),
            sqs_poller(cloud, queue, warehouse),
            reaper(cloud, sessions_table),
            stream_poller(cloud, sessions_stream, abandoned_cart, filters=abandoned_filters),
        ]
    )

    pollers.drain(timeout=10)

    assert order_events.keys() == [["ORDER#from-queue"]]
    assert abandoned_cart.keys() == [["CART#expired"]]


def test_drain_gives_up_on_a_stream_that_keeps_failing(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#poison")
    pollers = Pollers([stream_poller(cloud, stream_arn, FakeFunction(raises), maximum_retry_attempts=-1)])

    with pytest.raises(TimeoutError, match="StreamPoller"):
        pollers.drain(timeout=0.3)


def test_drain_waits_for_work_a_background_thread_is_doing(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    queue = make_queue(cloud)
    send(cloud, queue, "ORDER#slow")
    invoked = threading.Event()

    def ships_slowly(event: dict[str, Any]) -> InvokeOutcome:
        invoked.set()
        time.sleep(0.3)
        put_order(cloud, table, event["Records"][0]["body"])
        return succeeds(event)

    order_events = FakeFunction()
    # A long interval: after their first poll the background threads leave the rest to drain().
    pollers = Pollers(
        [stream_poller(cloud, stream_arn, order_events), sqs_poller(cloud, queue, FakeFunction(ships_slowly))],
        interval_seconds=5,
    )
    pollers.start()
    try:
        assert invoked.wait(5)
        pollers.drain(timeout=10)  # starts while the queue's thread is still inside its invocation
        delivered = order_events.keys()
    finally:
        pollers.stop()

    assert delivered == [["ORDER#slow"]]


def test_stream_polls_leave_no_shard_iterators_behind_in_moto(cloud: Cloud, orders: tuple[str, str]) -> None:
    table, stream_arn = orders
    put_order(cloud, table, "ORDER#0")
    poller = stream_poller(cloud, stream_arn, FakeFunction(), batch_size=1, starting_position="LATEST")
    put_order(cloud, table, "ORDER#1")
    held = get_backend("dynamodbstreams")[ACCOUNT_ID][REGION].shard_iterators
    before = len(held)

    delivered = [poller.poll_once() for _ in range(20)]

    assert delivered == [1] + [0] * 19
    assert len(held) == before

"""The order history's delivery stream in the local cloud: Orders-table changes go through DynamoDB's Kinesis
destination and the real transformation function into gzip JSON lines under orders/dt=.../, failures go under
errors/processing-failed/dt=.../ as Firehose writes them, and buffers are written by size and by age. The delivery
stream and the stream are configured from template.yaml's own properties."""

from __future__ import annotations

import base64
import gzip
import json
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud.firehose import DeliveryStream, Transform, UnsupportedConfiguration, evaluate_prefix
from localcloud.kinesis_forwarding import KinesisStreamingDestination
from localcloud.pollers import InvokeOutcome
from localcloud.resolve import Resolver
from localcloud.template import load_stack
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable, order_sort_key
from shop.domain.models import OrderStatus
from tests.support.cloud import TABLE_NAMES
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function
from tests.unit.functions.given import an_order

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
STREAM = "test-order-history"
DELIVERY = "test-order-history-delivery"
BUCKET = "test-order-history-lake"
LAMBDA_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:test-order-history:live"
# Half a minute before midnight: an object's dt= is the day its oldest record arrived, not the day it is written.
STARTED = datetime(2025, 12, 3, 23, 59, 30, 250000, tzinfo=UTC).timestamp()
CUSTOMER = "6c0f4a2e-1f3b-4b6a-9d7e-2f1a7c3b9e10"


def delivery_properties() -> dict[str, Any]:
    """OrderHistoryDeliveryStream's properties from template.yaml, resolved with this test's names."""
    resolver = Resolver(
        parameters={},
        pseudo={"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID},
        refs={
            "OrderHistoryStream": STREAM,
            "OrderHistoryFunctionAliaslive": LAMBDA_ARN,
            "OrderHistoryDeliveryLogGroup": "/aws/kinesisfirehose/test-order-history",
            "OrderHistoryDeliveryLogStream": "DestinationDelivery",
        },
        attributes={
            "OrderHistoryBucket": {"Arn": f"arn:aws:s3:::{BUCKET}"},
            "OrderHistoryDeliveryRole": {"Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/test-order-history-delivery"},
        },
    )
    resource = load_stack().resource("OrderHistoryDeliveryStream")
    properties: dict[str, Any] = resolver.resolve(resource["Properties"], "OrderHistoryDeliveryStream")
    return properties


def without_transformation(size_mb: int = 1, interval_seconds: int = 60) -> dict[str, Any]:
    """The template's destination with no processor and other buffering hints (to count buffered bytes exactly)."""
    destination = dict(delivery_properties()["ExtendedS3DestinationConfiguration"])
    del destination["ProcessingConfiguration"]
    destination["BufferingHints"] = {"SizeInMBs": size_mb, "IntervalInSeconds": interval_seconds}
    return destination


@dataclass
class Clock:
    now: float = STARTED

    def __call__(self) -> float:
        return self.now


@dataclass
class Lake:
    """The template's Orders table, stream and delivery stream in moto, objects kept by key."""

    kinesis: Any
    dynamodb: Any
    clock: Clock
    objects: dict[str, bytes] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def stream_arn(self) -> str:
        return f"arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/{STREAM}"

    def put_object(self, bucket: str, key: str, body: bytes) -> None:
        assert bucket == BUCKET
        assert key not in self.objects, "an object key is never reused"
        self.objects[key] = body

    def delivery(self, transform: Transform | None, destination: dict[str, Any] | None = None) -> DeliveryStream:
        if destination is None:
            return DeliveryStream.from_properties(
                DELIVERY, delivery_properties(), put_object=self.put_object, transform=transform, clock=self.clock
            )
        return DeliveryStream(
            name=DELIVERY,
            source_stream_arn=self.stream_arn,
            destination=destination,
            put_object=self.put_object,
            transform=transform,
            clock=self.clock,
        )

    def forwarding(self) -> KinesisStreamingDestination:
        return KinesisStreamingDestination(
            account_id=ACCOUNT_ID,
            region=REGION,
            table_name=TABLE_NAMES["OrdersTable"],
            stream_name=STREAM,
            dynamodb_lock=self.lock,
        )

    def put_record(self, data: bytes, partition_key: str = "one-shard") -> None:
        self.kinesis.put_record(StreamName=STREAM, Data=data, PartitionKey=partition_key)

    def keys(self, prefix: str) -> list[str]:
        return sorted(key for key in self.objects if key.startswith(prefix))

    def lines(self, prefix: str) -> list[dict[str, Any]]:
        """Every JSON line of the gzip objects under the prefix, object by object."""
        return [
            json.loads(line)
            for key in self.keys(prefix)
            for line in gzip.decompress(self.objects[key]).decode().splitlines()
        ]


# One session for the module: a client from a fresh one parses botocore's service model again (tenths of a second).
_session = boto3.session.Session()


def _create_stream() -> Any:
    kinesis = _session.client("kinesis", region_name=REGION)
    stream = load_stack().resource("OrderHistoryStream")["Properties"]
    kinesis.create_stream(StreamName=STREAM, StreamModeDetails=stream["StreamModeDetails"])
    return kinesis


@pytest.fixture
def lake() -> Iterator[Lake]:
    """The stream and the delivery stream alone (records put straight into the stream)."""
    with mock_aws():
        yield Lake(kinesis=_create_stream(), dynamodb=None, clock=Clock())


@pytest.fixture
def shop_lake(dynamodb: Any, orders_table: OrdersTable, catalog_table: CatalogTable) -> Lake:
    """The stream and the delivery stream with the template's tables, the Orders table forwarding to the stream."""
    return Lake(kinesis=_create_stream(), dynamodb=dynamodb, clock=Clock())


@pytest.fixture(scope="module")
def order_history() -> ModuleType:
    return load_function("order_history")


def real_transform(order_history: ModuleType, calls: list[dict[str, Any]] | None = None) -> Transform:
    """functions/order_history/app.py invoked in this process, its answer through JSON as Lambda returns it."""

    def transform(event: dict[str, Any]) -> InvokeOutcome:
        if calls is not None:
            calls.append(event)
        answer = order_history.lambda_handler(event, FakeLambdaContext())
        return InvokeOutcome(payload=json.loads(json.dumps(answer)), errored=False)

    return transform


def failing(times: int, then: Transform | None = None, calls: list[dict[str, Any]] | None = None) -> Transform:
    """A function that errors `times` times, then answers as `then` does."""
    attempts = [0]

    def transform(event: dict[str, Any]) -> InvokeOutcome:
        if calls is not None:
            calls.append(event)
        attempts[0] += 1
        if attempts[0] <= times or then is None:
            return InvokeOutcome(payload={"errorType": "RuntimeError", "errorMessage": "boom"}, errored=True)
        return then(event)

    return transform


def answering(answer: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> Transform:
    def transform(event: dict[str, Any]) -> InvokeOutcome:
        return InvokeOutcome(payload={"records": answer(event["records"])}, errored=False)

    return transform


def ok(record: dict[str, Any]) -> dict[str, Any]:
    return {"recordId": record["recordId"], "result": "Ok", "data": record["data"]}


def place_orders(orders: OrdersTable, catalog: CatalogTable) -> dict[str, list[tuple[str | None, str]]]:
    """Orders taken along different routes; for each, the (previousStatus, status) rows the lake should hold."""
    routes = {
        "order-shipped": OrderStatus.SHIPPED,
        "order-cancelled": OrderStatus.CANCELLED,
        "order-rejected": OrderStatus.REJECTED,
        "order-delivered": OrderStatus.DELIVERED,
    }
    chains = {
        "order-shipped": ["PLACED", "PAID", "SHIPPED"],
        "order-cancelled": ["PLACED", "CANCELLED"],
        "order-rejected": ["PLACED", "AWAITING_APPROVAL", "REJECTED"],
        "order-delivered": ["PLACED", "PAID", "SHIPPED", "DELIVERED"],
    }
    for order_id, status in routes.items():
        an_order(orders, catalog, customer_id=CUSTOMER, order_id=order_id, status=status)
    return {order_id: list(zip([None, *chain[:-1]], chain, strict=True)) for order_id, chain in chains.items()}


def add_tracking_number(lake: Lake, order_id: str) -> None:
    """An order write that leaves its status alone (the function drops it)."""
    lake.dynamodb.update_item(
        TableName=TABLE_NAMES["OrdersTable"],
        Key={"customerId": {"S": CUSTOMER}, "sk": {"S": order_sort_key(order_id)}},
        UpdateExpression="SET trackingNumber = :tracking",
        ExpressionAttributeValues={":tracking": {"S": "1Z999AA10123456784"}},
    )


def rows_by_order(lines: list[dict[str, Any]]) -> dict[str, list[tuple[str | None, str]]]:
    found: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
    for row in lines:
        found[row["orderId"]].append((row["previousStatus"], row["status"]))
    return dict(found)


# --------------------------------------------------------------------------------------------------------------
# End to end: table writes -> Kinesis -> Firehose and the real function -> gzip objects
# --------------------------------------------------------------------------------------------------------------


def test_every_status_change_of_every_order_is_one_row_in_the_lake(
    shop_lake: Lake, catalog_table: CatalogTable, orders_table: OrdersTable, order_history: ModuleType
) -> None:
    forwarding, delivery = shop_lake.forwarding(), shop_lake.delivery(real_transform(order_history))
    expected = place_orders(orders_table, catalog_table)
    add_tracking_number(shop_lake, "order-shipped")

    forwarding.poll_once()
    delivery.poll_once()
    delivery.flush()

    assert rows_by_order(shop_lake.lines("orders/")) == expected
    assert shop_lake.keys("errors/") == []
    counts = delivery.counts()
    rows = sum(len(chain) for chain in expected.values())
    assert counts.records_read == forwarding.forwarded
    assert (counts.delivered, counts.processing_failed, counts.buffered) == (rows, 0, 0)
    assert counts.dropped == forwarding.forwarded - rows >= 1, "the tracking number's change is dropped"


def test_every_status_change_is_one_row_when_invocations_fail_now_and_then_and_a_record_is_malformed(
    shop_lake: Lake, catalog_table: CatalogTable, orders_table: OrdersTable, order_history: ModuleType
) -> None:
    # Fault: every other invocation fails (fewer times in a row than the template's NumberOfRetries).
    answer = real_transform(order_history)
    invocations = [0]

    def flaky(event: dict[str, Any]) -> InvokeOutcome:
        invocations[0] += 1
        if invocations[0] % 2:
            return InvokeOutcome(payload={"errorType": "Sandbox.Timedout"}, errored=True)
        return answer(event)

    forwarding, delivery = shop_lake.forwarding(), shop_lake.delivery(flaky)
    expected = place_orders(orders_table, catalog_table)
    shop_lake.put_record(b"{not a change")

    forwarding.poll_once()
    delivery.poll_once()
    delivery.flush()

    assert rows_by_order(shop_lake.lines("orders/")) == expected
    assert [base64.b64decode(line["rawData"]) for line in shop_lake.lines("errors/")] == [b"{not a change"]
    counts = delivery.counts()
    assert counts.records_read == forwarding.forwarded + 1
    assert counts.records_read == counts.delivered + counts.dropped + counts.processing_failed + counts.buffered
    assert (counts.processing_failed, counts.buffered) == (1, 0)


def test_dropped_changes_write_nothing(shop_lake: Lake, order_history: ModuleType) -> None:
    forwarding, delivery = shop_lake.forwarding(), shop_lake.delivery(real_transform(order_history))
    shop_lake.dynamodb.put_item(
        TableName=TABLE_NAMES["OrdersTable"],
        Item={
            "customerId": {"S": CUSTOMER},
            "sk": {"S": "APPROVAL#order-1"},
            "kind": {"S": "APPROVAL"},
            "orderId": {"S": "order-1"},
        },
    )

    forwarding.poll_once()
    delivery.poll_once()
    written = delivery.flush()

    assert (written, shop_lake.objects) == (0, {})
    assert (delivery.counts().records_read, delivery.counts().dropped) == (1, 1)


# --------------------------------------------------------------------------------------------------------------
# The transformation's failures
# --------------------------------------------------------------------------------------------------------------


def test_a_malformed_record_lands_under_processing_failed_with_its_original_data(
    lake: Lake, order_history: ModuleType
) -> None:
    delivery = lake.delivery(real_transform(order_history))
    lake.put_record(b"not base64 JSON of a change")

    delivery.poll_once()
    read_at = lake.clock.now
    lake.clock.now += 5
    delivery.flush()

    assert lake.keys("orders/") == []
    [key] = lake.keys("errors/processing-failed/dt=2025-12-03/")
    [line] = lake.lines("errors/")
    assert list(line) == [
        "attemptsMade",
        "arrivalTimestamp",
        "errorCode",
        "errorMessage",
        "attemptEndingTimestamp",
        "rawData",
        "lambdaArn",
    ]
    assert base64.b64decode(line["rawData"]) == b"not base64 JSON of a change"
    assert (line["errorCode"], line["attemptsMade"], line["lambdaArn"]) == (
        "Lambda.ProcessingFailedStatus",
        1,
        LAMBDA_ARN,
    )
    assert line["arrivalTimestamp"] == line["attemptEndingTimestamp"] == int(read_at * 1000)
    assert key.endswith(".gz")


def test_an_invocation_that_keeps_failing_sends_the_whole_batch_to_the_error_prefix_after_every_retry(
    lake: Lake,
) -> None:
    calls: list[dict[str, Any]] = []
    delivery = lake.delivery(failing(times=1_000, calls=calls))
    sent = [b"first", b"second", b"third"]
    for data in sent:
        lake.put_record(data)  # one partition key: one shard, one batch

    delivery.poll_once()
    delivery.flush()

    # The template's NumberOfRetries is 3: four invocations, each a new invocationId for the same records.
    assert len(calls) == 4
    assert len({call["invocationId"] for call in calls}) == 4
    assert all(
        [r["recordId"] for r in call["records"]] == [r["recordId"] for r in calls[0]["records"]] for call in calls
    )
    lines = lake.lines("errors/processing-failed/")
    assert [base64.b64decode(line["rawData"]) for line in lines] == sent
    assert {(line["attemptsMade"], line["errorCode"]) for line in lines} == {(4, "Lambda.FunctionError")}
    assert (delivery.counts().processing_failed, lake.keys("orders/")) == (3, [])


def test_an_invocation_that_fails_fewer_times_than_the_retries_delivers_its_batch(
    shop_lake: Lake, catalog_table: CatalogTable, orders_table: OrdersTable, order_history: ModuleType
) -> None:
    calls: list[dict[str, Any]] = []
    forwarding = shop_lake.forwarding()
    delivery = shop_lake.delivery(failing(times=3, then=real_transform(order_history), calls=calls))
    an_order(orders_table, catalog_table, customer_id=CUSTOMER, order_id="order-1", status=OrderStatus.PLACED)

    forwarding.poll_once()
    delivery.poll_once()
    delivery.flush()

    assert len(calls) == 4
    assert rows_by_order(shop_lake.lines("orders/")) == {"order-1": [(None, "PLACED")]}
    assert shop_lake.keys("errors/") == []


def test_a_record_left_out_of_the_answer_is_a_processing_failure(lake: Lake) -> None:
    delivery = lake.delivery(answering(lambda records: [ok(records[0])]))
    lake.put_record(b"answered")
    lake.put_record(b"left out")

    delivery.poll_once()
    delivery.flush()

    [object_key] = lake.keys("orders/")
    assert gzip.decompress(lake.objects[object_key]) == b"answered"
    [line] = lake.lines("errors/processing-failed/")
    assert (base64.b64decode(line["rawData"]), line["errorCode"]) == (b"left out", "Lambda.MissingRecordId")


def test_an_unknown_result_is_a_processing_failure(lake: Lake) -> None:
    delivery = lake.delivery(answering(lambda records: [dict(ok(records[0]), result="Fine")]))
    lake.put_record(b"odd")

    delivery.poll_once()
    delivery.flush()

    assert lake.keys("orders/") == []
    assert [base64.b64decode(line["rawData"]) for line in lake.lines("errors/processing-failed/")] == [b"odd"]


def test_batches_hold_at_most_the_processors_buffer_size(lake: Lake) -> None:
    sizes: list[int] = []

    def transform(event: dict[str, Any]) -> InvokeOutcome:
        sizes.append(len(event["records"]))
        return InvokeOutcome(payload={"records": [ok(record) for record in event["records"]]}, errored=False)

    delivery = lake.delivery(transform)
    for n in range(5):
        lake.put_record(bytes([n]) * 400_000)  # the template's processor takes 1 MB: two of these at a time

    delivery.poll_once()

    assert sizes == [2, 2, 1]
    assert delivery.counts().records_read == 5


def test_the_event_is_firehoses_for_a_kinesis_source(lake: Lake, order_history: ModuleType) -> None:
    calls: list[dict[str, Any]] = []
    delivery = lake.delivery(real_transform(order_history, calls))
    lake.put_record(b"data", partition_key="pk-1")

    delivery.poll_once()

    [event] = calls
    assert (event["deliveryStreamArn"], event["sourceKinesisStreamArn"], event["region"]) == (
        f"arn:aws:firehose:{REGION}:{ACCOUNT_ID}:deliverystream/{DELIVERY}",
        lake.stream_arn,
        REGION,
    )
    [record] = event["records"]
    assert base64.b64decode(record["data"]) == b"data"
    assert record["approximateArrivalTimestamp"] == int(STARTED * 1000)
    metadata = record["kinesisRecordMetadata"]
    assert set(metadata) == {
        "shardId",
        "partitionKey",
        "approximateArrivalTimestamp",
        "sequenceNumber",
        "subsequenceNumber",
    }
    assert (metadata["partitionKey"], metadata["subsequenceNumber"]) == ("pk-1", 0)
    assert metadata["shardId"].startswith("shardId-")


# --------------------------------------------------------------------------------------------------------------
# Buffering and keys
# --------------------------------------------------------------------------------------------------------------


def test_a_buffer_is_written_once_it_reaches_the_size(lake: Lake) -> None:
    delivery = lake.delivery(None, without_transformation(size_mb=1))
    for _ in range(10):
        lake.put_record(b"x" * 100_000)  # 1,000,000 bytes: under 1 MiB

    delivery.poll_once()
    assert lake.objects == {}
    lake.put_record(b"x" * 100_000)
    delivery.poll_once()

    [body] = lake.objects.values()
    assert gzip.decompress(body) == b"x" * 1_100_000
    assert (delivery.counts().delivered, delivery.counts().buffered) == (11, 0)


def test_a_buffer_is_written_once_its_oldest_record_is_older_than_the_interval(lake: Lake) -> None:
    delivery = lake.delivery(None, without_transformation(interval_seconds=60))
    lake.put_record(b"oldest ")
    delivery.poll_once()
    lake.clock.now = STARTED + 30
    lake.put_record(b"newer")
    delivery.poll_once()

    lake.clock.now = STARTED + 59.9
    before = delivery.poll_once()
    objects_before = dict(lake.objects)
    lake.clock.now = STARTED + 60
    delivery.poll_once()

    assert (before, objects_before) == (0, {})
    [body] = lake.objects.values()
    assert gzip.decompress(body) == b"oldest newer"


def test_keys_are_the_prefix_at_the_oldest_records_arrival_then_firehoses_object_name(lake: Lake) -> None:
    delivery = lake.delivery(None, without_transformation(interval_seconds=60))
    lake.put_record(b"a")
    delivery.poll_once()
    lake.clock.now = STARTED + 40  # past midnight, before the interval ends
    lake.put_record(b"b")
    delivery.poll_once()

    delivery.flush()

    [key] = lake.objects
    assert re.fullmatch(
        rf"orders/dt=2025-12-03/{DELIVERY}-1-2025-12-03-23-59-30-[0-9a-f]{{8}}(-[0-9a-f]{{4}}){{3}}-[0-9a-f]{{12}}\.gz",
        key,
    ), key


def test_without_compression_the_body_is_the_records_as_they_are(lake: Lake) -> None:
    destination = dict(without_transformation(), CompressionFormat="UNCOMPRESSED")
    delivery = lake.delivery(None, destination)
    lake.put_record(b"plain")

    delivery.poll_once()
    delivery.flush()

    [(key, body)] = lake.objects.items()
    assert (body, key.endswith(".gz")) == (b"plain", False)


def test_records_on_several_shards_are_all_delivered_once(lake: Lake) -> None:
    delivery = lake.delivery(None, without_transformation())
    for n in range(40):
        lake.put_record(f"{n:02d}\n".encode(), partition_key=f"key-{n}")

    delivery.poll_once()
    again = delivery.poll_once()
    delivery.flush()

    [body] = lake.objects.values()
    assert again == 0
    assert Counter(gzip.decompress(body).decode().splitlines()) == Counter(f"{n:02d}" for n in range(40))


# --------------------------------------------------------------------------------------------------------------
# Prefix expressions and configurations
# --------------------------------------------------------------------------------------------------------------

AT = datetime(2018, 8, 27, 10, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("prefix", "evaluated"),
    [
        ("orders/dt=!{timestamp:yyyy-MM-dd}/", "orders/dt=2018-08-27/"),
        ("!{timestamp:yyyy/MM/dd/HH/}", "2018/08/27/10/"),
        ("y=!{timestamp:yyyy}/m=!{timestamp:MM}/at=!{timestamp:HH:mm:ss}/", "y=2018/m=08/at=10:30:05/"),
        ("dt=!{timestamp:yyyy'-'MM'-'dd}/h=!{timestamp:H}/", "dt=2018-08-27/h=10/"),
        ("!{timestamp:'year='yyyy''}", "year=2018'"),
    ],
)
def test_timestamp_expressions_are_java_date_patterns(prefix: str, evaluated: str) -> None:
    assert evaluate_prefix(prefix, AT) == evaluated


def test_the_error_output_type_is_evaluated_only_in_the_error_prefix() -> None:
    error_prefix = "errors/!{firehose:error-output-type}/!{timestamp:yyyy}/"

    assert evaluate_prefix(error_prefix, AT, "processing-failed") == "errors/processing-failed/2018/"
    with pytest.raises(UnsupportedConfiguration):
        evaluate_prefix(error_prefix, AT)


def test_a_random_string_is_eleven_characters_new_each_time() -> None:
    first, second = (evaluate_prefix("r=!{firehose:random-string}/", AT) for _ in range(2))

    assert len(first) == len("r=/") + 11
    assert first != second


def test_a_prefix_without_a_timestamp_gets_firehoses_default_time_prefix(lake: Lake) -> None:
    destination = dict(without_transformation(), Prefix="raw/")
    del destination["ErrorOutputPrefix"]
    delivery = lake.delivery(None, destination)
    lake.put_record(b"r")

    delivery.poll_once()
    delivery.flush()

    [key] = lake.objects
    assert key.startswith("raw/2025/12/03/23/")


@pytest.mark.parametrize(
    "change",
    [
        {"DataFormatConversionConfiguration": {"Enabled": True}},
        {"DynamicPartitioningConfiguration": {"Enabled": True}},
        {"Prefix": "t=!{partitionKeyFromQuery:tenant}/"},
        {"Prefix": "!{firehose:error-output-type}/"},
        {"ErrorOutputPrefix": "errors/!{timestamp:yyyy}/"},
        {"CompressionFormat": "Snappy"},
        {"S3BackupMode": "Enabled"},
        {"CustomTimeZone": "Asia/Tokyo"},
        {"Prefix": "!{timestamp:yyyy-ww}/"},
        {"ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}},
    ],
)
def test_a_configuration_not_emulated_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedConfiguration):
        Lake(kinesis=None, dynamodb=None, clock=Clock()).delivery(None, without_transformation() | change)


def test_a_prefix_with_expressions_needs_an_error_prefix() -> None:
    destination = without_transformation()
    del destination["ErrorOutputPrefix"]

    with pytest.raises(UnsupportedConfiguration, match="ErrorOutputPrefix"):
        Lake(kinesis=None, dynamodb=None, clock=Clock()).delivery(None, destination)


def test_a_delivery_stream_with_a_processor_needs_a_transform() -> None:
    with pytest.raises(ValueError, match="transform"):
        Lake(kinesis=None, dynamodb=None, clock=Clock()).delivery(None)


@pytest.mark.parametrize(
    "change",
    [
        {"DeliveryStreamType": "DirectPut"},
        {"S3DestinationConfiguration": {"BucketARN": f"arn:aws:s3:::{BUCKET}"}},
        {"DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"}},
    ],
)
def test_only_a_kinesis_sourced_stream_to_extended_s3_is_emulated(change: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedConfiguration):
        DeliveryStream.from_properties(
            DELIVERY,
            delivery_properties() | change,
            put_object=Lake(kinesis=None, dynamodb=None, clock=Clock()).put_object,
            transform=failing(times=0),
        )

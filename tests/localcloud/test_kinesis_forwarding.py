"""DynamoDB's Kinesis Data Streams destination in the local cloud: the Orders table's changes reach the order history
stream as DynamoDB writes them there (both images, epoch-millisecond times), each item's changes in order on one
shard, and only the changes made once the destination exists. Tables and the stream come from template.yaml."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud.kinesis_forwarding import KinesisStreamingDestination
from localcloud.provision import create_table
from localcloud.template import load_stack

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
TABLE = "test-orders"
STREAM = "test-order-history"
CUSTOMER = "6c0f4a2e-1f3b-4b6a-9d7e-2f1a7c3b9e10"


@dataclass
class Aws:
    dynamodb: Any
    kinesis: Any
    lock: threading.RLock

    def destination(self) -> KinesisStreamingDestination:
        return KinesisStreamingDestination(
            account_id=ACCOUNT_ID, region=REGION, table_name=TABLE, stream_name=STREAM, dynamodb_lock=self.lock
        )

    def put_order(self, order_id: str, status: str, customer_id: str = CUSTOMER) -> None:
        item = {
            "customerId": {"S": customer_id},
            "sk": {"S": f"ORDER#{order_id}"},
            "kind": {"S": "ORDER"},
            "orderId": {"S": order_id},
            "status": {"S": status},
        }
        self.dynamodb.put_item(TableName=TABLE, Item=item)

    def set_status(self, order_id: str, status: str, customer_id: str = CUSTOMER) -> None:
        self.dynamodb.update_item(
            TableName=TABLE,
            Key={"customerId": {"S": customer_id}, "sk": {"S": f"ORDER#{order_id}"}},
            UpdateExpression="SET #status = :status",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": {"S": status}},
        )

    def delete_order(self, order_id: str, customer_id: str = CUSTOMER) -> None:
        self.dynamodb.delete_item(
            TableName=TABLE, Key={"customerId": {"S": customer_id}, "sk": {"S": f"ORDER#{order_id}"}}
        )

    def stream_records(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(shard, partition key, data) of every record in the stream, each shard's in order, read as a consumer
        reads them."""
        found: list[tuple[str, str, dict[str, Any]]] = []
        for shard in self.kinesis.describe_stream(StreamName=STREAM)["StreamDescription"]["Shards"]:
            iterator = self.kinesis.get_shard_iterator(
                StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for record in self.kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]:
                found.append((shard["ShardId"], record["PartitionKey"], json.loads(record["Data"])))
        return found


# One session for the module: a client from a fresh one parses botocore's service model again (tenths of a second).
_session = boto3.session.Session()


@pytest.fixture
def aws() -> Iterator[Aws]:
    stack = load_stack()
    with mock_aws():
        dynamodb = _session.client("dynamodb", region_name=REGION)
        create_table(dynamodb, TABLE, stack.resource("OrdersTable")["Properties"])
        kinesis = _session.client("kinesis", region_name=REGION)
        stream = stack.resource("OrderHistoryStream")["Properties"]
        kinesis.create_stream(StreamName=STREAM, StreamModeDetails=stream["StreamModeDetails"])
        yield Aws(dynamodb, kinesis, threading.RLock())


def test_an_insert_reaches_the_stream_as_dynamodb_writes_it_to_kinesis(aws: Aws) -> None:
    destination = aws.destination()
    before_ms = int(time.time() * 1000)
    aws.put_order("o-1", "PLACED")
    after_ms = int(time.time() * 1000)

    assert destination.poll_once() == 1

    [(_, _, record)] = aws.stream_records()
    assert list(record) == [
        "awsRegion",
        "eventID",
        "eventName",
        "userIdentity",
        "recordFormat",
        "tableName",
        "dynamodb",
        "eventSource",
    ]
    assert (record["awsRegion"], record["eventName"], record["userIdentity"]) == (REGION, "INSERT", None)
    assert (record["recordFormat"], record["tableName"], record["eventSource"]) == (
        "application/json",
        TABLE,
        "aws:dynamodb",
    )
    change = record["dynamodb"]
    assert set(change) == {
        "ApproximateCreationDateTime",
        "ApproximateCreationDateTimePrecision",
        "Keys",
        "NewImage",
        "SizeBytes",
    }
    # Epoch milliseconds, not the seconds of DynamoDB Streams.
    assert isinstance(change["ApproximateCreationDateTime"], int)
    assert before_ms - 1000 <= change["ApproximateCreationDateTime"] <= after_ms
    assert change["ApproximateCreationDateTimePrecision"] == "MILLISECOND"
    assert change["Keys"] == {"customerId": {"S": CUSTOMER}, "sk": {"S": "ORDER#o-1"}}
    assert change["NewImage"]["status"] == {"S": "PLACED"}
    assert change["SizeBytes"] > 0


def test_a_modify_carries_the_old_and_the_new_image(aws: Aws) -> None:
    aws.put_order("o-1", "PLACED")
    destination = aws.destination()
    aws.set_status("o-1", "PAID")

    destination.poll_once()

    [(_, _, record)] = aws.stream_records()
    assert record["eventName"] == "MODIFY"
    assert record["dynamodb"]["OldImage"]["status"] == {"S": "PLACED"}
    assert record["dynamodb"]["NewImage"]["status"] == {"S": "PAID"}


def test_a_remove_carries_only_the_old_image(aws: Aws) -> None:
    aws.put_order("o-1", "CANCELLED")
    destination = aws.destination()
    aws.delete_order("o-1")

    destination.poll_once()

    [(_, _, record)] = aws.stream_records()
    assert record["eventName"] == "REMOVE"
    assert "NewImage" not in record["dynamodb"]
    assert record["dynamodb"]["OldImage"]["status"] == {"S": "CANCELLED"}
    assert record["dynamodb"]["Keys"] == {"customerId": {"S": CUSTOMER}, "sk": {"S": "ORDER#o-1"}}


def test_changes_made_before_the_destination_existed_are_not_forwarded(aws: Aws) -> None:
    aws.put_order("before", "PLACED")
    destination = aws.destination()
    aws.put_order("after", "PLACED")

    moved = destination.poll_once()

    assert moved == 1
    assert [record["dynamodb"]["Keys"]["sk"]["S"] for _, _, record in aws.stream_records()] == ["ORDER#after"]


def test_each_items_changes_stay_in_order_on_one_shard(aws: Aws) -> None:
    destination = aws.destination()
    route = ["PLACED", "PAID", "SHIPPED", "DELIVERED"]
    orders = [f"o-{n}" for n in range(8)]
    for order_id in orders:
        aws.put_order(order_id, route[0])
    for status in route[1:]:  # interleaved: every order moves one step before any moves the next
        for order_id in orders:
            aws.set_status(order_id, status)

    destination.poll_once()

    by_order: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for shard, partition_key, record in aws.stream_records():
        by_order[record["dynamodb"]["Keys"]["sk"]["S"]].append(
            (shard, partition_key, record["dynamodb"]["NewImage"]["status"]["S"])
        )
    assert sorted(by_order) == sorted(f"ORDER#{order_id}" for order_id in orders)
    for changes in by_order.values():
        assert len({(shard, key) for shard, key, _ in changes}) == 1, "one item, one partition key, one shard"
        assert [status for _, _, status in changes] == route
    assert len({changes[0][0] for changes in by_order.values()}) > 1, "the items are spread over the shards"


def test_forwarded_counts_each_change_once_across_polls(aws: Aws) -> None:
    destination = aws.destination()
    aws.put_order("o-1", "PLACED")
    aws.set_status("o-1", "PAID")
    first = destination.poll_once()
    aws.delete_order("o-1")

    second, third = destination.poll_once(), destination.poll_once()

    assert (first, second, third) == (2, 1, 0)
    assert destination.forwarded == 3 == len(aws.stream_records())


def test_a_poll_waits_while_a_dynamodb_request_holds_the_lock(aws: Aws) -> None:
    destination = aws.destination()
    aws.put_order("o-1", "PLACED")
    done = threading.Event()

    def poll() -> None:
        destination.poll_once()
        done.set()

    poller = threading.Thread(target=poll)

    with aws.lock:
        poller.start()
        waited = not done.wait(0.2)
    poller.join(5)

    assert waited, "the poll read moto's table while the lock was held"
    assert done.is_set()
    assert destination.forwarded == 1


def test_a_table_without_a_stream_of_both_images_is_refused(aws: Aws) -> None:
    aws.dynamodb.create_table(
        TableName="keys-only",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )

    with pytest.raises(ValueError, match="NEW_AND_OLD_IMAGES"):
        KinesisStreamingDestination(
            account_id=ACCOUNT_ID, region=REGION, table_name="keys-only", stream_name=STREAM, dynamodb_lock=aws.lock
        )

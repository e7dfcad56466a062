"""The local AWS endpoint's fast ways: DynamoDB's item calls answered straight from moto's handler, connections kept
alive between calls, and the doorbell that wakes a queue's or a stream's poller when the endpoint sees news."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from localcloud.aws_endpoint import FaultyMotoServer
from localcloud.doorbell import Doorbell
from localcloud.faults import FaultPlan
from localcloud.pollers import IDLE_POLL_SECONDS, InvokeOutcome, Pollers, SqsPoller

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
NO_RETRIES = Config(retries={"max_attempts": 0, "mode": "standard"})
CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name=REGION, config=NO_RETRIES, **CREDENTIALS)


@pytest.fixture(scope="module")
def endpoints() -> Iterator[tuple[str, str, Doorbell]]:
    """The local cloud's endpoint and moto's own server (werkzeug, the full path), in one process: one backend."""
    doorbell = Doorbell()
    ours = FaultyMotoServer(
        faults=FaultPlan(), names=lambda name: (name,), account_id=ACCOUNT_ID, region=REGION, doorbell=doorbell
    )
    ours.start()
    motos = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    motos.start()
    urls = [f"http://{host}:{port}" for host, port in (ours.get_host_and_port(), motos.get_host_and_port())]
    requests.post(f"{urls[0]}/moto-api/reset", timeout=5).raise_for_status()
    try:
        yield urls[0], urls[1], doorbell
    finally:
        ours.stop()
        motos.stop()


def create_orders_table(dynamodb: Any, name: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def story(dynamodb: Any, table: str) -> list[Any]:
    """A run of item calls a shop makes, answers and errors alike, as comparable values."""
    key = {"pk": {"S": "customer-1"}, "sk": {"S": "ORDER#1"}}
    item = {**key, "status": {"S": "PLACED"}, "total": {"N": "1250"}, "lines": {"L": [{"M": {"q": {"N": "2"}}}]}}

    def call(operation: str, **parameters: Any) -> Any:
        try:
            answer = getattr(dynamodb, operation)(**parameters)
        except ClientError as error:
            return (
                "error",
                error.response["Error"],
                error.response.get("Item"),
                error.response.get("CancellationReasons"),
            )
        answer.pop("ResponseMetadata", None)
        return json.loads(json.dumps(answer).replace(table, "<table>"))

    return [
        call("put_item", TableName=table, Item=item),
        call("put_item", TableName=table, Item={**item, "sk": {"S": "ORDER#2"}, "total": {"N": "99"}}),
        call("get_item", TableName=table, Key=key),
        call("get_item", TableName=table, Key={**key, "sk": {"S": "ORDER#404"}}),
        call(
            "get_item", TableName=table, Key=key, ProjectionExpression="#s", ExpressionAttributeNames={"#s": "status"}
        ),
        call("get_item", TableName=table, Key={"pk": {"S": "customer-1"}}),  # the key is incomplete
        call("get_item", TableName="no-such-table", Key=key),
        call(
            "update_item",
            TableName=table,
            Key=key,
            UpdateExpression="SET #s = :paid",
            ConditionExpression="#s = :placed",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":paid": {"S": "PAID"}, ":placed": {"S": "PLACED"}},
            ReturnValues="ALL_NEW",
        ),
        call(
            "put_item",
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        ),
        call(
            "query",
            TableName=table,
            KeyConditionExpression="pk = :c AND begins_with(sk, :o)",
            ExpressionAttributeValues={":c": {"S": "customer-1"}, ":o": {"S": "ORDER#"}},
            Limit=1,
            ReturnConsumedCapacity="TOTAL",
        ),
        call(
            "scan",
            TableName=table,
            FilterExpression="#t > :n",
            ExpressionAttributeNames={"#t": "total"},
            ExpressionAttributeValues={":n": {"N": "100"}},
        ),
        call("batch_get_item", RequestItems={table: {"Keys": [key, {**key, "sk": {"S": "ORDER#2"}}]}}),
        call(
            "transact_write_items",
            TransactItems=[
                {"ConditionCheck": {"TableName": table, "Key": key, "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Delete": {"TableName": table, "Key": {**key, "sk": {"S": "ORDER#2"}}}},
            ],
        ),
        call("transact_get_items", TransactItems=[{"Get": {"TableName": table, "Key": key}}]),
        call(
            "batch_write_item",
            RequestItems={table: [{"PutRequest": {"Item": {**item, "sk": {"S": "ORDER#3"}}}}]},
        ),
        call("delete_item", TableName=table, Key=key, ReturnValues="ALL_OLD"),
        call("scan", TableName=table, Select="COUNT"),
    ]


def test_item_calls_answer_as_moto_answers_them_errors_included(endpoints: tuple[str, str, Doorbell]) -> None:
    ours, motos, _ = endpoints
    direct, full = client("dynamodb", ours), client("dynamodb", motos)
    create_orders_table(direct, "direct-orders")
    create_orders_table(full, "moto-orders")

    told, expected = story(direct, "direct-orders"), story(full, "moto-orders")

    assert told == expected
    errors = [answer for answer in told if isinstance(answer, tuple)]
    assert [error[1]["Code"] for error in errors] == [
        "ValidationException",
        "ResourceNotFoundException",
        "ConditionalCheckFailedException",
        "TransactionCanceledException",
    ]
    assert errors[2][2] is not None  # the item as it was (ALL_OLD)


def test_connections_are_kept_alive_between_calls(endpoints: tuple[str, str, Doorbell]) -> None:
    # As many connections as a busy cloud's workers keep open (cheroot's default keeps 10 and closes the rest).
    ours, _, _ = endpoints
    host, port = ours.removeprefix("http://").split(":")
    connections = [http.client.HTTPConnection(host, int(port), timeout=5) for _ in range(40)]
    answers: list[tuple[int, str]] = []
    sockets: list[list[Any]] = [[] for _ in connections]
    for _ in range(3):
        for connection, used in zip(connections, sockets, strict=True):
            connection.request("GET", "/_localcloud/faults")
            response = connection.getresponse()
            response.read()
            answers.append((response.status, response.getheader("Connection", "").lower()))
            used.append(connection.sock)
    for connection in connections:
        connection.close()

    assert {status for status, _ in answers} == {200}
    assert [header for _, header in answers if header == "close"] == []
    assert all(used[0] is not None and used.count(used[0]) == len(used) for used in sockets)  # one socket each


def test_the_endpoint_rings_the_queue_and_the_table_that_have_news(endpoints: tuple[str, str, Doorbell]) -> None:
    ours, _, doorbell = endpoints
    sqs, dynamodb = client("sqs", ours), client("dynamodb", ours)
    queue = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    sqs.create_queue(QueueName="quiet")
    create_orders_table(dynamodb, "rung-orders")
    jobs, quiet, table = doorbell.listen(["jobs"]), doorbell.listen(["quiet"]), doorbell.listen(["rung-orders"])

    sqs.send_message(QueueUrl=queue, MessageBody="ship")
    dynamodb.get_item(TableName="rung-orders", Key={"pk": {"S": "a"}, "sk": {"S": "b"}})  # a read: no news

    assert (jobs.is_set(), quiet.is_set(), table.is_set()) == (True, False, False)
    dynamodb.put_item(TableName="rung-orders", Item={"pk": {"S": "a"}, "sk": {"S": "b"}})
    assert (table.is_set(), quiet.is_set()) == (True, False)


def test_a_rung_queue_is_polled_at_once_not_at_the_next_interval(endpoints: tuple[str, str, Doorbell]) -> None:
    ours, _, doorbell = endpoints
    sqs = client("sqs", ours)
    queue = sqs.create_queue(QueueName="rung-jobs")["QueueUrl"]
    delivered: list[float] = []
    done = threading.Event()

    def invoke(_: str, event: dict[str, Any]) -> InvokeOutcome:
        delivered.extend(time.monotonic() for _ in event["Records"])
        done.set()
        return InvokeOutcome(payload=None, errored=False)

    poller = SqsPoller(
        function="warehouse",
        queue_url=queue,
        queue_arn=f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:rung-jobs",
        batch_size=10,
        batching_window_seconds=0,
        report_batch_item_failures=False,
        invoke=invoke,
        sqs=sqs,
    )
    pollers = Pollers([poller], interval_seconds=60, doorbell=doorbell)  # without the bell: a minute between polls
    pollers.start()
    try:
        time.sleep(0.3)  # its first poll has found nothing: it waits
        sent = time.monotonic()
        sqs.send_message(QueueUrl=queue, MessageBody="ship")
        assert done.wait(IDLE_POLL_SECONDS * 5)
    finally:
        pollers.stop()

    assert delivered
    assert delivered[0] - sent < IDLE_POLL_SECONDS / 2


def test_a_streams_reads_are_answered_as_moto_answers_them(endpoints: tuple[str, str, Doorbell]) -> None:
    ours, motos, _ = endpoints
    dynamodb = client("dynamodb", ours)
    create_orders_table(dynamodb, "streamed-orders")
    arn = dynamodb.update_table(
        TableName="streamed-orders", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    )["TableDescription"]["LatestStreamArn"]
    dynamodb.put_item(TableName="streamed-orders", Item={"pk": {"S": "c"}, "sk": {"S": "o"}, "n": {"N": "1"}})
    dynamodb.update_item(
        TableName="streamed-orders",
        Key={"pk": {"S": "c"}, "sk": {"S": "o"}},
        UpdateExpression="SET n = :two",
        ExpressionAttributeValues={":two": {"N": "2"}},
    )

    answers = []
    for url in (ours, motos):
        streams = client("dynamodbstreams", url)
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        page = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=10)
        assert page["NextShardIterator"].startswith(arn)
        answers.append(page["Records"])

    assert [record["eventName"] for record in answers[0]] == ["INSERT", "MODIFY"]
    assert answers[0] == answers[1]
    with pytest.raises(ClientError):  # an iterator moto never made: moto's own error, by its full path
        client("dynamodbstreams", ours).get_records(ShardIterator=f"{arn}|1|nothing")

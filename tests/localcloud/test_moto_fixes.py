"""What the local cloud changes in moto (localcloud.moto_fixes): transactions copy no tables and are still all or
nothing; moto keeps no record of the objects it made, but for the S3 keys its reset must dispose of; a task callback
is not failed by another execution that is still starting.

Each scenario runs twice, on moto's own TransactWriteItems and on ours, and the two must agree on everything a
client or a stream consumer can see."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table
from moto.s3.models import FakeKey
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeSuccess, CallbackPoolManager
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from localcloud.moto_fixes import fixed_moto

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/workflow"
IMPLEMENTATIONS: dict[str, Callable[[], AbstractContextManager[Any]]] = {"moto's": nullcontext, "ours": fixed_moto}


@pytest.fixture(params=IMPLEMENTATIONS)
def dynamodb(request: pytest.FixtureRequest) -> Iterator[Any]:
    with mock_aws(), IMPLEMENTATIONS[request.param]():
        client = boto3.client("dynamodb", region_name=REGION)
        for name in ("orders", "stock"):
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )
        client.put_item(TableName="stock", Item={"pk": {"S": "lamp"}, "sk": {"S": "stock"}, "units": {"N": "1"}})
        yield client


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def reserve(units: int, order: str) -> list[dict[str, Any]]:
    """An order put and a stock decrement guarded by the units left, in one transaction."""
    return [
        {"Put": {"TableName": "orders", "Item": {**key(order, "order"), "status": {"S": "PLACED"}}}},
        {
            "Update": {
                "TableName": "stock",
                "Key": key("lamp", "stock"),
                "UpdateExpression": "SET units = units - :n",
                "ConditionExpression": "units >= :n",
                "ExpressionAttributeValues": {":n": {"N": str(units)}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
    ]


def everything(client: Any) -> dict[str, Any]:
    """What a client and a stream consumer can see: every item, and every stream record's event and keys."""
    seen: dict[str, Any] = {}
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    for table in ("orders", "stock"):
        seen[table] = sorted(str(item) for item in client.scan(TableName=table)["Items"])
        arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
        seen[f"{table} stream"] = [(r["eventName"], str(r["dynamodb"]["Keys"])) for r in records]
    return seen


def test_a_transaction_that_holds_applies_every_item(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=reserve(1, "o-1"))

    assert everything(dynamodb) == {
        "orders": [str({**key("o-1", "order"), "status": {"S": "PLACED"}})],
        "orders stream": [("INSERT", str(key("o-1", "order")))],
        "stock": [str({**key("lamp", "stock"), "units": {"N": "0"}})],
        "stock stream": [("INSERT", str(key("lamp", "stock"))), ("MODIFY", str(key("lamp", "stock")))],
    }


def test_a_transaction_with_a_failed_condition_leaves_no_trace(dynamodb: Any) -> None:
    before = everything(dynamodb)

    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=reserve(2, "o-2"))

    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert refused.value.response["CancellationReasons"] == [
        {"Code": "None"},
        {
            "Code": "ConditionalCheckFailed",
            "Message": "The conditional request failed",
            "Item": {**key("lamp", "stock"), "units": {"N": "1"}},
        },
    ]
    assert everything(dynamodb) == before  # the order put first is gone, from the table and from its stream


def test_two_operations_on_one_item_are_refused_before_anything_is_written(dynamodb: Any) -> None:
    before = everything(dynamodb)
    twice = [*reserve(1, "o-3"), {"Delete": {"TableName": "orders", "Key": key("o-3", "order")}}]

    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=twice)

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert everything(dynamodb) == before


def test_moto_would_keep_a_copy_of_each_table_per_transaction_and_ours_keeps_none() -> None:
    kept: dict[str, int] = {}
    for name, implementation in IMPLEMENTATIONS.items():
        with mock_aws(), implementation():
            client = boto3.client("dynamodb", region_name=REGION)
            client.create_table(
                TableName="t",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            for index in range(20):
                item = {"pk": {"S": f"k{index}"}}
                client.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": item}}])
            kept[name] = len(Table.instances_tracked) + len(Item.instances_tracked)  # type: ignore[attr-defined]

    # Each transaction copied the table with the items it held so far, and kept the copy: 20 tables, 190 items.
    assert kept["moto's"] >= 20 + 190
    assert kept["ours"] == 0


def test_s3_keys_are_still_recorded_for_moto_to_dispose_of() -> None:
    with mock_aws(), fixed_moto():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="reports")
        s3.put_object(Bucket="reports", Key="daily.json", Body=b"{}")

        assert [key.name for key in FakeKey.instances_tracked] == ["daily.json"]  # type: ignore[attr-defined]


class _Starting:
    """An execution as moto holds it between StartExecution and its interpreter's first step."""

    status = ExecutionStatus.RUNNING

    class exec_worker:  # moto's attribute name
        env = None


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_callback_while_another_execution_is_starting_answers_for_its_own_token(implementation: str) -> None:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), IMPLEMENTATIONS[implementation]():
        sfn = boto3.client("stepfunctions", region_name=REGION)
        definition = '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}'
        arn = sfn.create_state_machine(name="orders", definition=definition, roleArn=ROLE)["stateMachineArn"]
        backend = stepfunctions_parser_backends[ACCOUNT_ID][REGION]
        (machine,) = [m for m in backend.state_machines if m.arn == arn]
        machine.executions.append(_Starting())

        if implementation == "ours":
            with pytest.raises(ClientError) as refused:
                sfn.send_task_heartbeat(taskToken="a-token-no-task-holds")
            assert refused.value.response["Error"]["Code"] == "InvalidToken"  # about the token alone, as in AWS
        else:
            # moto's own: the starting execution breaks the call (a 500 from its server) whatever the token.
            with pytest.raises(AttributeError, match="callback_pool_manager"):
                sfn.send_task_heartbeat(taskToken="a-token-no-task-holds")


def test_an_update_expression_repeated_gives_each_item_its_own_values(dynamodb: Any) -> None:
    # Ours parses an expression's text once: the kept tree must not carry one call's values into the next.
    for order, units in (("o-1", 3), ("o-2", 5), ("o-1", 4)):
        dynamodb.update_item(
            TableName="orders",
            Key=key(order, "order"),
            UpdateExpression=(
                "SET units = if_not_exists(units, :zero) + :n, history = list_append(if_not_exists(history, :none), :h)"
            ),
            ExpressionAttributeValues={
                ":zero": {"N": "0"},
                ":n": {"N": str(units)},
                ":none": {"L": []},
                ":h": {"L": [{"N": str(units)}]},
            },
        )

    first = dynamodb.get_item(TableName="orders", Key=key("o-1", "order"))["Item"]
    second = dynamodb.get_item(TableName="orders", Key=key("o-2", "order"))["Item"]
    assert (first["units"], first["history"]) == ({"N": "7"}, {"L": [{"N": "3"}, {"N": "4"}]})
    assert (second["units"], second["history"]) == ({"N": "5"}, {"L": [{"N": "5"}]})


def test_a_malformed_update_expression_is_refused_every_time(dynamodb: Any) -> None:
    for _ in range(2):  # nothing kept from the first refusal
        with pytest.raises(ClientError) as refused:
            dynamodb.update_item(TableName="orders", Key=key("o-3", "order"), UpdateExpression="SET = nothing")
        assert refused.value.response["Error"]["Code"] == "ValidationException"


def early_heartbeat_then_wait() -> tuple[bool, bool]:
    """A worker's SendTaskHeartbeat right after the message arrived, before the interpreter begins to wait for the
    token (with HeartbeatSeconds): was it taken, and does the wait count it as its first heartbeat?"""
    pool = CallbackPoolManager(activity_store={})
    endpoint = pool.add("token")
    taken = pool.heartbeat("token")
    heartbeat = endpoint.setup_heartbeat_endpoint(heartbeat_seconds=1)
    return taken, heartbeat.clear_and_wait()


def test_a_heartbeat_before_the_interpreter_waits_is_taken_and_counted() -> None:
    with fixed_moto():
        assert early_heartbeat_then_wait() == (True, True)
    # moto's own: InvalidToken for a token it issued, then a wait that hears nothing for HeartbeatSeconds.
    assert early_heartbeat_then_wait() == (False, False)


def test_a_result_before_the_interpreter_waits_ends_the_wait_with_it() -> None:
    with fixed_moto():
        pool = CallbackPoolManager(activity_store={})
        endpoint = pool.add("token")
        assert pool.notify("token", CallbackOutcomeSuccess(callback_id="token", output='{"shipped": true}'))
        heartbeat = endpoint.setup_heartbeat_endpoint(heartbeat_seconds=1)

        assert heartbeat.clear_and_wait()
        outcome = endpoint.get_outcome()
    assert isinstance(outcome, CallbackOutcomeSuccess)
    assert outcome.output == '{"shipped": true}'

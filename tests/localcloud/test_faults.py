"""Fault rules (localcloud.faults) and the AWS endpoint that answers with them (localcloud.aws_endpoint):
DynamoDB's cancelled transactions and throttles exactly as the SDK sees them in AWS, and the control endpoint."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.aws_endpoint import CONTROL_PATH, FaultyMotoServer, observer
from localcloud.faults import Call, Fault, FaultPlan, FaultRuleError, Rule, parse_rule_text, rules_from_config

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
NO_RETRIES = Config(retries={"max_attempts": 0, "mode": "standard"})


# ---------------------------------------------------------------------------------------------------------------
# Rules and decisions
# ---------------------------------------------------------------------------------------------------------------


def test_a_rule_is_read_from_its_toml_form_with_every_setting() -> None:
    rule = Rule.parse(
        {"fault": "lambda.slow", "function": "ChargePaymentFunction", "seconds": "12", "probability": 0.5, "for": 30}
    )

    assert rule.fault is Fault.LAMBDA_SLOW
    assert (rule.function, rule.seconds, rule.probability, rule.for_seconds) == (
        "ChargePaymentFunction",
        12.0,
        0.5,
        30.0,
    )
    assert rule.label == "lambda.slow(function=ChargePaymentFunction)"


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ({"function": "X"}, "needs `fault`"),
        ({"fault": "lambda.explode"}, "unknown fault"),
        ({"fault": "lambda.throttle", "table": "Orders"}, "unknown setting table"),
        ({"fault": "lambda.slow"}, "needs seconds"),
        ({"fault": "lambda.error"}, "needs error"),
        ({"fault": "lambda.throttle", "probability": 1.5}, "between 0 and 1"),
        ({"fault": "lambda.throttle", "nth": 0}, "counts from 1"),
        ({"fault": "lambda.throttle", "probability": "often"}, "lambda.throttle"),
        ({"fault": "lambda.throttle", "seconds": 3}, "unknown setting seconds"),  # only the slow and time-out faults
        ({"fault": "lambda.timeout-after-effects", "seconds": 0}, "seconds must be positive"),
    ],
)
def test_a_rule_that_cannot_be_used_is_refused_with_its_reason(raw: dict[str, Any], complaint: str) -> None:
    with pytest.raises(FaultRuleError, match=complaint):
        Rule.parse(raw)


def test_a_rule_from_the_command_line_reads_key_value_pairs() -> None:
    rule = parse_rule_text("fault=dynamodb.transaction-conflict,table=CatalogTable,item=scale,nth=2")

    assert (rule.fault, rule.table, rule.item, rule.nth) == (Fault.TRANSACTION_CONFLICT, "CatalogTable", "scale", 2)
    with pytest.raises(FaultRuleError, match="key=value"):
        parse_rule_text("lambda.throttle")


def test_the_config_table_gives_the_seed_and_the_rules() -> None:
    seed, rules = rules_from_config({"seed": 7, "rules": [{"fault": "lambda.throttle", "function": "F"}]})

    assert seed == 7
    assert [rule.function for rule in rules] == ["F"]
    with pytest.raises(FaultRuleError, match="unknown key"):
        rules_from_config({"rule": []})


def test_nth_fires_on_exactly_that_matching_call() -> None:
    plan = FaultPlan()
    plan.add([Rule.parse({"fault": "lambda.throttle", "function": "F", "nth": 3})])

    decisions = [plan.decide({Fault.LAMBDA_THROTTLE}, Call(function=("F",))) is not None for _ in range(5)]
    other = plan.decide({Fault.LAMBDA_THROTTLE}, Call(function=("G",)))

    assert decisions == [False, False, True, False, False]
    assert other is None
    assert plan.counts() == {"lambda.throttle(function=F)": 1}


def test_the_same_seed_replays_the_same_decisions_and_another_seed_does_not() -> None:
    def decisions(seed: int) -> list[bool]:
        plan = FaultPlan(seed=seed)
        plan.add([Rule.parse({"fault": "lambda.throttle", "probability": 0.3})])
        return [plan.decide({Fault.LAMBDA_THROTTLE}, Call(function=("F",))) is not None for _ in range(200)]

    first, again, other = decisions(11), decisions(11), decisions(12)

    assert first == again
    assert first != other
    assert 30 < sum(first) < 90  # about 30 % of 200


def test_a_limited_rule_stops_after_its_limit_and_a_window_opens_and_closes() -> None:
    now = [100.0]
    plan = FaultPlan(clock=lambda: now[0])
    plan.add(
        [
            Rule.parse({"fault": "lambda.throttle", "function": "F", "limit": 2}),
            Rule.parse({"fault": "lambda.service-error", "function": "G", "after": 10, "for": 5}),
        ]
    )

    limited = [plan.decide({Fault.LAMBDA_THROTTLE}, Call(function=("F",))) is not None for _ in range(4)]
    windowed = []
    for moment in (105.0, 111.0, 114.9, 115.0):
        now[0] = moment
        windowed.append(plan.decide({Fault.LAMBDA_SERVICE_ERROR}, Call(function=("G",))) is not None)

    assert limited == [True, True, False, False]
    assert windowed == [False, True, True, False]


def test_clearing_switches_rules_off_but_keeps_what_they_injected() -> None:
    plan = FaultPlan()
    plan.add([Rule.parse({"fault": "lambda.throttle"})])
    plan.decide({Fault.LAMBDA_THROTTLE}, Call(function=("F",)))

    plan.clear()

    assert plan.decide({Fault.LAMBDA_THROTTLE}, Call(function=("F",))) is None
    assert plan.injected == 1
    assert "lambda.throttle" in plan.report()


# ---------------------------------------------------------------------------------------------------------------
# DynamoDB's answers at the AWS endpoint
# ---------------------------------------------------------------------------------------------------------------


class Endpoint:
    def __init__(self, url: str, plan: FaultPlan, server: FaultyMotoServer) -> None:
        self.url = url
        self.plan = plan
        self.server = server

    def dynamodb(self, config: Config | None = None) -> Any:
        return boto3.client(
            "dynamodb",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106  (moto accepts any credentials)
            config=config,
        )

    def rules(self, *raw: dict[str, Any]) -> None:
        self.plan.add([Rule.parse(rule) for rule in raw])


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    plan = FaultPlan(seed=1)
    server = FaultyMotoServer(
        faults=plan,
        names=lambda physical: (physical, f"{physical.title()}Table"),
        account_id=ACCOUNT_ID,
        region=REGION,
    )
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    requests.post(f"{url}/moto-api/reset", timeout=5)
    running = Endpoint(url, plan, server)
    client = running.dynamodb()
    for table, key in (("catalog", "productId"), ("orders", "orderId")):
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    for product in ("scale", "mug"):
        client.put_item(TableName="catalog", Item={"productId": {"S": product}, "available": {"N": "5"}})
    try:
        yield running
    finally:
        server.stop()


def reserve(product: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": "catalog",
            "Key": {"productId": {"S": product}},
            "UpdateExpression": "SET available = available - :one",
            "ConditionExpression": "available >= :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def mark_order(order_id: str) -> dict[str, Any]:
    return {"Put": {"TableName": "orders", "Item": {"orderId": {"S": order_id}, "stock": {"S": "RESERVED"}}}}


def available(endpoint: Endpoint, product: str) -> int:
    item = endpoint.dynamodb().get_item(TableName="catalog", Key={"productId": {"S": product}})["Item"]
    return int(item["available"]["N"])


def test_a_transaction_conflict_names_exactly_the_contended_item_and_changes_nothing(endpoint: Endpoint) -> None:
    endpoint.rules({"fault": "dynamodb.transaction-conflict", "table": "CatalogTable", "item": "mug"})

    with pytest.raises(ClientError) as raised:
        endpoint.dynamodb().transact_write_items(TransactItems=[mark_order("o-1"), reserve("scale"), reserve("mug")])

    error = raised.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [reason["Code"] for reason in error["CancellationReasons"]] == ["None", "None", "TransactionConflict"]
    assert "[None, None, TransactionConflict]" in error["Error"]["Message"]
    assert (available(endpoint, "scale"), available(endpoint, "mug")) == (5, 5)
    assert "Item" not in endpoint.dynamodb().get_item(TableName="orders", Key={"orderId": {"S": "o-1"}})


def test_a_transaction_touching_no_contended_item_goes_through(endpoint: Endpoint) -> None:
    endpoint.rules({"fault": "dynamodb.transaction-conflict", "item": "mug"})

    endpoint.dynamodb().transact_write_items(TransactItems=[mark_order("o-2"), reserve("scale")])

    assert available(endpoint, "scale") == 4
    assert endpoint.plan.injected == 0


def test_a_throttled_transaction_says_throttling_error_on_its_items(endpoint: Endpoint) -> None:
    endpoint.rules({"fault": "dynamodb.transaction-throttled", "table": "catalog", "nth": 2})
    client = endpoint.dynamodb()

    client.transact_write_items(TransactItems=[reserve("scale")])
    with pytest.raises(ClientError) as raised:
        client.transact_write_items(TransactItems=[mark_order("o-3"), reserve("scale")])

    assert [reason["Code"] for reason in raised.value.response["CancellationReasons"]] == ["None", "ThrottlingError"]
    assert available(endpoint, "scale") == 4


def test_a_throttled_single_item_call_is_refused_and_the_sdk_retries_it_as_in_aws(endpoint: Endpoint) -> None:
    endpoint.rules({"fault": "dynamodb.throughput-exceeded", "table": "catalog", "item": "scale", "nth": 1})
    endpoint.rules({"fault": "dynamodb.throttling", "operation": "GetItem", "table": "orders", "nth": 1})

    # The SDK's own retries (on by default) absorb one throttle, as they do against DynamoDB.
    endpoint.dynamodb().update_item(
        TableName="catalog",
        Key={"productId": {"S": "scale"}},
        UpdateExpression="SET available = available - :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    with pytest.raises(ClientError) as raised:
        endpoint.dynamodb(NO_RETRIES).get_item(TableName="orders", Key={"orderId": {"S": "o-4"}})

    assert available(endpoint, "scale") == 4
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sum(endpoint.plan.counts().values()) == 2


def test_the_control_endpoint_adds_lists_and_clears_rules_while_the_cloud_runs(endpoint: Endpoint) -> None:
    control = f"{endpoint.url}{CONTROL_PATH}"

    added = requests.post(
        control, json={"rules": [{"fault": "dynamodb.throttling", "operation": "GetItem"}]}, timeout=5
    )
    with pytest.raises(ClientError):
        endpoint.dynamodb(NO_RETRIES).get_item(TableName="orders", Key={"orderId": {"S": "o-5"}})
    listed = requests.get(control, timeout=5).json()
    cleared = requests.delete(control, timeout=5).json()
    endpoint.dynamodb(NO_RETRIES).get_item(TableName="orders", Key={"orderId": {"S": "o-5"}})

    assert added.status_code == 201
    assert listed["rules"] == [{"fault": "dynamodb.throttling", "operation": "GetItem", "matched": 1, "injected": 1}]
    assert cleared["rules"] == []
    assert cleared["injected"] == {"dynamodb.throttling(operation=GetItem)": 1}


def test_the_control_endpoint_refuses_a_bad_rule_with_its_reason(endpoint: Endpoint) -> None:
    answer = requests.post(f"{endpoint.url}{CONTROL_PATH}", json={"rules": [{"fault": "dynamodb.nap"}]}, timeout=5)

    assert answer.status_code == 400
    assert "unknown fault" in answer.json()["message"]
    assert endpoint.plan.rules == []


def test_the_commented_example_in_localcloud_toml_is_a_valid_fault_table() -> None:
    text = (Path(__file__).resolve().parents[2] / "localcloud.toml").read_text()
    example = "\n".join(line.removeprefix("# ") for line in text.splitlines()[text.splitlines().index("# [faults]") :])

    seed, rules = rules_from_config(tomllib.loads(example)["faults"])

    assert seed == 7
    assert [rule.fault for rule in rules] == [Fault.TRANSACTION_CONFLICT, Fault.LAMBDA_ERROR]


def test_an_observers_requests_are_never_faulted(endpoint: Endpoint) -> None:
    endpoint.rules({"fault": "dynamodb.throttling", "operation": "GetItem"})

    observer(endpoint.dynamodb(NO_RETRIES)).get_item(TableName="orders", Key={"orderId": {"S": "o-6"}})
    with pytest.raises(ClientError):
        endpoint.dynamodb(NO_RETRIES).get_item(TableName="orders", Key={"orderId": {"S": "o-6"}})

    assert endpoint.plan.injected == 1


def test_the_endpoint_counts_each_sqs_message_sent_and_deleted_by_its_id(endpoint: Endpoint) -> None:
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoint.url,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106  (moto accepts any credentials)
    )
    queue_url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    sent = [sqs.send_message(QueueUrl=queue_url, MessageBody=str(i))["MessageId"] for i in range(3)]
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    kept = received.pop()
    sqs.delete_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]} for i, message in enumerate(received)],
    )

    ledger_sent, ledger_deleted = endpoint.server.application.messages.snapshot()

    assert ledger_sent == {queue_url: set(sent)}
    assert ledger_deleted[queue_url] == set(sent) - {kept["MessageId"]}

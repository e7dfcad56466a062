"""`make redrive` (tools/redrive.py) in moto: where it finds the stack's resources, which orders it calls open, what it
does for each way an execution can end, and how it gives a stream batch back to the function that gave up on it."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.pollers import InvokeOutcome, StreamPoller
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable
from shop.domain.models import Order, OrderStatus
from shop.domain.settlement import Outcome, outcome_of
from tests.support.cloud import TABLE_NAMES
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.given import an_order
from tools import redrive
from tools.redrive import (
    OPERATOR_REDRIVE,
    Action,
    Answer,
    Aws,
    CannotRedrive,
    Execution,
    GivenUpBatch,
    Resources,
    choose,
    lambda_event,
    main,
    open_orders,
    plan,
    read_records,
    redrive_stream_failures,
)

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:test-order"
ORDER_EVENTS_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:test-order-events"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:live"


def definition() -> dict[str, Any]:
    """statemachine/order.asl.json as deployed: each ${...}FunctionArn an alias ARN named after the substitution."""
    text = (ROOT / "statemachine" / "order.asl.json").read_text()
    text = re.sub(r"\$\{(\w+)FunctionArn\}", lambda match: function_arn(match.group(1)), text)
    text = text.replace("${ApprovalTimeoutSeconds}", "3600")
    return dict(json.loads(text.replace("${FulfillmentQueueUrl}", "https://sqs.example/fulfillment")))


def entered(state: str, state_input: Mapping[str, Any], *, truncated: bool = False) -> dict[str, Any]:
    kind = "FailStateEntered" if state in ("CompensationFailed", "ShippedButNotRecorded") else "TaskStateEntered"
    return {
        "type": kind,
        "stateEnteredEventDetails": {
            "name": state,
            "input": json.dumps(state_input),
            "inputDetails": {"truncated": truncated},
        },
    }


def placed_order(status: OrderStatus = OrderStatus.PAID) -> Order:
    return Order.model_validate(
        {
            "orderId": "ord_1",
            "customerId": "customer-1",
            "status": status,
            "items": [{"productId": "p", "name": "P", "quantity": 1, "unitPriceCents": 100, "lineTotalCents": 100}],
            "totalCents": 100,
            "shippingAddress": {"name": "A", "line1": "1 St", "city": "C", "postalCode": "1", "country": "US"},
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": "2026-01-01T00:01:00.000Z",
            "history": [],
        }
    )


@pytest.fixture(autouse=True)
def no_long_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto answers a receive from every message at once: waiting for more would only slow the tests down."""
    monkeypatch.setattr(redrive, "RECEIVE_WAIT_SECONDS", 0)


REF = {"orderId": "ord_1", "customerId": "customer-1"}
VALIDATION = {"outcome": "VALID", "totalCents": 100, "needsApproval": False, "items": [], "shippingAddress": {}}


# -- Which action for which outcome ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "execution", "action"),
    [
        (OrderStatus.PLACED, None, Action.START),
        (OrderStatus.PAID, None, Action.PERSON),
        (OrderStatus.AWAITING_APPROVAL, None, Action.PERSON),
        (OrderStatus.AWAITING_APPROVAL, Execution("RUNNING"), Action.WAIT),
        (OrderStatus.PAID, Execution("FAILED", "ShippedButNotRecorded"), Action.MARK_SHIPPED),
        (OrderStatus.PAID, Execution("FAILED", "CompensationFailed"), Action.SETTLE),
        (OrderStatus.PLACED, Execution("FAILED", "States.Runtime"), Action.SETTLE),
        (OrderStatus.AWAITING_APPROVAL, Execution("ABORTED"), Action.SETTLE),
        (OrderStatus.PAID, Execution("TIMED_OUT", "States.Timeout"), Action.SETTLE),
        (OrderStatus.PAID, Execution("SUCCEEDED"), Action.PERSON),
    ],
)
def test_each_way_an_execution_stands_has_its_action(
    status: OrderStatus, execution: Execution | None, action: Action
) -> None:
    assert choose(status, execution) is action


def test_a_shipment_not_recorded_is_completed_with_the_tracking_number_the_warehouse_sent() -> None:
    shipped = {**REF, "validation": VALIDATION, "last": {"trackingNumber": "TRK-42"}}
    history = [entered("MarkShipped", shipped), entered("ShippedButNotRecorded", {**shipped, "last": {"Error": "X"}})]

    action, call = plan(placed_order(), Execution("FAILED", "ShippedButNotRecorded"), history, definition())

    assert action is Action.MARK_SHIPPED
    assert call is not None
    assert call.function == function_arn("CompleteShipment")
    assert call.payload == {**REF, "trackingNumber": "TRK-42"}
    # The payload is one the function takes
    load_function("complete_shipment").Shipment.model_validate(call.payload)


def test_a_failed_settlement_is_settled_again_with_the_state_it_entered_settle_with() -> None:
    settling = {**REF, "validation": VALIDATION, "last": {"outcome": "DECLINED"}}
    history = [
        entered("ChargePayment", {**REF, "validation": VALIDATION}),
        entered("Settle", settling),
        entered("CompensationFailed", {**settling, "last": {"Error": "Boom"}}),
    ]

    action, call = plan(placed_order(), Execution("FAILED", "CompensationFailed"), history, definition())

    assert action is Action.SETTLE
    assert call is not None
    assert call.function == function_arn("SettleOrder")
    assert call.payload == settling


def test_an_execution_that_ended_before_settle_is_settled_as_a_technical_failure() -> None:
    history = [entered("RequestApproval", {**REF, "validation": VALIDATION, "last": {"outcome": "RESERVED"}})]

    _, call = plan(placed_order(OrderStatus.AWAITING_APPROVAL), Execution("ABORTED"), history, definition())

    assert call is not None
    assert call.payload == {**REF, "last": {"Error": OPERATOR_REDRIVE, "Cause": "ABORTED"}}
    state = load_function("settle_order").WorkflowState.model_validate(call.payload)
    assert outcome_of(state.last, OrderStatus.AWAITING_APPROVAL) is Outcome.TECHNICAL_FAILURE


def test_the_execution_error_is_the_cause_the_settlement_is_told() -> None:
    execution = Execution("TIMED_OUT", "States.Timeout", "execution timed out")

    _, call = plan(placed_order(), execution, [], definition())

    assert call is not None
    assert call.payload["last"] == {"Error": OPERATOR_REDRIVE, "Cause": "States.Timeout: execution timed out"}


def test_a_truncated_input_in_the_history_is_left_for_a_person() -> None:
    history = [entered("MarkShipped", {**REF, "last": {"trackingNumber": "T"}}, truncated=True)]

    with pytest.raises(CannotRedrive, match="truncated"):
        plan(placed_order(), Execution("FAILED", "ShippedButNotRecorded"), history, definition())


def test_a_running_workflow_or_a_lost_start_needs_no_step_of_the_history() -> None:
    assert plan(placed_order(OrderStatus.PLACED), None, [], {}) == (Action.START, None)
    assert plan(placed_order(OrderStatus.PAID), Execution("RUNNING"), [], {}) == (Action.WAIT, None)


# -- Which orders are open ---------------------------------------------------------------------------------------


def test_open_orders_are_those_not_final_whose_status_has_not_moved_for_longer_than_the_limit(
    orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(hours=3), now - timedelta(minutes=20)
    given = {
        "old-placed": (OrderStatus.PLACED, old),
        "old-awaiting": (OrderStatus.AWAITING_APPROVAL, old - timedelta(hours=1)),
        "old-paid": (OrderStatus.PAID, old + timedelta(minutes=10)),
        "old-shipped": (OrderStatus.SHIPPED, old),
        "old-failed": (OrderStatus.FAILED, old),
        "recent-paid": (OrderStatus.PAID, recent),
    }
    for order_id, (status, at) in given.items():
        an_order(orders_table, catalog_table, customer_id="c-1", order_id=order_id, status=status, at=at)

    found = open_orders(orders_table, timedelta(minutes=60), now)

    assert [order.order_id for order in found] == ["old-awaiting", "old-placed", "old-paid"]
    assert [order.order_id for order in open_orders(orders_table, timedelta(0), now)][-1] == "recent-paid"


# -- Finding the resources, end to end in moto -------------------------------------------------------------------


def a_stack(outputs: Mapping[str, str], name: str = "shop-dev") -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def test_a_stack_is_redriven_through_its_outputs_and_a_lost_start_is_started(
    orders_table: OrdersTable, catalog_table: CatalogTable, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a stack whose outputs name the Orders table, the state machine and the failure queue, and an order
    # placed two hours ago whose workflow never started
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="test-order", definition=json.dumps(definition()), roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn"
    )["stateMachineArn"]
    queue_url = boto3.client("sqs").create_queue(QueueName="stream-failures")["QueueUrl"]
    a_stack(
        {
            "OrdersTableName": TABLE_NAMES["OrdersTable"],
            "OrderStateMachineArn": machine,
            "StreamFailureQueueUrl": queue_url,
        }
    )
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    an_order(orders_table, catalog_table, customer_id="c-1", order_id="lost", at=two_hours_ago)

    # When the operator lists, then redrives
    listed = main(["--stack", "shop-dev"])
    listing = capsys.readouterr().out
    applied = main(["--stack", "shop-dev", "--apply"])
    report = capsys.readouterr().out

    # Then the listing names the order and what it would do, and the redrive started its workflow, named after it
    assert listed == 1
    assert re.search(r"order\s+lost\s+PLACED for 2 h, no execution\s+start the workflow\s+dry run", listing)
    assert applied == 0, report
    execution = sfn.describe_execution(executionArn=Resources("t", machine, queue_url).execution_arn("lost"))
    assert json.loads(execution["input"]) == {"orderId": "lost", "customerId": "c-1"}
    assert "started" in report
    # and a second look does not offer to start it again (what its execution does next is its own business)
    main(["--stack", "shop-dev"])
    assert "start the workflow" not in capsys.readouterr().out


def test_a_stack_without_the_outputs_is_a_clear_error(dynamodb: Any) -> None:
    a_stack({"OrdersTableName": "orders"}, name="old-stack")

    with pytest.raises(SystemExit, match="OrderStateMachineArn, StreamFailureQueueUrl"):
        main(["--stack", "old-stack"])


# -- Stream batches Lambda gave up on ----------------------------------------------------------------------------


class FunctionStandIn:
    """The function a batch is given back to: records every event, answers as told."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer = answer or Answer({"batchItemFailures": []})
        self.events: list[tuple[str, Mapping[str, Any]]] = []

    def __call__(self, function: str, event: Mapping[str, Any]) -> Answer:
        self.events.append((function, event))
        return self.answer


def stream_of(client: Any) -> tuple[str, list[dict[str, Any]]]:
    """The Orders table's stream and every record in it (GetRecords' shape)."""
    streams = boto3.client("dynamodbstreams")
    arn = client.describe_table(TableName=TABLE_NAMES["OrdersTable"])["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return arn, streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]


def given_up(
    stream_arn: str, records: list[dict[str, Any]], arrival: datetime | None = None, function: str = ORDER_EVENTS_ARN
) -> str:
    """Lambda's on-failure record for `records` (a message body of the StreamFailureQueue)."""
    first = arrival or records[0]["dynamodb"]["ApproximateCreationDateTime"]
    return json.dumps(
        {
            "requestContext": {"requestId": "r-1", "functionArn": function, "condition": "RetryAttemptsExhausted"},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "DDBStreamBatchInfo": {
                "shardId": "shardId-00000001541626099285-f35f62ef",
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": first.isoformat(),
                "approximateArrivalOfLastRecord": first.isoformat(),
                "batchSize": len(records),
                "streamArn": stream_arn,
            },
        }
    )


@pytest.fixture
def changes(orders_table: OrdersTable, catalog_table: CatalogTable, dynamodb: Any) -> tuple[str, list[dict[str, Any]]]:
    """Two orders placed, the first then paid: three records on the Orders stream."""
    paid = an_order(orders_table, catalog_table, customer_id="c-1", order_id="first", status=OrderStatus.PAID)
    an_order(orders_table, catalog_table, customer_id="c-2", order_id="second")
    arn, records = stream_of(dynamodb)
    assert [record["eventName"] for record in records] == ["INSERT", "MODIFY", "INSERT"], paid
    return arn, records


def test_the_replayed_event_has_the_shape_of_lambdas_stream_event(changes: tuple[str, list[dict[str, Any]]]) -> None:
    arn, records = changes
    batch = GivenUpBatch.parse(given_up(arn, records[1:]))
    assert batch is not None

    event = lambda_event(read_records(boto3.client("dynamodbstreams"), batch), arn)

    sample = read_event("order_events")["Records"][0]
    assert [record["eventID"] for record in event["Records"]] == [record["eventID"] for record in records[1:]]
    for record in event["Records"]:
        assert set(record) == set(sample)
        assert set(record["dynamodb"]) >= set(sample["dynamodb"])
        assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
        assert record["eventSourceARN"] == arn
    json.dumps(event)  # nothing boto3 parsed (datetimes, bytes) is left in it


def test_the_replayed_event_is_the_one_the_local_clouds_stream_poller_delivers(
    changes: tuple[str, list[dict[str, Any]]],
) -> None:
    arn, records = changes
    poller = StreamPoller(
        function="test-order-events",
        stream_arn=arn,
        starting_position="TRIM_HORIZON",
        batch_size=10,
        batching_window_seconds=0,
        filters=(),
        bisect_on_error=False,
        maximum_retry_attempts=0,
        report_batch_item_failures=True,
        on_failure_queue_url=None,
        invoke=lambda function, event: InvokeOutcome(None, errored=False),
        streams=boto3.client("dynamodbstreams"),
        sqs=None,
    )

    assert lambda_event(records, arn)["Records"] == [poller._lambda_record(record) for record in records]


def failure_queue(*bodies: str) -> tuple[Aws, str]:
    aws = Aws.of(boto3.session.Session())
    queue_url = aws.sqs.create_queue(QueueName="stream-failures")["QueueUrl"]
    for body in bodies:
        aws.sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    return aws, queue_url


def queued(aws: Aws, queue_url: str) -> int:
    """Messages on the queue that a consumer can receive now."""
    return len(aws.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []))


def test_a_batch_the_function_now_takes_is_replayed_and_its_message_deleted(
    changes: tuple[str, list[dict[str, Any]]],
) -> None:
    arn, records = changes
    aws, queue_url = failure_queue(given_up(arn, records[:2]))
    function = FunctionStandIn()

    findings = redrive_stream_failures(aws, queue_url, apply=True, invoke=function, now=datetime.now(UTC))

    assert [(name, [r["eventID"] for r in event["Records"]]) for name, event in function.events] == [
        (ORDER_EVENTS_ARN, [record["eventID"] for record in records[:2]])
    ]
    assert [(finding.result, finding.open) for finding in findings] == [("replayed, message deleted", False)]
    assert queued(aws, queue_url) == 0


@pytest.mark.parametrize(
    "answer",
    [Answer({"batchItemFailures": [{"itemIdentifier": "1"}]}), Answer({"errorType": "Boom"}, error="Unhandled")],
    ids=["an item failed again", "the function failed"],
)
def test_a_batch_that_fails_again_leaves_its_message_on_the_queue(
    changes: tuple[str, list[dict[str, Any]]], answer: Answer
) -> None:
    arn, records = changes
    aws, queue_url = failure_queue(given_up(arn, records))

    findings = redrive_stream_failures(
        aws, queue_url, apply=True, invoke=FunctionStandIn(answer), now=datetime.now(UTC)
    )

    assert [finding.open for finding in findings] == [True]
    assert queued(aws, queue_url) == 1  # visible again at once


def test_a_dry_run_reads_the_batch_but_gives_it_to_no_function(changes: tuple[str, list[dict[str, Any]]]) -> None:
    arn, records = changes
    aws, queue_url = failure_queue(given_up(arn, records))
    function = FunctionStandIn()

    findings = redrive_stream_failures(aws, queue_url, apply=False, invoke=function, now=datetime.now(UTC))

    assert function.events == []
    assert [(finding.found.startswith("3 record(s)"), finding.result) for finding in findings] == [(True, "dry run")]
    assert queued(aws, queue_url) == 1


def test_records_older_than_the_streams_retention_are_reported_gone_and_the_message_stays(
    changes: tuple[str, list[dict[str, Any]]],
) -> None:
    arn, records = changes
    aws, queue_url = failure_queue(given_up(arn, records, arrival=datetime.now(UTC) - timedelta(hours=25)))
    function = FunctionStandIn()

    findings = redrive_stream_failures(aws, queue_url, apply=True, invoke=function, now=datetime.now(UTC))

    assert function.events == []
    assert [finding.result for finding in findings] == [
        "records gone: older than the stream's 24-hour retention (message left)"
    ]
    assert queued(aws, queue_url) == 1


def test_only_records_that_pass_the_mappings_filters_are_replayed(
    changes: tuple[str, list[dict[str, Any]]],
) -> None:
    # Given the function's mapping passes only MODIFY records, and Lambda gave up on a batch holding one
    arn, records = changes
    functions = boto3.client("lambda")
    role = boto3.client("iam").create_role(RoleName="order-events", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    created = functions.create_function(
        FunctionName="test-order-events",
        Runtime="python3.12",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": a_zip()},
    )
    functions.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=created["FunctionArn"],
        StartingPosition="TRIM_HORIZON",
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"eventName": ["MODIFY"]})}]},
    )
    aws, queue_url = failure_queue(given_up(arn, records, function=created["FunctionArn"]))
    function = FunctionStandIn()

    # When it is redriven
    redrive_stream_failures(aws, queue_url, apply=True, invoke=function, now=datetime.now(UTC))

    # Then the function gets the MODIFY record alone
    ((_, event),) = function.events
    assert [record["eventName"] for record in event["Records"]] == ["MODIFY"]


def a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return None\n")
    return buffer.getvalue()

"""The operator's command for what is still open after every retry: stream batches Lambda gave up on (the messages of
the StreamFailureQueue), and orders that are not final and whose status has not moved for a while. It lists them,
and with --apply finishes each with the step that should have finished it. Every step it calls is idempotent.

    python -m tools.redrive --stack order-fulfillment-dev [--older-than MINUTES] [--apply]
    python -m tools.redrive --local http://127.0.0.1:4566 [--older-than MINUTES] [--apply]

Exit status: 0 when nothing is left open (after --apply: everything found was finished or is still being worked on
by its workflow), 1 otherwise — a dry run that finds something to do exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.pollers import json_ready, load_patterns, passes_filters
from shop.adapters.orders_table import OrdersTable
from shop.adapters.workflow import OrderWorkflow
from shop.domain.models import Order, OrderStatus
from tools.publish_console import stack_outputs

# The outputs of template.yaml this command works from (the local cloud serves the same at /_localcloud/outputs).
ORDERS_TABLE, STATE_MACHINE, STREAM_FAILURES = "OrdersTableName", "OrderStateMachineArn", "StreamFailureQueueUrl"
LOCAL_OUTPUTS_PATH = "/_localcloud/outputs"

OPEN_STATUSES = (OrderStatus.PLACED, OrderStatus.AWAITING_APPROVAL, OrderStatus.PAID)
# The states of statemachine/order.asl.json this command stands in for, and the Fail state that hands over to it.
MARK_SHIPPED, SETTLE = "MarkShipped", "Settle"
SHIPPED_BUT_NOT_RECORDED = "ShippedButNotRecorded"
# What the Settle step is told went wrong when the workflow ended before it got there (a technical failure).
OPERATOR_REDRIVE = "OperatorRedrive"
# DynamoDB Streams keeps a record for 24 hours; after that the batch can only be described, not replayed.
STREAM_RETENTION = timedelta(hours=24)
# A stream failure message stays invisible to others while this command works on it. Receiving long-polls, so that
# SQS looks on all of its servers before it says the queue is empty.
VISIBILITY_SECONDS = 300
RECEIVE_WAIT_SECONDS = 1
# GetRecords may answer an empty page before the records that follow: give up after this many in a row.
EMPTY_PAGES = 5
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A synchronous invocation waits for the function (the slowest here has 30 s); retrying one is safe (idempotent).
LAMBDA_CONFIG = Config(read_timeout=120, retries={"mode": "standard"})


class MissingOutputs(SystemExit):
    def __init__(self, where: str, names: Sequence[str]) -> None:
        super().__init__(f"{where} has no {', '.join(names)} output (deploy the current template.yaml)")


# --------------------------------------------------------------------------------------------------------------
# Where things are
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    orders_table: str
    state_machine_arn: str
    stream_failure_queue_url: str

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any], where: str) -> Resources:
        missing = [name for name in (ORDERS_TABLE, STATE_MACHINE, STREAM_FAILURES) if not outputs.get(name)]
        if missing:
            raise MissingOutputs(where, missing)
        return cls(str(outputs[ORDERS_TABLE]), str(outputs[STATE_MACHINE]), str(outputs[STREAM_FAILURES]))

    @property
    def region(self) -> str:
        return self.state_machine_arn.split(":")[3]

    def execution_arn(self, order_id: str) -> str:
        """The order's execution: the workflow is started with the order id as its name."""
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{order_id}"


def local_outputs(url: str) -> dict[str, Any]:
    """The outputs a running local cloud serves (GET {aws}/_localcloud/outputs)."""
    if urlparse(url).scheme not in ("http", "https"):
        raise SystemExit(f"--local wants the local cloud's AWS endpoint, e.g. http://127.0.0.1:4566, not {url!r}")
    with urllib.request.urlopen(url.rstrip("/") + LOCAL_OUTPUTS_PATH, timeout=10) as response:  # noqa: S310 (http(s) only)
        outputs: dict[str, Any] = json.loads(response.read())
    return outputs


@dataclass(frozen=True)
class Aws:
    """The clients the command works through (one session, one endpoint)."""

    dynamodb: Any
    streams: Any
    functions: Any
    sqs: Any
    sfn: Any

    @classmethod
    def of(cls, session: boto3.session.Session, endpoint_url: str | None = None) -> Aws:
        def client(service: str, config: Config | None = None) -> Any:
            return session.client(service, endpoint_url=endpoint_url, config=config)  # type: ignore[call-overload]

        return cls(
            dynamodb=client("dynamodb"),
            streams=client("dynamodbstreams"),
            functions=client("lambda", LAMBDA_CONFIG),
            sqs=client("sqs"),
            sfn=client("stepfunctions"),
        )


# --------------------------------------------------------------------------------------------------------------
# What was found, and what was done
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Finding:
    what: str  # "stream batch" or "order"
    subject: str  # the order id, or the function and the batch's sequence numbers
    found: str
    action: str
    result: str = ""
    open: bool = True  # still needs someone: not done (a dry run), failed, or beyond what this command can do


def table(findings: Sequence[Finding]) -> str:
    header = ("WHAT", "WHICH", "FOUND", "ACTION", "RESULT")
    rows = [header, *((f.what, f.subject, f.found, f.action, f.result) for f in findings)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in rows
    )


@dataclass(frozen=True)
class Answer:
    """A function's answer to a synchronous invocation: its payload, or its error."""

    payload: Any
    error: str | None = None

    @property
    def failed_items(self) -> list[Any]:
        """The records a partial batch response reports failed."""
        failures = self.payload.get("batchItemFailures") if isinstance(self.payload, dict) else None
        return list(failures or [])

    def describe_error(self) -> str:
        if isinstance(self.payload, dict) and "errorType" in self.payload:
            return f"{self.payload['errorType']}: {self.payload.get('errorMessage', '')}".strip(": ")
        return str(self.error)


Invoke = Callable[[str, Mapping[str, Any]], Answer]  # (function name or ARN, event) -> its answer


def invoke_with(functions: Any) -> Invoke:
    def invoke(function: str, event: Mapping[str, Any]) -> Answer:
        response = functions.invoke(FunctionName=function, Payload=json.dumps(event).encode())
        body = response["Payload"].read()
        payload = json.loads(body) if body else None
        return Answer(payload, response.get("FunctionError"))

    return invoke


# --------------------------------------------------------------------------------------------------------------
# Stream batches Lambda gave up on
# --------------------------------------------------------------------------------------------------------------


class RecordsGone(Exception):
    """The batch's records can no longer be read from the stream."""


@dataclass(frozen=True)
class GivenUpBatch:
    """Lambda's on-failure record for a DynamoDB stream batch (what its on-failure destination receives)."""

    function_arn: str
    stream_arn: str
    shard_id: str
    start: str
    end: str
    size: int
    first_arrival: datetime | None

    @classmethod
    def parse(cls, body: str) -> GivenUpBatch | None:
        try:
            record = json.loads(body)
            info = record["DDBStreamBatchInfo"]
            arrival = info.get("approximateArrivalOfFirstRecord")
            return cls(
                function_arn=str(record["requestContext"]["functionArn"]),
                stream_arn=str(info["streamArn"]),
                shard_id=str(info["shardId"]),
                start=str(info["startSequenceNumber"]),
                end=str(info["endSequenceNumber"]),
                size=int(info.get("batchSize", 0)),
                first_arrival=datetime.fromisoformat(arrival) if arrival else None,
            )
        except (ValueError, KeyError, TypeError):
            return None

    @property
    def function_name(self) -> str:
        return self.function_arn.split(":function:", 1)[-1]

    def describe(self, now: datetime) -> str:
        numbers = self.start if self.start == self.end else f"{self.start}..{self.end}"
        age = f", {_ago(now - self.first_arrival)} old" if self.first_arrival else ""
        return f"{self.size} record(s) {numbers}{age}"


def read_records(streams: Any, batch: GivenUpBatch) -> list[dict[str, Any]]:
    """The batch's records, from its first sequence number through its last (GetRecords' shape)."""
    end = int(batch.end)
    records: list[dict[str, Any]] = []
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch.start,
        ).get("ShardIterator")
        empty = 0
        while iterator and empty < EMPTY_PAGES:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            iterator = page.get("NextShardIterator")
            empty = 0 if page.get("Records") else empty + 1
            for record in page.get("Records", []):
                number = int(record["dynamodb"]["SequenceNumber"])
                if number <= end:
                    records.append(record)
                if number >= end:
                    iterator = None  # the batch's last record is read: what follows is not the batch
                    break
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("TrimmedDataAccessException", "ResourceNotFoundException"):
            raise RecordsGone(f"beyond the stream's retention ({exc.response['Error']['Code']})") from exc
        raise
    numbers = [str(record["dynamodb"]["SequenceNumber"]) for record in records]
    if not numbers or numbers[0] != batch.start:
        raise RecordsGone("the first record is no longer in the stream (beyond its retention)")
    if numbers[-1] != batch.end:
        raise RecordsGone(f"the stream ends at {numbers[-1]}, before the batch's last record")
    return records


def lambda_event(records: Sequence[Mapping[str, Any]], stream_arn: str) -> dict[str, Any]:
    """Lambda's DynamoDB stream event for GetRecords records (events/order_events.json). The same envelope as the
    local cloud's StreamPoller._lambda_record; json_ready turns boto3's datetimes and bytes back into epoch seconds
    and base64, as Lambda sends them."""
    region = stream_arn.split(":")[3]
    events = []
    for raw in records:
        record: dict[str, Any] = {
            "eventID": raw["eventID"],
            "eventName": raw["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": region,
            "dynamodb": json_ready(raw["dynamodb"]),
        }
        identity = raw.get("userIdentity")
        if identity:
            record["userIdentity"] = {"type": identity["Type"], "principalId": identity["PrincipalId"]}
        record["eventSourceARN"] = stream_arn
        events.append(record)
    return {"Records": events}


def mapping_filters(functions: Any, batch: GivenUpBatch) -> list[str] | None:
    """The filter patterns of the function's mapping on the stream (Lambda gave up only on records that passed
    them), or None when the mapping cannot be found."""
    try:
        pages = functions.get_paginator("list_event_source_mappings").paginate(
            EventSourceArn=batch.stream_arn, FunctionName=batch.function_arn
        )
        mappings = [mapping for page in pages for mapping in page.get("EventSourceMappings", [])]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise
    if not mappings:
        return None
    return [entry["Pattern"] for entry in mappings[0].get("FilterCriteria", {}).get("Filters", [])]


def failure_messages(sqs: Any, queue_url: str) -> Iterator[dict[str, Any]]:
    """Every message of the queue, each once, invisible to others while this command runs."""
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
            VisibilityTimeout=VISIBILITY_SECONDS,
        ).get("Messages", [])
        fresh = [message for message in messages if message["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message


def redrive_stream_failures(aws: Aws, queue_url: str, *, apply: bool, invoke: Invoke, now: datetime) -> list[Finding]:
    findings: list[Finding] = []
    keep: list[str] = []  # receipt handles of messages left on the queue
    for message in failure_messages(aws.sqs, queue_url):
        finding, done = _redrive_batch(aws, message, apply=apply, invoke=invoke, now=now)
        findings.append(finding)
        if done:
            aws.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        else:
            keep.append(message["ReceiptHandle"])
    for handle in keep:  # visible again at once: for the next run, and for the queue's depth alarm
        aws.sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return findings


def _redrive_batch(
    aws: Aws, message: Mapping[str, Any], *, apply: bool, invoke: Invoke, now: datetime
) -> tuple[Finding, bool]:
    """What the message describes and what was done; True when the message may be deleted."""
    batch = GivenUpBatch.parse(str(message.get("Body", "")))
    if batch is None:
        found = f"message {message['MessageId']}"
        return Finding("queue message", found, "not a stream batch record", "none: look at it"), False
    finding = Finding("stream batch", batch.function_name, batch.describe(now), "replay")
    try:
        event = _replay_event(aws, batch, finding, now)
    except RecordsGone as gone:
        finding.result = f"records gone: {gone} (message left)"
        return finding, False
    if not apply:
        finding.result = "dry run"
        return finding, False
    finding.result, finding.open = _replay(batch, event, invoke)
    return finding, not finding.open


def _replay_event(aws: Aws, batch: GivenUpBatch, finding: Finding, now: datetime) -> dict[str, Any]:
    """The event that gives the function the batch's records again: those its mapping's filters pass."""
    if batch.first_arrival is not None and now - batch.first_arrival > STREAM_RETENTION:
        raise RecordsGone("older than the stream's 24-hour retention")
    event = lambda_event(read_records(aws.streams, batch), batch.stream_arn)
    filters = mapping_filters(aws.functions, batch)
    if filters is None:
        finding.action += " (no mapping found: records unfiltered)"
    elif filters:
        patterns = load_patterns(filters)
        event["Records"] = [record for record in event["Records"] if passes_filters(record, patterns)]
    if len(event["Records"]) != batch.size:
        finding.found += f", {len(event['Records'])} pass the mapping's filters"
    return event


def _replay(batch: GivenUpBatch, event: Mapping[str, Any], invoke: Invoke) -> tuple[str, bool]:
    """Invoke the function with the event; what happened, and whether the batch is still open."""
    if not event["Records"]:
        return "no record passes the mapping's filters now (message left)", True
    answer = invoke(batch.function_arn, event)
    if answer.error is not None:
        return f"failed: {answer.describe_error()} (message left)", True
    if answer.failed_items:
        return f"{len(answer.failed_items)} record(s) failed again (message left)", True
    return "replayed, message deleted", False


# --------------------------------------------------------------------------------------------------------------
# Orders whose status has not moved
# --------------------------------------------------------------------------------------------------------------


def open_orders(orders: OrdersTable, older_than: timedelta, now: datetime) -> list[Order]:
    """Orders in an open status that has not changed for longer than `older_than`, as the table holds them now."""
    cutoff = now - older_than
    found: list[Order] = []
    for status in OPEN_STATUSES:
        for listed in orders.updated_between(status, EPOCH, cutoff):
            # The index lags behind the table: only what the table says now counts.
            order = orders.get(listed.customer_id, listed.order_id)
            if order is not None and order.status in OPEN_STATUSES and order.updated_at < cutoff:
                found.append(order)
    return sorted(found, key=lambda order: order.updated_at)


@dataclass(frozen=True)
class Execution:
    status: str  # RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE
    error: str | None = None
    cause: str | None = None

    def describe(self) -> str:
        return " ".join(part for part in ("execution", self.status, self.error) if part)


class Action(StrEnum):
    START = "start the workflow"
    WAIT = "none: the workflow is running"
    MARK_SHIPPED = "mark shipped"
    SETTLE = "settle"
    PERSON = "none: needs a person"


def choose(status: OrderStatus, execution: Execution | None) -> Action:
    """What finishes an open order, given how its execution stands."""
    if execution is None:
        # Only the Orders stream starts a workflow, when the order is inserted: its record was lost. An order that
        # got further had an execution, since deleted with its history; nothing says whether its parcel left.
        return Action.START if status is OrderStatus.PLACED else Action.PERSON
    if execution.status in ("RUNNING", "PENDING_REDRIVE"):
        return Action.WAIT  # an approval or a shipment may legitimately wait
    if execution.status == "SUCCEEDED":
        return Action.PERSON  # every way to succeed writes a final status first: something else changed the order
    if execution.status == "FAILED" and execution.error == SHIPPED_BUT_NOT_RECORDED:
        return Action.MARK_SHIPPED
    return Action.SETTLE  # CompensationFailed, a time-out, an abort, any other failure


@dataclass(frozen=True)
class TaskCall:
    """A Lambda task of the state machine, as it would invoke its function for a given state input."""

    state: str
    function: str
    payload: Any


class CannotRedrive(Exception):
    """What the history or the definition holds is not enough to call the step as the workflow would."""


def entered_input(history: Sequence[Mapping[str, Any]], state: str) -> dict[str, Any] | None:
    """The input of the last time the execution entered `state` (None when it never did)."""
    for event in reversed(history):
        details = event.get("stateEnteredEventDetails")
        if event.get("type", "").endswith("StateEntered") and details and details.get("name") == state:
            if details.get("inputDetails", {}).get("truncated"):
                raise CannotRedrive(f"the input of {state} is truncated in the history")
            value: dict[str, Any] = json.loads(details["input"])
            return value
    return None


def task_call(definition: Mapping[str, Any], state: str, state_input: Mapping[str, Any]) -> TaskCall:
    """The function a Lambda task invokes and the payload it sends (its Parameters applied to `state_input`)."""
    parameters = definition.get("States", {}).get(state, {}).get("Parameters")
    if not isinstance(parameters, dict):
        raise CannotRedrive(f"the state machine has no task {state} with Parameters")
    rendered = _apply(parameters, state_input)
    return TaskCall(state, str(rendered["FunctionName"]), rendered.get("Payload", {}))


def _apply(template: Any, data: Any) -> Any:
    """A Parameters template applied to a state input: keys ending in `.$` take the value at their path."""
    if isinstance(template, dict):
        return {
            key.removesuffix(".$"): _select(value, data) if key.endswith(".$") else _apply(value, data)
            for key, value in template.items()
        }
    if isinstance(template, list):
        return [_apply(value, data) for value in template]
    return template


def _select(path: Any, data: Any) -> Any:
    """The value at a plain JSONPath ($ or $.a.b); the tasks redriven here use nothing else."""
    if not isinstance(path, str) or not (path == "$" or path.startswith("$.")):
        raise CannotRedrive(f"path {path!r} is not a plain JSONPath")
    value = data
    for name in path.removeprefix("$").removeprefix(".").split(".") if path != "$" else []:
        if not isinstance(value, dict) or name not in value:
            raise CannotRedrive(f"the state input has nothing at {path}")
        value = value[name]
    return value


def plan(
    order: Order, execution: Execution | None, history: Sequence[Mapping[str, Any]], definition: Mapping[str, Any]
) -> tuple[Action, TaskCall | None]:
    """The action for the order, and for a step to call again, the call the workflow would make."""
    action = choose(order.status, execution)
    if action is Action.MARK_SHIPPED:
        shipped = entered_input(history, MARK_SHIPPED)
        if shipped is None:
            raise CannotRedrive(f"the execution never entered {MARK_SHIPPED}")
        return action, task_call(definition, MARK_SHIPPED, shipped)
    if action is Action.SETTLE and execution is not None:  # choose() settles only after an execution ended
        settling = entered_input(history, SETTLE)
        if settling is None:
            # It ended before any step handed it over: a technical failure (refund, release, final status).
            error = execution.error or execution.status
            cause = f"{error}: {execution.cause}" if execution.cause else error
            settling = {
                "orderId": order.order_id,
                "customerId": order.customer_id,
                "last": {"Error": OPERATOR_REDRIVE, "Cause": cause},
            }
        return action, task_call(definition, SETTLE, settling)
    return action, None


def describe_execution(sfn: Any, execution_arn: str) -> Execution | None:
    try:
        described = sfn.describe_execution(executionArn=execution_arn)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return None
        raise
    return Execution(str(described["status"]), described.get("error"), described.get("cause"))


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


# An execution in one of these still owns its order.
_IN_PROGRESS = frozenset({"RUNNING", "PENDING_REDRIVE"})


class OrdersPass:
    """The open orders, each with the action that finishes it (carried out with `apply`)."""

    def __init__(self, aws: Aws, resources: Resources, *, apply: bool, invoke: Invoke) -> None:
        self.aws = aws
        self.resources = resources
        self.apply = apply
        self.invoke = invoke
        self.orders = OrdersTable(resources.orders_table, aws.dynamodb)
        self.workflow = OrderWorkflow(resources.state_machine_arn, aws.sfn)
        self._definition: dict[str, Any] | None = None

    def run(self, older_than: timedelta, now: datetime) -> list[Finding]:
        findings = (self._redrive(order, now) for order in open_orders(self.orders, older_than, now))
        return [finding for finding in findings if finding is not None]

    def _redrive(self, order: Order, now: datetime) -> Finding | None:
        arn = self.resources.execution_arn(order.order_id)
        execution = describe_execution(self.aws.sfn, arn)
        ended = execution is not None and execution.status not in _IN_PROGRESS
        if ended:
            # It may have ended after the order was read, and the order with it.
            current = self.orders.get(order.customer_id, order.order_id)
            if current is None or current.status not in OPEN_STATUSES:
                return None
            order = current
        state = execution.describe() if execution else "no execution"
        finding = Finding("order", order.order_id, f"{order.status} for {_ago(now - order.updated_at)}, {state}", "")
        try:
            history = execution_history(self.aws.sfn, arn) if ended else []
            action, call = plan(order, execution, history, self.definition() if ended else {})
        except CannotRedrive as missing:
            finding.action, finding.result = str(Action.PERSON), str(missing)
            return finding
        finding.action = f"{action} ({_payload_hint(call)})" if call else str(action)
        if action in (Action.WAIT, Action.PERSON):
            finding.open = action is Action.PERSON
        elif not self.apply:
            finding.result = "dry run"
        else:
            finding.result, finding.open = self._carry_out(order, call)
        return finding

    def _carry_out(self, order: Order, call: TaskCall | None) -> tuple[str, bool]:
        """Start the workflow (no call), or call the step; what happened, and whether the order is still open."""
        if call is None:
            started = self.workflow.start(order.order_id, order.customer_id)
            return ("started" if started else "already started"), False
        answer = self.invoke(call.function, call.payload)
        if answer.error is not None:
            return f"failed: {answer.describe_error()}", True
        answered = answer.payload if isinstance(answer.payload, dict) else {}
        status = answered.get("status")
        result = " ".join(str(part) for part in (status, answered.get("failureReason")) if part)
        return result or "done", status is None or status in OPEN_STATUSES

    def definition(self) -> dict[str, Any]:
        if self._definition is None:
            described = self.aws.sfn.describe_state_machine(stateMachineArn=self.resources.state_machine_arn)
            self._definition = dict(json.loads(described["definition"]))
        return self._definition


def _payload_hint(call: TaskCall) -> str:
    payload = call.payload if isinstance(call.payload, dict) else {}
    if "trackingNumber" in payload:
        return f"tracking {payload['trackingNumber']}"
    last = payload.get("last")
    if isinstance(last, dict):
        return str(last.get("Error") or last.get("outcome") or "")
    return "from the validation" if payload.get("validation") else ""


def _ago(elapsed: timedelta) -> str:
    minutes = max(0, int(elapsed.total_seconds() // 60))
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} d"


# --------------------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------------------


def redrive(aws: Aws, resources: Resources, older_than: timedelta, *, apply: bool, invoke: Invoke) -> list[Finding]:
    """Stream batches first: a replayed INSERT starts its order's workflow, which the orders' pass then sees."""
    findings = redrive_stream_failures(
        aws, resources.stream_failure_queue_url, apply=apply, invoke=invoke, now=datetime.now(UTC)
    )
    orders = OrdersPass(aws, resources, apply=apply, invoke=invoke)
    return findings + orders.run(older_than, datetime.now(UTC))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="a deployed stack: its outputs say where the tables, queue and workflow are")
    target.add_argument("--local", metavar="URL", help="a running local cloud's AWS endpoint (make run: port 4566)")
    parser.add_argument(
        "--older-than",
        type=float,
        default=60.0,
        metavar="MINUTES",
        help="an order is open when its status has not moved for longer than this (default 60)",
    )
    parser.add_argument("--apply", action="store_true", help="redrive what was found (without it: only list it)")
    args = parser.parse_args(argv)
    if args.older_than < 0:
        parser.error("--older-than must be 0 or more minutes")
    if args.local:
        resources = Resources.from_outputs(local_outputs(args.local), f"the local cloud at {args.local}")
        # The local cloud takes any credentials; these keep boto3 from looking for real ones.
        session = boto3.session.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 (not a secret: the local cloud accepts anything)
            region_name=resources.region,
        )
        aws = Aws.of(session, args.local)
    else:
        session = boto3.session.Session()
        outputs = stack_outputs(session.client("cloudformation"), args.stack)
        resources = Resources.from_outputs(outputs, f"stack {args.stack}")
        aws = Aws.of(session)
    findings = redrive(
        aws, resources, timedelta(minutes=args.older_than), apply=args.apply, invoke=invoke_with(aws.functions)
    )
    left_open = [finding for finding in findings if finding.open]
    if findings:
        print(table(findings))
    mode = "redrive" if args.apply else "dry run (--apply redrives)"
    print(f"{mode}: {len(findings)} found, {len(left_open)} left open")
    return 1 if left_open else 0


if __name__ == "__main__":
    sys.exit(main())

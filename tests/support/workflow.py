"""The order workflow run offline: moto executes statemachine/order.asl.json for real.

The workflow's resources are created in moto from template.yaml's own properties. moto's Lambda invoke (which
would need Docker) runs the real handlers in-process, and the event sources the deployed system wires up (the
Orders table's stream, the fulfillment queue and its DLQ) are pumped here with Lambda's semantics: batches,
filter criteria, partial batch responses, redrive to the DLQ after maxReceiveCount.

One rule keeps this honest: every handler invocation, and every DynamoDB or stream read the harness makes,
holds one process-wide lock. In AWS each Lambda instance is its own process handling one event at a time; here
all functions share one interpreter (one Powertools Metrics buffer, one logger), and moto's DynamoDB applies a
transaction by copying and swapping whole tables, which is not safe against a concurrent writer. Executions
still run concurrently (moto gives each its own thread) and interleave at task boundaries, as they do in AWS.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto.events.models import EventPattern

from localcloud.pollers import json_ready
from localcloud.template import Stack, load_stack
from shop.adapters.dynamodb import from_attributes as plain
from shop.domain.models import iso
from shop.domain.ordering import utc_now
from shop.domain.status import TERMINAL
from tests.support.api import ApiCaller, ApiResponse, admin, customer
from tests.support.cloud import TABLE_NAMES, create_tables
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function
from tools.seed import load_demo_catalog, seed

STACK_NAME = "test"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
# The approval timeout of every test but the one about timing out (the template's own default is a day).
LONG_APPROVAL_TIMEOUT_SECONDS = 3600
# Statuses in which the workflow leaves an order for good (DELIVERED comes later, from the carrier).
WORKFLOW_FINAL = frozenset({"SHIPPED", *(status.value for status in TERMINAL)})

HANDLER_LOCK = threading.RLock()
_session = boto3.session.Session()


@cache
def client(service: str) -> Any:
    """One client per service for the whole run (building one takes longer than most calls made with it)."""
    return _session.client(service)  # type: ignore[call-overload]


# --------------------------------------------------------------------------------------------------------------
# Lambda: moto keeps the function records; the code runs in this process.
# --------------------------------------------------------------------------------------------------------------

# Function name (as created in moto) -> its code folder under functions/.
_CODE_FOLDERS: dict[str, str] = {}
# Every function error of the current test (function, errorType, errorMessage), for failure messages.
FUNCTION_ERRORS: list[tuple[str, str, str]] = []


def _invoke_in_process(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    """Replaces LambdaFunction._invoke_lambda (Docker): run the real handler, with Lambda's error payload."""
    folder = _CODE_FOLDERS[self.function_name]
    if isinstance(event, str | bytes):
        event = json.loads(event or "{}")
    context = FakeLambdaContext(
        function_name=self.function_name,
        invoked_function_arn=self.function_arn,
        memory_limit_in_mb=int(self.memory_size),
        log_group_name=f"/aws/lambda/{self.function_name}",
        remaining_ms=int(self.timeout) * 1000,
    )
    with HANDLER_LOCK:
        try:
            result = load_function(folder).lambda_handler(event, context)
        except Exception as exc:  # Lambda turns any exception into a function error, named after its class
            FUNCTION_ERRORS.append((self.function_name, type(exc).__name__, str(exc)))
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), True, ""
    return json.dumps(result), False, ""


# --------------------------------------------------------------------------------------------------------------
# Just enough of CloudFormation to create the workflow's resources from the template's properties.
# --------------------------------------------------------------------------------------------------------------


class Resolver:
    """Ref, Fn::GetAtt and Fn::Sub against the resources created so far (anything else is an error)."""

    def __init__(self, parameters: Mapping[str, str]) -> None:
        self.refs: dict[str, Any] = {
            "AWS::StackName": STACK_NAME,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            **parameters,
        }
        self.attributes: dict[str, Any] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(inner) for inner in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self.refs[argument]
            if name == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.attributes[f"{logical_id}.{attribute}"]
            if name == "Fn::Sub":
                return self._sub(argument)
            if name.startswith("Fn::"):
                raise NotImplementedError(f"intrinsic {name} is not resolved by the workflow harness")
        return {key: self(inner) for key, inner in value.items()}

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], self(argument[1]))

        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if name in variables:
                return str(variables[name])
            if "." in name:
                return str(self.attributes[name])
            return str(self.refs[name])

        return re.sub(r"\$\{([^!}][^}]*)\}", replace, text)


def substitute(definition: str, substitutions: Mapping[str, Any]) -> str:
    """What CloudFormation does with DefinitionSubstitutions: plain text replacement of ${Name}."""
    for name, value in substitutions.items():
        definition = definition.replace(f"${{{name}}}", str(value))
    leftover = re.findall(r"\$\{[^}]*\}", definition)
    if leftover:
        raise AssertionError(f"placeholders without a DefinitionSubstitutions entry: {sorted(set(leftover))}")
    return definition


def _tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "# The harness runs functions/<name>/app.py in-process instead.\n")
    return buffer.getvalue()


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
)


def queue_attributes(properties: Mapping[str, Any]) -> dict[str, str]:
    """SQS CreateQueue attributes from an AWS::SQS::Queue's (resolved) properties."""
    attributes = {
        name: str(properties[name]).lower() if isinstance(properties[name], bool) else str(properties[name])
        for name in _QUEUE_ATTRIBUTES
        if name in properties
    }
    for policy in ("RedrivePolicy", "RedriveAllowPolicy"):
        if policy in properties:
            attributes[policy] = json.dumps(properties[policy])
    return attributes


@dataclass(frozen=True)
class EventSourceMapping:
    function_name: str
    source_arn: str
    properties: dict[str, Any]

    @property
    def batch_size(self) -> int:
        return int(self.properties.get("BatchSize", 10))

    def passes_filters(self, record: dict[str, Any]) -> bool:
        """Lambda's filter criteria use EventBridge's pattern syntax, which moto implements for rules."""
        patterns = [f["Pattern"] for f in self.properties.get("FilterCriteria", {}).get("Filters", [])]
        matching = (EventPattern.load(pattern).matches_event(record) for pattern in patterns)  # type: ignore[arg-type]
        return not patterns or any(matching)


@dataclass
class WorkflowStack:
    """The workflow's resources as created in moto."""

    stack: Stack
    resolver: Resolver
    state_machine_arn: str = ""
    definition: str = ""
    fulfillment_queue_url: str = ""
    fulfillment_dlq_url: str = ""
    topic_arn: str = ""
    orders_stream_arn: str = ""
    functions: dict[str, str] = field(default_factory=dict)  # logical id -> function name
    mappings: dict[str, EventSourceMapping] = field(default_factory=dict)  # consumer logical id -> mapping

    @property
    def max_receive_count(self) -> int:
        """How often the fulfillment queue hands out a job before SQS moves it to the DLQ (the template's)."""
        policy = self.stack.resource("FulfillmentQueue")["Properties"]["RedrivePolicy"]
        return int(policy["maxReceiveCount"])


def provision(approval_timeout_seconds: int) -> WorkflowStack:
    """Create the tables, the workflow's functions, queues, topic and state machine, named as tests/conftest.py
    says. Runs inside mock_aws."""
    stack = load_stack()
    parameters = {
        name: str(spec["Default"]) for name, spec in stack.sam.get("Parameters", {}).items() if "Default" in spec
    }
    parameters["ApprovalTimeoutSeconds"] = str(approval_timeout_seconds)
    resolver = Resolver(parameters)
    created = WorkflowStack(stack=stack, resolver=resolver)

    dynamodb = client("dynamodb")
    create_tables(dynamodb)
    for logical_id, name in TABLE_NAMES.items():
        table = dynamodb.describe_table(TableName=name)["Table"]
        resolver.refs[logical_id] = name
        resolver.attributes[f"{logical_id}.Arn"] = table["TableArn"]
        if "LatestStreamArn" in table:
            resolver.attributes[f"{logical_id}.StreamArn"] = table["LatestStreamArn"]
    created.orders_stream_arn = resolver.attributes["OrdersTable.StreamArn"]

    sqs = client("sqs")
    # The DLQ first: the fulfillment queue's RedrivePolicy names it.
    for logical_id in ("FulfillmentDeadLetterQueue", "FulfillmentQueue"):
        properties = resolver(stack.resource(logical_id)["Properties"])
        url = sqs.create_queue(QueueName=properties["QueueName"], Attributes=queue_attributes(properties))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        resolver.refs[logical_id] = url
        resolver.attributes[f"{logical_id}.Arn"] = arn
        resolver.attributes[f"{logical_id}.QueueName"] = properties["QueueName"]
    created.fulfillment_queue_url = resolver.refs["FulfillmentQueue"]
    created.fulfillment_dlq_url = resolver.refs["FulfillmentDeadLetterQueue"]

    topic = resolver(stack.resource("NotificationsTopic")["Properties"])
    attributes = {"KmsMasterKeyId": topic["KmsMasterKeyId"]} if "KmsMasterKeyId" in topic else {}
    created.topic_arn = client("sns").create_topic(Name=topic["TopicName"], Attributes=attributes)["TopicArn"]
    resolver.refs["NotificationsTopic"] = created.topic_arn

    _create_functions(created)
    _create_state_machine(created)
    # The functions find these through the environment tests/conftest.py sets: the names must agree.
    for variable, arn in (
        ("NOTIFICATIONS_TOPIC_ARN", created.topic_arn),
        ("STATE_MACHINE_ARN", created.state_machine_arn),
    ):
        assert os.environ[variable] == arn, f"{variable} is {os.environ[variable]} but moto created {arn}"
    return created


def _create_functions(created: WorkflowStack) -> None:
    """The functions the state machine invokes and the consumers of the stream and queues, each with its alias."""
    stack, resolver = created.stack, created.resolver
    role_arn = client("iam").create_role(
        RoleName=f"{STACK_NAME}-lambda",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]

    aliases = stack.resources_of_type("AWS::Lambda::Alias")
    consumed = {"OrdersTable.StreamArn", "FulfillmentQueue.Arn", "FulfillmentDeadLetterQueue.Arn"}
    wanted: dict[str, str] = {}  # alias logical id -> function logical id
    substitutions = stack.resource("OrderStateMachine")["Properties"]["DefinitionSubstitutions"]
    for value in substitutions.values():
        if isinstance(value, dict) and value.get("Ref") in aliases:
            wanted[value["Ref"]] = aliases[value["Ref"]]["Properties"]["FunctionName"]["Ref"]
    mappings = stack.resources_of_type("AWS::Lambda::EventSourceMapping")
    for mapping in mappings.values():
        source = ".".join(mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"])
        alias_id = mapping["Properties"]["FunctionName"]["Ref"]
        if source in consumed:
            wanted[alias_id] = aliases[alias_id]["Properties"]["FunctionName"]["Ref"]

    lambda_client = client("lambda")
    code = _tiny_zip()
    for alias_id, logical_id in wanted.items():
        properties = stack.resource(logical_id)["Properties"]
        name = f"{STACK_NAME}-{logical_id}"[:64]
        _CODE_FOLDERS[name] = stack.code_paths[logical_id].name
        lambda_client.create_function(
            FunctionName=name,
            Runtime=properties["Runtime"],
            Role=role_arn,
            Handler=properties["Handler"],
            Code={"ZipFile": code},
            Timeout=int(properties.get("Timeout", 3)),
            MemorySize=int(properties.get("MemorySize", 128)),
            Architectures=properties.get("Architectures", ["x86_64"]),
            Publish=True,
        )
        alias = lambda_client.create_alias(
            FunctionName=name, Name=aliases[alias_id]["Properties"]["Name"], FunctionVersion="1"
        )
        resolver.refs[logical_id] = name
        resolver.refs[alias_id] = alias["AliasArn"]
        created.functions[logical_id] = name

    for mapping in mappings.values():
        properties = mapping["Properties"]
        source = ".".join(properties["EventSourceArn"]["Fn::GetAtt"])
        if source in consumed:
            logical_id = wanted[properties["FunctionName"]["Ref"]]
            created.mappings[logical_id] = EventSourceMapping(
                function_name=resolver(properties["FunctionName"]),
                source_arn=resolver(properties["EventSourceArn"]),
                properties=properties,
            )


def _create_state_machine(created: WorkflowStack) -> None:
    stack, resolver = created.stack, created.resolver
    properties = stack.resource("OrderStateMachine")["Properties"]
    definition = stack.code_paths["OrderStateMachine"].read_text()
    created.definition = substitute(definition, resolver(properties["DefinitionSubstitutions"]))
    role_arn = client("iam").create_role(
        RoleName=f"{STACK_NAME}-states",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    created.state_machine_arn = client("stepfunctions").create_state_machine(
        name=resolver(properties["StateMachineName"]),
        definition=created.definition,
        roleArn=role_arn,
        type=properties.get("StateMachineType", "STANDARD"),
    )["stateMachineArn"]


# --------------------------------------------------------------------------------------------------------------
# Event sources, with Lambda's semantics
# --------------------------------------------------------------------------------------------------------------


class ConsumerFailed(AssertionError):
    """A consumer kept failing a batch past the retries the template allows: never expected in these tests."""


def _invoke(function_name: str, event: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Invoke through moto's Lambda API (as the event source mapping would). Returns (result, function error)."""
    response = client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        return None, f"{payload.get('errorType')}: {payload.get('errorMessage')}"
    return payload, None


class StreamSource:
    """A DynamoDB stream event source mapping: filter, batch, invoke, retry what the function reports failed."""

    def __init__(self, stream_arn: str, mapping: EventSourceMapping) -> None:
        self.stream_arn = stream_arn
        self.mapping = mapping
        self.position: str | None = None
        self.delivered = 0

    def read(self) -> list[dict[str, Any]]:
        """New records as Lambda would pass them (not yet delivered)."""
        with HANDLER_LOCK:
            return self._read()

    def _read(self) -> list[dict[str, Any]]:
        streams = client("dynamodbstreams")
        shard = streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        # A fresh iterator each time: moto swaps a table object when a transaction rolls back, which would
        # leave an old iterator reading a shard that no longer grows.
        if self.position is None:
            iterator = streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )
        else:
            iterator = streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=self.position,
            )
        records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
        if records:
            self.position = records[-1]["dynamodb"]["SequenceNumber"]
        return [json_ready(record) | {"eventSourceARN": self.stream_arn} for record in records]

    def poll(self) -> int:
        records = self.read()
        self.deliver(records)
        return len(records)

    def deliver(self, records: list[dict[str, Any]]) -> None:
        """Records that match no filter are dropped, as Lambda does; the rest go in batches."""
        wanted = [record for record in records if self.mapping.passes_filters(record)]
        size = self.mapping.batch_size
        for start in range(0, len(wanted), size):
            self._deliver_batch(wanted[start : start + size])

    def _deliver_batch(self, batch: list[dict[str, Any]]) -> None:
        retries = int(self.mapping.properties.get("MaximumRetryAttempts", 0))
        for _attempt in range(retries + 1):
            result, error = _invoke(self.mapping.function_name, {"Records": batch})
            self.delivered += 1
            failed = [item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])]
            if error is None and not failed:
                return
            # Lambda retries from the first failed record on (the whole batch after a function error).
            if error is None:
                first = min(int(sequence) for sequence in failed)
                batch = [r for r in batch if int(r["dynamodb"]["SequenceNumber"]) >= first]
        raise ConsumerFailed(f"{self.mapping.function_name} failed a stream batch: {error or failed}")


class QueueSource:
    """An SQS event source mapping: receive a batch, invoke, delete what the function did not report failed.

    Receives override the queue's visibility timeout with 0, so a failed job is seen again at once instead of
    after the template's 180 s (the receive count, and so the redrive to the DLQ, is unchanged).
    """

    def __init__(self, queue_url: str, mapping: EventSourceMapping) -> None:
        self.queue_url = queue_url
        self.mapping = mapping
        self.received = 0
        self.invocations: list[tuple[list[str], list[str], str | None]] = []  # (order ids, failed ids, error)

    def poll(self) -> int:
        sqs = client("sqs")
        messages = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.mapping.batch_size, 10),
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        self.received += len(messages)
        records = [self._record(message) for message in messages]
        result, error = _invoke(self.mapping.function_name, {"Records": records})
        failed = (
            {m["MessageId"] for m in messages}
            if error is not None
            else {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        )
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        self.invocations.append(([json.loads(m["Body"]).get("orderId", "") for m in messages], sorted(failed), error))
        return len(messages)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.mapping.source_arn,
            "awsRegion": REGION,
        }


# --------------------------------------------------------------------------------------------------------------
# The shop as the tests drive it
# --------------------------------------------------------------------------------------------------------------

ADDRESS = {
    "name": "Alice Example",
    "line1": "1 Market Street",
    "city": "Springfield",
    "postalCode": "12345",
    "country": "US",
}


class LockedApiCaller(ApiCaller):
    """An API function called like API Gateway does, under the harness's lock like every other handler."""

    def invoke(self, event: dict[str, Any]) -> ApiResponse:
        with HANDLER_LOCK:
            return super().invoke(event)


@dataclass
class Execution:
    order_id: str
    status: str
    history: list[dict[str, Any]]

    @property
    def states_entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history if e["type"].endswith("StateEntered")]

    @property
    def transitions(self) -> int:
        """State transitions: one per state entered (StateEntered events)."""
        return len(self.states_entered)

    @property
    def retries(self) -> int:
        """Task attempts after the first (Step Functions bills each retry as one more state transition)."""
        scheduled = sum(1 for e in self.history if e["type"] == "TaskScheduled")
        return scheduled - sum(1 for e in self.history if e["type"] == "TaskStateEntered")


class Shop:
    """The deployed system in miniature: API calls in, the stream and queues pumped, the workflow executed."""

    def __init__(self, stack: WorkflowStack) -> None:
        self.stack = stack
        self.sfn = client("stepfunctions")
        self.dynamodb = client("dynamodb")
        self.sqs = client("sqs")
        self.orders_api = LockedApiCaller(load_function("orders_api"), "orders_api")
        self.approvals_api = LockedApiCaller(load_function("approvals_api"), "approvals_api")
        self.carrier_api = LockedApiCaller(load_function("carrier_api"), "carrier_api")
        self.orders_stream = StreamSource(stack.orders_stream_arn, stack.mappings["OrderEventsFunction"])
        self.warehouse = QueueSource(stack.fulfillment_queue_url, stack.mappings["WarehouseFunction"])
        self.fulfillment_dlq = QueueSource(stack.fulfillment_dlq_url, stack.mappings["FulfillmentDlqFunction"])
        self.customers: dict[str, str] = {}  # order id -> customer id
        self.published: list[dict[str, Any]] = []
        self.initial_stock = {p.product_id: p.available for p in load_demo_catalog()}
        self.notifications_url = self._tap_notifications()

    # -- setup ---------------------------------------------------------------------------------------------------

    def _tap_notifications(self) -> str:
        """An SQS queue subscribed to the notifications topic, to count what was published."""
        url = str(self.sqs.create_queue(QueueName=f"{STACK_NAME}-notifications-tap")["QueueUrl"])
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        client("sns").subscribe(TopicArn=self.stack.topic_arn, Protocol="sqs", Endpoint=arn)
        return url

    # -- what people do ------------------------------------------------------------------------------------------

    def place(
        self,
        items: dict[str, int],
        *,
        customer_id: str = "customer-a",
        payment_token: str | None = None,
        address: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """POST /orders as the customer; returns the new order's id."""
        body: dict[str, Any] = {
            "items": [{"productId": product, "quantity": quantity} for product, quantity in items.items()],
            "shippingAddress": address or ADDRESS,
        }
        if payment_token is not None:  # absent: the API's default token, which succeeds
            body["paymentToken"] = payment_token
        key = idempotency_key or f"key-{len(self.customers)}-{customer_id}"
        response = self.orders_api.call(
            "POST", "/orders", body=body, headers={"Idempotency-Key": key}, claims=customer(customer_id)
        )
        assert response.status == 201, response.body
        order_id = str(response.json()["orderId"])
        self.customers[order_id] = customer_id
        return order_id

    def cancel(self, order_id: str) -> ApiResponse:
        return self.orders_api.call(
            "POST",
            f"/orders/{order_id}/cancel",
            resource="/orders/{orderId}/cancel",
            path_parameters={"orderId": order_id},
            claims=customer(self.customers[order_id]),
        )

    def decide(self, order_id: str, decision: str, comment: str | None = None) -> ApiResponse:
        body = {"decision": decision} | ({"comment": comment} if comment else {})
        return self.approvals_api.call(
            "POST",
            f"/approvals/{order_id}",
            resource="/approvals/{orderId}",
            path_parameters={"orderId": order_id},
            body=body,
            claims=admin(),
        )

    def pending_approvals(self) -> list[dict[str, Any]]:
        response = self.approvals_api.call("GET", "/approvals", claims=admin())
        assert response.status == 200, response.body
        return list(response.json()["items"])

    def report_delivery(self, order_id: str, tracking_number: str, api_key_id: str = "carrier-key-1") -> ApiResponse:
        event = self.carrier_api.event(
            "POST",
            "/carrier/deliveries",
            body={"orderId": order_id, "trackingNumber": tracking_number, "deliveredAt": iso(utc_now())},
        )
        event["requestContext"]["identity"]["apiKeyId"] = api_key_id
        return self.carrier_api.invoke(event)

    # -- the system running --------------------------------------------------------------------------------------

    def pump(self) -> int:
        """One round of every event source: the Orders stream, the fulfillment queue, its DLQ."""
        with HANDLER_LOCK:
            return self.orders_stream.poll() + self.warehouse.poll() + self.fulfillment_dlq.poll()

    def execution_arn(self, order_id: str) -> str:
        return self.stack.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{order_id}"

    def execution_status(self, order_id: str) -> str | None:
        try:
            return str(self.sfn.describe_execution(executionArn=self.execution_arn(order_id))["status"])
        except self.sfn.exceptions.ExecutionDoesNotExist:
            return None

    def run_until(
        self, done: Callable[[], bool], timeout: float, what: str, watch: Callable[[], None] | None = None
    ) -> None:
        """Pump the event sources until `done()`; `watch` runs after every round (to check something throughout)."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.diagnosis()}")
            moved = self.pump()
            if watch is not None:
                watch()
            if not moved:
                time.sleep(0.01)

    def finish(
        self, *order_ids: str, timeout: float = 30.0, watch: Callable[[], None] | None = None
    ) -> dict[str, Execution]:
        """Run the system until every order's execution has ended; then deliver the last stream records."""
        self.run_until(
            lambda: all(self.execution_status(o) not in (None, "RUNNING") for o in order_ids),
            timeout,
            f"the executions of {', '.join(order_ids)} to end",
            watch,
        )
        while self.pump():
            pass
        return {order_id: self.execution(order_id) for order_id in order_ids}

    def wait_for_status(self, order_id: str, status: str, timeout: float = 20.0) -> dict[str, Any]:
        self.run_until(lambda: self.order(order_id)["status"] == status, timeout, f"order {order_id} to be {status}")
        return self.order(order_id)

    def diagnosis(self) -> str:
        """Where each execution is and what failed lately: the part of a timeout's message that explains it."""
        lines = []
        for summary in self.executions():
            run = self.execution(summary["name"])
            where = run.states_entered[-1] if run.states_entered else "-"
            lines.append(f"  execution {summary['name']}: {run.status}, last state entered {where}")
        lines += [f"  {function} raised {error}: {message}" for function, error, message in FUNCTION_ERRORS[-5:]]
        return "\n".join(lines)

    def execution(self, order_id: str) -> Execution:
        arn = self.execution_arn(order_id)
        status = str(self.sfn.describe_execution(executionArn=arn)["status"])
        events: list[dict[str, Any]] = []
        for page in self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events.extend(page["events"])
        return Execution(order_id=order_id, status=status, history=events)

    def executions(self) -> list[dict[str, Any]]:
        return list(self.sfn.list_executions(stateMachineArn=self.stack.state_machine_arn)["executions"])

    def stop_running(self) -> None:
        running = self.sfn.list_executions(stateMachineArn=self.stack.state_machine_arn, statusFilter="RUNNING")
        for execution in running["executions"]:
            self.sfn.stop_execution(executionArn=execution["executionArn"])

    # -- reading the tables --------------------------------------------------------------------------------------

    def _scan(self, table: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        with HANDLER_LOCK:
            for page in self.dynamodb.get_paginator("scan").paginate(TableName=TABLE_NAMES[table], ConsistentRead=True):
                items.extend(plain(item) for item in page["Items"])
        return items

    def order(self, order_id: str) -> dict[str, Any]:
        with HANDLER_LOCK:
            item = self.dynamodb.get_item(
                TableName=TABLE_NAMES["OrdersTable"],
                Key={"customerId": {"S": self.customers[order_id]}, "sk": {"S": f"ORDER#{order_id}"}},
                ConsistentRead=True,
            )["Item"]
        return plain(item)

    def payment_state(self, order_id: str) -> str | None:
        payment = self.payment(order_id)
        return None if payment is None else str(payment["paymentState"])

    def approval_state(self, order_id: str) -> str | None:
        approval = self.approval(order_id)
        return None if approval is None else str(approval["approvalState"])

    def payment(self, order_id: str) -> dict[str, Any] | None:
        with HANDLER_LOCK:
            item = self.dynamodb.get_item(
                TableName=TABLE_NAMES["OrdersTable"],
                Key={"customerId": {"S": self.customers[order_id]}, "sk": {"S": f"PAYMENT#{order_id}"}},
                ConsistentRead=True,
            ).get("Item")
        return plain(item) if item else None

    def approval(self, order_id: str) -> dict[str, Any] | None:
        with HANDLER_LOCK:
            item = self.dynamodb.get_item(
                TableName=TABLE_NAMES["OrdersTable"],
                Key={"customerId": {"S": self.customers[order_id]}, "sk": {"S": f"APPROVAL#{order_id}"}},
                ConsistentRead=True,
            ).get("Item")
        return plain(item) if item else None

    def stock(self, product_id: str) -> dict[str, int]:
        with HANDLER_LOCK:
            item = plain(
                self.dynamodb.get_item(
                    TableName=TABLE_NAMES["CatalogTable"], Key={"productId": {"S": product_id}}, ConsistentRead=True
                )["Item"]
            )
        return {counter: int(item[counter]) for counter in ("available", "reserved", "sold")}

    def notifications(self) -> list[dict[str, Any]]:
        """Everything published to the notifications topic so far (drains the tap queue)."""
        published: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.notifications_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                break
            for message in messages:
                published.append(json.loads(json.loads(message["Body"])["Message"]))
                self.sqs.delete_message(QueueUrl=self.notifications_url, ReceiptHandle=message["ReceiptHandle"])
        self.published.extend(published)
        return list(self.published)

    # -- invariants ----------------------------------------------------------------------------------------------

    def assert_invariants(self, *, left_open: Mapping[str, str] | None = None) -> None:
        """What must hold after every path (left_open: orders a path expects in a non-final status)."""
        left_open = left_open or {}
        products = {item["productId"]: item for item in self._scan("CatalogTable")}
        items = self._scan("OrdersTable")
        orders = [item for item in items if item.get("kind") == "ORDER"]
        payments = [item for item in items if str(item["sk"]).startswith("PAYMENT#")]

        # Stock: never negative, nothing created or lost, and the counters agree with the orders' markers.
        held_by_orders: dict[str, Counter[str]] = {"RESERVED": Counter(), "COMMITTED": Counter()}
        for order in orders:
            for line in order["items"] if order.get("stockState") in held_by_orders else []:
                held_by_orders[order["stockState"]][line["productId"]] += line["quantity"]
        reserved, sold = held_by_orders["RESERVED"], held_by_orders["COMMITTED"]
        for product_id, initial in self.initial_stock.items():
            counters = products[product_id]
            available, held, gone = counters["available"], counters["reserved"], counters["sold"]
            assert min(available, held, gone) >= 0, f"{product_id}: negative stock {counters}"
            assert available + held + gone == initial, f"{product_id}: {counters} does not add up to {initial}"
            assert held == reserved[product_id], f"{product_id}: reserved {held}, orders hold {reserved[product_id]}"
            assert gone == sold[product_id], f"{product_id}: sold {gone}, shipped orders took {sold[product_id]}"

        # Money: what is captured (and not refunded) is exactly what shipped.
        captured = [p for p in payments if p.get("paymentState") == "CAPTURED"]
        shipped = [o for o in orders if o["status"] in ("SHIPPED", "DELIVERED")]
        assert sum(p["amountCents"] for p in captured) == sum(o["totalCents"] for o in shipped), (
            f"captured {[(p['paymentFor'], p['amountCents']) for p in captured]} but shipped "
            f"{[(o['orderId'], o['totalCents']) for o in shipped]}"
        )
        assert sorted(p["paymentFor"] for p in captured) == sorted(o["orderId"] for o in shipped)

        # Every order whose workflow ended is in a final status; one that did not ship holds nothing.
        for order in orders:
            status = self.execution_status(order["orderId"])
            if status in (None, "RUNNING"):
                continue
            expected_open = left_open.get(order["orderId"])
            assert order["status"] in WORKFLOW_FINAL | {"DELIVERED"} or order["status"] == expected_open, (
                f"order {order['orderId']} is {order['status']} but its execution is {status}"
            )
            if order["status"] not in ("SHIPPED", "DELIVERED"):
                assert order.get("stockState") != "RESERVED", f"order {order['orderId']} still holds stock"


@dataclass
class PathFigure:
    """One path through the workflow, as recorded by the test that took it."""

    path: str
    executions: int
    state_transitions: int
    retries: int
    states: list[str]


@dataclass
class WorkflowFigures:
    """What the workflow tests measured: per path, the state transitions (StateEntered events) and retries it
    took, and the suite's wall time."""

    output: Path | None = None
    paths: list[PathFigure] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    tests: int = 0

    def record(self, path: str, *executions: Execution) -> None:
        states = executions[0].states_entered if len(executions) == 1 else []
        transitions = sum(execution.transitions for execution in executions)
        retries = sum(execution.retries for execution in executions)
        self.paths.append(PathFigure(path, len(executions), transitions, retries, states))

    @property
    def wall_seconds(self) -> float:
        return (self.finished or 0.0) - (self.started or 0.0)

    def write(self) -> None:
        if self.output is None:
            return
        self.output.write_text(
            json.dumps(
                {
                    "wallSeconds": round(self.wall_seconds, 2),
                    "tests": self.tests,
                    "paths": [asdict(figure) for figure in self.paths],
                },
                indent=2,
            )
        )


@contextmanager
def running_shop(approval_timeout_seconds: int = LONG_APPROVAL_TIMEOUT_SECONDS) -> Iterator[Shop]:
    """A fresh moto account with the workflow deployed and the demo catalog seeded."""
    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        mock.patch.object(LambdaFunction, "_invoke_lambda", _invoke_in_process),
    ):
        FUNCTION_ERRORS.clear()
        stack = provision(approval_timeout_seconds)
        seed(TABLE_NAMES["CatalogTable"], client("dynamodb"))
        shop = Shop(stack)
        try:
            yield shop
        finally:
            # Executions run on daemon threads: none may outlive this moto account.
            shop.stop_running()

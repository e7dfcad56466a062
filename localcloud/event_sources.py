"""The event sources of one cloud, from what provisioning kept: SQS queues and DynamoDB streams polled for their
functions (the event source mappings), EventBridge schedules, DynamoDB's TTL deletions, and the user pools'
PostConfirmation triggers; all run by one set of pollers (localcloud.pollers), woken by the endpoint's doorbell.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from functools import partial
from typing import Any

from localcloud import pollers
from localcloud.doorbell import Doorbell
from localcloud.faults import Call, FaultPlan
from localcloud.firehose import DeliveryStream, transform_with
from localcloud.functions import Functions
from localcloud.kinesis_forwarding import KinesisStreamingDestination
from localcloud.provisioning import Provisioner
from localcloud.triggers import PostConfirmation, PostConfirmations


def start_event_sources(
    provisioned: Provisioner,
    functions: Functions,
    *,
    sqs: Any,
    streams: Any,
    faults: FaultPlan,
    doorbell: Doorbell,
    dynamodb_lock: threading.RLock,
    poll_interval: float,
    also: Sequence[pollers.PolledSource] = (),
) -> pollers.Pollers:
    """Every event source of the stack, polling (the asynchronous invocations' queue included), and `also` (the
    order history's streams, from data_streams)."""
    items: list[Any] = [
        *_mappings(provisioned, functions, sqs=sqs, streams=streams, faults=faults),
        *_schedules(provisioned, functions),
        *_ttl_reapers(provisioned, dynamodb_lock),
        functions.asynchronous,
        *also,
    ]
    running = pollers.Pollers(items, interval_seconds=poll_interval, doorbell=doorbell)
    running.start()
    return running


def data_streams(
    provisioned: Provisioner, functions: Functions, dynamodb_lock: threading.RLock
) -> tuple[list[KinesisStreamingDestination], list[DeliveryStream]]:
    """The tables' Kinesis data stream destinations (KinesisStreamSpecification) and the Firehose delivery streams
    that read Kinesis streams into S3 (docs/data-lake.md), with the transformation function run by the runtime."""
    kinesis_lock = threading.RLock()  # moto's Kinesis shards take one writer or reader at a time
    destinations = [
        KinesisStreamingDestination(
            account_id=provisioned.account_id,
            region=provisioned.region,
            table_name=name,
            stream_name=str(props["KinesisStreamSpecification"]["StreamArn"]).rsplit("/", 1)[1],
            dynamodb_lock=dynamodb_lock,
            kinesis_lock=kinesis_lock,
        )
        for name, props in provisioned.tables.values()
        if props.get("KinesisStreamSpecification")
    ]
    s3 = provisioned.client("s3")
    invoke = pollers.invoke_with(functions.runtime)
    deliveries = []
    for logical_id, props in provisioned.records.get("AWS::KinesisFirehose::DeliveryStream", {}).items():
        processors = props.get("ExtendedS3DestinationConfiguration", {}).get("ProcessingConfiguration", {})
        function = next(
            (
                str(parameter["ParameterValue"])
                for processor in processors.get("Processors", [])
                for parameter in processor.get("Parameters", [])
                if parameter.get("ParameterName") == "LambdaArn"
            ),
            None,
        )
        deliveries.append(
            DeliveryStream.from_properties(
                str(provisioned.resolver.refs[logical_id]),
                props,
                put_object=lambda bucket, key, body: s3.put_object(Bucket=bucket, Key=key, Body=body),
                transform=transform_with(invoke, function) if function else None,
                kinesis_lock=kinesis_lock,
            )
        )
    return destinations, deliveries


def post_confirmations(provisioned: Provisioner, functions: Functions) -> PostConfirmations:
    """The user pools' PostConfirmation triggers, which Cognito calls synchronously inside the confirmation."""
    confirmations: list[PostConfirmation] = []
    for trigger, pool_id, function in provisioned.triggers:
        if trigger == "PostConfirmation":
            confirmations.append(PostConfirmation(user_pool_id=pool_id, function=function, region=provisioned.region))
        else:
            provisioned.log(f"Cognito trigger {trigger} is not emulated")

    def invoke_trigger(function: str, event: dict[str, Any]) -> tuple[bool, bytes]:
        result = functions.runtime.invoke(function, event)
        return result.errored, result.payload

    return PostConfirmations(confirmations, invoke_trigger)


def _mappings(
    provisioned: Provisioner, functions: Functions, *, sqs: Any, streams: Any, faults: FaultPlan
) -> list[Any]:
    invoke = pollers.invoke_with(functions.runtime)
    queues_by_arn = provisioned.queue_urls_by_arn()
    # A stream is known by its table in fault rules: the table's logical id and name.
    tables_by_stream = {
        attributes["StreamArn"]: (logical_id, str(provisioned.resolver.refs[logical_id]))
        for logical_id, attributes in provisioned.resolver.attributes.items()
        if attributes.get("StreamArn")
    }
    items: list[Any] = []
    for mapping in provisioned.records.get("AWS::Lambda::EventSourceMapping", {}).values():
        if str(mapping.get("Enabled", True)).lower() == "false":  # a mapping switched off polls nothing
            continue
        source = str(mapping["EventSourceArn"])
        filters = [entry["Pattern"] for entry in mapping.get("FilterCriteria", {}).get("Filters", [])]
        report = "ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", [])
        function = str(mapping["FunctionName"])
        if source.startswith("arn:aws:sqs:"):
            queue_url = queues_by_arn[source]
            queue_names = (*provisioned.names_of(source), queue_url, source.rsplit(":", 1)[1])
            items.append(
                pollers.SqsPoller(
                    function=function,
                    queue_url=queue_url,
                    queue_arn=source,
                    batch_size=int(mapping.get("BatchSize", 10)),
                    batching_window_seconds=float(mapping.get("MaximumBatchingWindowInSeconds", 0)),
                    report_batch_item_failures=report,
                    invoke=invoke,
                    sqs=sqs,
                    filters=filters,
                    faults=faults,
                    known_as=Call(function=functions.names_of(function), source=queue_names),
                )
            )
            continue
        on_failure = mapping.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        items.append(
            pollers.StreamPoller(
                function=function,
                stream_arn=source,
                starting_position=str(mapping.get("StartingPosition", "LATEST")),
                batch_size=int(mapping.get("BatchSize", 100)),
                batching_window_seconds=float(mapping.get("MaximumBatchingWindowInSeconds", 0)),
                filters=filters,
                bisect_on_error=bool(mapping.get("BisectBatchOnFunctionError", False)),
                maximum_retry_attempts=int(mapping.get("MaximumRetryAttempts", -1)),
                report_batch_item_failures=report,
                on_failure_queue_url=queues_by_arn.get(on_failure) if on_failure else None,
                invoke=invoke,
                streams=streams,
                sqs=sqs,
                faults=faults,
                known_as=Call(
                    function=functions.names_of(function), source=(source, *tables_by_stream.get(source, ()))
                ),
            )
        )
    return items


def _schedules(provisioned: Provisioner, functions: Functions) -> list[Any]:
    items: list[Any] = []
    for logical_id, rule in provisioned.records.get("AWS::Events::Rule", {}).items():
        expression = rule.get("ScheduleExpression")
        rule_arn = (
            f"arn:aws:events:{provisioned.region}:{provisioned.account_id}:rule/{provisioned.stack_name}-{logical_id}"
        )
        for target in rule.get("Targets", []) if expression else []:
            arn = str(target["Arn"])
            items.append(
                pollers.Schedule(
                    function=arn,
                    expression=str(expression),
                    # EventBridge starts a state machine's execution with the event as its input, and invokes a
                    # function asynchronously: Lambda retries it, and reports what fails.
                    invoke=partial(_start_execution, provisioned, logical_id)
                    if arn.startswith("arn:aws:states:")
                    else partial(functions.asynchronous.submit, source=(rule_arn, logical_id)),
                    rule_arn=rule_arn,
                )
            )
    return items


def _start_execution(provisioned: Provisioner, rule: str, state_machine_arn: str, event: dict[str, Any]) -> None:
    # EventBridge names an execution it starts with a unique id; the rule's name keeps it readable here.
    name = f"{rule}-{event['id']}"[:80]
    provisioned.client("stepfunctions").start_execution(
        stateMachineArn=state_machine_arn, name=name, input=json.dumps(event)
    )


def _ttl_reapers(provisioned: Provisioner, dynamodb_lock: threading.RLock) -> list[Any]:
    items: list[Any] = []
    for name, props in provisioned.tables.values():
        ttl = props.get("TimeToLiveSpecification", {})
        if ttl.get("Enabled"):
            items.append(
                pollers.TtlReaper(
                    table_name=name,
                    ttl_attribute=ttl["AttributeName"],
                    account_id=provisioned.account_id,
                    region=provisioned.region,
                    backend_lock=dynamodb_lock,
                )
            )
    return items

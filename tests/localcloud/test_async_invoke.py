"""Lambda's asynchronous invocation on the local cloud (localcloud.async_invoke): retries of function errors,
backoff from throttles and service errors, maximum event age, the on-failure destination, and schedules using it.
Short retry delays stand in for AWS's minutes; the destination is a queue on moto's server."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

import boto3
import pytest
from moto.server import ThreadedMotoServer

from localcloud.async_invoke import AsyncInvoker, InvokeConfig, RetryDelays
from localcloud.faults import Fault, FaultPlan, Rule
from localcloud.pollers import Pollers, Refusal, Schedule, invoke_with
from localcloud.workers import Runtime, ServiceError, TooManyRequestsError
from tests.localcloud.behaviours import ERROR, FakeFunction, in_turn, raises, throttles

pytestmark = pytest.mark.enable_socket

ACCOUNT_ID = "123456789012"
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REGION = "us-east-1"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/shop-NightlyReportFunctionNightly"
# AWS waits minutes; these keep the same shape (the second wait longer than the first) in a fraction of a second.
QUICK = RetryDelays(after_function_error=(0.1, 0.2), first_refusal=0.05, longest_refusal=0.2)


@pytest.fixture(scope="module")
def sqs() -> Iterator[Any]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    session = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=FAKE_CREDENTIALS["aws_secret_access_key"],
        region_name=REGION,
    )
    try:
        yield session.client("sqs", endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def on_failure(sqs: Any) -> str:
    url: str = sqs.create_queue(QueueName=f"async-failures-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    return url


def invoker(
    sqs: Any, function: FakeFunction, configs: dict[tuple[str, str], InvokeConfig], **settings: Any
) -> AsyncInvoker:
    return AsyncInvoker(
        invoke=function, sqs=sqs, region=REGION, account_id=ACCOUNT_ID, configs=configs, delays=QUICK, **settings
    )


def run_until_done(async_invoker: AsyncInvoker, timeout: float = 5.0) -> None:
    """Poll as the event sources' thread does, until no event waits any more."""
    deadline = time.monotonic() + timeout
    while async_invoker.waiting:
        assert time.monotonic() < deadline, "events still waiting"
        async_invoker.poll_once()
        time.sleep(0.01)


def records(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


# --------------------------------------------------------------------------------------------------------------
# Accepting, retrying, giving up
# --------------------------------------------------------------------------------------------------------------


def test_an_event_is_accepted_at_once_and_run_later(sqs: Any) -> None:
    function = FakeFunction()
    async_invoker = invoker(sqs, function, {})

    async_invoker.submit("notify", {"n": 1})
    accepted = list(function.calls)
    async_invoker.poll_once()

    assert accepted == []
    assert function.calls == [("notify", {"n": 1})]
    assert async_invoker.waiting == 0


def test_a_function_error_is_retried_maximum_retry_attempts_times_then_recorded_on_the_failure_queue(
    sqs: Any, on_failure: str
) -> None:
    function = FakeFunction(raises)
    config = InvokeConfig(maximum_retry_attempts=2, on_failure_queue_url=on_failure)
    async_invoker = invoker(sqs, function, {("notify", "$LATEST"): config})

    request_id = async_invoker.submit("notify", {"orderId": "o-1"})
    run_until_done(async_invoker)

    assert function.calls == [("notify", {"orderId": "o-1"})] * 3  # the attempt and its two retries
    first_wait, second_wait = function.gaps()  # the delays of the setting, in order
    assert first_wait >= 0.1
    assert second_wait >= 0.2
    (record,) = records(sqs, on_failure)
    assert set(record) == {
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    }
    assert record["version"] == "1.0"
    assert datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).tzinfo is not None
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:notify:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == {"orderId": "o-1"}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"] == ERROR


def test_a_throttled_event_is_retried_with_backoff_until_it_runs_and_uses_no_retries(sqs: Any, on_failure: str) -> None:
    function = FakeFunction(in_turn(throttles, throttles, throttles))
    config = InvokeConfig(maximum_retry_attempts=0, on_failure_queue_url=on_failure)
    async_invoker = invoker(sqs, function, {("notify", "$LATEST"): config})

    async_invoker.submit("notify", {"n": 1})
    run_until_done(async_invoker)

    assert len(function.calls) == 4
    assert all(gap >= 0.05 * 2**n for n, gap in enumerate(function.gaps()))  # the waits double: 0.05, 0.1, 0.2 s
    assert records(sqs, on_failure) == []


def test_an_event_older_than_its_maximum_age_goes_to_the_destination_as_event_age_exceeded(
    sqs: Any, on_failure: str
) -> None:
    function = FakeFunction(throttles)
    config = InvokeConfig(maximum_event_age_seconds=0.5, on_failure_queue_url=on_failure)
    async_invoker = invoker(sqs, function, {("notify", "$LATEST"): config})
    submitted = time.monotonic()

    async_invoker.submit("notify", {"n": 1})
    run_until_done(async_invoker)

    assert 0.5 <= time.monotonic() - submitted < 2.0
    (record,) = records(sqs, on_failure)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == len(function.calls) > 1
    assert record["responseContext"] == {"statusCode": 429}
    assert record["responsePayload"]["errorType"] == "TooManyRequestsException"


def test_an_events_invoke_config_applies_to_its_qualifier_only(sqs: Any, on_failure: str) -> None:
    function = FakeFunction(raises)
    config = InvokeConfig(maximum_retry_attempts=0, on_failure_queue_url=on_failure)
    async_invoker = invoker(sqs, function, {("notify", "live"): config})

    async_invoker.submit("notify:live", {"through": "alias"})
    async_invoker.submit("notify", {"through": "function"})
    run_until_done(async_invoker)

    tried = [event["through"] for _, event in function.calls]
    assert (tried.count("alias"), tried.count("function")) == (1, 3)  # the alias's 0 retries; Lambda's default 2
    (record,) = records(sqs, on_failure)
    assert record["requestContext"]["functionArn"].endswith(":function:notify:live")


def test_without_a_destination_an_event_lambda_gives_up_on_is_dropped_and_logged(
    sqs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    function = FakeFunction(raises)
    async_invoker = invoker(sqs, function, {("notify", "$LATEST"): InvokeConfig(maximum_retry_attempts=1)})

    with caplog.at_level(logging.WARNING, logger="localcloud.async_invoke"):
        async_invoker.submit("notify", {"n": 1})
        run_until_done(async_invoker)

    assert len(function.calls) == 2
    assert [record.getMessage() for record in caplog.records] == ["asynchronous event dropped"]


def test_redeliver_fault_runs_an_event_that_succeeded_once_more_and_only_once(sqs: Any) -> None:
    plan = FaultPlan()
    plan.add([Rule(Fault.REDELIVER, function="NightlyReportFunction", source="NightlyReportFunctionNightly")])
    function = FakeFunction()
    names = {"shop-NightlyReport": ("shop-NightlyReport", "NightlyReportFunction")}
    async_invoker = invoker(sqs, function, {}, faults=plan, function_names=names.__getitem__)

    async_invoker.submit("shop-NightlyReport", {"n": 1}, source=(RULE_ARN, "NightlyReportFunctionNightly"))
    run_until_done(async_invoker)

    assert function.calls == [("shop-NightlyReport", {"n": 1})] * 2
    assert plan.injected == 1


# --------------------------------------------------------------------------------------------------------------
# What goes through it
# --------------------------------------------------------------------------------------------------------------


def test_a_schedules_invocation_goes_through_lambdas_asynchronous_retries(sqs: Any) -> None:
    function = FakeFunction(in_turn(raises))
    async_invoker = invoker(sqs, function, {})
    nightly = Schedule(
        function="nightly", expression="cron(15 3 * * ? *)", invoke=async_invoker.submit, rule_arn=RULE_ARN
    )

    sent = nightly.fire_now()
    fired = list(function.calls)
    pollers = Pollers([async_invoker], interval_seconds=0.02)
    pollers.start()
    try:
        deadline = time.monotonic() + 5
        while len(function.calls) < 2:
            assert time.monotonic() < deadline, "the schedule's event was not retried"
            time.sleep(0.02)
    finally:
        pollers.stop()

    assert fired == []  # EventBridge's invocation was only accepted
    assert function.calls == [("nightly", sent)] * 2  # failed, then retried by Lambda


class _RefusingRuntime:
    def __init__(self, refusal: Exception) -> None:
        self.refusal = refusal

    def invoke(self, name_or_arn: str, event: Any) -> Any:
        raise self.refusal


@pytest.mark.parametrize(
    ("raised", "refused", "status"),
    [
        (TooManyRequestsError("ConcurrentInvocationLimitExceeded"), Refusal.THROTTLED, 429),
        (ServiceError(), Refusal.SERVICE_ERROR, 500),
    ],
    ids=["throttle", "service-error"],
)
def test_lambdas_refusals_reach_event_sources_as_refused_outcomes_not_function_errors(
    raised: Exception, refused: Refusal, status: int
) -> None:
    invoke = invoke_with(cast(Runtime, _RefusingRuntime(raised)))

    outcome = invoke("notify", {})

    assert (outcome.refused, outcome.errored, outcome.payload["errorType"]) == (refused, True, str(refused))
    assert refused.status_code == status

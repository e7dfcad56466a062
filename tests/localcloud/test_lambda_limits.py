"""Lambda's refusals as its callers see them on the local cloud: boto3's ClientError, Step Functions' task errors
and API Gateway's 500, for a function reserved at 0 and for faults from the plan (tests/localcloud/limits)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.cloud import FAKE_CREDENTIALS, LocalCloud
from localcloud.faults import Fault, Rule

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])
TEMPLATE = Path(__file__).with_name("limits") / "template.yaml"


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    # Module scope: moto's backends are process-wide, so the cloud must be gone before other tests' mock_aws.
    cloud = LocalCloud(template=TEMPLATE, stack_name="limits", api_port=0, account_concurrency=5, log=lambda _: None)
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture(autouse=True)
def no_rules_left_behind(cloud: LocalCloud) -> Iterator[None]:
    yield
    cloud.faults.clear()


def lambda_client(cloud: LocalCloud) -> Any:
    """A boto3 client that shows the first answer, as a caller that does its own retries sees it."""
    return boto3.client(
        "lambda",
        endpoint_url=cloud.aws_url,
        region_name=cloud.region,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 0}),
    )


def refusal(cloud: LocalCloud, logical_id: str) -> dict[str, Any]:
    with pytest.raises(ClientError) as refused:
        lambda_client(cloud).invoke(FunctionName=cloud.function_names[logical_id], Payload=b"{}")
    return cast(dict[str, Any], refused.value.response)


def greet_through_the_state_machine(cloud: LocalCloud, logical_id: str) -> tuple[dict[str, Any], list[str]]:
    """Run the state machine on the function; its final description and the error of each failed task attempt."""
    assert cloud.endpoints is not None
    stepfunctions = cloud.client("stepfunctions")
    execution = stepfunctions.start_execution(
        stateMachineArn=cloud.endpoints.outputs["GreetingArn"],
        name=f"greet-{uuid.uuid4()}",
        input=json.dumps({"function": cloud.function_names[logical_id]}),
    )["executionArn"]
    deadline = time.monotonic() + 30
    while (description := stepfunctions.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish"
        time.sleep(0.1)
    events = stepfunctions.get_execution_history(executionArn=execution)["events"]
    failures = [event["taskFailedEventDetails"]["error"] for event in events if event["type"] == "TaskFailed"]
    return description, failures


# --- Lambda's Invoke API ----------------------------------------------------------------------------------


def test_invoking_a_function_reserved_at_zero_is_a_429_too_many_requests_exception_with_its_reason(
    cloud: LocalCloud,
) -> None:
    error = refusal(cloud, "Closed")

    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_an_injected_throttle_is_a_429_for_the_account_limit_and_the_next_invoke_answers(cloud: LocalCloud) -> None:
    cloud.faults.add([Rule(Fault.LAMBDA_THROTTLE, function="Greeter", nth=1)])

    error = refusal(cloud, "Greeter")
    answered = lambda_client(cloud).invoke(FunctionName=cloud.function_names["Greeter"], Payload=b"{}")

    assert (error["Error"]["Code"], error["Reason"]) == (
        "TooManyRequestsException",
        "ConcurrentInvocationLimitExceeded",
    )
    assert json.loads(json.load(answered["Payload"])["body"]) == {"greeting": "hello"}


def test_an_injected_service_error_is_a_500_service_exception(cloud: LocalCloud) -> None:
    cloud.faults.add([Rule(Fault.LAMBDA_SERVICE_ERROR, function="Greeter")])

    error = refusal(cloud, "Greeter")

    assert error["Error"]["Code"] == "ServiceException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 500


# --- Step Functions' lambda:invoke tasks --------------------------------------------------------------------


def test_step_functions_retries_a_throttled_task_as_lambda_too_many_requests_exception(cloud: LocalCloud) -> None:
    cloud.faults.add([Rule(Fault.LAMBDA_THROTTLE, function="Greeter", nth=1)])

    execution, failures = greet_through_the_state_machine(cloud, "Greeter")

    assert failures == ["Lambda.TooManyRequestsException"]
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(json.loads(execution["output"])["body"]) == {"greeting": "hello"}


def test_step_functions_catches_a_task_still_throttled_after_its_retry(cloud: LocalCloud) -> None:
    execution, failures = greet_through_the_state_machine(cloud, "Closed")

    assert failures == ["Lambda.TooManyRequestsException"] * 2  # the attempt and its one retry
    caught = json.loads(execution["output"])["error"]
    assert caught["Error"] == "Lambda.TooManyRequestsException"
    assert "Status Code: 429" in caught["Cause"]


def test_step_functions_sees_an_injected_service_error_as_lambda_service_exception(cloud: LocalCloud) -> None:
    cloud.faults.add([Rule(Fault.LAMBDA_SERVICE_ERROR, function="Greeter")])

    execution, failures = greet_through_the_state_machine(cloud, "Greeter")

    assert failures == ["Lambda.ServiceException"]  # not among the errors the task retries
    assert json.loads(execution["output"])["error"]["Error"] == "Lambda.ServiceException"


# --- The API (Lambda proxy integrations) --------------------------------------------------------------------


def test_the_api_answers_500_when_lambda_throttles_the_function(cloud: LocalCloud) -> None:
    assert cloud.endpoints is not None

    response = requests.get(f"{cloud.endpoints.api}/closed", timeout=10)

    assert response.status_code == 500
    assert response.json()["title"] == "Internal Server Error"


@pytest.mark.parametrize(
    ("rule", "status"),
    [
        (Rule(Fault.LAMBDA_THROTTLE, function="Greeter"), 500),
        (Rule(Fault.LAMBDA_SERVICE_ERROR, function="Greeter"), 500),
        (Rule(Fault.LAMBDA_ERROR, function="Greeter", error="CarrierUnavailable"), 502),
    ],
    ids=["throttle", "service-error", "function-error"],
)
def test_the_api_answers_500_when_lambda_refuses_the_invoke_and_502_when_the_function_fails(
    cloud: LocalCloud, rule: Rule, status: int
) -> None:
    assert cloud.endpoints is not None
    cloud.faults.add([rule])

    refused = requests.get(f"{cloud.endpoints.api}/greet", timeout=10)
    cloud.faults.clear()
    answered = requests.get(f"{cloud.endpoints.api}/greet", timeout=10)

    assert (refused.status_code, refused.json()["status"]) == (status, status)
    assert (answered.status_code, answered.json()) == (200, {"greeting": "hello"})


# --- The runtime ---------------------------------------------------------------------------------------------------


def test_a_function_runs_on_the_python_its_template_names(cloud: LocalCloud) -> None:
    # template.yaml says python3.13; `make install` makes .venv/lambda-python3.13 when this machine has a 3.13.
    assert cloud.endpoints is not None
    lambda_python = Path(__file__).resolve().parents[2] / ".venv" / "lambda-python3.13" / "bin" / "python"
    if not lambda_python.is_file():
        pytest.skip("no Python 3.13 on this machine: make install could not make .venv/lambda-python3.13")

    response = requests.get(f"{cloud.endpoints.api}/greet", timeout=10)

    assert response.status_code == 200
    assert response.headers["X-Python"].startswith("3.13.")
    assert cloud.specs["Greeter"].python == str(lambda_python)


def test_each_invocations_output_is_in_its_cloudwatch_log_group_as_lambda_writes_it(cloud: LocalCloud) -> None:
    assert cloud.endpoints is not None
    group = f"/aws/lambda/{cloud.function_names['Greeter']}"  # no LoggingConfig: Lambda's default group
    logs = cloud.client("logs")

    requests.get(f"{cloud.endpoints.api}/greet", timeout=10)
    messages = [event["message"] for event in logs.filter_log_events(logGroupName=group)["events"]]

    starts = [m for m in messages if m.startswith("START RequestId: ")]
    request_id = starts[-1].split()[2]
    last = messages[messages.index(starts[-1]) :]
    assert last[1] == "greeting /greet"  # what the handler printed, between Lambda's own lines
    assert last[2] == f"END RequestId: {request_id}"
    assert last[3].startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    assert "Memory Size: 128 MB" in last[3]

"""The fulfillment DLQ handler: a shipment job that exhausted its receives fails its waiting workflow task with
ShippingFailed, so the workflow refunds, releases the stock and settles the order. Nothing waits forever."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.fakes import StepFunctionsStub
from tests.unit.functions.given import emitted_metrics, job_of, records_event, sqs_record

JOB = job_of("fulfillment_dlq")


@pytest.fixture
def fulfillment_dlq(dynamodb: Any) -> ModuleType:
    return load_function("fulfillment_dlq")


@pytest.fixture
def sfn(fulfillment_dlq: ModuleType, step_functions: Callable[[ModuleType], StepFunctionsStub]) -> StepFunctionsStub:
    return step_functions(fulfillment_dlq)


def handle(module: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = module.lambda_handler(event, FakeLambdaContext())
    return response


def test_an_abandoned_job_fails_its_task_with_shipping_failed(
    fulfillment_dlq: ModuleType, sfn: StepFunctionsStub, capsys: pytest.CaptureFixture[str]
) -> None:
    receives = read_event("fulfillment_dlq")["Records"][0]["attributes"]["ApproximateReceiveCount"]

    response = handle(fulfillment_dlq, read_event("fulfillment_dlq"))

    assert response == {"batchItemFailures": []}
    [failure] = sfn.calls_to("SendTaskFailure")
    assert failure["taskToken"] == JOB["taskToken"]
    assert failure["error"] == "ShippingFailed"
    assert JOB["orderId"] in failure["cause"]
    assert f"after {receives} attempts" in failure["cause"]
    assert sfn.calls_to("SendTaskSuccess") == []
    assert emitted_metrics(capsys.readouterr().out)["ShipmentsAbandoned"] == [1.0]


def test_every_job_of_a_batch_fails_its_own_task(fulfillment_dlq: ModuleType, sfn: StepFunctionsStub) -> None:
    jobs = [JOB | {"orderId": order_id, "taskToken": f"token-of-{order_id}"} for order_id in ("ord_a", "ord_b")]

    response = handle(fulfillment_dlq, records_event(*(sqs_record("fulfillment_dlq", job) for job in jobs)))

    assert response == {"batchItemFailures": []}
    failures = sfn.calls_to("SendTaskFailure")
    assert [(call["taskToken"], call["error"]) for call in failures] == [
        ("token-of-ord_a", "ShippingFailed"),
        ("token-of-ord_b", "ShippingFailed"),
    ]


def test_a_task_that_already_ended_is_not_a_failure(fulfillment_dlq: ModuleType, sfn: StepFunctionsStub) -> None:
    sfn.answer_with_error(JOB["taskToken"], "TaskDoesNotExist")

    response = handle(fulfillment_dlq, read_event("fulfillment_dlq"))

    assert response == {"batchItemFailures": []}
    assert len(sfn.calls_to("SendTaskFailure")) == 1

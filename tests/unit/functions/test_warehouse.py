"""The warehouse: shipment jobs from the fulfillment queue, in batches; each shipped job answers its waiting
workflow task with a tracking number, and a job that fails is reported alone (partial batch response)."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from shop.usecases.warehouse import tracking_number_for
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.fakes import StepFunctionsStub
from tests.unit.functions.given import emitted_metrics, job_of, records_event, sqs_record

JOB = job_of("warehouse")


@pytest.fixture
def warehouse(dynamodb: Any) -> ModuleType:
    return load_function("warehouse")


@pytest.fixture
def sfn(warehouse: ModuleType, step_functions: Callable[[ModuleType], StepFunctionsStub]) -> StepFunctionsStub:
    return step_functions(warehouse)


def handle(module: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = module.lambda_handler(event, FakeLambdaContext())
    return response


def a_job(order_id: str, *, line1: str = "1 Market Street") -> dict[str, Any]:
    """The event file's job for another order (its own task token), shipping to `line1`."""
    return JOB | {
        "orderId": order_id,
        "taskToken": f"token-of-{order_id}",
        "shippingAddress": JOB["shippingAddress"] | {"line1": line1},
    }


def test_the_event_files_job_is_shipped_and_the_workflow_resumed_with_its_tracking_number(
    warehouse: ModuleType, sfn: StepFunctionsStub, capsys: pytest.CaptureFixture[str]
) -> None:
    response = handle(warehouse, read_event("warehouse"))

    assert response == {"batchItemFailures": []}
    assert sfn.calls_to("SendTaskSuccess") == [
        {"taskToken": JOB["taskToken"], "output": json.dumps({"trackingNumber": tracking_number_for(JOB["orderId"])})}
    ]
    assert emitted_metrics(capsys.readouterr().out)["ShipmentsDispatched"] == [1.0]


def test_an_undeliverable_job_is_the_only_failure_of_its_batch(warehouse: ModuleType, sfn: StepFunctionsStub) -> None:
    records = [
        sqs_record("warehouse", a_job("ord_first")),
        sqs_record("warehouse", a_job("ord_nowhere", line1="UNDELIVERABLE")),
        sqs_record("warehouse", a_job("ord_third")),
    ]

    response = handle(warehouse, records_event(*records))

    assert response == {"batchItemFailures": [{"itemIdentifier": records[1]["messageId"]}]}
    answered = {call["taskToken"]: json.loads(call["output"]) for call in sfn.calls_to("SendTaskSuccess")}
    assert answered == {
        "token-of-ord_first": {"trackingNumber": tracking_number_for("ord_first")},
        "token-of-ord_third": {"trackingNumber": tracking_number_for("ord_third")},
    }
    assert sfn.calls_to("SendTaskFailure") == []


@pytest.mark.parametrize("gone", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_a_job_whose_task_no_longer_waits_is_not_shipped_and_not_a_failure(
    warehouse: ModuleType, sfn: StepFunctionsStub, gone: str
) -> None:
    sfn.answer_with_error(JOB["taskToken"], gone)  # the heartbeat is refused: the order was given up (or shipped)

    response = handle(warehouse, read_event("warehouse"))

    assert response == {"batchItemFailures": []}
    assert len(sfn.calls_to("SendTaskHeartbeat")) == 1
    assert sfn.calls_to("SendTaskSuccess") == []


def test_a_redelivered_job_already_shipped_ships_nothing_again(warehouse: ModuleType, sfn: StepFunctionsStub) -> None:
    first = handle(warehouse, read_event("warehouse"))
    sfn.answer_with_error(JOB["taskToken"], "TaskDoesNotExist")  # the task was answered by the first delivery

    again = handle(warehouse, read_event("warehouse"))

    assert first == again == {"batchItemFailures": []}
    assert len(sfn.calls_to("SendTaskSuccess")) == 1


def test_a_callback_that_step_functions_throttles_is_retried_through_the_queue(
    warehouse: ModuleType, sfn: StepFunctionsStub
) -> None:
    records = [sqs_record("warehouse", a_job("ord_first")), sqs_record("warehouse", a_job("ord_throttled"))]
    sfn.answer_with_error("token-of-ord_throttled", "ThrottlingException")

    response = handle(warehouse, records_event(*records))

    assert response == {"batchItemFailures": [{"itemIdentifier": records[1]["messageId"]}]}


def test_a_batch_of_only_undeliverable_jobs_is_no_error_of_the_function_but_counted(
    warehouse: ModuleType, sfn: StepFunctionsStub, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [sqs_record("warehouse", a_job(f"ord_nowhere{n}", line1="UNDELIVERABLE")) for n in range(2)]

    response = handle(warehouse, records_event(*records))

    assert response == {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in records]}
    assert emitted_metrics(capsys.readouterr().out)["UndeliverableJobs"] == [1.0, 1.0]
    assert sfn.calls_to("SendTaskSuccess") == []


def test_a_batch_that_fails_entirely_for_a_real_error_is_an_error_of_the_function(
    warehouse: ModuleType, sfn: StepFunctionsStub
) -> None:
    records = [
        sqs_record("warehouse", a_job("ord_throttled")),
        sqs_record("warehouse", a_job("ord_nowhere", line1="UNDELIVERABLE")),
    ]
    sfn.answer_with_error("token-of-ord_throttled", "ThrottlingException")

    with pytest.raises(Exception, match="Throttl"):
        handle(warehouse, records_event(*records))

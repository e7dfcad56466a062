"""The order workflow (Step Functions): start it for an order, and answer its waiting tasks."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from shop.domain.errors import Throttled

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# The task is gone: it timed out, was already answered, or its execution ended. Answering again is moot.
TASK_GONE_CODES = frozenset({"TaskDoesNotExist", "TaskTimedOut", "InvalidToken"})


@cache
def default_client() -> SFNClient:
    return boto3.client("stepfunctions")


class OrderWorkflow:
    def __init__(self, state_machine_arn: str | None = None, client: SFNClient | None = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client or default_client()

    def start(self, order_id: str, customer_id: str) -> bool:
        """Start the workflow named after the order. False when it was already started (a redelivery)."""
        if self.state_machine_arn is None:
            raise RuntimeError("OrderWorkflow.start needs the state machine ARN")
        try:
            self._client.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=order_id,
                input=json.dumps({"orderId": order_id, "customerId": customer_id}),
            )
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ExecutionAlreadyExists":
                return False
            if code == "ThrottlingException":
                raise Throttled("Step Functions throttled StartExecution") from exc
            raise
        return True

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        """Resume a waiting task with `output`. False when the task no longer waits."""
        return self._answer(lambda: self._client.send_task_success(taskToken=task_token, output=json.dumps(output)))

    def fail(self, task_token: str, error: str, cause: str) -> bool:
        """Fail a waiting task with a named error the state machine catches. False when it no longer waits."""
        return self._answer(lambda: self._client.send_task_failure(taskToken=task_token, error=error, cause=cause))

    def still_waiting(self, task_token: str) -> bool:
        """Whether the task still waits for its answer (a heartbeat is refused once it timed out or was answered)."""
        return self._answer(lambda: self._client.send_task_heartbeat(taskToken=task_token))

    def _answer(self, call: Any) -> bool:
        try:
            call()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in TASK_GONE_CODES:
                return False
            raise
        return True

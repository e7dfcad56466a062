"""A stand-in for the Step Functions client: it records each call, checks its parameters against the service's
own model (as boto3 would before sending), and answers with an error code where a test asks for one.

moto's Step Functions would refuse the opaque task tokens of the events/ files, and what matters here is what
a function asks of the workflow, not what moto makes of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import botocore.session
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

_MODEL = botocore.session.get_session().get_service_model("stepfunctions")


@dataclass(frozen=True)
class Call:
    operation: str
    params: dict[str, Any]


@dataclass
class StepFunctionsStub:
    calls: list[Call] = field(default_factory=list)
    # Error code to answer with, by task token (task calls) or execution name (StartExecution).
    errors: dict[str, str] = field(default_factory=dict)

    def answer_with_error(self, token_or_name: str, code: str) -> None:
        self.errors[token_or_name] = code

    def calls_to(self, operation: str) -> list[dict[str, Any]]:
        return [call.params for call in self.calls if call.operation == operation]

    def _call(self, operation: str, key: str, params: dict[str, Any]) -> None:
        shape = _MODEL.operation_model(operation).input_shape
        assert shape is not None
        validate_parameters(params, shape)
        self.calls.append(Call(operation, params))
        code = self.errors.get(key)
        if code is not None:
            raise ClientError({"Error": {"Code": code, "Message": f"{operation} refused ({code})"}}, operation)

    def start_execution(self, **params: Any) -> dict[str, Any]:
        self._call("StartExecution", params["name"], params)
        arn = params["stateMachineArn"].replace(":stateMachine:", ":execution:") + ":" + params["name"]
        return {"executionArn": arn, "startDate": datetime.now(UTC)}

    def send_task_success(self, **params: Any) -> dict[str, Any]:
        self._call("SendTaskSuccess", params["taskToken"], params)
        return {}

    def send_task_failure(self, **params: Any) -> dict[str, Any]:
        self._call("SendTaskFailure", params["taskToken"], params)
        return {}

"""Stand-ins for two ports of the functions: the Step Functions client and the payment provider.

The Step Functions stand-in records each call, checks its parameters against the service's own model (as boto3
would before sending), and answers with an error code where a test asks for one. moto's Step Functions would refuse
the opaque task tokens of the events/ files, and what matters here is what a function asks of the workflow, not
what moto makes of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import botocore.session
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

from shop.adapters.payment_provider import ProviderCharge
from shop.domain.ordering import utc_now
from shop.domain.payments import PaymentProviderUnavailable, RefundStatus
from shop.simulated.payment_provider import ChargeRequest, ProviderUnavailable, SimulatedPaymentProvider

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

    def send_task_heartbeat(self, **params: Any) -> dict[str, Any]:
        self._call("SendTaskHeartbeat", params["taskToken"], params)
        return {}


class InProcessProvider:
    """The payment provider adapter's stand-in: the simulated provider's own code on the test's table, called in
    this process instead of through Lambda, with the two ways a call goes wrong on the caller's side.

    `outages`: the next calls fail before the provider acts (it never saw them). `lost_answers`: the next calls
    act, and then their answer never arrives (a time-out after the charge). `during_charge`: run once, between the
    provider's charge and its answer (a concurrent step, a customer's cancel).
    """

    def __init__(self, table_name: str, client: Any) -> None:
        self.provider = SimulatedPaymentProvider(table_name, client)
        self.outages = 0
        self.lost_answers = 0
        self.during_charge: Callable[[], None] | None = None
        self.calls: list[str] = []

    def charge(self, idempotency_key: str, amount_cents: int, payment_token: str, reference: str) -> ProviderCharge:
        self.calls.append("charge")
        self._outage()
        request = ChargeRequest(
            idempotency_key=idempotency_key,
            amount_cents=amount_cents,
            currency="USD",
            payment_token=payment_token,
            reference=reference,
        )
        try:
            charge = self.provider.charge(request, utc_now())
        except ProviderUnavailable as exc:
            raise PaymentProviderUnavailable(str(exc)) from exc
        if self.during_charge is not None:
            during, self.during_charge = self.during_charge, None
            during()
        self._lost_answer()
        return ProviderCharge(status=charge.status, charge_id=charge.charge_id, amount_cents=charge.amount_cents)

    def refund(self, idempotency_key: str) -> RefundStatus:
        self.calls.append("refund")
        self._outage()
        refund = self.provider.refund(idempotency_key, utc_now())
        self._lost_answer()
        return refund

    def _outage(self) -> None:
        if self.outages:
            self.outages -= 1
            raise PaymentProviderUnavailable("the provider is down")

    def _lost_answer(self) -> None:
        if self.lost_answers:
            self.lost_answers -= 1
            raise PaymentProviderUnavailable("no answer from the provider (it acted)")

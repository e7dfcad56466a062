"""The simulated payment provider (functions/payment_provider) and the shop's client of it: a charge happens once
per idempotency key, a refund once per charge, a key voided before its charge refuses the charge, and whatever is
not an answer reaches the shop as PaymentProviderUnavailable."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import Stubber

from shop.adapters.payment_provider import PaymentProvider, default_client
from shop.domain.payments import ChargeStatus, PaymentProviderUnavailable, RefundStatus
from shop.simulated.payment_provider import IdempotencyKeyReused, ProviderUnavailable, SimulatedPaymentProvider
from tests.support.cloud import TABLE_NAMES
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event

CHARGE = read_event("payment_provider")


def call(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = load_function("payment_provider").lambda_handler(event, FakeLambdaContext())
    return result


def ledger(dynamodb: Any) -> list[dict[str, Any]]:
    return [
        entry.model_dump(mode="json")
        for entry in SimulatedPaymentProvider(TABLE_NAMES["PaymentProviderTable"], dynamodb).ledger()
    ]


def test_the_same_key_is_the_same_charge_never_a_second_one(dynamodb: Any) -> None:
    first = call(CHARGE)
    again = call(CHARGE)

    assert first == again
    assert (first["status"], first["amountCents"]) == ("succeeded", 5000)
    [entry] = ledger(dynamodb)
    assert (entry["attempts"], entry["status"], entry["amountCents"]) == (2, "succeeded", 5000)


def test_the_same_key_with_another_amount_is_refused_and_charges_nothing_more(dynamodb: Any) -> None:
    call(CHARGE)

    with pytest.raises(IdempotencyKeyReused):
        call(CHARGE | {"amountCents": 9999})

    assert [entry["amountCents"] for entry in ledger(dynamodb)] == [5000]


def test_a_flaky_card_is_answered_unavailable_twice_under_its_key_then_succeeds(dynamodb: Any) -> None:
    flaky = CHARGE | {"paymentToken": "tok_flaky"}

    # An answer, as a real provider's 503: the provider's function does not fail (its error alarm stays quiet).
    unavailable = [call(flaky) for _ in range(2)]
    charged = call(flaky)

    assert [answer["error"] for answer in unavailable] == ["ProviderUnavailable"] * 2
    assert charged["status"] == "succeeded"
    with pytest.raises(ProviderUnavailable):  # the card network itself, under the handler
        SimulatedPaymentProvider(TABLE_NAMES["PaymentProviderTable"], dynamodb)._decide("tok_flaky", 1)


def test_a_declined_card_stays_declined_under_its_key(dynamodb: Any) -> None:
    declined = CHARGE | {"paymentToken": "tok_decline"}

    assert call(declined)["status"] == "declined"
    assert call(declined | {"paymentToken": "tok_ok"})["status"] == "declined"  # same key: same answer
    assert call({"action": "refund", "idempotencyKey": CHARGE["idempotencyKey"]})["status"] == "declined"


def test_a_refund_happens_once_per_charge(dynamodb: Any) -> None:
    call(CHARGE)
    refund = {"action": "refund", "idempotencyKey": CHARGE["idempotencyKey"]}

    assert call(refund)["status"] == "refunded"
    assert call(refund)["status"] == "refunded"

    [entry] = ledger(dynamodb)
    assert (entry["amountCents"], entry["refundedCents"]) == (5000, 5000)


def test_a_key_voided_before_its_charge_refuses_the_charge_when_it_arrives(dynamodb: Any) -> None:
    voided = call({"action": "refund", "idempotencyKey": CHARGE["idempotencyKey"]})
    late = call(CHARGE)

    assert voided["status"] == "voided"
    assert late["status"] == "voided"
    assert [entry["status"] for entry in ledger(dynamodb)] == ["voided"]


def test_an_unknown_action_is_refused(dynamodb: Any) -> None:
    with pytest.raises(ValueError, match="action"):
        call({"action": "steal", "idempotencyKey": "k"})


# --- The shop's client of the provider (shop.adapters.payment_provider) ---------------------------------------


def stubbed() -> tuple[PaymentProvider, Stubber]:
    client = default_client()
    return PaymentProvider("payment-provider", client), Stubber(client)


def answer(payload: dict[str, Any], function_error: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(payload).encode())}
    if function_error:
        response["FunctionError"] = function_error
    return response


def test_the_client_reads_the_providers_charge() -> None:
    provider, stubber = stubbed()
    stubber.add_response("invoke", answer({"status": "succeeded", "chargeId": "ch_1", "amountCents": 5000}))

    with stubber:
        charge = provider.charge("charge-o1", 5000, "tok_ok", "o1")

    assert (charge.status, charge.charge_id, charge.amount_cents) == (ChargeStatus.SUCCEEDED, "ch_1", 5000)


@pytest.mark.parametrize(
    "failure",
    [
        {"service_error_code": "TooManyRequestsException", "http_status_code": 429},
        {"service_error_code": "ServiceException", "http_status_code": 500},
    ],
)
def test_a_throttle_or_a_lambda_service_error_is_the_provider_unavailable(failure: dict[str, Any]) -> None:
    provider, stubber = stubbed()
    stubber.add_client_error("invoke", **failure)

    with stubber, pytest.raises(PaymentProviderUnavailable):
        provider.refund("charge-o1")


@pytest.mark.parametrize("error_type", ["ProviderUnavailable", "Sandbox.Timedout"])
def test_the_providers_outage_or_time_out_is_the_provider_unavailable(error_type: str) -> None:
    provider, stubber = stubbed()
    stubber.add_response("invoke", answer({"errorType": error_type, "errorMessage": "later"}, "Unhandled"))

    with stubber, pytest.raises(PaymentProviderUnavailable):
        provider.charge("charge-o1", 5000, "tok_ok", "o1")


def test_the_providers_unavailable_answer_is_the_provider_unavailable() -> None:
    provider, stubber = stubbed()
    stubber.add_response("invoke", answer({"error": "ProviderUnavailable", "message": "the card network timed out"}))

    with stubber, pytest.raises(PaymentProviderUnavailable, match="card network timed out"):
        provider.charge("charge-o1", 5000, "tok_flaky", "o1")


def test_a_read_time_out_is_the_provider_unavailable() -> None:
    class TimingOut:
        def invoke(self, **_: Any) -> Any:
            raise ReadTimeoutError(endpoint_url="http://lambda")

    with pytest.raises(PaymentProviderUnavailable):
        PaymentProvider("payment-provider", TimingOut()).refund("charge-o1")  # type: ignore[arg-type]


def test_a_bug_at_the_provider_is_not_mistaken_for_an_outage() -> None:
    provider, stubber = stubbed()
    stubber.add_response("invoke", answer({"errorType": "IdempotencyKeyReused", "errorMessage": "x"}, "Unhandled"))
    stubber.add_client_error("invoke", service_error_code="ResourceNotFoundException", http_status_code=404)

    with stubber:
        with pytest.raises(RuntimeError, match="IdempotencyKeyReused"):
            provider.charge("charge-o1", 5000, "tok_ok", "o1")
        with pytest.raises(ClientError):
            provider.refund("charge-o1")


def test_the_client_reads_the_refund() -> None:
    provider, stubber = stubbed()
    stubber.add_response("invoke", answer({"idempotencyKey": "charge-o1", "status": "voided"}))

    with stubber:
        assert provider.refund("charge-o1") is RefundStatus.VOIDED

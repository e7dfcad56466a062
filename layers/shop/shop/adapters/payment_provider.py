"""The payment provider's API, as the shop calls it: charge under an idempotency key, refund (or void) by key.

The provider here is the simulated one (functions/payment_provider), reached with a synchronous Lambda invoke,
as a real provider would be reached over HTTPS. Anything that is not an answer — a throttle, a provider outage,
a time-out — is PaymentProviderUnavailable: the caller tries again later with the same key, which can never charge
twice.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shop.domain.models import CURRENCY, ShopModel
from shop.domain.payments import ChargeStatus, PaymentProviderUnavailable, RefundStatus

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

# The provider's answers and function errors that mean "not now": an outage, and a time-out on its side.
_TRANSIENT_ERRORS = frozenset({"ProviderUnavailable", "Sandbox.Timedout"})
# A call to the provider is made once per attempt; the workflow waits and charges again (shop.domain.payments).
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2, read_timeout=30)


@cache
def default_client() -> LambdaClient:
    return boto3.client("lambda", config=_CONFIG)


class ProviderCharge(ShopModel):
    status: ChargeStatus
    charge_id: str | None = None
    amount_cents: int = 0


class PaymentProvider:
    def __init__(self, function_name: str, client: LambdaClient | None = None) -> None:
        self.function_name = function_name
        self._client = client or default_client()

    def charge(self, idempotency_key: str, amount_cents: int, payment_token: str, reference: str) -> ProviderCharge:
        answer = self._call(
            {
                "action": "charge",
                "idempotencyKey": idempotency_key,
                "amountCents": amount_cents,
                "currency": CURRENCY,
                "paymentToken": payment_token,
                "reference": reference,
            }
        )
        return ProviderCharge.model_validate(answer)

    def refund(self, idempotency_key: str) -> RefundStatus:
        """Refund what was charged under the key, or void the key so that nothing will be."""
        answer = self._call({"action": "refund", "idempotencyKey": idempotency_key})
        return RefundStatus(answer["status"])

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._client.invoke(FunctionName=self.function_name, Payload=json.dumps(request).encode())
        except ClientError as exc:
            # Throttled (TooManyRequestsException) or Lambda's own 5xx: the provider did not get the request.
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status == 429 or status >= 500:
                raise PaymentProviderUnavailable(f"the provider could not be reached ({status})") from exc
            raise
        except BotoCoreError as exc:  # connection reset, read time-out: the provider may or may not have acted
            raise PaymentProviderUnavailable(f"no answer from the provider ({type(exc).__name__})") from exc
        payload: dict[str, Any] = json.loads(response["Payload"].read() or b"null") or {}
        if "FunctionError" in response:
            error = str(payload.get("errorType", ""))
            if error in _TRANSIENT_ERRORS:
                raise PaymentProviderUnavailable(f"the provider answered {error}")
            raise RuntimeError(f"the provider failed: {error}: {payload.get('errorMessage', '')}")
        if payload.get("error") in _TRANSIENT_ERRORS:  # answered, as a real provider's 503
            raise PaymentProviderUnavailable(f"the provider answered {payload['error']}: {payload.get('message', '')}")
        return payload

"""The simulated payment provider's API (a card network's test mode): charge once per idempotency key, refund or
void by key. The shop's payment functions call it as they would call a real provider's API.

A transient failure of the card network is an answer, `{"error": "ProviderUnavailable", ...}`, as a real provider
answers 503: the provider's function itself did not fail, so its error alarm stays for its own faults."""

from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from shop.domain.ordering import utc_now
from shop.observability import logger, tracer
from shop.settings import PaymentProviderSettings, load_settings
from shop.simulated.payment_provider import ChargeRequest, ProviderUnavailable, SimulatedPaymentProvider

# The provider's answer to a call it could not serve now (its 503): ask again later under the same key.
UNAVAILABLE = "ProviderUnavailable"

settings = load_settings(PaymentProviderSettings)
provider = SimulatedPaymentProvider(settings.payment_provider_table_name)


class ChargeCall(ChargeRequest):
    action: Literal["charge"]


class RefundCall(BaseModel):
    action: Literal["refund"]
    idempotency_key: str = Field(alias="idempotencyKey", min_length=1, max_length=255)


class Call(BaseModel):
    call: Annotated[ChargeCall | RefundCall, Field(discriminator="action")]


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    call = Call.model_validate({"call": event}).call
    if isinstance(call, RefundCall):
        refund = provider.refund(call.idempotency_key, utc_now())
        logger.info("refund", extra={"idempotency_key": call.idempotency_key, "status": refund.value})
        return {"idempotencyKey": call.idempotency_key, "status": refund.value}
    try:
        charge = provider.charge(call, utc_now())
    except ProviderUnavailable as unavailable:
        logger.info("charge unavailable", extra={"idempotency_key": call.idempotency_key, "reason": str(unavailable)})
        return {"error": UNAVAILABLE, "message": str(unavailable)}
    logger.info("charge", extra={"idempotency_key": charge.idempotency_key, "status": charge.status.value})
    return charge.model_dump(mode="json")

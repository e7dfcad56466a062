"""The simulated payment provider's API (a card network's test mode): charge once per idempotency key, refund or
void by key. The shop's payment functions call it as they would call a real provider's API."""

from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from shop.domain.ordering import utc_now
from shop.observability import logger, tracer
from shop.settings import PaymentProviderSettings, load_settings
from shop.simulated.payment_provider import ChargeRequest, SimulatedPaymentProvider

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
    charge = provider.charge(call, utc_now())
    logger.info("charge", extra={"idempotency_key": charge.idempotency_key, "status": charge.status.value})
    return charge.model_dump(mode="json")

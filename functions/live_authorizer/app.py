"""The WebSocket API's $connect authorizer (Lambda, REQUEST): the Cognito ID token in the `token` query string
parameter becomes an Allow policy whose context (customerId, groups, email) reaches every route of the connection,
or a Deny.

Deny, not `raise Exception("Unauthorized")`: API Gateway answers a Deny policy with 403 and a raised
"Unauthorized" with 401 (both refuse the handshake), but the raise is a function error, and an expired token is the
caller's state, not our fault: with errors, every stale browser tab would page through the Errors alarm. A request
with no token at all never gets here: the identity source (route.request.querystring.token) is missing, and API
Gateway answers 401 itself. Only a key set we cannot read raises (a fault of ours, and a 500 to the client)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.id_tokens import IdTokenVerifier
from shop.domain.live import InvalidIdToken
from shop.http.authorizer import allow, deny
from shop.observability import logger, tracer
from shop.settings import LiveAuthorizerSettings, load_settings

settings = load_settings(LiveAuthorizerSettings)
# Module level: the key set it fetches stays cached while this instance is warm.
verifier = IdTokenVerifier(
    region=settings.region,
    user_pool_id=settings.user_pool_id,
    client_id=settings.user_pool_client_id,
    endpoint_url=settings.endpoint_url,
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    method_arn = str(event["methodArn"])
    token = (event.get("queryStringParameters") or {}).get("token")
    try:
        caller = verifier.verify(token)
    except InvalidIdToken as exc:
        logger.info("connection refused", extra={"reason": str(exc)})
        return deny(method_arn)
    logger.info("connection allowed", extra={"customer_id": caller.customer_id, "groups": sorted(caller.groups)})
    return allow(method_arn, caller)

"""The WebSocket API's routes: $connect keeps the connection with who opened it (the authorizer's context),
$disconnect forgets it, and $default answers a client's message: {"action": "ping"} with a PONG, anything else
with an ERROR naming the actions there are (its answer goes back on the socket: the route has a route response)."""

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayWebSocketEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.connections_table import ConnectionsTable
from shop.domain.live import open_connection
from shop.http.authorizer import caller_from_context
from shop.observability import logger, tracer
from shop.settings import LiveConnectionsSettings, load_settings

settings = load_settings(LiveConnectionsSettings)
connections = ConnectionsTable(settings.connections_table_name, settings.approvers_group)
ACTIONS = ("ping",)


def _reply(body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps(body)}


def connect(event: APIGatewayWebSocketEvent) -> dict[str, Any]:
    caller = caller_from_context(event["requestContext"].get("authorizer"))
    if caller is None:
        # Only a route without its authorizer gets here: refuse the handshake rather than keep an anonymous socket.
        logger.warning("connection without an authorizer context refused")
        return {"statusCode": 401}
    request = event.request_context
    connected_at = datetime.fromtimestamp(request.connected_at / 1000, UTC)
    connections.add(open_connection(request.connection_id, caller, connected_at))
    logger.info("connected", extra={"connection_id": request.connection_id, "customer_id": caller.customer_id})
    return {"statusCode": 200}


def disconnect(event: APIGatewayWebSocketEvent) -> dict[str, Any]:
    connection_id = event.request_context.connection_id
    connections.remove(connection_id)
    logger.info("disconnected", extra={"connection_id": connection_id})
    return {"statusCode": 200}


def answer(event: APIGatewayWebSocketEvent) -> dict[str, Any]:
    try:
        message = json.loads(event.decoded_body or "")
    except ValueError:
        message = None
    action = message.get("action") if isinstance(message, dict) else None
    if action == "ping":
        return _reply({"type": "PONG"})
    logger.info("unknown action", extra={"connection_id": event.request_context.connection_id})
    return _reply({"type": "ERROR", "error": "unknown action", "actions": list(ACTIONS)})


ROUTES = {"$connect": connect, "$disconnect": disconnect}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=APIGatewayWebSocketEvent)
def lambda_handler(event: APIGatewayWebSocketEvent, context: LambdaContext) -> dict[str, Any]:
    return ROUTES.get(event.request_context.route_key, answer)(event)

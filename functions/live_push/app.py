"""Orders stream consumer for live updates: each status change goes to the order's customer's WebSocket
connections (ORDER_STATUS_CHANGED), each new pending approval to every connected approver (APPROVAL_REQUESTED),
through the stage's @connections API. A connection that answers 410 is forgotten; a retried batch sends nothing
twice to a connection (shop.adapters.deliveries says how). No one connected: no call to @connections at all."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.connections_api import ConnectionsApi
from shop.adapters.connections_table import ConnectionsTable
from shop.adapters.deliveries import Deliveries
from shop.adapters.dynamodb import from_attributes
from shop.domain.ordering import utc_now
from shop.observability import logger, metrics, tracer
from shop.settings import LivePushSettings, load_settings
from shop.usecases.live import push_change

settings = load_settings(LivePushSettings)
connections = ConnectionsTable(settings.connections_table_name, settings.approvers_group)
api = ConnectionsApi(settings.management_endpoint_url)
deliveries = Deliveries(settings.idempotency_table_name)
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    change: dict[str, Any] = record.raw_event
    stream = change.get("dynamodb", {})
    outcome = push_change(
        event_id=change["eventID"],
        event_name=change["eventName"],
        old=from_attributes(stream["OldImage"]) if "OldImage" in stream else None,
        new=from_attributes(stream["NewImage"]) if "NewImage" in stream else None,
        connections=connections,
        api=api,
        deliveries=deliveries,
        now=utc_now(),
    )
    if outcome.message is None:
        return
    if outcome.sent:
        metrics.add_metric(name="LiveUpdatesSent", unit="Count", value=len(outcome.sent))
    if outcome.gone:
        metrics.add_metric(name="LiveConnectionsGone", unit="Count", value=len(outcome.gone))
    if outcome.uncertain:
        # Not sent again (at most once per connection); the client re-reads the order when it reconnects.
        metrics.add_metric(name="LiveUpdatesUncertain", unit="Count", value=len(outcome.uncertain))
        logger.warning("live update may not have arrived", extra={"connections": outcome.uncertain})
    logger.info(
        "live update pushed",
        extra={
            "event_id": record.event_id,
            "message_type": outcome.message,
            "sent": len(outcome.sent),
            "already_sent": len(outcome.already_sent),
            "gone": len(outcome.gone),
        },
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

"""Orders stream consumer: an INSERT starts the order's workflow (named after the order); every status
change and approval request is published to the notifications topic. Partial batch failures are reported."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.dynamodb import from_attributes
from shop.adapters.notifications import NotificationsTopic
from shop.adapters.stream_records import OncePerRecord
from shop.adapters.workflow import OrderWorkflow
from shop.observability import logger, tracer
from shop.settings import OrderEventsSettings, load_settings
from shop.usecases.events import on_order_change

settings = load_settings(OrderEventsSettings)
workflow = OrderWorkflow(settings.state_machine_arn)
topic = NotificationsTopic(settings.notifications_topic_arn)
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _handle_change(*, change: dict[str, Any]) -> list[str]:
    stream = change.get("dynamodb", {})
    old = from_attributes(stream["OldImage"]) if "OldImage" in stream else None
    new = from_attributes(stream["NewImage"]) if "NewImage" in stream else None
    return on_order_change(change["eventName"], old, new, workflow, topic)


# A redelivered record (same eventID) is handled once: no second notification.
handle_change = OncePerRecord(_handle_change, settings.idempotency_table_name)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    done = handle_change(record.raw_event)
    logger.info("order change handled", extra={"event_id": record.event_id, "done": done})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    handle_change.register(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

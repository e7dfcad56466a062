"""Sessions stream consumer: a cart that DynamoDB's TTL deleted was abandoned. The event source mapping's
filter passes only deletions made by the DynamoDB service itself, so a customer emptying the cart or placing
an order never reaches this function. A record delivered again (a retried batch) sends no second reminder."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.dynamodb import from_attributes
from shop.adapters.notifications import EventType as NotificationType
from shop.adapters.notifications import NotificationsTopic
from shop.adapters.stream_records import OncePerRecord
from shop.observability import logger, metrics, tracer
from shop.settings import CartEventsSettings, load_settings

settings = load_settings(CartEventsSettings)
topic = NotificationsTopic(settings.notifications_topic_arn)
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _remind(*, change: dict[str, Any]) -> int:
    """Publish the reminder for one expired cart; returns its units (0 for anything that is not a cart)."""
    old = from_attributes(change["dynamodb"].get("OldImage", {}))
    if old.get("kind") != "CART":
        return 0
    lines = old.get("items", [])
    units = sum(int(line.get("quantity", 0)) for line in lines)
    topic.publish(
        NotificationType.CART_ABANDONED,
        old["customerId"],
        {"lines": len(lines), "units": units, "items": lines, "customerEmail": old.get("customerEmail")},
    )
    metrics.add_metric(name="AbandonedCarts", unit="Count", value=1)
    logger.info("cart abandoned", extra={"customer_id": old["customerId"], "lines": len(lines)})
    return units


# One reminder per expired cart: the stream record's eventID is the same each time the record is delivered.
remind = OncePerRecord(_remind, settings.idempotency_table_name)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    remind(record.raw_event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    remind.register(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

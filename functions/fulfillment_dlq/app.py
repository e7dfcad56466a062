"""Fulfillment DLQ handler: a shipment job that failed maxReceiveCount times fails its waiting workflow task,
so the workflow refunds, releases the stock and marks the order FAILED (SHIPPING_FAILED). Nothing waits forever."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.workflow import OrderWorkflow
from shop.observability import logger, metrics, tracer
from shop.usecases.warehouse import ShipmentJob, give_up

workflow = OrderWorkflow()
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    job = ShipmentJob.model_validate_json(record.body)
    failed = give_up(job, workflow, int(record.attributes.approximate_receive_count))
    metrics.add_metric(name="ShipmentsAbandoned", unit="Count", value=1)
    logger.warning("shipment abandoned", extra={"order_id": job.order_id, "workflow_failed": failed})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

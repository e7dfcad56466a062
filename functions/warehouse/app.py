"""Warehouse: takes shipment jobs from the fulfillment queue in batches and calls the workflow back with a
tracking number. A failed job stays on the queue (partial batch response) and after maxReceiveCount moves
to the DLQ."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.workflow import OrderWorkflow
from shop.observability import logger, metrics, tracer
from shop.usecases.warehouse import ShipmentJob, ship

workflow = OrderWorkflow()
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    job = ShipmentJob.model_validate_json(record.body)
    tracking_number = ship(job, workflow)
    if tracking_number is None:
        logger.warning("the workflow no longer waits for this job: nothing shipped", extra={"order_id": job.order_id})
        return
    metrics.add_metric(name="ShipmentsDispatched", unit="Count", value=1)
    logger.info("shipment dispatched", extra={"order_id": job.order_id, "tracking_number": tracking_number})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

"""Warehouse: takes shipment jobs from the fulfillment queue in batches and calls the workflow back with a
tracking number. A failed job stays on the queue (partial batch response) and after maxReceiveCount moves
to the DLQ.

An address the carrier cannot deliver to is business, not a fault: it is counted (UndeliverableJobs) and returned
to the queue like any failed job, but never makes the invocation an error, even when it is the whole batch, so
that the function's error alarm stays for real errors."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.workflow import OrderWorkflow
from shop.observability import logger, metrics, tracer
from shop.usecases.warehouse import ShipmentJob, UndeliverableAddress, ship

workflow = OrderWorkflow()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    job = ShipmentJob.model_validate_json(record.body)
    try:
        tracking_number = ship(job, workflow)
    except UndeliverableAddress:
        metrics.add_metric(name="UndeliverableJobs", unit="Count", value=1)
        logger.warning("the carrier cannot deliver to this address", extra={"order_id": job.order_id})
        raise
    if tracking_number is None:
        logger.warning("the workflow no longer waits for this job: nothing shipped", extra={"order_id": job.order_id})
        return
    metrics.add_metric(name="ShipmentsDispatched", unit="Count", value=1)
    logger.info("shipment dispatched", extra={"order_id": job.order_id, "tracking_number": tracking_number})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    faults = [
        error
        for _, error, _ in processor.exceptions
        if isinstance(error, BaseException) and not isinstance(error, UndeliverableAddress)
    ]
    if faults and len(processor.exceptions) == len(event["Records"]):
        # Every job failed, and not only for addresses: an error of the function, as Lambda should count it.
        raise faults[0]
    return response

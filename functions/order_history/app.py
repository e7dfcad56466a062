"""Firehose transformation of the order history: each Orders-table change that DynamoDB wrote to the Kinesis
stream becomes one order-event row (a JSON line) in the lake, or is dropped (not an order, or no status change),
or is handed back as ProcessingFailed so Firehose files it under the lake's error prefix."""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

from aws_lambda_powertools.utilities.data_classes import KinesisFirehoseEvent, event_source
from aws_lambda_powertools.utilities.data_classes.kinesis_firehose_event import (
    KinesisFirehoseDataTransformationRecord,
    KinesisFirehoseDataTransformationResponse,
    KinesisFirehoseRecord,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.observability import logger, tracer
from shop.usecases.order_history import MalformedChange, change_of_record, order_event_row

Result = Literal["Ok", "Dropped", "ProcessingFailed"]


def transform(record: KinesisFirehoseRecord) -> KinesisFirehoseDataTransformationRecord:
    result: Result
    try:
        row = order_event_row(change_of_record(record.data))
    except MalformedChange as exc:
        logger.warning("malformed order change", extra={"record_id": record.record_id, "reason": str(exc)})
        result = "ProcessingFailed"
        return record.build_data_transformation_response(result=result, data=record.data)
    if row is None:
        result = "Dropped"
        return record.build_data_transformation_response(result=result, data=record.data)
    line = json.dumps(row, separators=(",", ":")) + "\n"
    result = "Ok"
    return record.build_data_transformation_response(result=result, data=base64.b64encode(line.encode()).decode())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=KinesisFirehoseEvent)
def lambda_handler(event: KinesisFirehoseEvent, context: LambdaContext) -> dict[str, Any]:
    response = KinesisFirehoseDataTransformationResponse()
    for record in event.records:
        response.add_record(transform(record))
    answer: dict[str, Any] = response.asdict()
    return answer

"""Record every event on a queue, then do what the event asks: fail, or take its time."""

import json
import os
import time
from typing import Any

import boto3

sqs = boto3.client("sqs")


def handler(event: dict[str, Any], context: Any) -> dict[str, bool]:
    sqs.send_message(QueueUrl=os.environ["RECEIVED_QUEUE_URL"], MessageBody=json.dumps(event))
    asked = json.loads(event["Records"][0]["Sns"]["Message"]) if "Records" in event else event
    time.sleep(float(asked.get("sleep", 0)))
    if asked.get("fail"):
        raise RuntimeError("asked to fail")
    return {"recorded": True}

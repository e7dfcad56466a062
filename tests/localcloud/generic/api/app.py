"""POST /notes: queue the note for the worker and answer 202 with the greeting."""

import json
import os
import uuid
from typing import Any

import boto3

sqs = boto3.client("sqs")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    note = {"id": str(uuid.uuid4()), "text": json.loads(event["body"] or "{}").get("text", "")}
    sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=json.dumps(note))
    body = {"id": note["id"], "greeting": os.environ["GREETING"]}
    return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}

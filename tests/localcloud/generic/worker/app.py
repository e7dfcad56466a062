"""Store every queued note in the table."""

import json
import os
from typing import Any

import boto3

dynamodb = boto3.client("dynamodb")


def handler(event: dict[str, Any], context: Any) -> None:
    for record in event["Records"]:
        note = json.loads(record["body"])
        dynamodb.put_item(
            TableName=os.environ["TABLE_NAME"], Item={"id": {"S": note["id"]}, "text": {"S": note["text"]}}
        )

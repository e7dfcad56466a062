"""Answer a greeting, as a Lambda proxy response (the API) that is also a plain result (the state machine)."""

import json
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"greeting": "hello"}),
    }

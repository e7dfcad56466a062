"""Answer a greeting, as a Lambda proxy response (the API) that is also a plain result (the state machine); its
X-Python header says which Python ran it."""

import json
import platform
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    print(f"greeting {event.get('path', 'the state machine')}")  # the function's own log line
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Python": platform.python_version()},
        "body": json.dumps({"greeting": "hello"}),
    }

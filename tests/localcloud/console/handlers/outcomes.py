"""Handlers with one outcome each: an exception, a time-out, a 5xx or a 404 answer, a business result."""

import json
import time
from typing import Any


def _calibrate(grams: int) -> None:
    raise ValueError(f"the scale reads {grams} g with nothing on it")


def raises(event: dict[str, Any], context: Any) -> None:
    print("weighing the parcel")
    _calibrate(12)


def sleeps(event: dict[str, Any], context: Any) -> None:
    print("waiting for the carrier")
    time.sleep(30)


def server_error(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = {"type": "about:blank", "title": "Internal Server Error", "status": 500}
    return {"statusCode": 500, "body": json.dumps(body)}


def not_found(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # As Powertools' Logger writes it: one JSON object a line.
    print(json.dumps({"level": "INFO", "message": "no such order", "service": "orders", "order_id": "ord_1"}))
    return {"statusCode": 404, "body": json.dumps({"title": "Not Found", "status": 404})}


def declines(event: dict[str, Any], context: Any) -> dict[str, Any]:
    print(json.dumps({"level": "WARNING", "message": "card declined", "service": "payments", "order_id": "ord_2"}))
    return {"outcome": "DECLINED"}

"""What running the shop costs on AWS: the billable units the local cloud serves, counted as AWS counts them, and
their price at AWS's list prices (us-east-1, arm64, on-demand, no free tier). docs/cost.md explains the model.

Counted where each unit is served:
- Lambda: one request and its GB-seconds (duration rounded up to the millisecond, times the function's memory)
  per invocation, and the bytes its logs send to CloudWatch Logs (its output, and Lambda's START/END/REPORT lines);
- API Gateway (REST): each request that reached an integration (API Gateway does not bill what its authorizers
  or API keys refuse), and, in front of it, CloudFront's and WAF's request each;
- DynamoDB (on-demand): write and read request units from the items' sizes as DynamoDB sizes them (a write unit per
  KB written, a read unit per 4 KB read strongly, half for eventually consistent, twice in a transaction);
  stream reads by Lambda's event source mappings are free, as in AWS;
- SQS and SNS: each API request (a batch is one request; a delivery from SNS to Lambda is free);
- Step Functions (standard): the state transitions of each execution, read from its history.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Price:
    service: str
    unit: str
    usd: float  # for `per` units
    per: float


# List prices in us-east-1 (published by AWS; on-demand, arm64, standard workflows and queues, first tiers).
PRICES: Mapping[str, Price] = {
    "lambda.requests": Price("Lambda", "requests", 0.20, 1e6),
    "lambda.gb_seconds": Price("Lambda", "GB-seconds (arm64)", 0.0000133334, 1),
    "logs.bytes": Price("CloudWatch Logs", "bytes ingested", 0.50, 2**30),
    "apigateway.requests": Price("API Gateway", "REST requests", 3.50, 1e6),
    # WebSocket APIs: each message sent or received (in 32 KB units), and each minute a connection is open.
    "apigateway.websocket_messages": Price("API Gateway", "WebSocket messages", 1.00, 1e6),
    "apigateway.connection_minutes": Price("API Gateway", "WebSocket connection minutes", 0.25, 1e6),
    "cloudfront.requests": Price("CloudFront", "HTTPS requests", 0.0100, 1e4),
    "waf.requests": Price("WAF", "requests inspected", 0.60, 1e6),
    "dynamodb.write_units": Price("DynamoDB", "write request units", 0.625, 1e6),
    "dynamodb.read_units": Price("DynamoDB", "read request units", 0.125, 1e6),
    "sqs.requests": Price("SQS", "requests", 0.40, 1e6),
    "sns.publishes": Price("SNS", "publishes", 0.50, 1e6),
    "states.transitions": Price("Step Functions", "state transitions", 0.025, 1e3),
}
# What Lambda writes to the log itself for each invocation (START, END and REPORT lines, about this long).
LAMBDA_LOG_LINES_BYTES = 260
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


# -- DynamoDB's item size -------------------------------------------------------------------------------------------


def _number_size(data: Any) -> int:
    digits = str(data).lstrip("-").replace(".", "").lstrip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


_SCALAR_SIZES: Mapping[str, Callable[[Any], int]] = {
    "S": lambda data: len(str(data).encode()),
    "N": _number_size,
    "B": lambda data: math.ceil(len(str(data)) * 3 / 4),  # sent base64-encoded
    "BOOL": lambda _: 1,
    "NULL": lambda _: 1,
}


def value_size(value: Mapping[str, Any]) -> int:
    """The size DynamoDB counts for one attribute value (DynamoDB JSON), in bytes."""
    ((kind, data),) = value.items()
    if kind in _SCALAR_SIZES:
        return _SCALAR_SIZES[kind](data)
    if kind in ("SS", "NS", "BS"):
        return sum(_SCALAR_SIZES[kind[0]](item) for item in data)
    if kind == "L":
        return 3 + sum(1 + value_size(item) for item in data)
    if kind == "M":
        return 3 + sum(len(name.encode()) + 1 + value_size(item) for name, item in data.items())
    return len(json.dumps(data))


def item_size(item: Mapping[str, Any] | None) -> int:
    """An item's size as DynamoDB counts it: its attribute names and values."""
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def write_units(item: Mapping[str, Any] | None) -> int:
    return max(1, math.ceil(item_size(item) / WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units if consistent else units / 2)


Request = Mapping[str, Any]
_WRITE_UNITS: Mapping[str, Callable[[Request, Request], float]] = {
    "PutItem": lambda request, _: write_units(request.get("Item")),
    # An update or a delete is sized by the item, which the response holds only when asked for.
    "UpdateItem": lambda _, response: write_units(response.get("Attributes")),
    "DeleteItem": lambda _, response: write_units(response.get("Attributes")),
    "BatchWriteItem": lambda request, _: sum(
        write_units(entry.get("PutRequest", {}).get("Item"))
        for entries in request.get("RequestItems", {}).values()
        for entry in entries
    ),
    "TransactWriteItems": lambda request, _: (
        2 * sum(write_units(entry.get("Put", {}).get("Item")) for entry in request.get("TransactItems", []))
    ),
}


def _returned_items(request: Request, response: Request) -> float:
    """A Query or a Scan reads the items it returns, their sizes summed before rounding."""
    size = sum(item_size(item) for item in response.get("Items", []))
    return read_units(size, bool(request.get("ConsistentRead")))


_READ_UNITS: Mapping[str, Callable[[Request, Request], float]] = {
    "GetItem": lambda request, response: read_units(
        item_size(response.get("Item")), bool(request.get("ConsistentRead"))
    ),
    "Query": _returned_items,
    "Scan": _returned_items,
    "BatchGetItem": lambda _, response: sum(
        read_units(item_size(item), False) for items in response.get("Responses", {}).values() for item in items
    ),
    "TransactGetItems": lambda _, response: sum(
        2 * read_units(item_size(entry.get("Item")), True) for entry in response.get("Responses", [])
    ),
}


def dynamodb_units(operation: str, request: Request, response: Request) -> tuple[float, float]:
    """(write units, read units) one DynamoDB request consumed: writes sized by the items written, reads by what
    the response returns (halved for an eventually consistent read, doubled in a transaction)."""
    writes = _WRITE_UNITS.get(operation)
    reads = _READ_UNITS.get(operation)
    return (
        float(writes(request, response)) if writes else 0.0,
        float(reads(request, response)) if reads else 0.0,
    )


# -- The meter ------------------------------------------------------------------------------------------------------


class Meter:
    """The billable units a local cloud has served so far (thread-safe)."""

    def __init__(self) -> None:
        self._counts: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, line: str, amount: float = 1.0) -> None:
        if line not in PRICES:
            raise KeyError(f"no price for {line!r}")
        with self._lock:
            self._counts[line] = self._counts.get(line, 0.0) + amount

    def counts(self) -> dict[str, float]:
        with self._lock:
            return dict(self._counts)

    def invocation(self, memory_mb: int, duration_ms: float, log_bytes: int) -> None:
        billed_seconds = math.ceil(duration_ms) / 1000
        self.add("lambda.requests")
        self.add("lambda.gb_seconds", billed_seconds * memory_mb / 1024)
        self.add("logs.bytes", log_bytes + LAMBDA_LOG_LINES_BYTES)

    def edge_request(self, reached_the_api: bool) -> None:
        """A request to the distribution (WAF inspects it first); API Gateway bills it if it reached a function."""
        self.add("cloudfront.requests")
        self.add("waf.requests")
        if reached_the_api:
            self.add("apigateway.requests")

    def dynamodb(self, operation: str, asked: Request, answered: Request) -> None:
        """One DynamoDB request as sent and as answered (JSON objects; an error's answer has a `__type`)."""
        if operation not in _WRITE_UNITS and operation not in _READ_UNITS:
            return
        if "__type" in answered:  # an error: a refused request consumes no capacity here
            return
        writes, reads = dynamodb_units(operation, asked, answered)
        if writes:
            self.add("dynamodb.write_units", writes)
        if reads:
            self.add("dynamodb.read_units", reads)


def since(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, float]:
    return {line: after.get(line, 0.0) - before.get(line, 0.0) for line in PRICES}


def cost_lines(units: Mapping[str, float], orders: int) -> list[str]:
    """Per line: the units counted for `orders` orders, and their cost per million orders; then the total."""
    per_million = 1e6 / orders
    rows = []
    total = 0.0
    for line, price in PRICES.items():
        counted = units.get(line, 0.0)
        usd = counted / price.per * price.usd * per_million
        total += usd
        rows.append((price.service, price.unit, counted / orders, usd))
    rows.sort(key=lambda row: row[3], reverse=True)
    lines = [f"  {'service':<16}{'unit':<26}{'per order':>14}{'USD per million orders':>26}"]
    lines += [f"  {service:<16}{unit:<26}{per:>14,.2f}{usd:>26,.2f}" for service, unit, per, usd in rows]
    lines.append(f"  {'total':<16}{'':<26}{'':>14}{total:>26,.2f}")
    return lines


def state_transitions(sfn: Any, execution_arns: Iterable[str]) -> int:
    """State transitions of these executions, as Step Functions bills them: each state entered."""
    transitions = 0
    for arn in execution_arns:
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            transitions += sum(1 for event in page["events"] if event["type"].endswith("StateEntered"))
    return transitions

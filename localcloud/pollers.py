"""Lambda's event source mappings (SQS queues, DynamoDB streams), EventBridge schedules, SNS's notifications and
DynamoDB's TTL process, run against moto with the semantics the deployed stack relies on (docs/local-cloud.md)."""

from __future__ import annotations

import base64
import calendar
import json
import logging
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Protocol, cast

from moto.backends import get_backend
from moto.dynamodb.exceptions import ConditionalCheckFailed
from moto.dynamodb.models import table as moto_table
from moto.events.models import EventPattern

from localcloud.doorbell import Doorbell, queue_name, stream_table_name
from localcloud.faults import Call, Fault, FaultPlan
from localcloud.workers import Runtime, ServiceError, TooManyRequestsError

logger = logging.getLogger(__name__)


class Refusal(StrEnum):
    """Why Lambda ran nothing: its Invoke API refused the call. Event sources retry a refusal with backoff; it is
    never a function error (it uses none of a mapping's retries and never splits a batch)."""

    THROTTLED = "TooManyRequestsException"  # 429: the function's reservation or the account's concurrency is in use
    SERVICE_ERROR = "ServiceException"  # 500: Lambda failed on its side

    @property
    def status_code(self) -> int:
        return 429 if self is Refusal.THROTTLED else 500


@dataclass(frozen=True)
class InvokeOutcome:
    """What one synchronous invocation returned: the handler's decoded JSON value, or an error object.

    `errored` is set for a function error and for a refusal alike, so that a caller that only looks at it treats
    both as failures; `refused` says that Lambda ran nothing, and why.
    """

    payload: Any
    errored: bool
    refused: Refusal | None = None

    @classmethod
    def refusal(cls, refused: Refusal, message: str) -> InvokeOutcome:
        """Lambda's answer when it ran nothing: its error object, as the Invoke API returns it."""
        return cls(payload={"errorType": refused.value, "errorMessage": message}, errored=True, refused=refused)


Invoke = Callable[[str, dict[str, Any]], InvokeOutcome]  # (function name, event) -> outcome


def invoke_with(runtime: Runtime) -> Invoke:
    """How event sources call the function runtime: its answer as an InvokeOutcome, with Lambda's refusals (429
    throttle, 500 service error) returned rather than raised, so that a source can back off and retry them."""

    def invoke(function: str, event: dict[str, Any]) -> InvokeOutcome:
        try:
            result = runtime.invoke(function, event)
        except TooManyRequestsError as throttled:
            return InvokeOutcome.refusal(Refusal.THROTTLED, throttled.message)
        except ServiceError as failure:
            return InvokeOutcome.refusal(Refusal.SERVICE_ERROR, failure.message)
        return InvokeOutcome(payload=json.loads(result.payload) if result.payload else None, errored=result.errored)

    return invoke


class Backoff:
    """Exponential backoff with jitter: the delays double from `first` up to `cap`, each drawn between its own value
    and the next one's (never beyond the cap), so that sources refused together do not all come back at once."""

    def __init__(self, first: float, cap: float) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"backoff needs 0 < first <= cap, not first={first} cap={cap}")
        self.first = first
        self.cap = cap
        self._delay = first
        # Not for security: the jitter only spreads retries out.
        self._random = random.Random()  # noqa: S311

    def next(self) -> float:
        """The next delay, in seconds."""
        delay = self._delay
        self._delay = min(self.cap, delay * 2)
        return self._random.uniform(delay, self._delay)


# Lambda backs off from invocations it refused (throttles, service errors). Locally the first wait is short and the
# longest a few seconds, so that a refused source catches up soon after concurrency frees up.
REFUSAL_BACKOFF_FIRST_SECONDS = 0.1
REFUSAL_BACKOFF_CAP_SECONDS = 3.0

# SQS hands out at most this many messages per ReceiveMessage; DeleteMessageBatch takes as many.
_SQS_MAX_MESSAGES = 10
# GetRecords returns at most this many stream records.
_STREAM_PAGE = 1000
# How often a batching window looks for more records while it is open.
_WINDOW_TICK_SECONDS = 0.05
# With a doorbell, a queue or stream is polled when it is rung and at least this often: messages become visible again
# (a visibility timeout ends, a delay passes) without anything being written.
IDLE_POLL_SECONDS = 1.0
# DynamoDB's TTL process is a background sweep (AWS deletes expired items within days, not on the second): the local
# one scans each TTL table this often.
TTL_SWEEP_SECONDS = 2.0
# The shards of a stream are read again after this long (a local table keeps its one shard).
_SHARDS_FRESH_SECONDS = 30.0


# --------------------------------------------------------------------------------------------------------------
# What event source mappings share
# --------------------------------------------------------------------------------------------------------------


class _Interruptible:
    """Something Pollers can wake from a wait (a batching window, a schedule) when it stops."""

    def __init__(self) -> None:
        self._stopping = threading.Event()

    def _pause(self, seconds: float) -> bool:
        """Sleep up to `seconds`; False when woken because the pollers are stopping."""
        return not self._stopping.wait(max(0.0, seconds))


def passes_filters(record: dict[str, Any], patterns: Sequence[EventPattern]) -> bool:
    """Lambda hands a record to the function when there is no filter or any one filter matches it."""
    return not patterns or any(pattern.matches_event(cast(Any, record)) for pattern in patterns)


def load_patterns(filters: Sequence[str]) -> list[EventPattern]:
    # Lambda's filter criteria are EventBridge patterns; moto implements that syntax for EventBridge rules.
    return [EventPattern.load(text) for text in filters]


def _batch_item_failures(payload: Any, identifiers: Sequence[str]) -> set[str]:
    """The records a partial batch response reports failed. A response Lambda cannot read (not an object, an
    itemIdentifier that is missing, empty or not in the batch) fails the whole batch, as Lambda does."""
    if payload is None:
        return set()
    if not isinstance(payload, dict):
        return set(identifiers)
    failures = payload.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return set(identifiers)
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in identifiers:
            return set(identifiers)
        failed.add(identifier)
    return failed


def _arn_region(arn: str) -> str:
    return arn.split(":")[3]


def _arn_account(arn: str) -> str:
    return arn.split(":")[4]


def _iso(moment: datetime, *, milliseconds: bool = True) -> str:
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond // 1000:03d}Z" if milliseconds else f"{text}Z"


# --------------------------------------------------------------------------------------------------------------
# SQS
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _SqsBatch:
    """Messages received together, and what Lambda did with them so far."""

    messages: list[dict[str, Any]]
    event: dict[str, Any]
    received_at: float  # time.monotonic() when the receive began
    visible_at: float | None = None  # once refused: when the receive's visibility timeout ends
    backoff: Backoff | None = None
    retry_at: float = 0.0


class SqsPoller(_Interruptible):
    """One SQS event source mapping: receive a batch, invoke, delete what succeeded.

    A failed message is left alone: it becomes visible again after the queue's visibility timeout, and SQS itself
    moves it to the dead-letter queue once its receive count reaches the redrive policy's maxReceiveCount. A batch
    Lambda refuses (throttle, service error) is kept and retried with backoff for as long as its messages stay
    invisible; after that they are received again like failed ones, their receive count one higher.

    With a fault plan, `delivery.redeliver` leaves messages of a successful batch on the queue, visible at once, so
    that they are processed again (at-least-once delivery); a message is redelivered at most once that way.
    """

    def __init__(
        self,
        *,
        function: str,
        queue_url: str,
        queue_arn: str,
        batch_size: int,
        batching_window_seconds: float,
        report_batch_item_failures: bool,
        invoke: Invoke,
        sqs: Any,
        filters: Sequence[str] = (),
        faults: FaultPlan | None = None,
        known_as: Call | None = None,
    ) -> None:
        """`known_as` names the function and the queue for fault rules (logical ids included); by default they are
        known by the names given here."""
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, not {batch_size}")
        self.function = function
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = batch_size
        self.batching_window_seconds = batching_window_seconds
        self.report_batch_item_failures = report_batch_item_failures
        self._invoke = invoke
        self._sqs = sqs
        self._patterns = load_patterns(filters)
        self._faults = faults
        self._known_as = known_as or Call(function=(function,), source=(queue_arn, queue_url))
        self._refused: _SqsBatch | None = None
        self._redelivered: set[str] = set()  # message ids made visible again on purpose, not yet processed again

    def __repr__(self) -> str:
        return f"SqsPoller({self.function} <- {self.queue_arn})"

    @property
    def next_retry(self) -> float | None:
        """When (time.monotonic()) the batch Lambda refused is tried again, or None when none waits."""
        return self._refused.retry_at if self._refused is not None else None

    def poll_once(self) -> int:
        """Deliver at most one batch, or try again the one Lambda refused once its backoff is over; returns how many
        messages the function was given."""
        batch = self._refused
        if batch is None:
            received_at = time.monotonic()
            messages = self._gather()
            if not messages:
                return 0
            batch = _SqsBatch(messages, {"Records": [self._record(message) for message in messages]}, received_at)
        elif time.monotonic() < batch.retry_at:
            return 0
        self._refused = None
        messages = batch.messages
        outcome = self._invoke(self.function, batch.event)
        if outcome.refused is not None:
            self._retry_later(batch, outcome.refused)
            return 0
        if outcome.errored:
            done: list[dict[str, Any]] = []
        elif self.report_batch_item_failures:
            failed = _batch_item_failures(outcome.payload, [message["MessageId"] for message in messages])
            done = [message for message in messages if message["MessageId"] not in failed]
        else:
            done = messages
        again = self._redeliveries(done)
        self._delete([message for message in done if message["MessageId"] not in again])
        self._make_visible([message for message in done if message["MessageId"] in again])
        if len(done) < len(messages):
            logger.info(
                "messages left on the queue",
                extra={"function": self.function, "failed": len(messages) - len(done), "errored": outcome.errored},
            )
        return len(messages)

    def _retry_later(self, batch: _SqsBatch, refusal: Refusal) -> None:
        """Hold the batch for another try, unless the backoff would outlast the messages' invisibility."""
        if batch.backoff is None:
            batch.backoff = Backoff(REFUSAL_BACKOFF_FIRST_SECONDS, REFUSAL_BACKOFF_CAP_SECONDS)
        if batch.visible_at is None:
            batch.visible_at = batch.received_at + self._visibility_timeout()
        retry_at = time.monotonic() + batch.backoff.next()
        if retry_at >= batch.visible_at:
            logger.warning(
                "refused batch returns to the queue",
                extra={"function": self.function, "refusal": str(refusal), "messages": len(batch.messages)},
            )
            return
        batch.retry_at = retry_at
        self._refused = batch
        logger.info(
            "invocation refused: the batch is retried",
            extra={"function": self.function, "refusal": str(refusal), "messages": len(batch.messages)},
        )

    def _visibility_timeout(self) -> float:
        attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"])
        return float(attributes["Attributes"]["VisibilityTimeout"])

    def _redeliveries(self, done: list[dict[str, Any]]) -> set[str]:
        """The ids of processed messages that the fault plan delivers again (each one injection)."""
        if self._faults is None:
            return set()
        picked: set[str] = set()
        for message in done:
            message_id = message["MessageId"]
            if message_id in self._redelivered:
                self._redelivered.discard(message_id)  # this was its second delivery
                continue
            detail = f"{self.function} message {message_id}"
            if self._faults.decide((Fault.REDELIVER,), self._known_as, detail) is not None:
                picked.add(message_id)
        self._redelivered |= picked
        return picked

    def _gather(self) -> list[dict[str, Any]]:
        """Receive until the batch is full or the batching window (opened by the first message) closes."""
        batch: list[dict[str, Any]] = []
        opened: float | None = None
        while len(batch) < self.batch_size:
            received = self._receive(min(_SQS_MAX_MESSAGES, self.batch_size - len(batch)))
            batch.extend(self._drop_unwanted(received))
            if not batch:
                if not received:
                    return batch
                continue  # everything received matched no filter: look further
            if opened is None:
                opened = time.monotonic()
            remaining = self.batching_window_seconds - (time.monotonic() - opened)
            if remaining <= 0:
                break
            if not received and not self._pause(min(_WINDOW_TICK_SECONDS, remaining)):
                break
        return batch

    def _receive(self, count: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _drop_unwanted(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Lambda deletes a message that matches none of the filters: it never reaches the function."""
        if not self._patterns:
            return messages
        wanted = [message for message in messages if passes_filters(_filterable(self._record(message)), self._patterns)]
        self._delete([message for message in messages if message not in wanted])
        return wanted

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), _SQS_MAX_MESSAGES):
            chunk = messages[start : start + _SQS_MAX_MESSAGES]
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]} for i, message in enumerate(chunk)],
            )

    def _make_visible(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), _SQS_MAX_MESSAGES):
            chunk = messages[start : start + _SQS_MAX_MESSAGES]
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, message in enumerate(chunk)
                ],
            )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        """One message as Lambda's SQS event carries it (events/warehouse.json)."""
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        record |= {"eventSource": "aws:sqs", "eventSourceARN": self.queue_arn, "awsRegion": _arn_region(self.queue_arn)}
        return record


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """SQS's MessageAttributeValue as Lambda spells it (camel case, binaries in base64)."""
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [base64.b64encode(item).decode() for item in value.get("BinaryListValues", [])]
    attribute["dataType"] = value["DataType"]
    return attribute


def _filterable(record: dict[str, Any]) -> dict[str, Any]:
    """Lambda matches filters against a JSON body's content, and against the plain text otherwise."""
    try:
        body = json.loads(record["body"])
    except ValueError:
        return record
    return record | {"body": body}


# --------------------------------------------------------------------------------------------------------------
# DynamoDB streams
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _Work:
    """Records of one shard still to be delivered. When done, the shard is consumed up to `through` (which also
    covers the records after the last one here that matched no filter)."""

    records: list[dict[str, Any]]
    through: str
    invocations: int = 0  # invocations that ran the function (refusals are not counted)
    backoff: Backoff | None = None  # while Lambda refuses the batch
    retry_at: float | None = None  # time.monotonic() of the next try after a refusal
    redelivery: bool = False  # delivered again on purpose after it succeeded

    @property
    def sequence_numbers(self) -> list[str]:
        return [str(record["dynamodb"]["SequenceNumber"]) for record in self.records]


class StreamPoller(_Interruptible):
    """One DynamoDB stream event source mapping: per shard, in order, one batch at a time.

    A failed batch is retried (split in halves first when bisect_on_error is set, which uses no retries); once its
    retries are spent it is described to the on-failure queue and the shard moves on. With
    report_batch_item_failures, the lowest sequence number the function reports is where the retry starts.
    MaximumRetryAttempts -1 (Lambda's default) retries forever: one attempt per poll, the shard blocked meanwhile.
    A batch Lambda refuses (throttle, service error) is retried with backoff, the shard blocked meanwhile; that uses
    none of the retries and never splits the batch.

    With a fault plan, `delivery.redeliver` delivers a batch that succeeded once more (the same records, the same
    eventIDs) before the shard moves on; a redelivered batch is not redelivered again.
    """

    def __init__(
        self,
        *,
        function: str,
        stream_arn: str,
        starting_position: str,
        batch_size: int,
        batching_window_seconds: float,
        filters: Sequence[str],
        bisect_on_error: bool,
        maximum_retry_attempts: int,
        report_batch_item_failures: bool,
        on_failure_queue_url: str | None,
        invoke: Invoke,
        streams: Any,
        sqs: Any,
        faults: FaultPlan | None = None,
        known_as: Call | None = None,
    ) -> None:
        """`known_as` names the function and the stream for fault rules (logical ids included); by default they are
        known by the names given here."""
        super().__init__()
        if starting_position not in ("LATEST", "TRIM_HORIZON"):
            raise ValueError(f"starting position must be LATEST or TRIM_HORIZON, not {starting_position!r}")
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, not {batch_size}")
        self.function = function
        self.stream_arn = stream_arn
        self.batch_size = batch_size
        self.batching_window_seconds = batching_window_seconds
        self.bisect_on_error = bisect_on_error
        self.maximum_retry_attempts = maximum_retry_attempts
        self.report_batch_item_failures = report_batch_item_failures
        self.on_failure_queue_url = on_failure_queue_url
        self._invoke = invoke
        self._streams = streams
        self._sqs = sqs
        self._patterns = load_patterns(filters)
        self._faults = faults
        self._known_as = known_as or Call(function=(function,), source=(stream_arn,))
        self._region = _arn_region(stream_arn)
        self._shard_ids: list[str] | None = None  # the stream's shards, read again every _SHARDS_FRESH_SECONDS
        self._shards_read_at = 0.0
        # Per shard: the last sequence number done with (absent: nothing read yet), and the work still pending.
        self._positions: dict[str, str] = {}
        self._pending: dict[str, deque[_Work]] = {}
        if starting_position == "LATEST":
            # LATEST is "after whatever the stream holds when the mapping is created", so it is fixed now.
            for shard in self._shards():
                last = self._last_sequence_number(shard)
                if last is not None:
                    self._positions[shard] = last

    def __repr__(self) -> str:
        return f"StreamPoller({self.function} <- {self.stream_arn})"

    @property
    def stalled(self) -> bool:
        """Whether some shard waits to retry a batch: one failing with unlimited retries, one Lambda refused, or one
        whose invocation raised (Invoke itself failed) and is tried again on the next poll."""
        return any(self._pending.values())

    @property
    def next_retry(self) -> float | None:
        """When (time.monotonic()) the first batch Lambda refused is tried again, or None when none waits."""
        waiting = [pending[0].retry_at for pending in self._pending.values() if pending]
        return min((retry_at for retry_at in waiting if retry_at is not None), default=None)

    def poll_once(self) -> int:
        """Deliver at most one batch per shard (with its retries); returns how many records the function was given,
        retries included. A shard whose batch Lambda refused waits until its backoff is over."""
        delivered = 0
        for shard in self._shards():
            pending = self._pending.setdefault(shard, deque())
            if not pending:
                work = self._gather(shard)
                if work is None:
                    continue
                pending.append(work)
            elif pending[0].retry_at is not None and time.monotonic() < pending[0].retry_at:
                continue
            delivered += self._deliver(shard, pending)
        return delivered

    # -- reading ---------------------------------------------------------------------------------------------

    def _shards(self) -> list[str]:
        now = time.monotonic()
        if self._shard_ids is None or now - self._shards_read_at > _SHARDS_FRESH_SECONDS:
            self._shard_ids, self._shards_read_at = self._describe_shards(), now
        return self._shard_ids

    def _describe_shards(self) -> list[str]:
        shards: list[str] = []
        request: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self._streams.describe_stream(**request)["StreamDescription"]
            shards.extend(shard["ShardId"] for shard in description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            request["ExclusiveStartShardId"] = last

    @contextmanager
    def _pages(self, shard: str) -> Iterator[Iterator[list[dict[str, Any]]]]:
        """The shard's records after the position, page by page. A fresh iterator every time: moto replaces a
        table object when a transaction rolls back, and an old iterator would keep reading the old one."""
        position = self._positions.get(shard)
        request: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard}
        if position is None:
            request["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            request |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": position}
        iterators = [self._streams.get_shard_iterator(**request).get("ShardIterator")]

        def pages() -> Iterator[list[dict[str, Any]]]:
            while iterators[-1]:
                response = self._streams.get_records(ShardIterator=iterators[-1], Limit=_STREAM_PAGE)
                iterators.append(response.get("NextShardIterator"))
                records: list[dict[str, Any]] = response.get("Records", [])
                if not records:
                    return
                yield records

        try:
            yield pages()
        finally:
            self._forget(iterators)

    def _forget(self, iterators: list[str | None]) -> None:
        """moto keeps every shard iterator it hands out; an idle poller would pile up thousands an hour. When moto
        runs in this process (as the local cloud's does), drop the ones this poller is done with."""
        held = get_backend("dynamodbstreams")[_arn_account(self.stream_arn)][self._region].shard_iterators
        for iterator in iterators:
            if iterator:
                held.pop(iterator, None)

    def _last_sequence_number(self, shard: str) -> str | None:
        last = None
        with self._pages(shard) as pages:
            for page in pages:
                last = str(page[-1]["dynamodb"]["SequenceNumber"])
        return last

    def _read(self, shard: str) -> _Work | None:
        """The next batch of records that pass the filters, up to the batch size."""
        matched: list[dict[str, Any]] = []
        through: str | None = None
        with self._pages(shard) as pages:
            for page in pages:
                for raw in page:
                    through = str(raw["dynamodb"]["SequenceNumber"])
                    record = self._lambda_record(raw)
                    if passes_filters(record, self._patterns):
                        matched.append(record)
                        if len(matched) == self.batch_size:
                            return _Work(matched, through)
        if through is None:
            return None
        return _Work(matched, through)

    def _gather(self, shard: str) -> _Work | None:
        """Read a batch, keeping the batching window open (from the first matching record) until it is full."""
        opened: float | None = None
        while True:
            work = self._read(shard)
            if work is None:
                return None
            if not work.records:
                # Records that match no filter are dropped for good: Lambda never shows them to the function.
                self._positions[shard] = work.through
                return None
            if opened is None:
                opened = time.monotonic()
            remaining = self.batching_window_seconds - (time.monotonic() - opened)
            if len(work.records) >= self.batch_size or remaining <= 0:
                return work
            if not self._pause(min(_WINDOW_TICK_SECONDS, remaining)):
                return work

    def _lambda_record(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A GetRecords record as Lambda's event carries it (events/order_events.json, events/abandoned_cart.json)."""
        record: dict[str, Any] = {
            "eventID": raw["eventID"],
            "eventName": raw["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self._region,
            "dynamodb": json_ready(raw["dynamodb"]),
        }
        identity = raw.get("userIdentity")
        if identity:
            record["userIdentity"] = {"type": identity["Type"], "principalId": identity["PrincipalId"]}
        record["eventSourceARN"] = self.stream_arn
        return record

    # -- delivering ------------------------------------------------------------------------------------------

    def _deliver(self, shard: str, pending: deque[_Work]) -> int:
        delivered = 0
        while pending:
            work = pending[0]
            outcome = self._invoke(self.function, {"Records": work.records})
            if outcome.refused is not None:
                self._retry_later(shard, work, outcome.refused)
                break  # the shard waits: its records stay in order
            work.backoff = work.retry_at = None
            work.invocations += 1
            delivered += len(work.records)
            failed_from = self._first_failure(work, outcome)
            if failed_from is None:
                if not work.redelivery and self._redelivers(shard, work):
                    pending[0] = _Work(work.records, work.through, redelivery=True)
                    continue
                pending.popleft()
                self._positions[shard] = work.through
                continue
            if outcome.errored and self.bisect_on_error and len(work.records) > 1:
                # Splitting uses none of the retries: each half starts afresh.
                half = len(work.records) // 2
                pending.popleft()
                pending.appendleft(_Work(work.records[half:], work.through))
                pending.appendleft(_Work(work.records[:half], work.sequence_numbers[half - 1]))
                continue
            if failed_from:
                # The records before the first reported failure are done; the retry starts there.
                work = pending[0] = _Work(work.records[failed_from:], work.through, work.invocations)
            if self.maximum_retry_attempts < 0:
                break  # unlimited retries: the next poll tries again, and the shard waits until then
            if work.invocations > self.maximum_retry_attempts:
                self._discard(shard, work, outcome)
                pending.popleft()
                self._positions[shard] = work.through
        return delivered

    def _retry_later(self, shard: str, work: _Work, refusal: Refusal) -> None:
        if work.backoff is None:
            work.backoff = Backoff(REFUSAL_BACKOFF_FIRST_SECONDS, REFUSAL_BACKOFF_CAP_SECONDS)
        work.retry_at = time.monotonic() + work.backoff.next()
        logger.info(
            "invocation refused: the batch is retried",
            extra={"function": self.function, "shard": shard, "refusal": str(refusal), "records": len(work.records)},
        )

    def _redelivers(self, shard: str, work: _Work) -> bool:
        """Whether the fault plan delivers the batch that just succeeded once more (one injection)."""
        if self._faults is None:
            return False
        numbers = work.sequence_numbers
        detail = f"{self.function} shard {shard} records {numbers[0]}..{numbers[-1]}"
        return self._faults.decide((Fault.REDELIVER,), self._known_as, detail) is not None

    def _first_failure(self, work: _Work, outcome: InvokeOutcome) -> int | None:
        """Index of the first record to retry, or None when the batch succeeded."""
        if outcome.errored:
            return 0
        if not self.report_batch_item_failures:
            return None
        sequence_numbers = work.sequence_numbers
        failed = _batch_item_failures(outcome.payload, sequence_numbers)
        return min((sequence_numbers.index(number) for number in failed), default=None)

    def _discard(self, shard: str, work: _Work, outcome: InvokeOutcome) -> None:
        """Give up on the records: describe them to the on-failure destination in Lambda's invocation record."""
        arrivals = [float(record["dynamodb"].get("ApproximateCreationDateTime", 0)) for record in work.records]
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if outcome.errored:
            response_context["functionError"] = "Unhandled"
        failure = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self._function_arn(),
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": work.invocations,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": _iso(datetime.now(UTC)),
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": work.sequence_numbers[0],
                "endSequenceNumber": work.sequence_numbers[-1],
                "approximateArrivalOfFirstRecord": _iso(datetime.fromtimestamp(arrivals[0], UTC)),
                "approximateArrivalOfLastRecord": _iso(datetime.fromtimestamp(arrivals[-1], UTC)),
                "batchSize": len(work.records),
                "streamArn": self.stream_arn,
            },
        }
        logger.warning(
            "stream records discarded after their retries",
            extra={"function": self.function, "shard": shard, "records": len(work.records)},
        )
        if self.on_failure_queue_url is not None:
            self._sqs.send_message(QueueUrl=self.on_failure_queue_url, MessageBody=json.dumps(failure))

    def _function_arn(self) -> str:
        if self.function.startswith("arn:"):
            return self.function
        return f"arn:aws:lambda:{self._region}:{_arn_account(self.stream_arn)}:function:{self.function}"


def json_ready(value: Any) -> Any:
    """boto3 parses timestamps and binaries in stream records; Lambda's event has epoch seconds and base64."""
    if isinstance(value, dict):
        return {key: json_ready(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [json_ready(inner) for inner in value]
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


# --------------------------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------------------------

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\(([^)]*)\)")
_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_MONTHS = {name.upper(): number for number, name in enumerate(calendar.month_abbr) if name}
_DAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
_LAST_YEAR = 2199


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: Mapping[str, int] = field(default_factory=dict)

    def parse(self, text: str) -> frozenset[int]:
        if text == "?" and self.name.startswith("day"):
            return frozenset(range(self.low, self.high + 1))  # "any": the other day field decides
        values: set[int] = set()
        for part in text.split(","):
            values |= self._parse_part(part)
        return frozenset(values)

    def _parse_part(self, part: str) -> set[int]:
        base, _, step_text = part.partition("/")
        step = self._number(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"cron {self.name}: step {step_text!r} must be at least 1")
        if base == "*":
            start, end = self.low, self.high
        elif "-" in base:
            start_text, end_text = base.split("-", 1)
            start, end = self._value(start_text), self._value(end_text)
            if start > end:
                raise ValueError(f"cron {self.name}: range {base!r} runs backwards")
        else:
            start = self._value(base)
            end = self.high if step_text else start  # "5/15": from 5, every 15
        return set(range(start, end + 1, step))

    def _value(self, text: str) -> int:
        number = self.names.get(text.upper()) if self.names else None
        value = number if number is not None else self._number(text)
        if not self.low <= value <= self.high:
            raise ValueError(f"cron {self.name}: {text!r} is outside {self.low}-{self.high}")
        return value

    def _number(self, text: str) -> int:
        if not text.isdigit():
            raise ValueError(f"cron {self.name}: {text!r} is not supported here (numbers, names, * ? , - / only)")
        return int(text)


_CRON_FIELDS = (
    _CronField("minutes", 0, 59),
    _CronField("hours", 0, 23),
    _CronField("day-of-month", 1, 31),
    _CronField("month", 1, 12, _MONTHS),
    _CronField("day-of-week", 1, 7, _DAYS),
    _CronField("year", 1970, _LAST_YEAR),
)


@dataclass(frozen=True)
class _Cron:
    """EventBridge's six-field cron, in UTC. Day-of-week counts 1 = Sunday to 7 = Saturday."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None: "?", the day of the week decides
    months: frozenset[int]
    days_of_week: frozenset[int]  # with day-of-month "?"; ignored otherwise
    years: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> _Cron:
        fields = text.split()
        if len(fields) != len(_CRON_FIELDS):
            raise ValueError(f"cron({text}) needs 6 fields (minutes hours day-of-month month day-of-week year)")
        day_of_month, day_of_week = fields[2], fields[4]
        if (day_of_month == "?") == (day_of_week == "?"):
            raise ValueError(f"cron({text}): exactly one of day-of-month and day-of-week must be ?")
        minutes, hours, days_of_month, months, days_of_week, years = (
            spec.parse(value) for spec, value in zip(_CRON_FIELDS, fields, strict=True)
        )
        return cls(minutes, hours, None if day_of_month == "?" else days_of_month, months, days_of_week, years)

    def _day_matches(self, moment: datetime) -> bool:
        if self.days_of_month is not None:
            return moment.day in self.days_of_month
        # Python counts Monday = 0 .. Sunday = 6; EventBridge Sunday = 1 .. Saturday = 7.
        return (moment.weekday() + 1) % 7 + 1 in self.days_of_week

    def after(self, moment: datetime) -> datetime:
        """The first minute strictly after `moment` that the expression names."""
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while candidate.year <= _LAST_YEAR:
            if candidate.year not in self.years:
                candidate = datetime(candidate.year + 1, 1, 1, tzinfo=UTC)
            elif candidate.month not in self.months:
                year, month = divmod(candidate.year * 12 + candidate.month, 12)  # the first of next month
                candidate = datetime(year, month + 1, 1, tzinfo=UTC)
            elif not self._day_matches(candidate):
                candidate = datetime(candidate.year, candidate.month, candidate.day, tzinfo=UTC) + timedelta(days=1)
            elif candidate.hour not in self.hours:
                candidate = candidate.replace(minute=0) + timedelta(hours=1)
            elif candidate.minute not in self.minutes:
                candidate += timedelta(minutes=1)
            else:
                return candidate
        raise ValueError("the cron expression names no time before the year 2200")


Submit = Callable[[str, dict[str, Any]], object]  # (function name or ARN, event): an asynchronous invocation


class Schedule(_Interruptible):
    """An AWS::Events::Rule's ScheduleExpression targeting a function: rate(...) or cron(...), in UTC.

    EventBridge invokes its targets asynchronously: `invoke` hands the event to Lambda's asynchronous invocation
    (localcloud.async_invoke.AsyncInvoker.submit in the local cloud), which retries it and reports what fails.
    """

    def __init__(self, *, function: str, expression: str, invoke: Submit, rule_arn: str) -> None:
        super().__init__()
        self.function = function
        self.expression = expression.strip()
        self.rule_arn = rule_arn
        self._invoke = invoke
        self._next: Callable[[datetime], datetime]
        if rate := _RATE.fullmatch(self.expression):
            value, unit = int(rate[1]), rate[2]
            # EventBridge insists on "1 minute" but "5 minutes".
            if value < 1 or (value == 1) != (not unit.endswith("s")):
                raise ValueError(f"{self.expression}: use rate(1 {unit.rstrip('s')}) or rate(N {unit.rstrip('s')}s)")
            period = value * _UNITS[unit.rstrip("s")]
            self._next = lambda moment: moment + period
        elif cron := _CRON.fullmatch(self.expression):
            self._next = _Cron.parse(cron[1]).after
        else:
            raise ValueError(f"not a schedule expression: {expression!r} (rate(...) or cron(...))")

    def __repr__(self) -> str:
        return f"Schedule({self.function} at {self.expression})"

    def next_fire(self, after: datetime) -> datetime:
        """When the rule fires next, strictly after `after` (a naive datetime is taken as UTC). A rate counts from
        `after`, as EventBridge counts from the rule's creation."""
        moment = after.replace(tzinfo=UTC) if after.tzinfo is None else after.astimezone(UTC)
        return self._next(moment)

    def fire_now(self) -> dict[str, Any]:
        return self.fire(datetime.now(UTC))

    def fire(self, at: datetime) -> dict[str, Any]:
        """Send the function EventBridge's "Scheduled Event" for the time `at` (events/nightly_report.json); returns
        the event sent."""
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": _arn_account(self.rule_arn),
            "time": _iso(at, milliseconds=False),
            "region": _arn_region(self.rule_arn),
            "resources": [self.rule_arn],
            "detail": {},
        }
        self._invoke(self.function, event)
        return event


# --------------------------------------------------------------------------------------------------------------
# SNS subscriptions
# --------------------------------------------------------------------------------------------------------------

# SNS signs every notification with its own key, which nothing local can verify: the event carries no real signature.
_UNSIGNED = base64.b64encode(b"not signed: delivered by localcloud").decode()


def sns_event(
    *,
    subscription_arn: str,
    topic_arn: str,
    message_id: str,
    message: str,
    subject: str | None,
    attributes: Mapping[str, Mapping[str, Any]],
    at: datetime | None = None,
) -> dict[str, Any]:
    """A notification as SNS hands it to a subscribed function (events/notification_sender.json). `attributes` are
    the message's attributes as SNS forwards them: {"name": {"Type": "String", "Value": "..."}}."""
    region = _arn_region(topic_arn)
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": _iso(at or datetime.now(UTC)),
                    "SignatureVersion": "1",
                    "Signature": _UNSIGNED,
                    "SigningCertUrl": f"https://sns.{region}.amazonaws.com/SimpleNotificationService-localcloud.pem",
                    "UnsubscribeUrl": (
                        f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"
                    ),
                    "MessageAttributes": {name: dict(value) for name, value in attributes.items()},
                },
            }
        ]
    }


# --------------------------------------------------------------------------------------------------------------
# TTL
# --------------------------------------------------------------------------------------------------------------

# How DynamoDB Streams names the TTL process in a record it wrote (GetRecords' Identity shape; Lambda's event
# spells the same thing {"type": "Service", "principalId": "dynamodb.amazonaws.com"}).
SERVICE_IDENTITY = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
# DynamoDB leaves alone items whose expiry is more than five years in the past (likely not epoch seconds at all).
_TTL_HORIZON_SECONDS = 5 * 365 * 24 * 3600

_service_deletion = threading.local()


class _ServiceStreamRecord(moto_table.StreamRecord):
    """moto's stream record, plus the identity DynamoDB gives a deletion made by its own TTL process.

    Only deletions made on a thread that is inside `_deleting_as_service()` get it: the reaper deletes through
    moto's backend objects in this process, so no request from a client can ever be marked.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if getattr(_service_deletion, "active", False) and self.record["eventName"] == "REMOVE":
            self.record["userIdentity"] = dict(SERVICE_IDENTITY)


@contextmanager
def _deleting_as_service() -> Iterator[None]:
    _service_deletion.active = True
    try:
        yield
    finally:
        _service_deletion.active = False


_install_lock = threading.Lock()


def _install_service_identity() -> None:
    """Have moto build stream records through _ServiceStreamRecord (StreamShard.add looks the class up by name)."""
    with _install_lock:
        if moto_table.StreamRecord is not _ServiceStreamRecord:
            vars(moto_table)["StreamRecord"] = _ServiceStreamRecord


class TtlReaper:
    """Deletes expired items as DynamoDB's TTL process does: the stream's REMOVE records say the service did it.

    The table is read, and the expired items deleted, through moto's backend in this process (the reaper runs next
    to the AWS endpoint's moto); that is how its deletions are told apart from a client's DeleteItem.
    """

    def __init__(
        self,
        *,
        table_name: str,
        ttl_attribute: str,
        account_id: str,
        region: str,
        backend_lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.table_name = table_name
        self.ttl_attribute = ttl_attribute
        self._account_id = account_id
        self._region = region
        # The AWS endpoint serialises its DynamoDB requests with this lock; a deletion through moto's backend takes
        # it too, so that it never lands in the middle of someone's transaction.
        self._backend_lock = backend_lock or nullcontext()
        _install_service_identity()

    def __repr__(self) -> str:
        return f"TtlReaper({self.table_name}.{self.ttl_attribute})"

    def sweep(self, now: float | None = None) -> int:
        """Delete every item whose TTL attribute (a number, epoch seconds) is at or before `now`."""
        now = time.time() if now is None else now
        deleted = 0
        for key in self._expired_keys(now):
            if self._delete_as_service(key, now):
                deleted += 1
        if deleted:
            logger.info("expired items deleted", extra={"table": self.table_name, "count": deleted})
        return deleted

    def _expired_keys(self, now: float) -> list[dict[str, Any]]:
        """The keys of the items expired at `now`, read from moto's table in this process: a Scan through the API
        would serialize the whole table every sweep (thousands of idempotency records after a long run)."""
        backend = get_backend("dynamodb")[self._account_id][self._region]
        with self._backend_lock:
            table = backend.get_table(self.table_name)
            items = table.all_items()
        key_names = [name for name in (table.hash_key_attr, table.range_key_attr) if name]
        expired: list[dict[str, Any]] = []
        for item in items:
            ttl = item.attrs.get(self.ttl_attribute)
            if ttl is not None and _expired(ttl.to_json(), now):
                expired.append({name: item.attrs[name].to_json() for name in key_names if name in item.attrs})
        return expired

    def _delete_as_service(self, key: dict[str, Any], now: float) -> bool:
        """Delete unless the item was changed meanwhile to expire later (DynamoDB checks again before deleting)."""
        backend = get_backend("dynamodb")[self._account_id][self._region]
        try:
            with self._backend_lock, _deleting_as_service():
                backend.delete_item(
                    self.table_name,
                    key,
                    expression_attribute_names={"#ttl": self.ttl_attribute},
                    expression_attribute_values={":now": {"N": _number_text(now)}},
                    condition_expression="#ttl <= :now",
                )
        except ConditionalCheckFailed:
            return False
        return True


def _expired(value: Any, now: float) -> bool:
    """TTL only considers a Number attribute; anything else (a string, a missing attribute) never expires."""
    if not isinstance(value, dict) or "N" not in value:
        return False
    try:
        expires = Decimal(value["N"])
    except InvalidOperation:
        return False
    return Decimal(_number_text(now - _TTL_HORIZON_SECONDS)) <= expires <= Decimal(_number_text(now))


def _number_text(value: float) -> str:
    return format(Decimal(repr(value)), "f")


# --------------------------------------------------------------------------------------------------------------
# Running them
# --------------------------------------------------------------------------------------------------------------


class PolledSource(Protocol):
    """Any other source polled like a queue (e.g. localcloud.triggers' Cognito triggers). One with a `rung_by`
    attribute (names the doorbell rings: a table's, a queue's) is polled when one of them rings, and every
    IDLE_POLL_SECONDS besides, rather than every interval."""

    def poll_once(self) -> int: ...


Source = SqsPoller | StreamPoller | Schedule | TtlReaper | PolledSource


class Pollers:
    """Every poller, schedule and reaper on its own background thread (stop() joins them all)."""

    def __init__(
        self, items: Sequence[Source], *, interval_seconds: float = 0.2, doorbell: Doorbell | None = None
    ) -> None:
        """Each source is polled every `interval_seconds` while idle; with a doorbell, queues and streams are polled
        when their resource is rung instead, and every IDLE_POLL_SECONDS besides."""
        self._items = list(items)
        self._interval = interval_seconds
        self._bells = [_listen(doorbell, item) for item in self._items]
        self._locks = [threading.Lock() for _ in self._items]  # one step of an item at a time (thread or drain)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._activity = 0  # records delivered and items reaped so far, by threads and drain alike
        self._activity_lock = threading.Lock()

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("the pollers are already running")
        self._stop.clear()
        for index, item in enumerate(self._items):
            if isinstance(item, _Interruptible):
                item._stopping.clear()
            thread = threading.Thread(
                target=self._run_schedule if isinstance(item, Schedule) else self._run_source,
                args=(index,),
                name=f"localcloud {item!r}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for bell in self._bells:
            if bell is not None:
                bell.set()
        for item in self._items:
            if isinstance(item, _Interruptible):
                item._stopping.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def drain(self, timeout: float = 10.0) -> None:
        """Poll every queue, stream and TTL reaper until a whole round finds nothing, the background threads
        included (what one function writes may feed another's source, so rounds continue until all are quiet).
        A batch Lambda refused is still work to do: drain waits for its retry."""
        deadline = time.monotonic() + timeout
        sources = [index for index, item in enumerate(self._items) if not isinstance(item, Schedule)]
        while True:
            with self._activity_lock:
                before = self._activity
            moved = sum(self._step(index) for index in sources)
            with self._activity_lock:
                quiet = moved == 0 and self._activity == before
            if quiet:
                retry_at = min((at for item in self._items if (at := _next_retry(item)) is not None), default=None)
                if retry_at is None:
                    return
                time.sleep(max(0.0, min(retry_at, deadline) - time.monotonic()))
            if time.monotonic() > deadline:
                busy = [
                    repr(item)
                    for item in self._items
                    if (isinstance(item, StreamPoller) and item.stalled) or _next_retry(item) is not None
                ]
                raise TimeoutError(f"event sources still busy after {timeout} s (retrying: {busy or 'none'})")

    def _step(self, index: int) -> int:
        item = self._items[index]
        with self._locks[index]:
            if isinstance(item, Schedule):
                return 0
            moved = item.sweep() if isinstance(item, TtlReaper) else item.poll_once()
            if moved:
                with self._activity_lock:
                    self._activity += moved
            return moved

    def _run_source(self, index: int) -> None:
        item = self._items[index]
        bell = self._bells[index]
        while not self._stop.is_set():
            if bell is not None:
                bell.clear()  # before the poll: a ring during it means another poll right after
            try:
                moved = self._step(index)
            except Exception:  # one bad poll must not end the source's thread: log it and poll again
                logger.exception("event source poll failed", extra={"source": repr(item)})
                moved = 0
            stalled = isinstance(item, StreamPoller) and item.stalled
            retry_at = _next_retry(item)
            if retry_at is not None:
                # A refused batch is tried again when its backoff ends, which may be sooner than the next poll.
                self._stop.wait(min(self._interval, max(0.0, retry_at - time.monotonic())))
            elif stalled:
                self._stop.wait(self._interval)  # a failing batch is retried once a poll, however busy its table
            elif isinstance(item, TtlReaper):
                self._stop.wait(TTL_SWEEP_SECONDS)
            elif not moved:
                if bell is None:
                    self._stop.wait(self._interval)
                else:
                    bell.wait(IDLE_POLL_SECONDS)

    def _run_schedule(self, index: int) -> None:
        schedule = self._items[index]
        if not isinstance(schedule, Schedule):
            raise TypeError(f"{schedule!r} is not a schedule")
        fire_at = schedule.next_fire(datetime.now(UTC))
        while not self._stop.wait(max(0.0, (fire_at - datetime.now(UTC)).total_seconds())):
            try:
                with self._locks[index]:
                    schedule.fire(fire_at)
            except Exception:  # the next occurrence still fires
                logger.exception("schedule failed", extra={"source": repr(schedule)})
            # A schedule that fell behind does not fire the occurrences it missed, as EventBridge does not.
            fire_at = schedule.next_fire(max(fire_at, datetime.now(UTC)))


def _listen(doorbell: Doorbell | None, item: Source) -> threading.Event | None:
    """What wakes the source besides its interval: its queue's or its table's ring (None: the interval alone)."""
    if doorbell is None:
        return None
    if isinstance(item, SqsPoller):
        return doorbell.listen([queue_name(item.queue_url)])
    if isinstance(item, StreamPoller):
        return doorbell.listen([stream_table_name(item.stream_arn)])
    rung_by = getattr(item, "rung_by", None)  # another source's names: polled on their rings, and when idle
    if rung_by is not None:
        return doorbell.listen(list(rung_by))
    return None


def _next_retry(item: Source) -> float | None:
    """When a batch Lambda refused is due again at this source (time.monotonic()), if one waits."""
    return item.next_retry if isinstance(item, SqsPoller | StreamPoller) else None

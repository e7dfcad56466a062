"""Lambda's asynchronous invocation: an event is accepted at once, tried, retried as Lambda retries it, and described
to the function's on-failure destination (AWS::Lambda::EventInvokeConfig) when Lambda gives up on it."""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localcloud.faults import Call, Fault, FaultPlan
from localcloud.pollers import Backoff, Invoke, InvokeOutcome
from localcloud.workers import parse_function_name

logger = logging.getLogger(__name__)

LATEST = "$LATEST"
RETRIES_EXHAUSTED = "RetriesExhausted"
EVENT_AGE_EXCEEDED = "EventAgeExceeded"


@dataclass(frozen=True)
class InvokeConfig:
    """What a function's (or one alias's) AWS::Lambda::EventInvokeConfig says; Lambda's defaults without one."""

    maximum_retry_attempts: int = 2
    maximum_event_age_seconds: float = 6 * 3600.0
    on_failure_queue_url: str | None = None  # an SQS queue: the only destination emulated


@dataclass(frozen=True)
class RetryDelays:
    """How long Lambda waits before it tries an event again: after a function error 1 minute, then 2 (the last delay
    repeats for any further retry); after a throttle or a service error, exponentially from 1 second to 5 minutes."""

    after_function_error: tuple[float, ...] = (60.0, 120.0)
    first_refusal: float = 1.0
    longest_refusal: float = 300.0

    def __post_init__(self) -> None:
        if not self.after_function_error or min(self.after_function_error) < 0:
            raise ValueError(f"after_function_error needs delays >= 0, not {self.after_function_error}")
        Backoff(self.first_refusal, self.longest_refusal)  # refuses a backoff that cannot work

    def after_error(self, errors: int) -> float:
        """The wait before the retry that follows the `errors`-th function error (counted from 1)."""
        return self.after_function_error[min(errors, len(self.after_function_error)) - 1]


@dataclass
class _Event:
    request_id: str
    function: str  # name or ARN as invoked, qualifier included
    payload: dict[str, Any]
    source: tuple[str, ...]  # what sent it (a topic, a rule), for fault rules
    accepted_at: float
    attempts: int = 0  # every try, refused ones included (the record's approximateInvokeCount)
    function_errors: int = 0
    last: InvokeOutcome | None = None
    refusals: Backoff | None = None  # while Lambda refuses it
    redelivery: bool = False


class AsyncInvoker:
    """Lambda's queue of asynchronous invocations for the account: `submit` accepts an event at once (what the Invoke
    API's 202 means), `poll_once` tries every event that is due. Pollers runs it like an event source.

    A function error is retried MaximumRetryAttempts times, after `delays.after_function_error`. A throttle or a
    service error puts the event back with exponential backoff and uses none of the retries. An event that fails once
    its retries are spent, or that is older than MaximumEventAgeInSeconds, is described to the on-failure queue in
    Lambda's invocation record, or dropped with a warning when the function has none. With a fault plan,
    `delivery.redeliver` runs an event that succeeded once more (at-least-once delivery; at most one extra run).
    Events run one at a time, in the order they are due.
    """

    def __init__(
        self,
        *,
        invoke: Invoke,
        sqs: Any,
        region: str,
        account_id: str,
        configs: Mapping[tuple[str, str], InvokeConfig] | None = None,
        delays: RetryDelays | None = None,
        faults: FaultPlan | None = None,
        function_names: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        """`configs` by (function name, qualifier), the qualifier "$LATEST" for the unqualified function, as
        EventInvokeConfig's Qualifier says; `function_names` gives every name fault rules may use for an invoked
        name or ARN (by default, that name and the function's name)."""
        self._invoke = invoke
        self._sqs = sqs
        self._region = region
        self._account_id = account_id
        self._configs = dict(configs or {})
        self._delays = delays or RetryDelays()
        self._faults = faults
        self._function_names = function_names or (lambda target: (target, parse_function_name(target)[0]))
        self._lock = threading.Lock()
        self._queue: list[tuple[float, int, _Event]] = []  # a heap by due time, then arrival
        self._arrivals = itertools.count()

    def __repr__(self) -> str:
        return f"AsyncInvoker({len(self._queue)} waiting)"

    @property
    def waiting(self) -> int:
        """Events accepted and not finished with: due now, or waiting for a retry."""
        with self._lock:
            return len(self._queue)

    def submit(self, function: str, event: dict[str, Any], *, source: Iterable[str] = ()) -> str:
        """Accept an event for `function` (name or ARN, qualifier included); returns the request id."""
        request_id = str(uuid.uuid4())
        # A copy: the event is sent later, as it was when accepted (and it must be JSON, as the Invoke API requires).
        payload = json.loads(json.dumps(event))
        self._push(_Event(request_id, function, payload, tuple(source), accepted_at=time.monotonic()), 0.0)
        return request_id

    def poll_once(self) -> int:
        """Try every event due now, one after another; returns how many were tried."""
        now = time.monotonic()
        tried = 0
        while (event := self._pop_due(now)) is not None:
            self._attempt(event)
            tried += 1
        return tried

    # -- one try ---------------------------------------------------------------------------------------------

    def _attempt(self, event: _Event) -> None:
        config = self._config(event.function)
        if time.monotonic() - event.accepted_at >= config.maximum_event_age_seconds:
            self._give_up(event, config, EVENT_AGE_EXCEEDED)
            return
        event.attempts += 1
        outcome = event.last = self._invoke(event.function, event.payload)
        if outcome.refused is not None:
            if event.refusals is None:
                event.refusals = Backoff(self._delays.first_refusal, self._delays.longest_refusal)
            self._retry(event, config, event.refusals.next(), str(outcome.refused))
            return
        event.refusals = None
        if not outcome.errored:
            self._redeliver(event)
            return
        event.function_errors += 1
        if event.function_errors > config.maximum_retry_attempts:
            self._give_up(event, config, RETRIES_EXHAUSTED)
            return
        self._retry(event, config, self._delays.after_error(event.function_errors), "function error")

    def _retry(self, event: _Event, config: InvokeConfig, delay: float, reason: str) -> None:
        # Never later than the event's maximum age: then it is found too old, and Lambda gives up on it at once.
        expires_in = event.accepted_at + config.maximum_event_age_seconds - time.monotonic()
        logger.info(
            "asynchronous invocation is retried",
            extra={"function": event.function, "request_id": event.request_id, "reason": reason, "delay": delay},
        )
        self._push(event, min(delay, max(0.0, expires_in)))

    def _redeliver(self, event: _Event) -> None:
        if self._faults is None or event.redelivery:
            return
        call = Call(function=tuple(self._function_names(event.function)), source=event.source)
        detail = f"{event.function} request {event.request_id}"
        if self._faults.decide((Fault.REDELIVER,), call, detail) is not None:
            again = _Event(event.request_id, event.function, event.payload, event.source, event.accepted_at)
            again.redelivery = True
            self._push(again, 0.0)

    def _give_up(self, event: _Event, config: InvokeConfig, condition: str) -> None:
        """Lambda's invocation record to the on-failure destination; without one the event is only logged."""
        extra = {"function": event.function, "request_id": event.request_id, "condition": condition}
        if config.on_failure_queue_url is None:
            logger.warning("asynchronous event dropped", extra=extra)
            return
        record = self._invocation_record(event, condition)
        self._sqs.send_message(QueueUrl=config.on_failure_queue_url, MessageBody=json.dumps(record))
        logger.warning("asynchronous event sent to the on-failure destination", extra=extra)

    def _invocation_record(self, event: _Event, condition: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        record: dict[str, Any] = {
            "version": "1.0",
            "timestamp": f"{now.strftime('%Y-%m-%dT%H:%M:%S')}.{now.microsecond // 1000:03d}Z",
            "requestContext": {
                "requestId": event.request_id,
                "functionArn": self._function_arn(event.function),
                "condition": condition,
                "approximateInvokeCount": event.attempts,
            },
            "requestPayload": event.payload,
        }
        last = event.last
        if last is None:  # too old before its first try: Lambda never answered
            return record
        if last.refused is not None:
            record["responseContext"] = {"statusCode": last.refused.status_code}
        else:
            record["responseContext"] = {"statusCode": 200, "executedVersion": LATEST}
            if last.errored:
                record["responseContext"]["functionError"] = "Unhandled"
        record["responsePayload"] = last.payload
        return record

    # -- the queue -------------------------------------------------------------------------------------------

    def _config(self, function: str) -> InvokeConfig:
        name, qualifier = parse_function_name(function)
        return self._configs.get((name, qualifier or LATEST), InvokeConfig())

    def _function_arn(self, function: str) -> str:
        name, qualifier = parse_function_name(function)
        return f"arn:aws:lambda:{self._region}:{self._account_id}:function:{name}:{qualifier or LATEST}"

    def _push(self, event: _Event, delay: float) -> None:
        with self._lock:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._arrivals), event))

    def _pop_due(self, now: float) -> _Event | None:
        with self._lock:
            if not self._queue or self._queue[0][0] > now:
                return None
            return heapq.heappop(self._queue)[2]

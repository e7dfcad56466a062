"""Each invocation's output where a developer looks for it: in the emulated CloudWatch Logs, where Lambda puts it, and
readably in `make run`'s console.

CloudWatch Logs: the function's log group (its LoggingConfig.LogGroup, or /aws/lambda/<name>), one stream per
function for the cloud's life, with Lambda's own START, END and REPORT lines around what the handler printed
(Powertools' JSON lines included). So `aws logs tail <group> --endpoint-url <aws>` shows a local function's output as
it would a deployed one's.

The console: one line per invocation saying what its caller saw (an HTTP status, `ok`, or `error: <type>: <message>`),
then what the handler printed, each line under the invocation's request id, Powertools' JSON lines as
`LEVEL message key=value`, the levels coloured on a terminal. A raised error, an import error, a time-out and a 5xx
answer are errors; a business outcome (a handled 4xx, an out-of-stock or declined result a workflow task returns) is
not.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.logs.models import logs_backends

from localcloud.workers import FunctionSpec, InvokeResult

# Errors Lambda itself reports when the handler could not (it was stopped): Lambda writes a line of its own for them.
_PLATFORM_LINES = {
    "Sandbox.Timedout": "{message}",
    "Runtime.ExitError": "Error: {message}",
}
# An error message on the invocation line is cut here (the whole of it is in the logs below the line).
_MESSAGE_LIMIT = 300


class FunctionLogs:
    """Writes invocations' logs into moto's CloudWatch Logs, in this process (no request per line)."""

    def __init__(self, account_id: str, region: str, clock: Callable[[], float] = time.time) -> None:
        self._account_id = account_id
        self._region = region
        self._clock = clock
        self._streams: dict[str, str] = {}  # log group -> this cloud's stream in it
        self._lock = threading.Lock()
        # How invocations are shown in the cloud's own log (make run sets colours and a filter from its options).
        self.console = Console()

    def _backend(self) -> Any:
        return logs_backends[self._account_id][self._region]

    def stream_of(self, group: str) -> str:
        """The group's stream for this cloud (Lambda names one per execution environment the same way)."""
        with self._lock:
            if group not in self._streams:
                day = datetime.now(UTC).strftime("%Y/%m/%d")
                stream = f"{day}/[$LATEST]{uuid.uuid4().hex}"
                backend = self._backend()
                if group not in backend.groups:
                    backend.create_log_group(group, {})
                backend.create_log_stream(group, stream)
                self._streams[group] = stream
            return self._streams[group]

    def record(self, group: str, spec: FunctionSpec, result: InvokeResult) -> None:
        """One invocation: START, the handler's lines (and Lambda's own, after a time-out), END and REPORT, stamped
        now."""
        request = result.request_id
        report = (
            f"REPORT RequestId: {request}\tDuration: {result.duration_ms:.2f} ms\t"
            f"Billed Duration: {max(1, round(result.duration_ms + 0.5))} ms\tMemory Size: {spec.memory_mb} MB"
        )
        if result.cold:
            report += f"\tInit Duration: {result.init_duration_ms:.2f} ms"
        now = int(self._clock() * 1000)
        platform = platform_line(result)
        stamp = datetime.fromtimestamp(now / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        lines = [
            f"START RequestId: {request} Version: $LATEST",
            *(line for line in result.logs.splitlines() if line.strip()),
            *([f"{stamp} {request} {platform}"] if platform else []),
            f"END RequestId: {request}",
            report,
        ]
        events = [{"timestamp": now, "message": line} for line in lines]
        stream = self.stream_of(group)
        with self._lock:  # one writer per stream at a time: moto appends without a lock of its own
            self._backend().put_log_events(group, stream, events)


# --- What the caller saw -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """An invocation as its caller saw it: `text` for the invocation line, `failed` when it is an error (a raised
    error, an import error, a time-out, a 5xx answer), `partial` when a batch answered with items to retry."""

    text: str
    failed: bool = False
    partial: bool = False


def outcome_of(payload: bytes, errored: bool) -> Outcome:
    """What the answer says: an error's type and message, an API answer's status, a batch's failed items, or ok."""
    try:
        answer = json.loads(payload) if payload else None
    except ValueError:
        answer = None
    if errored:
        if isinstance(answer, dict) and "errorType" in answer:
            message = str(answer.get("errorMessage") or "").strip().splitlines()
            first = message[0] if message else ""
            if len(first) > _MESSAGE_LIMIT:
                first = first[:_MESSAGE_LIMIT] + "…"
            return Outcome(f"error: {answer['errorType']}: {first}".rstrip(": "), failed=True)
        return Outcome("error: " + payload[:_MESSAGE_LIMIT].decode("utf-8", errors="replace"), failed=True)
    if isinstance(answer, dict):
        status = answer.get("statusCode")
        if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
            if status >= 500:
                return Outcome(f"error: HTTP {status}{_title(answer.get('body'))}", failed=True)
            return Outcome(f"HTTP {status}")
        failures = answer.get("batchItemFailures")
        if isinstance(failures, list) and failures:
            return Outcome(f"ok, {len(failures)} of the batch to retry", partial=True)
    return Outcome("ok")


def _title(body: Any) -> str:
    """A problem's title from an API answer's body, when it has one (` Internal Server Error`)."""
    try:
        problem = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        return ""
    return f" {problem['title']}" if isinstance(problem, dict) and isinstance(problem.get("title"), str) else ""


def platform_line(result: InvokeResult) -> str | None:
    """The line Lambda writes itself when it stopped the handler (a time-out, a crash), or None."""
    if not result.errored:
        return None
    try:
        answer = json.loads(result.payload)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    template = _PLATFORM_LINES.get(str(answer.get("errorType")))
    return template.format(message=answer.get("errorMessage", "")) if template else None


# --- The console ---------------------------------------------------------------------------------------------------

_RESET = "\033[0m"
_STYLES = {
    "error": "\033[31m",  # red
    "warning": "\033[33m",  # yellow
    "ok": "\033[32m",  # green
    "dim": "\033[2m",
    "name": "\033[1m",  # bold
}
_LEVEL_STYLES = {"CRITICAL": "error", "ERROR": "error", "WARNING": "warning", "WARN": "warning", "DEBUG": "dim"}
# Keys Powertools' Logger adds to every line: the console shows the message and the keys the code chose.
_POWERTOOLS_KEYS = frozenset(
    {
        "level",
        "message",
        "timestamp",
        "location",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "xray_trace_id",
        "sampling_rate",
        "exception",
        "exception_name",
        "stack_trace",
    }
)
_PYTHON_WARNING = re.compile(r"\b\w*Warning: ")


class Console:
    """Invocations as the console shows them.

    functions: the logical ids whose invocations are shown in full (None: every function); an invocation that failed
    is shown whatever the filter, unless errors is False. colour: ANSI colours (for a terminal only).
    """

    def __init__(self, *, colour: bool = False, functions: Collection[str] | None = None, errors: bool = True) -> None:
        self.colour = colour
        self.functions = frozenset(functions) if functions is not None else None
        self.errors = errors
        self._lock = threading.Lock()

    @classmethod
    def silent(cls) -> Console:
        """Shows nothing (a caller that prints the invocations it makes itself)."""
        return cls(functions=(), errors=False)

    def shows(self, spec: FunctionSpec, outcome: Outcome) -> bool:
        if self.functions is None or spec.logical_id in self.functions or spec.name in self.functions:
            return True
        return outcome.failed and self.errors

    def emit(self, spec: FunctionSpec, result: InvokeResult, log: Callable[[str], None]) -> None:
        """The invocation's lines, one call of `log` each, not mixed with another invocation's."""
        lines = self.lines(spec, result)
        with self._lock:
            for line in lines:
                log(line)

    def lines(self, spec: FunctionSpec, result: InvokeResult) -> list[str]:
        """The invocation line, then its logs under its request id (nothing when the filter hides it)."""
        outcome = outcome_of(result.payload, result.errored)
        if not self.shows(spec, outcome):
            return []
        start = f"cold (init {result.init_duration_ms:.0f} ms)" if result.cold else "warm"
        style = "error" if outcome.failed else "warning" if outcome.partial else "ok"
        injected = f"  injected: {result.injected}" if result.injected else ""
        request = result.request_id[:8]
        head = (
            f"λ {self.paint('name', f'{spec.logical_id:<28}')} {result.duration_ms:7.1f} ms  "
            f"{self.paint('dim', f'{start:<18}')}  {self.paint('dim', request)}  "
            f"{self.paint(style, outcome.text)}{injected}"
        )
        body = [f"    {self.paint('dim', request)} {line}" for line in self.render(result.logs)]
        platform = platform_line(result)
        if platform:
            body.append(f"    {self.paint('dim', request)} {self.paint('error', platform)}")
        return [head, *body]

    def render(self, logs: str) -> Iterator[str]:
        """A function's output made readable: Powertools' JSON as `LEVEL message key=value`, metrics as `METRIC`,
        the runtime's [ERROR] with its traceback in the error colour."""
        in_error = False
        for line in logs.splitlines():
            if not line.strip():
                continue
            record = _json_object(line)
            if record is not None and "_aws" in record:
                in_error = False
                yield self._metric(record)
            elif record is not None and "level" in record and "message" in record:
                in_error = False
                yield from self._powertools(record)
            elif line.startswith("[ERROR]") or (in_error and (line[:1].isspace() or line.startswith("Traceback"))):
                in_error = True
                yield self.paint("error", line)
            else:
                in_error = False
                yield self.paint("warning", line) if _PYTHON_WARNING.search(line) else line

    def _powertools(self, record: dict[str, Any]) -> Iterator[str]:
        level = str(record["level"]).upper()
        style = _LEVEL_STYLES.get(level, "")
        extra = "  ".join(f"{key}={_value(value)}" for key, value in record.items() if key not in _POWERTOOLS_KEYS)
        yield f"{self.paint(style, f'{level:<7}')} {record['message']}" + (f"  {extra}" if extra else "")
        for trace in str(record.get("exception") or record.get("stack_trace") or "").splitlines():
            yield self.paint(style or "error", trace)

    def _metric(self, record: dict[str, Any]) -> str:
        directives = record["_aws"].get("CloudWatchMetrics", []) if isinstance(record["_aws"], dict) else []
        names = [metric.get("Name") for directive in directives for metric in directive.get("Metrics", [])]
        dimensions = {name for directive in directives for group in directive.get("Dimensions", []) for name in group}
        values = "  ".join(f"{name}={_value(record.get(name), metric=True)}" for name in names)
        where = ", ".join(f"{name}={_value(record.get(name))}" for name in sorted(dimensions))
        return f"{self.paint('dim', 'METRIC ')} {values}" + (f"  ({where})" if where else "")

    def paint(self, style: str, text: str) -> str:
        if not self.colour or not style:
            return text
        return f"{_STYLES[style]}{text}{_RESET}"


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _value(value: Any, *, metric: bool = False) -> str:
    if metric and isinstance(value, list) and len(value) == 1:  # a metric's one value, as EMF writes it ([1.0])
        value = value[0]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)

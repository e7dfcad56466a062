"""Each invocation's output in the emulated CloudWatch Logs, where Lambda puts it: the function's log group (its
LoggingConfig.LogGroup, or /aws/lambda/<name>), one stream per function for the cloud's life, with Lambda's own
START, END and REPORT lines around what the handler printed (Powertools' JSON lines included). So
`aws logs tail <group> --endpoint-url <aws>` shows a local function's output as it would a deployed one's.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.logs.models import logs_backends


class FunctionLogs:
    """Writes invocations' logs into moto's CloudWatch Logs, in this process (no request per line)."""

    def __init__(self, account_id: str, region: str, clock: Callable[[], float] = time.time) -> None:
        self._account_id = account_id
        self._region = region
        self._clock = clock
        self._streams: dict[str, str] = {}  # log group -> this cloud's stream in it
        self._lock = threading.Lock()

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

    def record(self, group: str, spec: Any, result: Any) -> None:
        """One invocation: START, the handler's lines, END and REPORT, stamped now."""
        request = result.request_id
        report = (
            f"REPORT RequestId: {request}\tDuration: {result.duration_ms:.2f} ms\t"
            f"Billed Duration: {max(1, round(result.duration_ms + 0.5))} ms\tMemory Size: {spec.memory_mb} MB"
        )
        if result.cold:
            report += f"\tInit Duration: {result.init_duration_ms:.2f} ms"
        lines = [
            f"START RequestId: {request} Version: $LATEST",
            *(line for line in result.logs.splitlines() if line.strip()),
            f"END RequestId: {request}",
            report,
        ]
        now = int(self._clock() * 1000)
        events = [{"timestamp": now, "message": line} for line in lines]
        stream = self.stream_of(group)
        with self._lock:  # one writer per stream at a time: moto appends without a lock of its own
            self._backend().put_log_events(group, stream, events)

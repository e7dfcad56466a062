"""How a stand-in function answers an event source's invocations: succeed, raise, or be refused by Lambda."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from localcloud.pollers import InvokeOutcome, Refusal

Behaviour = Callable[[dict[str, Any]], InvokeOutcome]
ERROR = {"errorType": "RuntimeError", "errorMessage": "boom"}


def succeeds(_event: dict[str, Any]) -> InvokeOutcome:
    return InvokeOutcome(payload=None, errored=False)


def raises(_event: dict[str, Any]) -> InvokeOutcome:
    return InvokeOutcome(payload=ERROR, errored=True)


def throttles(_event: dict[str, Any]) -> InvokeOutcome:
    return InvokeOutcome.refusal(Refusal.THROTTLED, "Rate Exceeded.")


def service_error(_event: dict[str, Any]) -> InvokeOutcome:
    return InvokeOutcome.refusal(Refusal.SERVICE_ERROR, "The Lambda service encountered an internal error.")


def in_turn(*first: Behaviour) -> Behaviour:
    """Answer the first invocations with `first`, one each, and every later one with success."""
    answers = list(first)

    def behaviour(event: dict[str, Any]) -> InvokeOutcome:
        return answers.pop(0)(event) if answers else succeeds(event)

    return behaviour


class FakeFunction:
    """Stands in for a function: records every invocation (which function, with what, when), answers as scripted."""

    def __init__(self, behaviour: Behaviour = succeeds) -> None:
        self.behaviour = behaviour
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.times: list[float] = []  # time.monotonic() of each call
        self._lock = threading.Lock()

    def __call__(self, function: str, event: dict[str, Any]) -> InvokeOutcome:
        with self._lock:
            self.calls.append((function, event))
            self.times.append(time.monotonic())
        return self.behaviour(event)

    def gaps(self) -> list[float]:
        """Seconds between one call and the next."""
        return [later - earlier for earlier, later in zip(self.times, self.times[1:], strict=False)]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for _, event in self.calls]

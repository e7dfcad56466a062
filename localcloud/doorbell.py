"""The doorbell between the AWS endpoint and the event sources: a queue's or a table's news wakes its poller."""

from __future__ import annotations

import threading
from collections.abc import Sequence


class Doorbell:
    """Rung by the AWS endpoint when a queue or a table's stream may have something new (a message sent, a
    message's visibility changed, an item written): the poller of that queue or stream wakes at once instead of at
    its next poll, as Lambda's pollers (long-polling SQS, reading streams four times a second) would see it.

    Resources are named as the endpoint sees them: a queue by its name, a table by its name. `ring(None)` wakes
    everyone (a publish to a topic may reach any subscribed queue).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[str | None, list[threading.Event]] = {}

    def listen(self, names: Sequence[str]) -> threading.Event:
        """An event set whenever one of the names (or everyone) is rung; the listener clears it before it polls."""
        event = threading.Event()
        with self._lock:
            for name in names:
                self._listeners.setdefault(name, []).append(event)
        return event

    def ring(self, name: str | None) -> None:
        with self._lock:
            if name is None:
                listeners = {event for events in self._listeners.values() for event in events}
            else:
                listeners = set(self._listeners.get(name, ()))
        for event in listeners:
            event.set()


def queue_name(queue_url_or_arn: str) -> str:
    """A queue's name from its URL (…/123456789012/name) or its ARN (arn:aws:sqs:region:account:name)."""
    return queue_url_or_arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def stream_table_name(stream_arn: str) -> str:
    """The table a DynamoDB stream belongs to (arn:aws:dynamodb:region:account:table/name/stream/label)."""
    return stream_arn.split(":", 5)[-1].split("/")[1]

"""API Gateway's request limits: the stage's and the usage plan's throttles (token buckets) and the usage plan's
quota (requests counted per API key and calendar period).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Throttle:
    """API Gateway's token bucket: `rate` requests a second on average, up to `burst` at once."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"a throttle needs a positive rate and a burst of at least 1, not {self}")


QUOTA_PERIODS = ("DAY", "WEEK", "MONTH")


@dataclass(frozen=True)
class Quota:
    """A usage plan's quota: `limit` requests per API key in each calendar `period` (UTC), then 429 until the next."""

    limit: int
    period: str

    def __post_init__(self) -> None:
        if self.limit < 1 or self.period not in QUOTA_PERIODS:
            raise ValueError(f"a quota needs a positive limit and a period in {QUOTA_PERIODS}, not {self}")

    def period_of(self, now: datetime) -> tuple[int, ...]:
        """Which period `now` falls in: requests in the same one count against the same limit."""
        day = now.astimezone(UTC).date()
        if self.period == "DAY":
            return (day.year, day.month, day.day)
        if self.period == "WEEK":
            year, week, _ = day.isocalendar()
            return (year, week)
        return (day.year, day.month)


@dataclass(frozen=True)
class UsagePlan:
    """What the template's usage plan sets for each of its API keys."""

    throttle: Throttle
    quota: Quota | None = None


class TokenBucket:
    """One throttle's bucket: full at `burst` tokens, refilled at `rate` a second, one token per request."""

    def __init__(self, throttle: Throttle) -> None:
        self._rate = throttle.rate
        self._capacity = float(throttle.burst)
        self._tokens = self._capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class QuotaCounter:
    """Requests counted per API key and quota period."""

    def __init__(self, quota: Quota, clock: Callable[[], datetime]) -> None:
        self._quota = quota
        self._clock = clock
        self._counts: dict[tuple[str, tuple[int, ...]], int] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        period = self._quota.period_of(self._clock())
        with self._lock:
            used = self._counts.get((key, period), 0)
            if used >= self._quota.limit:
                return False
            self._counts = {k: v for k, v in self._counts.items() if k[1] == period}  # earlier periods are over
            self._counts[(key, period)] = used + 1
            return True

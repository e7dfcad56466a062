"""Faults on purpose: rules that make the local cloud answer as AWS does under stress.

A rule names one fault, what it applies to (a function, a table and an item, an operation, an event source) and
when (a probability, the Nth matching call, a time window, a limit). Every part of the local cloud that can fail in
AWS asks the plan before it acts: the AWS endpoint (DynamoDB's conflicts and throttling), the function runtime
(throttles, service errors, time-outs after side effects, slow answers, failures) and the event sources (a batch
delivered again after it was processed). What was injected is counted, per rule.

Rules come from localcloud.toml (`[[faults.rules]]`), from `--fault` on the command line, and from the running
cloud's control endpoint (`/_localcloud/faults` on the AWS endpoint). Decisions are seeded: each rule draws from
its own random sequence, so the same calls in the same order get the same answers (threads may still interleave
calls differently from one run to the next).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class Fault(StrEnum):
    """Every fault the local cloud can inject, named `<where>.<what>`."""

    # DynamoDB (the AWS endpoint)
    TRANSACTION_CONFLICT = "dynamodb.transaction-conflict"
    TRANSACTION_THROTTLED = "dynamodb.transaction-throttled"
    THROUGHPUT_EXCEEDED = "dynamodb.throughput-exceeded"
    THROTTLING = "dynamodb.throttling"
    # Lambda (the function runtime)
    LAMBDA_THROTTLE = "lambda.throttle"
    LAMBDA_SERVICE_ERROR = "lambda.service-error"
    LAMBDA_TIMEOUT_AFTER_EFFECTS = "lambda.timeout-after-effects"
    LAMBDA_SLOW = "lambda.slow"
    LAMBDA_ERROR = "lambda.error"
    # Event sources (SQS queues, DynamoDB streams)
    REDELIVER = "delivery.redeliver"


DYNAMODB_FAULTS = frozenset(
    {Fault.TRANSACTION_CONFLICT, Fault.TRANSACTION_THROTTLED, Fault.THROUGHPUT_EXCEEDED, Fault.THROTTLING}
)
LAMBDA_FAULTS = frozenset(
    {
        Fault.LAMBDA_THROTTLE,
        Fault.LAMBDA_SERVICE_ERROR,
        Fault.LAMBDA_TIMEOUT_AFTER_EFFECTS,
        Fault.LAMBDA_SLOW,
        Fault.LAMBDA_ERROR,
    }
)

# Which selectors and settings each fault understands (beyond the timing ones every rule has).
_ALLOWED: Mapping[Fault, frozenset[str]] = {
    **{fault: frozenset({"table", "item", "operation"}) for fault in DYNAMODB_FAULTS},
    Fault.LAMBDA_THROTTLE: frozenset({"function"}),
    Fault.LAMBDA_SERVICE_ERROR: frozenset({"function"}),
    # `seconds`: the time-out comes as if the function's Timeout were this, when shorter (a test's wait; AWS's is the
    # function's own Timeout).
    Fault.LAMBDA_TIMEOUT_AFTER_EFFECTS: frozenset({"function", "seconds"}),
    Fault.LAMBDA_SLOW: frozenset({"function", "seconds"}),
    Fault.LAMBDA_ERROR: frozenset({"function", "error", "message"}),
    Fault.REDELIVER: frozenset({"function", "source"}),
}
_REQUIRED: Mapping[Fault, frozenset[str]] = {
    Fault.LAMBDA_SLOW: frozenset({"seconds"}),
    Fault.LAMBDA_ERROR: frozenset({"error"}),
}
_TIMING = frozenset({"probability", "nth", "after", "for", "limit", "name"})


class FaultRuleError(ValueError):
    """A rule that cannot be used: unknown fault, selector or setting, or a value out of range."""


@dataclass(frozen=True)
class Rule:
    """One fault and where and when it applies. A selector left as None matches anything."""

    fault: Fault
    name: str = ""
    function: str | None = None
    table: str | None = None
    item: str | None = None
    operation: str | None = None
    source: str | None = None
    probability: float = 1.0
    nth: int | None = None
    after: float = 0.0
    for_seconds: float | None = None
    limit: int | None = None
    seconds: float | None = None
    error: str | None = None
    message: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Rule:
        """A rule from its TOML/JSON form, e.g. {"fault": "lambda.throttle", "function": "X", "probability": 0.2}."""
        if "fault" not in raw:
            raise FaultRuleError(f"a fault rule needs `fault` (one of {', '.join(Fault)}): {dict(raw)}")
        try:
            fault = Fault(str(raw["fault"]))
        except ValueError:
            raise FaultRuleError(f"unknown fault {raw['fault']!r} (one of {', '.join(Fault)})") from None
        allowed = _ALLOWED[fault] | _TIMING
        unknown = sorted(set(raw) - allowed - {"fault"})
        if unknown:
            raise FaultRuleError(
                f"{fault}: unknown setting {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
            )
        missing = sorted(_REQUIRED.get(fault, frozenset()) - set(raw))
        if missing:
            raise FaultRuleError(f"{fault}: needs {', '.join(missing)}")
        values: dict[str, Any] = {"fault": fault}
        for key, value in raw.items():
            if key == "fault":
                continue
            values["for_seconds" if key == "for" else key] = value
        try:
            rule = cls(**values)
            rule = cls(**{**values, **rule._coerced()})
        except (TypeError, ValueError) as exc:
            raise FaultRuleError(f"{fault}: {exc}") from None
        rule._check()
        return rule

    def _coerced(self) -> dict[str, Any]:
        coerced: dict[str, Any] = {"probability": float(self.probability), "after": float(self.after)}
        for name in ("function", "table", "item", "operation", "source", "error", "message", "name"):
            value = getattr(self, name)
            if value is not None:
                coerced[name] = str(value)
        for name in ("nth", "limit"):
            value = getattr(self, name)
            if value is not None:
                coerced[name] = int(value)
        for name in ("for_seconds", "seconds"):
            value = getattr(self, name)
            if value is not None:
                coerced[name] = float(value)
        return coerced

    def _check(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise FaultRuleError(f"{self.fault}: probability must be between 0 and 1, not {self.probability}")
        if self.nth is not None and self.nth < 1:
            raise FaultRuleError(f"{self.fault}: nth counts from 1, not {self.nth}")
        if self.limit is not None and self.limit < 1:
            raise FaultRuleError(f"{self.fault}: limit must be at least 1, not {self.limit}")
        if self.after < 0 or (self.for_seconds is not None and self.for_seconds <= 0):
            raise FaultRuleError(f"{self.fault}: after must be >= 0 and for > 0 seconds")
        if self.seconds is not None and self.seconds <= 0:
            raise FaultRuleError(f"{self.fault}: seconds must be positive, not {self.seconds}")

    @property
    def label(self) -> str:
        """How the rule is named in counts and logs: its own name, or its fault and selectors."""
        if self.name:
            return self.name
        selectors = [
            f"{key}={value}"
            for key in ("function", "table", "item", "operation", "source")
            if (value := getattr(self, key)) is not None
        ]
        return f"{self.fault}({', '.join(selectors)})" if selectors else str(self.fault)

    def as_dict(self) -> dict[str, Any]:
        plain: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            default = spec.default
            if value is None or value == default:
                continue
            plain["for" if spec.name == "for_seconds" else spec.name] = str(value) if spec.name == "fault" else value
        return plain


def parse_rule_text(text: str) -> Rule:
    """A rule from the command line: `fault=lambda.throttle,function=ChargePaymentFunction,probability=0.2`."""
    raw: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise FaultRuleError(f"--fault takes key=value pairs separated by commas, not {text!r}")
        raw[key.strip()] = value.strip()
    return Rule.parse(raw)


@dataclass(frozen=True)
class Call:
    """What the part that is about to act says about the call, for rules to match against."""

    function: Iterable[str] = ()  # the function's names (logical id and physical name)
    table: Iterable[str] = ()
    items: Iterable[str] = ()  # the key values of the item (or of any of the items) involved
    operation: str | None = None
    source: Iterable[str] = ()


@dataclass
class _Active:
    rule: Rule
    random: random.Random
    added_at: float
    matched: int = 0
    injected: int = 0


@dataclass(frozen=True)
class Injection:
    """One fault injected: by which rule, into what."""

    rule: Rule
    detail: str


Listener = Callable[[Injection], None]


@dataclass
class FaultPlan:
    """The rules in force, their counters, and the decisions (thread-safe)."""

    seed: int = 0
    listener: Listener | None = None
    clock: Callable[[], float] = time.monotonic
    _rules: list[_Active] = field(default_factory=list)
    _added: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _retired: dict[str, int] = field(default_factory=dict)

    def add(self, rules: Sequence[Rule]) -> None:
        with self._lock:
            for rule in rules:
                # Each rule draws from its own sequence, fixed by the seed and the order rules were added in.
                # Not for security: a reproducible sequence is the point.
                draws = random.Random(f"{self.seed}:{self._added}")  # noqa: S311
                self._rules.append(_Active(rule, draws, self.clock()))
                self._added += 1

    def clear(self) -> None:
        """Switch every rule off (what they injected stays counted)."""
        with self._lock:
            for active in self._rules:
                self._retired[active.rule.label] = self._retired.get(active.rule.label, 0) + active.injected
            self._rules.clear()

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return [active.rule for active in self._rules]

    def has_any(self, faults: Iterable[Fault]) -> bool:
        """Whether a rule for one of these faults is in force (a busy caller skips describing its call when not)."""
        wanted = frozenset(faults)
        with self._lock:
            return any(active.rule.fault in wanted for active in self._rules)

    def decide(self, faults: Iterable[Fault], call: Call, detail: str = "") -> Rule | None:
        """The first rule among `faults` that matches the call and fires now (counted), or None."""
        wanted = frozenset(faults)
        with self._lock:
            now = self.clock()
            for active in self._rules:
                rule = active.rule
                if rule.fault not in wanted or not _matches(rule, call):
                    continue
                elapsed = now - active.added_at
                if elapsed < rule.after or (rule.for_seconds is not None and elapsed >= rule.after + rule.for_seconds):
                    continue
                if rule.limit is not None and active.injected >= rule.limit:
                    continue
                active.matched += 1
                if rule.nth is not None:
                    fires = active.matched == rule.nth
                else:
                    # Always draw, so that a rule's sequence of decisions depends on its matches alone.
                    fires = active.random.random() < rule.probability
                if fires:
                    active.injected += 1
                    injection = Injection(rule, detail)
                    break
            else:
                return None
        if self.listener is not None:
            self.listener(injection)
        return rule

    def counts(self) -> dict[str, int]:
        """Faults injected so far, by rule label (rules switched off included)."""
        with self._lock:
            totals = dict(self._retired)
            for active in self._rules:
                totals[active.rule.label] = totals.get(active.rule.label, 0) + active.injected
            return totals

    @property
    def injected(self) -> int:
        return sum(self.counts().values())

    def describe(self) -> dict[str, Any]:
        """What the control endpoint answers: the rules in force with their counters, and every count."""
        with self._lock:
            rules = [
                {**active.rule.as_dict(), "matched": active.matched, "injected": active.injected}
                for active in self._rules
            ]
        return {"seed": self.seed, "rules": rules, "injected": self.counts()}

    def report(self) -> str:
        """A few lines for people: what was injected, by rule."""
        counts = self.counts()
        if not counts:
            return "faults injected: none"
        width = max(len(label) for label in counts)
        lines = [f"faults injected: {sum(counts.values())}"]
        lines += [f"  {label:<{width}}  {count:>6}" for label, count in sorted(counts.items())]
        return "\n".join(lines)


def _matches(rule: Rule, call: Call) -> bool:
    checks = (
        (rule.function, call.function),
        (rule.table, call.table),
        (rule.item, call.items),
        (rule.source, call.source),
    )
    for wanted, offered in checks:
        if wanted is not None and wanted not in set(offered):
            return False
    return rule.operation is None or rule.operation == call.operation


def rules_from_config(section: Mapping[str, Any]) -> tuple[int, list[Rule]]:
    """The seed and rules of a config's `[faults]` table: `seed = 7` and `[[faults.rules]]` entries."""
    unknown = sorted(set(section) - {"seed", "rules"})
    if unknown:
        raise FaultRuleError(f"[faults]: unknown key {', '.join(unknown)} (seed, rules)")
    seed = int(section.get("seed", 0))
    return seed, [Rule.parse(raw) for raw in section.get("rules", [])]

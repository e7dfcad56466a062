"""The fault suite, small and seeded: the order story against a fresh local cloud with every fault of `make chaos`
on, and every invariant counted at the end (`make chaos` runs the same at 200 orders, with whole time-outs)."""

from __future__ import annotations

import re

import pytest

from localcloud.chaos import FAULTS, Figures, Run, print_report

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

ORDERS = 30
SEED = 11
# `make chaos` waits each time-out out in full (30 s for a stream consumer, whose shard waits with it); here the
# callers see it after 3 s, so that the run fits the suite's budget. The fault is the same: the handler's effects
# happened, and its caller was told it timed out.
RULES = [{**rule, "seconds": 3} if rule["fault"] == "lambda.timeout-after-effects" else rule for rule in FAULTS]
LAST_LINE = re.compile(
    r"^chaos: (\d+) orders, (\d+) faults injected, (\d+) not final, (\d+) stock drift, (\d+) money drift, "
    r"(\d+) double charges, (\d+) messages lost, (\d+) history rows lost$"
)


@pytest.fixture(scope="module")
def run() -> tuple[Figures, list[str]]:
    printed: list[str] = []
    figures = Run(
        orders=ORDERS,
        clients=5,
        seed=SEED,
        rules=RULES,
        log=lambda _: None,
        progress=printed.append,
        # Shorter than `make chaos`'s minute, so that the unanswered approvals expire within the suite's budget.
        parameters={"ApprovalTimeoutSeconds": "20"},
    )(deadline_seconds=480)
    print_report(figures, printed.append)
    return figures, printed


def test_every_order_ends_final_and_money_stock_and_messages_add_up_with_faults_on(
    run: tuple[Figures, list[str]],
) -> None:
    figures, printed = run
    report = "\n".join(printed)

    assert figures.holds, report
    verdict = figures.verdict
    assert (figures.not_final, verdict.disagreeing) == (0, []), report
    assert (verdict.stock_drift, verdict.money_drift, verdict.double_charges, verdict.messages_lost) == (0, 0, 0, 0)
    assert verdict.history_rows_lost == 0, report


def test_the_run_was_under_stress_from_every_kind_of_fault(run: tuple[Figures, list[str]]) -> None:
    figures, printed = run
    injected = {row[0].removeprefix("fault ") for row in figures.rows if row[0].startswith("fault ")}
    kinds = {label.split("(", 1)[0] for label in injected}

    assert figures.faults >= 50, "\n".join(printed)
    # The frequent ones fire in any 30-order run; the rarest (a throttled transaction) may not.
    assert {
        "dynamodb.transaction-conflict",
        "dynamodb.throttling",
        "lambda.throttle",
        "lambda.service-error",
        "lambda.timeout-after-effects",
        "lambda.error",
        "delivery.redeliver",
    } <= kinds, kinds


def test_the_report_ends_with_the_one_line_summary(run: tuple[Figures, list[str]]) -> None:
    figures, printed = run
    match = LAST_LINE.match(printed[-1])

    assert match is not None, printed[-1]
    assert int(match[1]) == ORDERS
    assert int(match[2]) == figures.faults
    assert [int(figure) for figure in match.groups()[2:]] == [0, 0, 0, 0, 0, 0]

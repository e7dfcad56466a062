"""Workflow tests: a fresh moto account per test with the order workflow deployed, and the figures the tests
record (state transitions per path, the suite's wall time), printed in a "workflow paths" section at the end
of the run and written as JSON under the run's temporary directory."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.workflow import Shop, WorkflowFigures, running_shop

# A short approval timeout for the one test about timing out (every other test uses an hour).
SHORT_APPROVAL_TIMEOUT_SECONDS = 2

_FIGURES = pytest.StashKey[WorkflowFigures]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_FIGURES] = WorkflowFigures()


# Hooks of this conftest run for the tests under tests/workflow only (pytest calls them through the item's path).
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    figures = item.config.stash[_FIGURES]
    if figures.started is None:
        figures.started = time.perf_counter()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    figures = item.config.stash[_FIGURES]
    figures.finished = time.perf_counter()
    figures.tests += 1


@pytest.fixture(scope="session")
def figures(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> WorkflowFigures:
    recorded = pytestconfig.stash[_FIGURES]
    recorded.output = tmp_path_factory.getbasetemp() / "workflow-figures.json"
    return recorded


@pytest.fixture
def shop() -> Iterator[Shop]:
    with running_shop() as running:
        yield running


@pytest.fixture
def impatient_shop() -> Iterator[Shop]:
    """The workflow deployed with an approval timeout of a couple of seconds."""
    with running_shop(approval_timeout_seconds=SHORT_APPROVAL_TIMEOUT_SECONDS) as running:
        yield running


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    figures = config.stash.get(_FIGURES, None)
    if figures is None or figures.tests == 0:
        return
    figures.write()
    terminalreporter.section("workflow paths")
    width = max((len(figure.path) for figure in figures.paths), default=0)
    for figure in figures.paths:
        notes = [f"{figure.executions} executions"] if figure.executions > 1 else []
        notes += [f"+{figure.retries} retries"] if figure.retries else []
        extra = f" ({', '.join(notes)})" if notes else ""
        terminalreporter.write_line(f"{figure.path:<{width}}  {figure.state_transitions:>4} state transitions{extra}")
    where = f"; figures in {figures.output}" if figures.output else ""
    terminalreporter.write_line(
        f"workflow suite: {figures.tests} tests in {figures.wall_seconds:.1f} s wall time{where}"
    )

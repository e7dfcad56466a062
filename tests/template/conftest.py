"""Template checks: a place for figures (build time, artifact sizes) that shows in pytest's summary, with or
without -s."""

from __future__ import annotations

import pytest

_SUMMARY = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def template_summary(pytestconfig: pytest.Config) -> list[str]:
    """Lines appended here are printed in a "template build" section at the end of the run."""
    return pytestconfig.stash.setdefault(_SUMMARY, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(_SUMMARY, [])
    if lines:
        terminalreporter.section("template build")
        for line in lines:
            terminalreporter.write_line(line)

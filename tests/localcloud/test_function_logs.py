"""What a developer sees of an invocation on the local cloud: its line in `make run`'s console says what the caller saw,
its output is under it with its request id, and the function's log group holds the same (tests/localcloud/console:
functions that fail in each way Lambda knows, and ones that answer a business outcome)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud import invoke as invoke_tool
from localcloud.cloud import LocalCloud
from localcloud.function_logs import Console, outcome_of
from localcloud.workers import InvokeResult

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])
TEMPLATE = Path(__file__).with_name("console") / "template.yaml"
ANSI = "\033["


class CloudLog:
    """The cloud's log as `make run` prints it, line by line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def of(self, result: InvokeResult) -> list[str]:
        """The invocation's line and the lines under it (they carry its request id)."""
        request = result.request_id[:8]
        return [line for line in self.lines if request in line]


@pytest.fixture(scope="module")
def console() -> CloudLog:
    return CloudLog()


@pytest.fixture(scope="module")
def cloud(console: CloudLog) -> Iterator[LocalCloud]:
    # Module scope: moto's backends are process-wide, so the cloud must be gone before other tests' mock_aws.
    cloud = LocalCloud(template=TEMPLATE, stack_name="console", api_port=0, aws_port=0, log=console.lines.append)
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


def log_group(cloud: LocalCloud, logical_id: str, result: InvokeResult) -> list[str]:
    """The invocation's events in the function's log group, from START to REPORT."""
    group = f"/aws/lambda/{cloud.function_names[logical_id]}"
    messages = [event["message"] for event in cloud.client("logs").filter_log_events(logGroupName=group)["events"]]
    start = messages.index(f"START RequestId: {result.request_id} Version: $LATEST")
    end = next(i for i, message in enumerate(messages) if message.startswith(f"REPORT RequestId: {result.request_id}"))
    return messages[start : end + 1]


def invocation_line(lines: list[str]) -> str:
    return next(line for line in lines if line.startswith("λ "))


def test_an_invocation_that_raises_shows_its_traceback_in_the_console_and_in_its_log_group(
    cloud: LocalCloud, console: CloudLog
) -> None:
    result = cloud.invoke("Raises", {})

    shown = console.of(result)
    logged = log_group(cloud, "Raises", result)
    assert invocation_line(shown).endswith("error: ValueError: the scale reads 12 g with nothing on it")
    for lines in (shown, logged):
        text = "\n".join(lines)
        assert "weighing the parcel" in text  # what the handler printed before it raised
        assert "Traceback (most recent call last):" in text
        assert "in _calibrate" in text  # the frame that raised, not only the handler's
        assert 'raise ValueError(f"the scale reads {grams} g with nothing on it")' in text


def test_an_import_error_is_an_error_with_its_message(cloud: LocalCloud, console: CloudLog) -> None:
    result = cloud.invoke("BrokenImport", {})

    message = "Unable to import module 'broken': No module named 'parcel_tracking_sdk'"
    assert invocation_line(console.of(result)).endswith(f"error: Runtime.ImportModuleError: {message}")
    assert f"[ERROR] Runtime.ImportModuleError: {message}" in log_group(cloud, "BrokenImport", result)


def test_a_time_out_is_an_error_with_lambdas_own_line_in_the_console_and_the_log_group(
    cloud: LocalCloud, console: CloudLog
) -> None:
    result = cloud.invoke("Sleeps", {})

    shown = console.of(result)
    logged = log_group(cloud, "Sleeps", result)
    assert invocation_line(shown).endswith("error: Sandbox.Timedout: Task timed out after 1.00 seconds")
    assert shown[-1].endswith("Task timed out after 1.00 seconds")
    assert logged[-3].endswith(f"{result.request_id} Task timed out after 1.00 seconds")  # before END and REPORT
    assert "waiting for the carrier" in logged


def test_a_5xx_answer_is_an_error_and_a_handled_404_is_the_status_the_caller_saw(
    cloud: LocalCloud, console: CloudLog
) -> None:
    failed = cloud.invoke("ServerError", {})
    missing = cloud.invoke("NotFound", {})

    assert invocation_line(console.of(failed)).endswith("error: HTTP 500 Internal Server Error")
    not_found = console.of(missing)
    assert invocation_line(not_found).endswith("HTTP 404")
    assert "error" not in invocation_line(not_found)
    # Powertools' JSON line, readable: its level, message and the keys the code chose, not the boilerplate.
    assert not_found[1].endswith("INFO    no such order  order_id=ord_1")


def test_a_business_outcome_is_not_an_error(cloud: LocalCloud, console: CloudLog) -> None:
    result = cloud.invoke("Declines", {})

    shown = console.of(result)
    assert invocation_line(shown).endswith("  ok")
    assert shown[1].endswith("WARNING card declined  order_id=ord_2")


def test_the_console_shows_the_functions_asked_for_and_every_error_of_the_others(
    cloud: LocalCloud, console: CloudLog
) -> None:
    cloud.function_logs.console = Console(functions=["NotFound"])
    try:
        asked = cloud.invoke("NotFound", {})
        quiet = cloud.invoke("Declines", {})
        failed = cloud.invoke("ServerError", {})
    finally:
        cloud.function_logs.console = Console()

    assert len(console.of(asked)) == 2  # its line and its output
    assert console.of(quiet) == []
    assert invocation_line(console.of(failed)).endswith("error: HTTP 500 Internal Server Error")


def test_levels_are_coloured_only_for_a_terminal() -> None:
    logs = '{"level": "ERROR", "message": "provider down"}\n{"level": "INFO", "message": "retrying"}\nplain print'

    coloured = list(Console(colour=True).render(logs))
    plain = list(Console(colour=False).render(logs))

    assert coloured[0] == "\033[31mERROR  \033[0m provider down"  # red
    assert coloured[2] == "plain print"
    assert plain == ["ERROR   provider down", "INFO    retrying", "plain print"]
    assert not any(ANSI in line for line in plain)


@pytest.mark.parametrize(
    ("payload", "errored", "failed", "text"),
    [
        (b'{"errorType": "NotFound", "errorMessage": "order ord_1 was not found"}', True, True, None),
        (b'{"statusCode": 502, "body": ""}', False, True, "error: HTTP 502"),
        (b'{"statusCode": 409, "body": ""}', False, False, "HTTP 409"),
        (b'{"outcome": "OUT_OF_STOCK", "detail": "scale"}', False, False, "ok"),
        (b'{"batchItemFailures": [{"itemIdentifier": "1"}]}', False, False, "ok, 1 of the batch to retry"),
    ],
    ids=["raised", "5xx", "handled-4xx", "out-of-stock", "partial-batch"],
)
def test_what_the_caller_saw(payload: bytes, errored: bool, failed: bool, text: str | None) -> None:
    outcome = outcome_of(payload, errored)

    assert outcome.failed is failed
    assert outcome.text == (text or "error: NotFound: order ord_1 was not found")


def test_make_invoke_against_a_running_cloud_prints_the_traceback_and_exits_1_when_the_function_raises(
    cloud: LocalCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "event.json"
    event.write_text("{}")

    status = invoke_tool.main(["Raises", str(event), "--aws-endpoint", cloud.aws_url])

    out, err = capsys.readouterr()
    assert status == 1
    assert err.splitlines()[0].endswith("error: ValueError: the scale reads 12 g with nothing on it")
    assert "Traceback (most recent call last):" in err
    assert '"errorType": "ValueError"' in out  # the answer itself, on stdout as sam local invoke prints it

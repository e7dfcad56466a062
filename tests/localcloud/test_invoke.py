"""`make invoke`: every file in events/ invoked through it, with the function the template gives it, is answered
without an unhandled error (a business outcome or a handled 4xx is an answer), against a running cloud and a fresh
one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud import invoke
from localcloud.cloud import LocalCloud
from localcloud.template import read_sam

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])
ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
# In the order of the story the sample events tell: an approval is requested before it is decided, and the carrier
# delivers last (once an order has moved on, asking for its approval again or shipping it again is the workflow's
# error, as it should be). The others in any order.
FIRST = ("orders_api", "request_approval", "approvals_api")
LAST = ("carrier_api",)
# payment_provider.json charges, for another amount, the key the sample order's own charge uses: the provider refuses
# a key reused for another amount (as a real one does), so in one cloud only one of the two can be charged. It is
# invoked on a fresh cloud of its own.
ON_A_FRESH_CLOUD = "payment_provider"


def functions_by_event() -> dict[str, str]:
    """events/<folder>.json -> the logical id of the function whose code is functions/<folder>/."""
    functions = {}
    for logical_id, resource in read_sam()["Resources"].items():
        if not isinstance(resource, dict):  # a Fn::ForEach loop (of log groups and alarms)
            continue
        code = re.fullmatch(r"functions/(\w+)/?", str(resource.get("Properties", {}).get("CodeUri", "")))
        if resource.get("Type") == "AWS::Serverless::Function" and code:
            functions[code.group(1)] = logical_id
    return functions


FUNCTIONS = functions_by_event()
STORY = [
    *FIRST,
    *sorted(path.stem for path in EVENTS.glob("*.json") if path.stem not in {*FIRST, *LAST, ON_A_FRESH_CLOUD}),
    *LAST,
]


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    # Module scope: moto's backends are process-wide, so the cloud must be gone before other tests' mock_aws.
    cloud = LocalCloud(api_port=0, aws_port=0, log=lambda _: None)
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.mark.parametrize("name", STORY)
def test_every_event_file_is_answered_without_an_unhandled_error(
    cloud: LocalCloud, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    function = FUNCTIONS[name]

    status = invoke.main([function, str(EVENTS / f"{name}.json"), "--aws-endpoint", cloud.aws_url, "--samples"])

    out, err = capsys.readouterr()
    answer = json.loads(out)
    assert status == 0, err
    assert not (isinstance(answer, dict) and "errorType" in answer), answer
    line = next(line for line in err.splitlines() if line.startswith("λ "))
    assert re.match(rf"λ \S*{function}  [0-9.]+ ms  (ok|HTTP [1-4]\d\d)", line), err


def test_the_story_and_the_fresh_cloud_cover_every_event_file() -> None:
    assert sorted([*STORY, ON_A_FRESH_CLOUD]) == sorted(path.stem for path in EVENTS.glob("*.json"))
    assert {*STORY, ON_A_FRESH_CLOUD} <= set(FUNCTIONS)


def test_make_invoke_starts_a_fresh_cloud_and_prints_the_answer_and_the_logs() -> None:
    environment = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'shop'}", "NO_COLOR": "1"}
    function, event = FUNCTIONS[ON_A_FRESH_CLOUD], f"events/{ON_A_FRESH_CLOUD}.json"
    run = subprocess.run(  # noqa: S603  (this interpreter, fixed arguments)
        [sys.executable, "-m", "localcloud.invoke", function, event, "--fresh"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "succeeded"  # the charge the event asks for, on stdout
    line = next(line for line in run.stderr.splitlines() if line.startswith("λ "))
    assert re.match(rf"λ {function} +[0-9.]+ ms  cold \(init \d+ ms\) +[0-9a-f]{{8}}  ok$", line), line
    assert "INFO    charge  idempotency_key=charge-ord_" in run.stderr  # its own log line, under its invocation

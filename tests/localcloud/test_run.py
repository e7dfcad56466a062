"""`make run` as a newcomer runs it: the local cloud starts, says it is ready, and Ctrl-C leaves nothing behind; its
data comes back at the next start, after a clean stop or a kill, and --fresh starts empty."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests

from localcloud.state import SNAPSHOT_SECONDS, STATE_FILE, read

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])
ROOT = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


@dataclass
class Running:
    process: subprocess.Popen[str]
    output: list[str]

    def endpoint(self, label: str) -> str:
        """The URL `make run` printed on the line that starts with `label` (API, AWS endpoint ...)."""
        line = next(line for line in self.output if line.strip().startswith(label))
        return line.strip().removeprefix(label).split()[0]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def run(*arguments: str) -> Running:
    """`python -m localcloud` (what `make run` runs) on free ports, until it says it is ready."""
    environment = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'shop'}"}
    process = subprocess.Popen(  # noqa: S603  (this interpreter, fixed arguments and the test's own)
        [sys.executable, "-m", "localcloud", "--api-port", "0", "--aws-port", "0", *arguments],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Running(process, [])
    assert process.stdout is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        running.output.append(line)
        if "Ctrl-C stops everything" in line or not line:
            break
    if not any("local cloud ready" in line for line in running.output):
        running.stop()
        raise AssertionError("".join(running.output))
    return running


def shell(command: str) -> subprocess.CompletedProcess[str]:
    """A command line run by bash, as pasted into a terminal."""
    return subprocess.run(  # noqa: S603  (the recipe under test)
        ["bash", "-c", command],  # noqa: S607  (bash from PATH, as a terminal has it)
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )


def pasted(running: Running) -> tuple[str, str]:
    """The ID-token recipe `make run` prints, as a newcomer pastes it (the sign-in, then the call with the token)."""
    start = next(i for i, line in enumerate(running.output) if "an ID token:" in line)
    then = next(i for i, line in enumerate(running.output) if line.strip().startswith("then:"))
    sign_in = "".join(running.output[start:then]).split("an ID token:", 1)[1]
    return sign_in, running.output[then].split("then:", 1)[1].strip()


def test_the_local_cloud_starts_serves_and_stops_on_ctrl_c_with_no_stray_processes(tmp_path: Path) -> None:
    running = run("--state-dir", str(tmp_path))
    try:
        # The printed recipe works as pasted into a shell: an ID token, then the customer's orders with it.
        sign_in, call = pasted(running)
        signed_in = shell(sign_in)
        token = json.loads(signed_in.stdout)["AuthenticationResult"]["IdToken"]
        orders = shell(call.replace("<AuthenticationResult.IdToken>", token))
        assert "items" in json.loads(orders.stdout), orders.stdout
        # A function has run, so worker processes exist; then Ctrl-C.
        assert requests.get(f"{running.endpoint('API')}/health", timeout=30).json() == {"status": "ok"}
        children = descendants(running.process.pid)
        assert children, "no worker process was started"

        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(timeout=30) == 0
        time.sleep(0.5)
        assert [pid for pid in children if alive(pid)] == []
    finally:
        running.stop()


MARKER = {"productId": {"S": "kept-lamp"}, "name": {"S": "A lamp kept across restarts"}}


def test_the_data_survives_a_clean_stop_and_a_kill_and_fresh_starts_empty(tmp_path: Path) -> None:
    first = run("--state-dir", str(tmp_path))
    try:
        catalog = boto3.client(
            "dynamodb",
            endpoint_url=first.endpoint("AWS endpoint"),
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106  (the local endpoint takes any credentials)
        )
        table = next(name for name in catalog.list_tables()["TableNames"] if "CatalogTable" in name)
        product = catalog.get_item(TableName=table, Key={"productId": {"S": "scale"}})["Item"]
        catalog.put_item(TableName=table, Item={**product, **MARKER})
        first.process.send_signal(signal.SIGINT)
        assert first.process.wait(timeout=30) == 0
    finally:
        first.stop()

    second = run("--state-dir", str(tmp_path))
    try:
        restored = requests.get(f"{second.endpoint('API')}/products/kept-lamp", timeout=30)
        assert any("restored from" in line for line in second.output), "".join(second.output)
        assert restored.status_code == 200
        assert restored.json()["name"] == "A lamp kept across restarts"
        time.sleep(SNAPSHOT_SECONDS + 1)  # at least one snapshot of its own written
        second.process.kill()  # SIGKILL: no clean stop; the last complete snapshot stands
        second.process.wait(timeout=10)
    finally:
        second.stop()
    assert read(tmp_path / STATE_FILE) is not None

    third = run("--state-dir", str(tmp_path))
    try:
        assert requests.get(f"{third.endpoint('API')}/products/kept-lamp", timeout=30).status_code == 200
    finally:
        third.stop()

    fresh = run("--state-dir", str(tmp_path), "--fresh")
    try:
        assert requests.get(f"{fresh.endpoint('API')}/products/kept-lamp", timeout=30).status_code == 404
        assert not any("restored from" in line for line in fresh.output)
    finally:
        fresh.stop()

"""`make run` as a newcomer runs it: the local cloud starts, says where things are and how to sign in, and Ctrl-C
leaves nothing behind; `make token` signs in against it; a busy port is one line before anything starts; its data
comes back at the next start, after a clean stop or a kill, and --fresh starts empty."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
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


ENVIRONMENT = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'shop'}"}


def run(*arguments: str) -> Running:
    """`python -m localcloud` (what `make run` runs) on free ports, until it says it is ready."""
    process = subprocess.Popen(  # noqa: S603  (this interpreter, fixed arguments and the test's own)
        [sys.executable, "-m", "localcloud", "--api-port", "0", "--aws-port", "0", *arguments],
        cwd=ROOT,
        env=ENVIRONMENT,
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


def module(name: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`python -m <name> ...` as a make target runs it."""
    return subprocess.run(  # noqa: S603  (this interpreter, fixed arguments and the test's own)
        [sys.executable, "-m", name, *arguments],
        cwd=ROOT,
        env=ENVIRONMENT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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
        # make token: the demo customer's token (their orders), and the approver's (the approvals).
        api, aws = running.endpoint("API"), running.endpoint("AWS endpoint")
        for role, path in (("customer", "/orders"), ("approver", "/approvals")):
            signed = module("localcloud.id_token", "--role", role, "--aws-endpoint", aws)
            assert signed.returncode == 0, signed.stderr
            answer = requests.get(
                f"{api}{path}", headers={"Authorization": f"Bearer {signed.stdout.strip()}"}, timeout=30
            )
            assert answer.status_code == 200, (role, answer.text)
        # Where the console is, that any confirmation code works, the waits that are not a deploy's; no colours in a
        # pipe, nothing a user cannot act on (the SAM translator's feature-toggle warnings).
        banner = "".join(running.output)
        assert running.endpoint("console") == running.endpoint("API").removesuffix("api")
        assert "any confirmation code works here" in banner
        assert re.search(r"approvals +expire after 60 s", banner)  # localcloud.toml's ApprovalTimeoutSeconds
        assert re.search(r"undeliverable +fails after \d+ receives x \d+ s of visibility", banner)
        assert "\033[" not in banner
        assert "Feature Toggle" not in banner
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


@pytest.mark.parametrize("option", ["--api-port", "--aws-port"])
def test_a_busy_port_is_one_line_naming_it_and_its_option_before_anything_starts(option: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        other = "--aws-port" if option == "--api-port" else "--api-port"

        started = time.monotonic()
        refused = module("localcloud", option, str(port), other, "0", "--state-dir", "/nonexistent/never-made")

    assert refused.returncode != 0
    assert refused.stdout == ""  # nothing was provisioned, nothing else said
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert f"port {port}" in refused.stderr
    assert f'make run ARGS="{option} {port + 1}"' in refused.stderr
    assert time.monotonic() - started < 30


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

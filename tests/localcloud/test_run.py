"""`make run` as a newcomer runs it: the local cloud starts, says it is ready, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

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


def test_the_local_cloud_starts_serves_and_stops_on_ctrl_c_with_no_stray_processes() -> None:
    environment = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'shop'}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "localcloud", "--api-port", "0", "--aws-port", "0"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        output = []
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            output.append(line)
            if "local cloud ready" in line or not line:
                break
        assert any("local cloud ready" in line for line in output), "".join(output)
        # A function runs once so that worker processes exist, then Ctrl-C.
        api = next(line.split()[1] for line in process.stdout if line.strip().startswith("API"))
        assert requests.get(f"{api}/health", timeout=30).json() == {"status": "ok"}
        children = descendants(process.pid)
        assert children, "no worker process was started"

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        time.sleep(0.5)
        assert [pid for pid in children if alive(pid)] == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

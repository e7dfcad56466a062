"""The local cloud's data across a restart (localcloud.state): what was kept comes back as it was, customers keep
their orders (their sub survives), and every order in flight when the cloud stopped reaches a final status; a
snapshot is written whole or not at all, so a process killed while writing one leaves the last complete one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from localcloud.client import FINAL_STATUSES, ShopClient
from localcloud.cloud import LocalCloud
from localcloud.invariants import Invariants
from localcloud.state import STATE_FILE, read, write
from localcloud.users import ensure_user, id_token
from tools.seed import seed

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])
PASSWORD = "State-test-Passw0rd"
EMAIL = "kept@example.com"
# Orders of 100.00 or more wait for an approver; the first cloud stops while one waits.
PARAMETERS = {"ApprovalThresholdCents": "10000", "ApprovalTimeoutSeconds": "600"}
SMALL = [{"productId": "scale", "quantity": 1}]
LARGE = [{"productId": "espresso-machine", "quantity": 1}]


def start(state_dir: Path) -> tuple[LocalCloud, ShopClient]:
    cloud = LocalCloud(api_port=0, aws_port=0, parameters=PARAMETERS, log=lambda _: None, state_dir=state_dir)
    endpoints = cloud.start()
    if cloud.restored is None:
        seed(str(endpoints.outputs["CatalogTableName"]), cloud.client("dynamodb"))
    cognito = cloud.client("cognito-idp")
    ensure_user(cognito, endpoints.user_pool_id, EMAIL, PASSWORD, "customers")  # kept: nothing to do the 2nd time
    token = id_token(cognito, endpoints.user_pool_client_id, EMAIL, PASSWORD)
    return cloud, ShopClient(endpoints.api, token)


def stock(cloud: LocalCloud, product: str) -> dict[str, Any]:
    table = str(cloud.endpoints.outputs["CatalogTableName"]) if cloud.endpoints else ""
    item = cloud.client("dynamodb").get_item(TableName=table, Key={"productId": {"S": product}})["Item"]
    return {name: item[name]["N"] for name in ("available", "reserved", "sold")}


def test_a_restart_keeps_the_orders_and_finishes_the_ones_in_flight(tmp_path: Path) -> None:
    cloud, shop = start(tmp_path)
    try:
        shipped = shop.wait_for(shop.place("kept-small", SMALL)["orderId"], {"SHIPPED"})
        waiting = shop.wait_for(shop.place("kept-large", LARGE)["orderId"], {"AWAITING_APPROVAL"})
        sub_before = shipped["customerId"]
        stock_before = stock(cloud, "scale")
    finally:
        cloud.stop()  # a clean stop writes the last snapshot
    assert not cloud.workdir.exists(), "the cloud's temporary files outlived it"

    cloud, shop = start(tmp_path)
    invariants = Invariants(cloud)
    invariants.baseline()  # the units restored: none may appear or vanish from here on
    try:
        assert cloud.restored is not None
        assert cloud.restored["users"] >= 1
        kept = shop.order(shipped["orderId"])  # a new pool, the same customer: the sub came back
        ended = shop.wait_for(waiting["orderId"], FINAL_STATUSES)
        placed_after = shop.wait_for(shop.place("after-restart", SMALL)["orderId"], {"SHIPPED"})

        assert (kept["status"], kept["customerId"]) == ("SHIPPED", sub_before)
        assert (ended["status"], ended["failureReason"]) == ("FAILED", "TECHNICAL_FAILURE")  # its execution was lost
        assert placed_after["status"] == "SHIPPED"
        assert int(stock(cloud, "scale")["sold"]) == int(stock_before["sold"]) + 1  # nothing sold twice, none lost
        assert invariants.wait_until_settled(60)
        verdict = invariants.check()  # money, stock, approvals and payments agree with every order's status
        assert verdict.holds, str(verdict)
    finally:
        cloud.stop()


def test_a_process_killed_while_writing_leaves_the_last_complete_snapshot(tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE
    write(path, {"version": 1, "tables": {"CatalogTable": [{"productId": {"S": "kept"}}]}})
    # A snapshot big enough that writing it takes a while, written by a process killed halfway through.
    script = (
        "import sys; from pathlib import Path; from localcloud.state import write;"
        "write(Path(sys.argv[1]), {'version': 1, 'tables': {'CatalogTable': [{'n': 'x' * 1000}] * 400000}})"
    )
    root = Path(__file__).resolve().parents[2]
    environment = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'layers' / 'shop'}"}
    writer = subprocess.Popen(  # noqa: S603  (this interpreter, a fixed script)
        [sys.executable, "-c", script, str(path)], cwd=root, env=environment
    )
    temporary = path.with_suffix(".tmp")
    deadline = time.monotonic() + 30
    while not (temporary.is_file() and temporary.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=10)

    assert temporary.is_file(), "the writer was not caught writing"
    with pytest.raises(json.JSONDecodeError):
        json.loads(temporary.read_text())  # the half-written snapshot
    assert read(path) == {"version": 1, "tables": {"CatalogTable": [{"productId": {"S": "kept"}}]}}

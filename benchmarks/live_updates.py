"""Live updates (docs/live-updates.md) on the local cloud: open connections, push latency, memory.

One local cloud in this process (its functions in worker processes), with CONNECTIONS customers, each holding one
WebSocket connection to the WebSocket API's stage (authorized by the $connect authorizer in its worker):

1. Connecting: the handshake time of each connection ($connect's authorizer and integration included), and the memory
   of the whole process tree before the connections and with all of them open.
2. Push latency: ORDERS orders placed by as many of those customers, CONCURRENCY at a time. For every status change
   (PAID, SHIPPED) the time from the order's own `updatedAt` to the message reaching its customer's socket, against
   the baseline measured beside it in the same run: the same change seen by polling GET /orders/{id} every 2 s, as
   the console did before it listened (web/app.js, POLL_MS). Goal: the push's p99 under the polling's p50.

Exit status: 0 when the figures were measured, goals met or not; 1 when the cloud failed to start, a connection was
refused, or an order did not reach SHIPPED with its messages within 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = ROOT / "layers" / "shop"
if str(LAYER_DIR) not in sys.path:
    sys.path.insert(0, str(LAYER_DIR))

from benchmarks.local_cloud import (  # noqa: E402  (after the layer is on the path)
    ADDRESS,
    PRODUCT_ID,
    BenchmarkFailure,
    percentile,
    process_tree,
    rss_bytes,
    table,
    verdict,
)
from localcloud.cloud import LocalCloud  # noqa: E402
from localcloud.users import ensure_user, id_token  # noqa: E402
from shop.adapters.catalog_table import CatalogTable  # noqa: E402
from tools.seed import load_demo_catalog  # noqa: E402

DEFAULT_CONNECTIONS = 200
DEFAULT_ORDERS = 50
DEFAULT_CONCURRENCY = 5
CONSOLE_POLL_SECONDS = 2.0  # web/app.js POLL_MS, before the console listened
ORDER_TIMEOUT = 30.0
PASSWORD = "Live-bench-Passw0rd"  # noqa: S105  (users of a throwaway local user pool)
WATCHED = ("PAID", "SHIPPED")


@dataclass
class Listener:
    """One customer and its connection; every message its socket received, with when."""

    email: str
    token: str
    socket: ClientConnection | None = None
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def listen(self, socket: ClientConnection) -> None:
        try:
            for frame in socket:
                with self.lock:
                    self.received.append((time.time(), json.loads(frame)))
        except Exception:  # noqa: S110  (the socket closed at the end of the run: nothing more to hear)
            pass

    def heard(self, order_id: str, status: str) -> float | None:
        with self.lock:
            return next(
                (
                    when - _epoch(message["at"])
                    for when, message in self.received
                    if message.get("orderId") == order_id and message.get("status") == status
                ),
                None,
            )


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def tree_rss() -> int:
    return sum(rss_bytes(process.pid) for process in process_tree(os.getpid()))


def poll_order(api: str, token: str, order_id: str, seen: dict[str, float]) -> None:
    """The console's old way: GET the order every 2 s until it is SHIPPED; when each status was first seen."""
    deadline = time.monotonic() + ORDER_TIMEOUT + CONSOLE_POLL_SECONDS
    with requests.Session() as session:
        while time.monotonic() < deadline:
            order = session.get(f"{api}/orders/{order_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            body = order.json()
            for change in body.get("history", []):
                seen.setdefault(change["status"], time.time() - _epoch(change["at"]))
            if body.get("status") == "SHIPPED":
                return
            time.sleep(CONSOLE_POLL_SECONDS)


def place(api: str, listener: Listener, key: str) -> str:
    response = requests.post(
        f"{api}/orders",
        json={"items": [{"productId": PRODUCT_ID, "quantity": 1}], "shippingAddress": ADDRESS},
        headers={"Authorization": f"Bearer {listener.token}", "Idempotency-Key": key},
        timeout=10,
    )
    if response.status_code != 201:
        raise BenchmarkFailure(f"POST /orders answered {response.status_code}: {response.text}")
    order_id: str = response.json()["orderId"]
    return order_id


def one_order(api: str, listener: Listener, key: str) -> tuple[dict[str, float], dict[str, float]]:
    """(pushed, polled): each watched status's latency by the socket and by the console's polling."""
    order_id = place(api, listener, key)
    polled: dict[str, float] = {}
    poller = threading.Thread(target=poll_order, args=(api, listener.token, order_id, polled), daemon=True)
    poller.start()
    deadline = time.monotonic() + ORDER_TIMEOUT
    pushed: dict[str, float] = {}
    while len(pushed) < len(WATCHED):
        if time.monotonic() > deadline:
            raise BenchmarkFailure(f"order {order_id}: heard only {sorted(pushed)} within {ORDER_TIMEOUT:.0f} s")
        for status in WATCHED:
            latency = listener.heard(order_id, status)
            if latency is not None:
                pushed[status] = latency
        time.sleep(0.01)
    poller.join()
    return pushed, {status: polled[status] for status in WATCHED if status in polled}


def measure(arguments: argparse.Namespace) -> list[str]:
    cloud = LocalCloud(api_port=0, aws_port=0, log=lambda _line: None, stage_throttling=False)
    try:
        endpoints = cloud.start()
    except Exception as error:
        cloud.stop()
        raise BenchmarkFailure(f"the local cloud failed to start: {error!r}") from error
    with ExitStack() as sockets:
        try:
            catalog = CatalogTable(str(endpoints.outputs["CatalogTableName"]), cloud.client("dynamodb"))
            for product in load_demo_catalog():
                stocked = product.product_id == PRODUCT_ID
                catalog.put(product.model_copy(update={"available": 10 * arguments.orders}) if stocked else product)
            cognito = cloud.client("cognito-idp")
            listeners = []
            for number in range(arguments.connections):
                email = f"live-bench-{number}@example.com"
                ensure_user(cognito, endpoints.user_pool_id, email, PASSWORD, "customers")
                listeners.append(Listener(email, id_token(cognito, endpoints.user_pool_client_id, email, PASSWORD)))
            handshakes = []
            for number, listener in enumerate(listeners):
                if number == 1:  # the first connection started the authorizer's and the routes' workers
                    time.sleep(1)
                    rss_before = tree_rss()
                started = time.perf_counter()
                listener.socket = sockets.enter_context(
                    connect(f"{endpoints.websocket}?token={listener.token}", open_timeout=30)
                )
                handshakes.append(time.perf_counter() - started)
                threading.Thread(target=listener.listen, args=(listener.socket,), daemon=True).start()
            time.sleep(1)
            rss_open = tree_rss()
            open_now = len(cloud.websocket_apis[0].connection_ids())

            with ThreadPoolExecutor(arguments.concurrency) as pool:
                runs = list(
                    pool.map(
                        lambda number: one_order(
                            endpoints.api, listeners[number % len(listeners)], f"live-bench-{number}"
                        ),
                        range(arguments.orders),
                    )
                )
        finally:
            sockets.close()
            cloud.stop()
    per_connection = (rss_open - rss_before) / max(open_now - 1, 1)
    pushed = [latency for run, _ in runs for latency in run.values()]
    polled = [latency for _, run in runs for latency in run.values()]
    met = percentile(pushed, 99) < statistics.median(polled)
    rows = [
        ["pushed (WebSocket)", str(len(pushed)), *(f"{1000 * percentile(pushed, p):.0f}" for p in (50, 90, 99))],
        [
            f"polled every {CONSOLE_POLL_SECONDS:.0f} s (baseline)",
            str(len(polled)),
            *(f"{1000 * percentile(polled, p):.0f}" for p in (50, 90, 99)),
        ],
    ]
    return [
        "Live updates: WebSocket connections on the local cloud, and the time from a status change to its message",
        f"  {arguments.connections} customers, one connection each (open at once: {open_now}); {arguments.orders} "
        f"orders, {arguments.concurrency} at a time, each watched for {', '.join(WATCHED)} from the order's updatedAt",
        "",
        f"Handshake ($connect authorizer + integration): p50 {1000 * statistics.median(handshakes):.0f} ms, "
        f"p99 {1000 * percentile(handshakes, 99):.0f} ms",
        f"Memory of the process tree: {rss_before / 2**20:.0f} MiB with one connection open (its functions' workers "
        f"started), {rss_open / 2**20:.0f} MiB with {open_now} ({per_connection / 1024:.0f} KiB a connection)",
        "",
        *table(["latency (ms)", "changes", "p50", "p90", "p99"], rows, numeric={1, 2, 3, 4}),
        "",
        f"Goal: the push's p99 under the polling's p50 -> {verdict(met)}",
    ]


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks live-updates", description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS, help="customers, a connection each")
    parser.add_argument("--orders", type=int, default=DEFAULT_ORDERS, help="orders placed")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="orders at once")
    arguments = parser.parse_args(argv)
    if not 2 <= arguments.connections <= 2000 or not 2 <= arguments.orders <= 1000:
        parser.error("need 2 <= --connections <= 2000 and 2 <= --orders <= 1000")
    if not 1 <= arguments.concurrency <= 32:
        parser.error("need 1 <= --concurrency <= 32")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        lines = measure(arguments)
    except (BenchmarkFailure, requests.RequestException, OSError) as failure:
        print(f"\nbenchmark failed: {failure}", file=sys.stderr)
        return 1
    print("\n".join(lines), flush=True)
    return 0

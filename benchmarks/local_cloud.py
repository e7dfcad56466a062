"""The local cloud (`localcloud/`, `make run`): gateway throughput, order latency, start-up time and memory.

1. GET /orders/{id} through the gateway (a customer's ID token, one existing order) against moto's own
   get_item on the same Orders item through the same moto server, in interleaved rounds, each round in a
   shuffled order. Goal: the gateway serves at least half as many requests a second as moto serves get_item.
   When the goal is missed (or with --explain) the gateway path is taken apart per request.
2. POST /orders -> SHIPPED for orders under the approval threshold: N orders, C at a time, each client polling
   its order every 50 ms until it is SHIPPED. Goal: p50 <= 1 s and p99 <= 3 s.
3. DynamoDB get_item on the local AWS endpoint side by side with MiniStack (a Docker-free emulator installed
   with pip; `make bench` puts it in .venv/ministack), the same item in both, in interleaved rounds from one
   client process. Goal: the local cloud serves at least as many get_item calls a second as MiniStack.
4. `make run` (`python -m localcloud`) as a subprocess: time to its "local cloud ready" line, then the memory
   of the whole process tree at rest, then Ctrl-C (SIGINT) and every process of the tree gone within 10 s.

Figures 1 to 3 share one LocalCloud in this process (the functions run in worker processes); figure 1's client
shares its interpreter, the clients of figures 2 and 3 run in a process of their own. Figure 4 starts a fresh
interpreter per run.

Exit status: 0 when the figures were measured, whether or not the goals are met (it is a measurement);
1 when the local cloud failed to start, an order did not ship within 30 s, a request failed, or a process
outlived Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import itertools
import json
import logging
import multiprocessing
import os
import queue
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = ROOT / "layers" / "shop"
# The shop layer is on the path in Lambda and under pytest (pyproject's pythonpath); here it is put there.
if str(LAYER_DIR) not in sys.path:
    sys.path.insert(0, str(LAYER_DIR))

from localcloud.cloud import FAKE_CREDENTIALS, Endpoints, LocalCloud  # noqa: E402
from localcloud.meter import cost_lines, since, state_transitions  # noqa: E402
from localcloud.pollers import IDLE_POLL_SECONDS  # noqa: E402  (after the layer is on the path)
from localcloud.users import ensure_user, id_token  # noqa: E402
from localcloud.workers import code_fingerprint  # noqa: E402
from shop.adapters.catalog_table import CatalogTable  # noqa: E402
from tools.seed import load_demo_catalog  # noqa: E402

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HOST = "127.0.0.1"
GOAL_RATIO = 0.5  # gateway requests/s over raw get_item ops/s
GOAL_SHIP_P50 = 1.0  # seconds, POST to SHIPPED
GOAL_SHIP_P99 = 3.0
GOAL_READY = 10.0  # seconds, `make run` to its ready line
SHIP_TIMEOUT = 30.0  # an order not SHIPPED by then is a failure
POLL_INTERVAL = 0.05  # clients poll their order this often
READY_TIMEOUT = 60.0  # `make run` not ready by then has failed to start
IDLE_BEFORE_MEMORY = 5.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 10.0

PASSWORD = "Local-bench-Passw0rd"  # noqa: S105  (a user of a throwaway local user pool)
CUSTOMER = "bench-customer@example.com"
# Under the approval threshold (ApprovalThresholdCents, 50000 by default): the order ships without an approver.
PRODUCT_ID = "scale"
ORDERS_FUNCTION = "OrdersApiFunction"
ADDRESS = {
    "name": "Bench Customer",
    "line1": "1 Market Street",
    "city": "Springfield",
    "postalCode": "12345",
    "country": "US",
}
FINAL = frozenset({"SHIPPED", "DELIVERED", "CANCELLED", "REJECTED", "FAILED"})
READY_LINE = re.compile(r"local cloud ready in ([0-9.]+) s")
# LocalCloud logs "λ <logical id> <duration> ms", then ok or error and cold or warm (in some order, with details).
INVOCATION_LINE = re.compile(r"^λ (\S+)\s+([0-9.]+) ms\b(.*)$")

DEFAULT_REQUESTS = 300
DEFAULT_ROUNDS = 5
DEFAULT_ORDERS = 50
DEFAULT_CONCURRENCY = 5
DEFAULT_STARTUPS = 3
PROFILE_SAMPLES = 100
IDLE_SAMPLE_SECONDS = 2.0


class BenchmarkFailure(RuntimeError):
    """Something that makes the figures meaningless: the cloud did not start, an order never shipped, ..."""


# --- Statistics and tables --------------------------------------------------------------------------------


def percentile(samples: Sequence[float], percent: int) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1]


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> list[str]:
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(cells)]
        return "  ".join(padded).rstrip()

    return [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# --- Processes (/proc) -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Process:
    pid: int
    start_ticks: int  # with the pid, names the process even if the pid is reused later


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from the state on (the command name may hold spaces and parentheses)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[Process]:
    """root and all its descendants, from the parent pid of every process in /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    start: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None or fields[0] == "Z":
            continue
        children[int(fields[1])].append(int(entry))
        start[int(entry)] = int(fields[19])
    tree: list[Process] = []
    pending = [root]
    while pending and len(tree) < 10_000:
        pid = pending.pop()
        if pid in start:
            tree.append(Process(pid, start[pid]))
            pending.extend(children.get(pid, []))
    return tree


def running(process: Process) -> bool:
    fields = _stat_fields(process.pid)
    return fields is not None and fields[0] != "Z" and int(fields[19]) == process.start_ticks


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(processes: Sequence[Process]) -> float:
    """User + system time of the processes so far."""
    ticks = 0
    for process in processes:
        fields = _stat_fields(process.pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_by_process(processes: Sequence[Process]) -> dict[Process, float]:
    return {process: cpu_seconds([process]) for process in processes}


def cpu_since(before: dict[Process, float], processes: Sequence[Process]) -> float:
    """CPU seconds the processes used since `before` was taken (all of it for those started since)."""
    return sum(max(0.0, cpu_seconds([process]) - before.get(process, 0.0)) for process in processes)


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


# --- The shop on a local cloud in this process -------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    function: str
    duration_ms: float
    cold: bool
    errored: bool


@dataclass
class InvocationLog:
    """The local cloud's log, kept quiet: only its function invocations are recorded."""

    invocations: list[Invocation] = field(default_factory=list)

    def __call__(self, line: str) -> None:
        match = INVOCATION_LINE.match(line)
        if match:  # list.append is atomic: the pollers and the gateway log from their own threads
            words = re.findall(r"[a-z]+", match[3].lower())
            self.invocations.append(Invocation(match[1], float(match[2]), "cold" in words, "error" in words))


@dataclass
class Shop:
    cloud: LocalCloud
    endpoints: Endpoints
    token: str
    customer_id: str
    log: InvocationLog
    started_in: float

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self.cloud.client("dynamodb")
        return client

    def catalog(self) -> CatalogTable:
        return CatalogTable(str(self.endpoints.outputs["CatalogTableName"]), self.dynamodb())


def open_shop(log: InvocationLog, stock: int) -> tuple[LocalCloud, Shop]:
    """A started local cloud with the demo catalog (PRODUCT_ID with `stock` units) and a signed-in customer."""
    started = time.monotonic()
    # Without the stage's throttle (50 requests a second per method in dev): the figures are the gateway's own speed.
    cloud = LocalCloud(api_port=0, aws_port=0, log=log, stage_throttling=False)
    try:
        endpoints = cloud.start()
    except Exception as error:
        cloud.stop()
        raise BenchmarkFailure(f"the local cloud failed to start: {error!r}") from error
    started_in = time.monotonic() - started
    try:
        catalog = CatalogTable(str(endpoints.outputs["CatalogTableName"]), cloud.client("dynamodb"))
        for product in load_demo_catalog():
            catalog.put(
                product.model_copy(update={"available": stock}) if product.product_id == PRODUCT_ID else product
            )
        cognito = cloud.client("cognito-idp")
        customer_id = ensure_user(cognito, endpoints.user_pool_id, CUSTOMER, PASSWORD, "customers")
        token = id_token(cognito, endpoints.user_pool_client_id, CUSTOMER, PASSWORD)
    except Exception:
        cloud.stop()
        raise
    return cloud, Shop(cloud, endpoints, token, customer_id, log, started_in)


@dataclass(frozen=True)
class Shipped:
    order_id: str
    post_seconds: float  # the POST's own latency
    ship_seconds: float  # from sending the POST to seeing SHIPPED
    polls: int
    stages: tuple[tuple[str, float], ...] = ()  # (stage, seconds) from the order's history timestamps


def stages_of(order: dict[str, Any], sent: float, seen: float) -> tuple[tuple[str, float], ...]:
    """How long each step took: the POST to PLACED, each status change to the next, SHIPPED to being seen.

    The history's timestamps come from the functions' clocks, the same machine's wall clock as `sent` and `seen`.
    """
    history = [(str(change["status"]), datetime.fromisoformat(change["at"]).timestamp()) for change in order["history"]]
    stages = [(f"POST sent -> {history[0][0]}", history[0][1] - sent)]
    stages += [(f"{a} -> {b}", at_b - at_a) for (a, at_a), (b, at_b) in itertools.pairwise(history)]
    stages.append((f"{history[-1][0]} -> seen by the client's poll", seen - history[-1][1]))
    return tuple(stages)


@dataclass(frozen=True)
class Customer:
    """What a client needs to place orders: the API's URL and the customer's ID token (picklable)."""

    api: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def place_and_wait(shop: Shop | Customer, session: requests.Session, key: str) -> Shipped:
    """Place one order of PRODUCT_ID and poll it every POLL_INTERVAL until SHIPPED (at most SHIP_TIMEOUT)."""
    body: dict[str, Any] = {"items": [{"productId": PRODUCT_ID, "quantity": 1}], "shippingAddress": ADDRESS}
    sent = time.time()
    started = time.perf_counter()
    api = shop.api if isinstance(shop, Customer) else shop.endpoints.api
    response = session.post(
        f"{api}/orders",
        json=body,
        headers={**shop.headers, "Idempotency-Key": key},
        timeout=REQUEST_TIMEOUT,
    )
    posted = time.perf_counter() - started
    if response.status_code != 201:
        raise BenchmarkFailure(f"POST /orders answered {response.status_code}: {response.text[:300]}")
    order_id = response.json()["orderId"]
    deadline = started + SHIP_TIMEOUT
    status = "PLACED"
    for polls in range(1, int(SHIP_TIMEOUT / POLL_INTERVAL) + 2):
        reply = session.get(f"{api}/orders/{order_id}", headers=shop.headers, timeout=REQUEST_TIMEOUT)
        seen, seen_wall = time.perf_counter(), time.time()
        if reply.status_code != 200:
            raise BenchmarkFailure(f"GET /orders/{order_id} answered {reply.status_code}: {reply.text[:300]}")
        order = reply.json()
        status = order["status"]
        if status == "SHIPPED":
            return Shipped(order_id, posted, seen - started, polls, stages_of(order, sent, seen_wall))
        if status in FINAL:
            raise BenchmarkFailure(f"order {order_id} ended {status}, not SHIPPED: {reply.text[:300]}")
        if seen >= deadline:
            break
        time.sleep(max(0.0, min(POLL_INTERVAL, deadline - seen)))
    raise BenchmarkFailure(f"order {order_id} not SHIPPED within {SHIP_TIMEOUT:g} s (still {status})")


# --- Figure 1: GET /orders/{id} through the gateway vs. raw get_item ---------------------------------------


@dataclass
class Series:
    """One subject's sequential requests: each request's latency and each round's elapsed time."""

    label: str
    latencies: list[float] = field(default_factory=list)
    rounds: list[tuple[int, float]] = field(default_factory=list)  # (requests, seconds)
    cpu_here: float = 0.0
    cpu_workers: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return sum(count for count, _ in self.rounds) / sum(seconds for _, seconds in self.rounds)

    def round_rates(self) -> list[float]:
        return [count / seconds for count, seconds in self.rounds]


def timed_loop(series: Series, count: int, call: Callable[[], None], workers: Callable[[], list[Process]]) -> None:
    """`count` sequential calls: latencies, the round's elapsed time, and the CPU spent here and in workers."""
    worker_processes = workers()
    cpu_before, workers_before = time.process_time(), cpu_seconds(worker_processes)
    round_started = time.perf_counter()
    for _ in range(count):
        started = time.perf_counter()
        call()
        series.latencies.append(time.perf_counter() - started)
    series.rounds.append((count, time.perf_counter() - round_started))
    series.cpu_here += time.process_time() - cpu_before
    series.cpu_workers += cpu_seconds(worker_processes) - workers_before


def own_workers() -> list[Process]:
    """The worker processes of the local cloud in this process (and anything they started)."""
    return [process for process in process_tree(os.getpid()) if process.pid != os.getpid()]


def measure_reads(
    shop: Shop, order_id: str, total: int, rounds: int, order: random.Random
) -> tuple[Series, Series, float]:
    session = requests.Session()
    url = f"{shop.endpoints.api}/orders/{order_id}"
    headers = shop.headers
    dynamodb = shop.dynamodb()
    table_name = str(shop.endpoints.outputs["OrdersTableName"])
    key = {"customerId": {"S": shop.customer_id}, "sk": {"S": f"ORDER#{order_id}"}}

    def through_gateway() -> None:
        response = session.get(url, headers=headers, timeout=REQUEST_TIMEOUT)
        if response.status_code != 200:
            raise BenchmarkFailure(f"GET {url} answered {response.status_code}: {response.text[:300]}")

    def raw_get_item() -> None:
        # What the function's adapter sends (OrdersTable.get): a consistent read of the order's item.
        if "Item" not in dynamodb.get_item(TableName=table_name, Key=key, ConsistentRead=True):
            raise BenchmarkFailure(f"get_item found no order {order_id} in {table_name}")

    time.sleep(1)  # the order's own events settle; then this process at rest: the pollers alone
    idle_started = time.process_time()
    time.sleep(IDLE_SAMPLE_SECONDS)
    idle_cpu = (time.process_time() - idle_started) / IDLE_SAMPLE_SECONDS
    gateway = Series("GET /orders/{id} via the gateway")
    raw = Series("get_item, boto3 -> moto server")
    for _ in range(max(10, total // 10)):  # warm-up: connections, caches, the function's worker
        through_gateway()
        raw_get_item()
    subjects = [(gateway, through_gateway), (raw, raw_get_item)]
    sizes = [total // rounds + (1 if number < total % rounds else 0) for number in range(rounds)]
    for size in sizes:
        order.shuffle(subjects)
        for series, call in subjects:
            timed_loop(series, size, call, own_workers)
    session.close()
    return gateway, raw, idle_cpu


def render_reads(gateway: Series, raw: Series, rounds: int, idle_cpu: float, started: str) -> tuple[list[str], bool]:
    ratio = gateway.rate / raw.rate
    per_round = [a / b for a, b in zip(gateway.round_rates(), raw.round_rates(), strict=True)]
    header = ["subject", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "cpu here ms/req", "cpu workers ms/req"]
    rows = [
        [
            series.label,
            str(series.count),
            f"{series.rate:.0f}",
            ms(statistics.median(series.latencies)),
            ms(percentile(series.latencies, 90)),
            ms(percentile(series.latencies, 99)),
            f"{series.cpu_here / series.count * 1000:.2f}",
            f"{series.cpu_workers / series.count * 1000:.2f}",
        ]
        for series in (gateway, raw)
    ]
    met = ratio >= GOAL_RATIO
    lines = [
        "Local cloud 1: GET /orders/{id} through the gateway vs. moto's get_item on the same item",
        f"  {gateway.count} sequential requests each (one requests.Session, one boto3 client with endpoint_url), in "
        f"{rounds} interleaved rounds shuffled each round, after an untimed warm-up; the cloud's pollers run as usual",
        "  req/s = requests / their elapsed time; cpu here = this process (client, gateway, moto, pollers: one "
        "interpreter); cpu workers = the function worker processes",
        started,
        f"  this process at rest (the pollers alone, {IDLE_SAMPLE_SECONDS:g} s before the rounds): "
        f"{idle_cpu:.2f} CPU-s/s",
        "",
        *table(header, rows, numeric={1, 2, 3, 4, 5, 6, 7}),
        "",
        f"Goal: gateway req/s / get_item ops/s >= {GOAL_RATIO} -> {verdict(met)} "
        f"({gateway.rate:.0f} / {raw.rate:.0f} = {ratio:.2f}; per round {min(per_round):.2f} to {max(per_round):.2f})",
    ]
    return lines, met


# --- Where a gateway request's time goes -------------------------------------------------------------------


def _claims_as_gateway_passes_them(token: str) -> dict[str, str]:
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return {
        name: ",".join(str(item) for item in value) if isinstance(value, list) else str(value)
        for name, value in payload.items()
    }


def direct_event(shop: Shop, order_id: str) -> dict[str, Any]:
    """A REST proxy event for GET /orders/{id} as the gateway builds it (the parts the function reads)."""
    headers = {**shop.headers, "Host": urlsplit(shop.endpoints.api).netloc, "Accept": "*/*"}
    return {
        "resource": "/orders/{orderId}",
        "path": f"/orders/{order_id}",
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"orderId": order_id},
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "bench1",
            "stage": "api",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": HOST},
            "resourcePath": "/orders/{orderId}",
            "httpMethod": "GET",
            "path": f"/api/orders/{order_id}",
            "apiId": "localapi01",
            "protocol": "HTTP/1.1",
            "authorizer": {"claims": _claims_as_gateway_passes_them(shop.token)},
        },
    }


def explain_reads(shop: Shop, order_id: str, gateway: Series, raw: Series, samples: int) -> list[str]:
    """The gateway path taken apart: each part timed on its own, medians per request."""
    session = requests.Session()
    url = f"{shop.endpoints.api}/orders/{order_id}"
    header, payload, signature = shop.token.split(".")
    forged = {"Authorization": f"Bearer {header}.{payload}.{signature[:-4]}AAAA"}
    event = direct_event(shop, order_id)
    spec = shop.cloud.specs[ORDERS_FUNCTION]
    roots = (spec.code_dir, *spec.layer_dirs)

    def median_of(call: Callable[[], None]) -> float:
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    def refused(headers: dict[str, str]) -> Callable[[], None]:
        def call() -> None:
            status = session.get(url, headers=headers, timeout=REQUEST_TIMEOUT).status_code
            if status != 401:
                raise BenchmarkFailure(f"expected a 401 from the gateway, got {status}")

        return call

    handler_ms: list[float] = []

    def invoke() -> None:
        result = shop.cloud.invoke(ORDERS_FUNCTION, event)
        if result.errored or json.loads(result.payload).get("statusCode") != 200:
            raise BenchmarkFailure(f"direct invoke of {ORDERS_FUNCTION} failed: {result.payload[:300]!r}")
        handler_ms.append(float(result.duration_ms))

    files = len(code_fingerprint(roots))
    no_token = median_of(refused({}))
    bad_token = median_of(refused(forged))
    invoked = median_of(invoke)
    handler = statistics.median(handler_ms) / 1000

    def fingerprint_once() -> None:
        code_fingerprint(roots)

    fingerprint = median_of(fingerprint_once)
    session.close()
    total = statistics.median(gateway.latencies)
    get_item = statistics.median(raw.latencies)
    rest = total - bad_token - invoked
    rows = [
        ["HTTP round trip to the gateway, refused before any check (no token: 401)", ms(no_token)],
        ["  + Cognito token check (RS256 signature, claims; a forged token: 401)", ms(bad_token - no_token)],
        [f"function invoke, direct (cloud.invoke {ORDERS_FUNCTION}: the worker pool's path)", ms(invoked)],
        [f"  of which code_fingerprint() of {files} .py files (every invocation, to spot edits)", ms(fingerprint)],
        ["  of which in the worker (request out on the pipe, handler, answer back)", ms(handler)],
        ["    of which the handler's get_item on moto (the raw get_item median above)", ms(get_item)],
        ["  the rest: event, JSON, scheduling (by difference)", ms(invoked - fingerprint - handler)],
        ["event building, proxy response, between the parts (by difference)", ms(rest)],
        ["GET /orders/{id} through the gateway (median above)", ms(total)],
    ]
    return [
        "",
        f"Where a gateway request's time goes (medians of {samples} runs of each part, milliseconds):",
        *("  " + line for line in table(["part", "ms"], rows, numeric={1})),
    ]


# --- Figure 2: POST /orders -> SHIPPED ----------------------------------------------------------------------


def ship_orders(customer: Customer, count: int, concurrency: int, prefix: str) -> tuple[list[Shipped], float]:
    """`count` orders, `concurrency` clients at a time (a session each); every order must ship."""
    local = threading.local()

    def one(number: int) -> Shipped:
        session: requests.Session | None = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        return place_and_wait(customer, session, f"{prefix}-{number}")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-order") as pool:
        futures = [pool.submit(one, number) for number in range(count)]
        try:
            results = [future.result() for future in futures]  # each one is bounded by SHIP_TIMEOUT
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # only the orders under way are waited for
            raise
    return results, time.perf_counter() - started


class OrderClients:
    """The clients of figure 2 in a process of their own, so that their requests and polling do not take the local
    cloud's interpreter from it (a browser or a phone is not in the cloud either). One process, kept for the run."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve_clients, args=(child,), name="bench-clients", daemon=True)
        self._process.start()

    @property
    def pid(self) -> int:
        return int(self._process.pid or 0)

    def ship(self, customer: Customer, count: int, concurrency: int, prefix: str) -> tuple[list[Shipped], float]:
        results, elapsed = self._run(ship_orders, customer, count, concurrency, prefix)
        return results, elapsed

    def get_item_rates(self, run: ReadRun) -> dict[str, list[float]]:
        rates: dict[str, list[float]] = self._run(get_item_rates, run)
        return rates

    def _run(self, function: Callable[..., Any], *arguments: Any) -> Any:
        self._connection.send((function, arguments))
        answer = self._connection.recv()
        if isinstance(answer, str):
            raise BenchmarkFailure(answer)
        return answer

    def close(self) -> None:
        self._connection.send(None)
        self._process.join(timeout=10)


def _serve_clients(connection: Any) -> None:
    """The clients' process: run each job it is sent (a function and its arguments), until None."""
    while (job := connection.recv()) is not None:
        function, arguments = job
        try:
            connection.send(function(*arguments))
        except Exception as failure:
            connection.send(f"{type(failure).__name__}: {failure}")


# --- Figure 3: get_item side by side with MiniStack ---------------------------------------------------------

MINISTACK_TABLE = "bench-items"
# The local cloud's own fake credentials, as boto3's arguments (any work for MiniStack).
_LOCAL_CREDENTIALS = {name.lower(): value for name, value in FAKE_CREDENTIALS.items()}
MINISTACK_READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class ReadRun:
    """Figure 3's reads: the same item in `table` at each endpoint (name -> URL)."""

    endpoints: dict[str, str]
    table: str
    item: dict[str, Any]
    rounds: int
    count: int
    seed: int | None


def get_item_rates(run: ReadRun) -> dict[str, list[float]]:
    """In the clients' process: get_item calls a second on each endpoint, `count` sequential calls a round, the
    endpoints in a shuffled order each round, after an untimed warm-up. One boto3 client per endpoint."""
    key = {"pk": run.item["pk"]}
    clients = {
        name: boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", **_LOCAL_CREDENTIALS)
        for name, url in run.endpoints.items()
    }
    for client in clients.values():
        for _ in range(50):
            client.get_item(TableName=run.table, Key=key)
    order = random.Random(run.seed)  # noqa: S311  (shuffles the run order; nothing secret)
    rates: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(run.rounds):
        names = list(clients)
        order.shuffle(names)
        for name in names:
            client = clients[name]
            started = time.perf_counter()
            for _ in range(run.count):
                client.get_item(TableName=run.table, Key=key)
            rates[name].append(run.count / (time.perf_counter() - started))
    return rates


def ministack_command() -> list[str] | None:
    """How to start MiniStack: the one `make bench` installs, or one on PATH."""
    installed = ROOT / ".venv" / "ministack" / "bin" / "ministack"
    if installed.exists():
        return [str(installed)]
    found = shutil.which("ministack")
    return [found] if found else None


@contextlib.contextmanager
def ministack(port: int) -> Iterator[subprocess.Popen[bytes] | None]:
    """MiniStack listening on `port` (None when it is not installed); stopped on the way out."""
    command = ministack_command()
    if command is None:
        yield None
        return
    environment = {**os.environ, "GATEWAY_PORT": str(port)}
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + MINISTACK_READY_TIMEOUT
        while True:
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise BenchmarkFailure("MiniStack did not start listening") from None
                time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def measure_against_ministack(
    shop: Shop, clients: OrderClients, order_id: str, *, rounds: int, count: int, seed: int | None
) -> list[str]:
    """Figure 3: the same order item in a table of each emulator, read with get_item from the clients' process."""
    title = "Local cloud 3: DynamoDB get_item, the local AWS endpoint side by side with MiniStack"
    port = free_port()
    with ministack(port) as process:
        if process is None:
            return [title, "  MiniStack is not installed (make bench installs it in .venv/ministack): not measured"]
        order = (
            shop.dynamodb()
            .get_item(
                TableName=str(shop.endpoints.outputs["OrdersTableName"]),
                Key={"customerId": {"S": shop.customer_id}, "sk": {"S": f"ORDER#{order_id}"}},
            )
            .get("Item")
        )
        if order is None:
            raise BenchmarkFailure(f"order {order_id} is not in the Orders table")
        item = {**order, "pk": {"S": f"ORDER#{order_id}"}}
        endpoints = {"local cloud": str(shop.cloud.aws_url), "MiniStack": f"http://{HOST}:{port}"}
        for url in endpoints.values():
            dynamodb = boto3.client("dynamodb", endpoint_url=url, region_name=shop.cloud.region, **_LOCAL_CREDENTIALS)
            dynamodb.create_table(
                TableName=MINISTACK_TABLE,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            dynamodb.put_item(TableName=MINISTACK_TABLE, Item=item)
        rates = clients.get_item_rates(ReadRun(endpoints, MINISTACK_TABLE, item, rounds, count, seed))
    ours, theirs = statistics.median(rates["local cloud"]), statistics.median(rates["MiniStack"])
    rows = [
        [name, str(rounds * count), f"{statistics.median(found):.0f}", f"{min(found):.0f}", f"{max(found):.0f}"]
        for name, found in rates.items()
    ]
    version = _ministack_version()
    return [
        title,
        f"  {count} sequential get_item calls a round, {rounds} rounds, the emulators in a shuffled order each round, "
        f"one boto3 client each in the clients' process; the item: order {order_id} as the Orders table holds it",
        f"  MiniStack {version} on {HOST}:{port}; the local cloud's endpoint with its IAM check, fault plan and meter "
        "on",
        "",
        *table(["emulator", "calls", "req/s (median round)", "slowest round", "fastest round"], rows, {1, 2, 3, 4}),
        "",
        f"Goal: the local cloud's get_item/s >= MiniStack's -> {verdict(ours >= theirs)} "
        f"({ours:.0f} / {theirs:.0f} = {ours / theirs:.2f})",
    ]


def _ministack_version() -> str:
    command = ministack_command()
    if command is None:
        return "?"
    python = Path(command[0]).with_name("python")
    found = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('ministack'))"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return found.stdout.strip() or "?"


def render_orders(
    results: list[Shipped], elapsed: float, concurrency: int, warm_up: list[Shipped], invocations: list[Invocation]
) -> tuple[list[str], bool]:
    ship = [result.ship_seconds for result in results]
    post = [result.post_seconds for result in results]
    polls = sum(result.polls for result in results)
    p50, p99 = statistics.median(ship), percentile(ship, 99)
    met = p50 <= GOAL_SHIP_P50 and p99 <= GOAL_SHIP_P99
    header = ["orders", "clients", "POST p50 ms", "POST p99 ms", "SHIPPED p50 s", "p90 s", "p99 s", "max s"]
    header.append("orders/s")
    rows = [
        [
            str(len(results)),
            str(concurrency),
            ms(statistics.median(post)),
            ms(percentile(post, 99)),
            f"{p50:.2f}",
            f"{percentile(ship, 90):.2f}",
            f"{p99:.2f}",
            f"{max(ship):.2f}",
            f"{len(results) / elapsed:.1f}",
        ]
    ]
    by_function: dict[str, list[float]] = defaultdict(list)
    for invocation in invocations:
        by_function[invocation.function].append(invocation.duration_ms)
    cold = sum(invocation.cold for invocation in invocations)
    errors = sum(invocation.errored for invocation in invocations)
    pipeline = sorted(
        ((name, durations) for name, durations in by_function.items() if name != ORDERS_FUNCTION),
        key=lambda item: -sum(item[1]),
    )
    per_order = ", ".join(
        f"{name} {len(durations) / len(results):.1f}x{statistics.median(durations):.0f}" for name, durations in pipeline
    )
    orders_api = by_function.get(ORDERS_FUNCTION, [])
    lines = [
        "Local cloud 2: POST /orders -> SHIPPED, orders under the approval threshold (no approver)",
        f"  {len(results)} orders of 1 x {PRODUCT_ID}, {concurrency} at a time (ThreadPoolExecutor in a process of its "
        f"own, a requests.Session per client); each client polls GET /orders/{{id}} every "
        f"{POLL_INTERVAL * 1000:.0f} ms until SHIPPED",
        f"  SHIPPED = from sending the POST to the first GET that shows SHIPPED; after an untimed warm-up of "
        f"{len(warm_up)} concurrent orders (cold workers: slowest {max(r.ship_seconds for r in warm_up):.1f} s)",
        "",
        *table(header, rows, numeric=set(range(len(header)))),
        "",
        f"Goal: p50 <= {GOAL_SHIP_P50:.0f} s and p99 <= {GOAL_SHIP_P99:.0f} s -> {verdict(met)}",
        f"Functions during the run: {len(invocations)} invocations, {cold} cold starts, {errors} errors; "
        f"{ORDERS_FUNCTION} {len(orders_api)} (POSTs and {polls} polls, median "
        f"{statistics.median(orders_api) if orders_api else 0:.0f} ms)",
        f"  per order, invocations x median ms: {per_order}",
        "",
        "Where an order's time goes (from the history timestamps the functions write, seconds):",
        *("  " + line for line in render_stages(results)),
    ]
    return lines, met


def order_costs(cloud: LocalCloud, results: list[Shipped], units: dict[str, float]) -> list[str]:
    """What the measured orders would cost on AWS: the units the local cloud served while they ran (the clients'
    polling included, as a console's would be), with each order's state transitions (docs/cost.md)."""
    arn = str(cloud.endpoints.outputs["OrderStateMachineArn"] if cloud.endpoints else "")
    executions = [f"{arn.replace(':stateMachine:', ':execution:')}:{result.order_id}" for result in results]
    units["states.transitions"] = state_transitions(cloud.client("stepfunctions"), executions)
    return [
        f"Cost on AWS of these {len(results)} orders, per million orders at list prices (us-east-1, arm64):",
        *cost_lines(units, len(results)),
    ]


def render_stages(results: list[Shipped]) -> list[str]:
    by_stage: dict[str, list[float]] = defaultdict(list)  # insertion order: the pipeline's order
    for result in results:
        for stage, seconds in result.stages:
            by_stage[stage].append(seconds)
    rows = [
        [
            stage,
            str(len(seconds)),
            f"{statistics.median(seconds):.2f}",
            f"{percentile(seconds, 90):.2f}",
            f"{max(seconds):.2f}",
        ]
        for stage, seconds in by_stage.items()
    ]
    return table(["stage", "orders", "p50", "p90", "max"], rows, numeric={1, 2, 3, 4})


def batching_windows(cloud: LocalCloud) -> str:
    """The event source mappings that hold a batch open (template.yaml), as one line."""
    resources = cloud.stack.cloudformation.get("Resources", {}) if cloud.stack is not None else {}
    windows = [
        f"{logical_id} {float(resource['Properties']['MaximumBatchingWindowInSeconds']):g} s"
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Lambda::EventSourceMapping"
        and resource.get("Properties", {}).get("MaximumBatchingWindowInSeconds")
    ]
    return (
        f"Batching windows on the way (template.yaml; the pollers hold a batch open from its first record for that "
        f"long, as Lambda does; a queue's or a stream's poller wakes when the endpoint sees a message or a write, and "
        f"every {IDLE_POLL_SECONDS:g} s besides): {', '.join(windows) or 'none'}"
    )


def workers_at_rest() -> str:
    workers = own_workers()
    total = sum(rss_bytes(process.pid) for process in workers)
    return f"Workers after the run: {len(workers)} processes, {total / 2**20:.0f} MiB RSS in all"


# --- Figure 3: `make run` ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Startup:
    ready_seconds: float  # seen here: spawn to the ready line on its stdout
    reported_seconds: float  # what the line says (from its main() on, after the imports)
    rss_bytes: int
    processes: int
    stop_seconds: float | None  # SIGINT to every process gone; None when some outlived STOP_TIMEOUT
    strays: list[str]


def run_environment() -> tuple[dict[str, str], str]:
    """The environment for `python -m localcloud`: this one, with the shop layer on PYTHONPATH if it is not
    (the Makefile exports it; run by hand, it may be missing), and a note saying so."""
    environment = dict(os.environ)
    probe = subprocess.run(
        [sys.executable, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('shop') is None)"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        timeout=30,
        check=False,
    )
    if probe.returncode == 0:
        return environment, ""
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LAYER_DIR), environment.get("PYTHONPATH")]))
    note = "note: `shop` was not importable with this environment; PYTHONPATH=layers/shop added, as make does"
    return environment, note


def _read_lines(stream: IO[str], lines: queue.Queue[tuple[float, str] | None]) -> None:
    for line in stream:  # ends when the process closes its stdout (it exits)
        lines.put((time.monotonic(), line))
    lines.put(None)


def start_once(environment: dict[str, str]) -> Startup:
    api_port, aws_port = free_port(), free_port()
    with tempfile.TemporaryFile(mode="w+", prefix="bench-localcloud-") as errors:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "localcloud", "--api-port", str(api_port), "--aws-port", str(aws_port)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None  # noqa: S101  (stdout=PIPE)
        lines: queue.Queue[tuple[float, str] | None] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
        reader.start()
        known: set[Process] = set()
        try:
            ready_at, reported = _wait_ready(lines, started + READY_TIMEOUT)
            if ready_at is None:
                errors.seek(0)
                tail = "\n".join(errors.read().splitlines()[-8:])
                returncode = process.poll()
                state = f"not ready within {READY_TIMEOUT:g} s" if returncode is None else f"exited with {returncode}"
                raise BenchmarkFailure(
                    f"`python -m localcloud` {state}, before its ready line; its stderr ends:\n{tail}"
                )
            time.sleep(IDLE_BEFORE_MEMORY)
            tree = process_tree(process.pid)
            rss = sum(rss_bytes(member.pid) for member in tree)
            known.update(tree)
            stop_seconds, strays = _interrupt(process, known)
        finally:
            _kill_tree(process, known)
            reader.join(timeout=5)
            process.stdout.close()
    return Startup(ready_at - started, reported, rss, len(tree), stop_seconds, strays)


def _wait_ready(lines: queue.Queue[tuple[float, str] | None], deadline: float) -> tuple[float | None, float]:
    while (left := deadline - time.monotonic()) > 0:
        try:
            item = lines.get(timeout=left)
        except queue.Empty:
            break
        if item is None:  # stdout closed: the process is gone
            break
        match = READY_LINE.search(item[1])
        if match:
            return item[0], float(match[1])
    return None, 0.0


def _interrupt(process: subprocess.Popen[str], known: set[Process]) -> tuple[float | None, list[str]]:
    """Ctrl-C as a terminal sends it to `make run`; then every process of the tree must be gone in time."""
    known |= set(process_tree(process.pid))  # anything started since the snapshot too
    command_lines = {member.pid: command_line(member.pid) for member in known}
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    deadline = interrupted + STOP_TIMEOUT
    while time.monotonic() < deadline:
        process.poll()  # reaps the direct child (it would stay a zombie otherwise)
        if process.returncode is not None and not any(running(member) for member in known):
            return time.monotonic() - interrupted, []
        time.sleep(0.02)
    return None, [f"pid {member.pid} ({command_lines[member.pid]})" for member in known if running(member)]


def _kill_tree(process: subprocess.Popen[str], known: set[Process]) -> None:
    """Whatever is left of what this benchmark started (the child, its descendants, strays seen before that
    were re-parented since): killed by pid, then the child reaped."""
    for member in known | set(process_tree(process.pid)):
        if member.pid != process.pid and running(member):
            with contextlib.suppress(ProcessLookupError):
                os.kill(member.pid, signal.SIGKILL)
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def render_startups(startups: list[Startup], note: str) -> tuple[list[str], bool]:
    ready = [startup.ready_seconds for startup in startups]
    met = statistics.median(ready) <= GOAL_READY
    header = ["run", "ready s", "it says s", "processes", "RSS MiB", "Ctrl-C to all gone s"]
    rows = [
        [
            str(number),
            f"{startup.ready_seconds:.2f}",
            f"{startup.reported_seconds:.1f}",
            str(startup.processes),
            f"{startup.rss_bytes / 2**20:.0f}",
            f"{startup.stop_seconds:.2f}" if startup.stop_seconds is not None else "STRAYS",
        ]
        for number, startup in enumerate(startups, 1)
    ]
    rows.append(
        [
            "median",
            f"{statistics.median(ready):.2f}",
            f"{statistics.median(s.reported_seconds for s in startups):.1f}",
            f"{statistics.median(s.processes for s in startups):.0f}",
            f"{statistics.median(s.rss_bytes for s in startups) / 2**20:.0f}",
            "",
        ]
    )
    lines = [
        "Local cloud 4: `make run` (python -m localcloud --api-port <free> --aws-port <free>) start-up and memory",
        f"  {len(startups)} runs, each a fresh interpreter from the warm venv (cwd the repository); ready = spawn to "
        "its 'local cloud ready' line on stdout; 'it says' = the time printed in that line (from its main())",
        f"  RSS = VmRSS summed over the process and all its descendants (/proc) after {IDLE_BEFORE_MEMORY:.0f} s idle; "
        f"then SIGINT, and every process must be gone within {STOP_TIMEOUT:.0f} s",
    ]
    if note:
        lines.append(f"  {note}")
    lines += [
        "",
        *table(header, rows, numeric={1, 2, 3, 4, 5}),
        "",
        f"Goal: ready <= {GOAL_READY:.0f} s (median) -> {verdict(met)}",
    ]
    for number, startup in enumerate(startups, 1):
        for stray in startup.strays:
            lines.append(f"FAILURE: run {number}: still running {STOP_TIMEOUT:.0f} s after Ctrl-C: {stray} (killed)")
    return lines, met


# --- Entry point -------------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks local-cloud", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="figure 1: requests per subject")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="figure 1: interleaved rounds")
    parser.add_argument("--orders", type=int, default=DEFAULT_ORDERS, help="figure 2: orders placed")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="figure 2: clients at once")
    parser.add_argument("--startups", type=int, default=DEFAULT_STARTUPS, help="figure 3: runs of `make run`")
    parser.add_argument("--seed", type=int, default=None, help="seed for the run order (default: random)")
    parser.add_argument("--explain", action="store_true", help="take the gateway path apart even if the goal is met")
    arguments = parser.parse_args(argv)
    if not 2 <= arguments.rounds <= arguments.requests <= 100_000:
        parser.error("need 2 <= --rounds <= --requests <= 100000")
    if not 2 <= arguments.orders <= 10_000 or not 1 <= arguments.concurrency <= 64:
        parser.error("need 2 <= --orders <= 10000 and 1 <= --concurrency <= 64")
    if not 1 <= arguments.startups <= 20:
        parser.error("need 1 <= --startups <= 20")
    return arguments


def in_process_figures(arguments: argparse.Namespace) -> Iterator[list[str]]:
    """Figures 1 and 2 on one local cloud in this process; each table as soon as it is measured."""
    log = InvocationLog()
    warm_up = arguments.concurrency
    stock = 2 * (1 + warm_up + arguments.orders)
    clients = OrderClients()  # started before the cloud: a spawned process inherits none of it
    cloud, shop = open_shop(log, stock)
    try:
        run = uuid.uuid4().hex[:8]
        session = requests.Session()
        first = place_and_wait(shop, session, f"bench-{run}-first")  # cold workers along the whole pipeline
        session.close()
        order_id = first.order_id

        shuffle = random.Random(arguments.seed)  # noqa: S311  (shuffles the run order; nothing secret)
        gateway, raw, idle_cpu = measure_reads(shop, order_id, arguments.requests, arguments.rounds, shuffle)
        started = (
            f"  local cloud started in-process in {shop.started_in:.1f} s; the order read was placed and shipped "
            f"first ({first.ship_seconds:.1f} s, cold workers)"
        )
        lines, met = render_reads(gateway, raw, arguments.rounds, idle_cpu, started)
        if arguments.explain or not met:
            lines += explain_reads(shop, order_id, gateway, raw, PROFILE_SAMPLES)
        yield lines

        before = shop.catalog().get(PRODUCT_ID)
        customer = Customer(shop.endpoints.api, shop.token)
        warmed, _ = clients.ship(customer, warm_up, warm_up, f"bench-{run}-warm")
        log.invocations.clear()
        metered = cloud.meter.counts()
        cloud_processes = [process for process in own_workers() if process.pid != clients.pid]
        here, workers = time.process_time(), cpu_by_process(cloud_processes)
        results, elapsed = clients.ship(customer, arguments.orders, arguments.concurrency, f"bench-{run}")
        cloud_processes = [process for process in own_workers() if process.pid != clients.pid]
        here, worker_cpu = time.process_time() - here, cpu_since(workers, cloud_processes)
        invocations = list(log.invocations)
        units = since(cloud.meter.counts(), metered)
        after = shop.catalog().get(PRODUCT_ID)
        lines, _ = render_orders(results, elapsed, arguments.concurrency, warmed, invocations)
        shipped = len(results) + len(warmed)
        if before is not None and after is not None:
            check = "adds up" if before.available - after.available == shipped else "DOES NOT ADD UP"
            lines.append(
                f"Stock of {PRODUCT_ID}: {before.available} -> {after.available} for {shipped} orders ({check})"
            )
        lines += order_costs(cloud, results, units)
        lines += [
            f"CPU during the run ({elapsed:.1f} s, {os.cpu_count()} CPUs): this process (gateway, moto, pollers, "
            f"Step Functions) {here / elapsed:.2f} CPU-s/s, the worker processes {worker_cpu / elapsed:.2f} (the "
            f"clients run in a process of their own)",
            batching_windows(cloud),
            workers_at_rest(),
        ]
        yield lines
        yield measure_against_ministack(
            shop, clients, order_id, rounds=arguments.rounds, count=arguments.requests, seed=arguments.seed
        )
    finally:
        cloud.stop()
        clients.close()


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    # The SAM transform warns about feature toggles on every start: nothing to do with the figures.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    try:
        for lines in in_process_figures(arguments):
            print("\n".join(lines), end="\n\n", flush=True)
        environment, note = run_environment()
        startups = []
        progress = sys.stderr.isatty()  # a terminal only: in a log it would interleave with the tables
        for number in range(arguments.startups):
            if progress:
                print(f"\r  `make run` {number + 1}/{arguments.startups}", end="", file=sys.stderr, flush=True)
            startups.append(start_once(environment))
        if progress:
            print("\r" + " " * 30 + "\r", end="", file=sys.stderr, flush=True)
    except (BenchmarkFailure, requests.RequestException) as failure:
        print(f"\nbenchmark failed: {failure}", file=sys.stderr)
        return 1
    lines, _ = render_startups(startups, note)
    print("\n".join(lines), flush=True)
    return 1 if any(startup.strays for startup in startups) else 0

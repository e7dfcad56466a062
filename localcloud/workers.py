"""Lambda functions run in worker processes, with Lambda's guarantees (docs/local-cloud.md).

Each worker is a child interpreter (localcloud/worker_main.py) that imports one function's handler once and
serves invocations until it times out, crashes, or its code changes on disk. A pool per function reuses idle
workers (warm starts) and starts new ones (cold starts) when needed. Concurrency is limited as in Lambda: a
function with reserved concurrency runs at most that many invocations at once, the others share what the account
has left, and an invocation that finds no room is throttled at once (TooManyRequestsError), never queued. Faults
from the plan (localcloud.faults) throttle, fail, delay or time out invocations as Lambda would.

The child's stdout and stderr go to a file that the pool reads after each invocation (the invocation's logs),
so output never blocks a worker and never mixes with the protocol, which runs on two pipes of its own.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from localcloud import worker_main as protocol
from localcloud.faults import Call, Fault, FaultPlan, Rule

WORKER_MAIN = Path(protocol.__file__).resolve()
# Lambda's init phase may take this long before the first invocation gives up on the environment.
INIT_TIMEOUT_SECONDS = 10.0
# The logs handed back per invocation keep their end (where the error is) beyond this size.
LOG_LIMIT_BYTES = 256 * 1024
# moto's default account: ARNs of functions invoked by name are built in it.
DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})
# A pool on its own is the only function of an account of its own, with AWS's limit for a new account.
NEW_ACCOUNT_CONCURRENCY = 10
# What CloudFormation refuses to leave unreserved (AWS keeps 100 of an account's 1,000; here 1 is enough).
MINIMUM_UNRESERVED_CONCURRENCY = 1
# Lambda's reasons for a throttle (TooManyRequestsException's Reason).
RESERVED_LIMIT_EXCEEDED = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT_EXCEEDED = "ConcurrentInvocationLimitExceeded"
# Faults decided before an invocation takes a slot, and once its handler has answered.
_FAULTS_BEFORE_RUNNING = (Fault.LAMBDA_THROTTLE, Fault.LAMBDA_SERVICE_ERROR, Fault.LAMBDA_ERROR)
_FAULTS_AFTER_ANSWER = (Fault.LAMBDA_TIMEOUT_AFTER_EFFECTS, Fault.LAMBDA_SLOW)

InvocationListener = Callable[["FunctionSpec", "InvokeResult"], None]


@dataclass(frozen=True)
class FunctionSpec:
    """One function as the worker needs it: where its code is, how to call it, its environment and limits."""

    logical_id: str
    name: str
    code_dir: Path
    handler: str
    layer_dirs: tuple[Path, ...]
    environment: Mapping[str, str]
    timeout_seconds: float
    memory_mb: int = 128
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions; 0 throttles every invocation
    log_group: str | None = None  # LoggingConfig.LogGroup; Lambda's default is /aws/lambda/<name>
    python: str = sys.executable  # the interpreter the worker runs (the template's runtime where installed)
    # The execution role's session (localcloud.iam): the AWS endpoint authorizes the function's calls by it.
    credentials: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InvokeResult:
    """One invocation's outcome. duration_ms is the handler's run, as Lambda bills it; init_duration_ms the
    cold start before it (0 when warm); injected the label of the fault rule that shaped it, if one did."""

    payload: bytes
    errored: bool
    duration_ms: float
    cold: bool
    request_id: str
    logs: str
    init_duration_ms: float = 0.0
    injected: str | None = None


class FunctionNotFoundError(LookupError):
    """No function of that name (Lambda's ResourceNotFoundException)."""


class TooManyRequestsError(Exception):
    """The invocation was throttled before anything ran (Lambda's 429 TooManyRequestsException, with its Reason)."""

    def __init__(self, reason: str, message: str = "Rate Exceeded.") -> None:
        super().__init__(f"{message} ({reason})")
        self.reason = reason
        self.message = message


class ServiceError(Exception):
    """Lambda failed on its side before anything ran (its 500 ServiceException): the caller may retry."""

    def __init__(self, message: str = "The Lambda service encountered an internal error.") -> None:
        super().__init__(message)
        self.message = message


class PoolClosedError(RuntimeError):
    """The pool was closed: no more invocations."""


class _Deadline(Exception):
    pass


class _Exited(Exception):
    pass


class _InitFailedError(Exception):
    def __init__(self, payload: bytes) -> None:
        super().__init__("init failed")
        self.payload = payload


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


# How Lambda's runtime (written in Go) names the signal that ended a process.
_SIGNAL_NAMES: dict[int, str] = {
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGILL: "illegal instruction",
    signal.SIGINT: "interrupt",
    signal.SIGKILL: "killed",
    signal.SIGPIPE: "broken pipe",
    signal.SIGQUIT: "quit",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGTERM: "terminated",
}


def _exit_error(returncode: int) -> bytes:
    # Lambda's wording, from its Go runtime: "exit status 3" or "signal: segmentation fault".
    if returncode < 0:
        status = "signal: " + _SIGNAL_NAMES.get(-returncode, f"signal {-returncode}")
    else:
        status = f"exit status {returncode}"
    return _error("Runtime.ExitError", f"Runtime exited with error: {status}")


def code_fingerprint(roots: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """Every .py file under the roots with its mtime and size: any edit, addition or removal changes it."""
    entries: list[tuple[str, int, int]] = []
    for root in roots:
        for directory, subdirectories, files in os.walk(root):
            subdirectories[:] = [
                name for name in subdirectories if name not in _SKIPPED_DIRS and not name.startswith(".")
            ]
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(directory, name)
                try:
                    stat = os.stat(path)
                except FileNotFoundError:  # removed while we looked
                    continue
                entries.append((path, stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(entries))


def lambda_environment(spec: FunctionSpec, base_environment: Mapping[str, str]) -> dict[str, str]:
    """What a worker's process sees: a clean environment, never the parent's (no real credentials leak in).

    Defaults first (the base may override them), then the base (endpoint, fake credentials, region), the
    function's variables, and last the variables that Lambda reserves and sets itself.
    """
    region = base_environment.get("AWS_REGION") or base_environment.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    stream_id = uuid.uuid4().hex
    environment = {
        "PATH": os.environ.get("PATH", os.defpath),
        "TZ": ":UTC",
        # No developer's ~/.aws configuration: the local cloud is configured by its environment alone.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        # What `sam local` sets: Powertools' Tracer then stays off instead of looking for the X-Ray daemon.
        "AWS_SAM_LOCAL": "true",
    }
    environment.update(base_environment)
    environment.update(spec.environment)
    environment.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group or f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{stream_id}",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            **spec.credentials,
        }
    )
    return environment


class _Worker:
    """One child process: its pipes, its log file, and the code fingerprint it was started with."""

    def __init__(self, spec: FunctionSpec, environment: Mapping[str, str], fingerprint: object) -> None:
        self.fingerprint = fingerprint
        self._lock = threading.Lock()
        self._log: IO[bytes] = tempfile.TemporaryFile(prefix=f"localcloud-{spec.name}-")  # noqa: SIM115
        # Append mode on the descriptor itself (the child shares it): after take_logs() truncates the file,
        # the child's next write lands at its new end instead of leaving a hole.
        flags = fcntl.fcntl(self._log.fileno(), fcntl.F_GETFL)
        fcntl.fcntl(self._log.fileno(), fcntl.F_SETFL, flags | os.O_APPEND)
        request_read, self._request_write = os.pipe()
        self._response_read, response_write = os.pipe()
        roots = [str(spec.code_dir), *(str(layer) for layer in spec.layer_dirs)]
        try:
            # -I: no PYTHON* variables, no user site, and not the script's directory on sys.path.
            self.process = subprocess.Popen(  # noqa: S603  (an interpreter of ours and our own script)
                [
                    spec.python,
                    "-I",
                    "-u",
                    "-X",
                    "utf8",
                    str(WORKER_MAIN),
                    str(request_read),
                    str(response_write),
                    *roots,
                ],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                pass_fds=(request_read, response_write),
                env=dict(environment),
                cwd=spec.code_dir,
                # Its own process group: Ctrl-C in the terminal does not reach it, and killing the group
                # takes any process the handler started along with it.
                start_new_session=True,
            )
        except BaseException:
            self._close_files()
            raise
        finally:
            os.close(request_read)
            os.close(response_write)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        """Still running, checked without reaping it (the process group stays ours until terminate())."""
        if self.process.returncode is not None:
            return False
        if not hasattr(os, "waitid"):  # macOS before Python 3.13: poll() reaps, terminate() then skips the group
            return self.process.poll() is None
        try:
            status = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return status is None

    def wait_ready(self, timeout: float) -> None:
        """Wait for the end of init: raises _InitFailedError with Lambda's error payload, _Deadline or _Exited."""
        kind, body = self._read_frame(time.monotonic() + timeout)
        if kind == protocol.INIT_ERROR:
            raise _InitFailedError(body)

    def call(self, request: bytes, timeout: float) -> tuple[bytes, bool]:
        """Send one invocation and wait for its answer: (payload, errored). Raises _Deadline or _Exited."""
        try:
            self._write(protocol.encode_frame(protocol.INVOKE, request))
        except BrokenPipeError as exc:
            raise _Exited from exc
        kind, body = self._read_frame(time.monotonic() + timeout)
        return body, kind == protocol.ERROR

    def exit_status(self) -> int:
        """After the child closed its end: how it ended (it gets a moment to finish exiting, then is killed)."""
        deadline = time.monotonic() + 1.0
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        self.terminate()
        return self.process.returncode

    def take_logs(self) -> str:
        """What the child wrote since the last call (its end when there is too much), then forget it."""
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        start = max(size - LOG_LIMIT_BYTES, 0)
        data = os.pread(fd, size - start, start)
        os.ftruncate(fd, 0)
        text = data.decode("utf-8", errors="replace")
        return f"[{start} bytes of earlier output left out]\n{text}" if start else text

    def terminate(self) -> None:
        """Kill the process group and reap the child; from any thread, any number of times."""
        with self._lock:
            if self.process.returncode is None:
                # The unreaped child still holds its pid, so the group id cannot belong to anyone else yet.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()

    def dispose(self) -> None:
        """terminate() and release the pipes and the log: only by the thread that holds the worker."""
        self.terminate()
        self._close_files()

    def _close_files(self) -> None:
        # Once only: a descriptor closed twice may by then be another thread's file.
        if not self._log.closed:
            os.close(self._request_write)
            os.close(self._response_read)
            self._log.close()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._request_write, view) :]

    def _read_frame(self, deadline: float) -> tuple[bytes, bytes]:
        header = self._read_exactly(protocol.HEADER.size, deadline)
        kind, size = protocol.HEADER.unpack(header)
        return kind, self._read_exactly(size, deadline)

    def _read_exactly(self, size: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        remaining = size
        poller = select.poll()
        poller.register(self._response_read, select.POLLIN)
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                raise _Deadline
            chunk = os.read(self._response_read, min(remaining, 1 << 20))
            if not chunk:
                raise _Exited
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)


@dataclass(frozen=True)
class _Outcome:
    payload: bytes
    errored: bool
    healthy: bool  # the worker may serve the next invocation
    duration_ms: float = 0.0
    init_duration_ms: float = 0.0
    invoked_at: float = 0.0  # time.monotonic() when the handler was called (the time-out counts from there)


def _timed_out(timeout: float) -> bytes:
    return _error("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds")


class AccountConcurrency:
    """Lambda's concurrency limits of one account, shared by its functions (thread-safe).

    A function with a reservation runs at most that many invocations at once, whatever the others do; the rest
    share what the reservations leave of the account's limit. A slot is taken per invocation or refused at once.
    """

    def __init__(self, account_concurrency: int, reservations: Mapping[str, int] | None = None) -> None:
        reserved = dict(reservations or {})
        if account_concurrency < 1:
            raise ValueError(f"the account's concurrency must be at least 1, not {account_concurrency}")
        negative = sorted(name for name, count in reserved.items() if count < 0)
        if negative:
            raise ValueError(f"ReservedConcurrentExecutions cannot be negative: {', '.join(negative)}")
        unreserved = account_concurrency - sum(reserved.values())
        if unreserved < MINIMUM_UNRESERVED_CONCURRENCY:
            listed = ", ".join(f"{name} ({count})" for name, count in sorted(reserved.items()))
            raise ValueError(
                f"ReservedConcurrentExecutions of {listed} decreases account's UnreservedConcurrentExecution "
                f"below its minimum value of [{MINIMUM_UNRESERVED_CONCURRENCY}] (the account's limit is "
                f"{account_concurrency})"
            )
        self.account_concurrency = account_concurrency
        self.unreserved = unreserved
        self._reserved = reserved
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._running_unreserved = 0

    def reservation(self, function: str) -> int | None:
        return self._reserved.get(function)

    def throttle_reason(self, function: str) -> str:
        """Lambda's Reason when the function is throttled: its own reservation, or the account's pool, is full."""
        return RESERVED_LIMIT_EXCEEDED if function in self._reserved else ACCOUNT_LIMIT_EXCEEDED

    def acquire(self, function: str) -> None:
        """Take a slot for one invocation of the function, or raise TooManyRequestsError at once."""
        with self._lock:
            running = self._running.get(function, 0)
            reserved = self._reserved.get(function)
            if reserved is not None:
                if running >= reserved:
                    raise TooManyRequestsError(RESERVED_LIMIT_EXCEEDED)
            elif self._running_unreserved >= self.unreserved:
                raise TooManyRequestsError(ACCOUNT_LIMIT_EXCEEDED)
            else:
                self._running_unreserved += 1
            self._running[function] = running + 1

    def release(self, function: str) -> None:
        with self._lock:
            self._running[function] -= 1
            if function not in self._reserved:
                self._running_unreserved -= 1

    def running(self, function: str | None = None) -> int:
        """Invocations holding a slot now: of one function, or of the whole account."""
        with self._lock:
            return self._running.get(function, 0) if function is not None else sum(self._running.values())


_open_pools: weakref.WeakSet[FunctionPool] = weakref.WeakSet()


@atexit.register
def _close_open_pools() -> None:
    for pool in list(_open_pools):
        pool.close()


class FunctionPool:
    """The workers of one function: a concurrency slot per invocation, idle workers reused, stale ones replaced."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        base_environment: Mapping[str, str],
        concurrency: AccountConcurrency | None = None,
        faults: FaultPlan | None = None,
        on_invocation: InvocationListener | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        if concurrency is None:
            reserved = spec.reserved_concurrency
            concurrency = AccountConcurrency(
                NEW_ACCOUNT_CONCURRENCY + (reserved or 0), {} if reserved is None else {spec.name: reserved}
            )
        if concurrency.reservation(spec.name) != spec.reserved_concurrency:
            raise ValueError(f"{spec.name}: the account does not hold the function's reservation")
        self.spec = spec
        self.concurrency = concurrency
        self._base_environment = dict(base_environment)
        self._faults = faults
        self._on_invocation = on_invocation
        self._roots = (spec.code_dir, *spec.layer_dirs)
        self._call = Call(function=(spec.logical_id, spec.name))
        region = self._base_environment.get("AWS_REGION") or self._base_environment.get("AWS_DEFAULT_REGION")
        self.function_arn = f"arn:aws:lambda:{region or DEFAULT_REGION}:{account_id}:function:{spec.name}"
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # the last one used is at the end, and goes first (stays warmest)
        self._busy: set[_Worker] = set()
        self._closed = threading.Event()  # an Event, so that it also cuts short the answers faults hold back
        _open_pools.add(self)

    def invoke(self, event: Any, *, invoked_function_arn: str | None = None) -> InvokeResult:
        """Run the handler on the event in a worker, with the faults of the plan.

        Nothing runs, and nothing waits, when the invocation is refused: TooManyRequestsError when the function's
        reservation or the account's unreserved concurrency is all in use (or a fault throttles it), ServiceError
        when a fault fails Lambda itself.
        """
        request_id = str(uuid.uuid4())
        event_json = json.dumps(event).encode()  # before anything else: an event that is not JSON is the caller's
        if self._closed.is_set():
            raise PoolClosedError(self.spec.name)
        early = self._decide(_FAULTS_BEFORE_RUNNING, request_id)
        if early is not None:
            return self._inject_before_running(early, request_id)
        fingerprint = code_fingerprint(self._roots)
        worker, stale = self._acquire(fingerprint)
        cold = worker is None
        outcome: _Outcome | None = None
        late: Rule | None = None
        try:
            for old in stale:
                old.dispose()
            if worker is None:
                worker = self._start_worker(fingerprint)
            outcome = self._run(worker, cold, request_id, invoked_function_arn or self.function_arn, event_json)
            if outcome.healthy:
                late = self._decide(_FAULTS_AFTER_ANSWER, request_id)
                if late is not None:
                    outcome = self._answer_late(outcome, late)
            logs = worker.take_logs()
        finally:
            self._release(worker, outcome is not None and outcome.healthy)
        return self._report(
            InvokeResult(
                payload=outcome.payload,
                errored=outcome.errored,
                duration_ms=outcome.duration_ms,
                cold=cold,
                request_id=request_id,
                logs=logs,
                init_duration_ms=outcome.init_duration_ms,
                injected=late.label if late is not None else None,
            )
        )

    def close(self) -> None:
        """Kill every worker, the running ones included (their invocations end with Runtime.ExitError)."""
        with self._lock:
            self._closed.set()
            idle, busy = list(self._idle), list(self._busy)
            self._idle.clear()
        for worker in busy:
            worker.terminate()
        for worker in idle:
            worker.dispose()
        _open_pools.discard(self)

    def worker_pids(self) -> list[int]:
        """The processes this pool runs now, idle and busy."""
        with self._lock:
            return [worker.pid for worker in [*self._idle, *self._busy]]

    def _decide(self, faults: tuple[Fault, ...], request_id: str) -> Rule | None:
        if self._faults is None:
            return None
        return self._faults.decide(faults, self._call, f"{self.spec.logical_id} request {request_id}")

    def _inject_before_running(self, rule: Rule, request_id: str) -> InvokeResult:
        if rule.fault is Fault.LAMBDA_THROTTLE:
            raise TooManyRequestsError(self.concurrency.throttle_reason(self.spec.name))
        if rule.fault is Fault.LAMBDA_SERVICE_ERROR:
            raise ServiceError
        # A function error without the function: what callers see when a partner it calls is down.
        error_type = rule.error or "Error"
        message = rule.message or f"{error_type} injected by the fault rule {rule.label}"
        return self._report(
            InvokeResult(
                payload=_error(error_type, message),
                errored=True,
                duration_ms=0.0,
                cold=False,
                request_id=request_id,
                logs="",
                injected=rule.label,
            )
        )

    def _answer_late(self, outcome: _Outcome, rule: Rule) -> _Outcome:
        """Hold the handler's answer back as the rule says (the slot stays taken), or make it a time-out: at the
        function's timeout, or at the rule's `seconds` when a time-out rule gives a shorter one."""
        timeout = self.spec.timeout_seconds
        if rule.fault is Fault.LAMBDA_TIMEOUT_AFTER_EFFECTS and rule.seconds is not None:
            timeout = min(timeout, rule.seconds)
        deadline = outcome.invoked_at + timeout
        if rule.fault is Fault.LAMBDA_SLOW:
            answer_at = time.monotonic() + (rule.seconds or 0.0)
            if answer_at < deadline:
                self._hold_until(answer_at)
                return replace(outcome, duration_ms=(time.monotonic() - outcome.invoked_at) * 1000)
        # The handler's side effects stay done; the caller sees a time-out when the timeout is up, and Lambda
        # resets the environment after a time-out, so the worker goes.
        self._hold_until(deadline)
        return replace(
            outcome,
            payload=_timed_out(timeout),
            errored=True,
            healthy=False,
            duration_ms=(time.monotonic() - outcome.invoked_at) * 1000,
        )

    def _hold_until(self, moment: float) -> None:
        self._closed.wait(max(moment - time.monotonic(), 0.0))

    def _report(self, result: InvokeResult) -> InvokeResult:
        if self._on_invocation is not None:
            self._on_invocation(self.spec, result)
        return result

    def _run(self, worker: _Worker, cold: bool, request_id: str, invoked_arn: str, event_json: bytes) -> _Outcome:
        """Init (on a cold start), then the invocation, with each phase's time limit."""
        timeout = self.spec.timeout_seconds
        init_ms = 0.0
        started = time.monotonic()
        try:
            if cold:
                try:
                    worker.wait_ready(INIT_TIMEOUT_SECONDS)
                except _Deadline:
                    worker.terminate()
                    message = f"Init phase timed out after {INIT_TIMEOUT_SECONDS:.2f} seconds"
                    return _Outcome(_error("Sandbox.Timedout", message), errored=True, healthy=False)
                init_ms = (time.monotonic() - started) * 1000
                started = time.monotonic()
            # The deadline counts from the invocation, after a cold start's init, as in Lambda.
            metadata = {
                "request_id": request_id,
                "invoked_function_arn": invoked_arn,
                "deadline_ms": int((time.time() + timeout) * 1000),
            }
            payload, errored = worker.call(json.dumps(metadata).encode() + b"\n" + event_json, timeout)
            healthy = True
        except _InitFailedError as failure:
            # Lambda resets an environment whose init failed: the next invocation starts cold again.
            payload, errored, healthy = failure.payload, True, False
        except _Deadline:
            worker.terminate()
            payload, errored, healthy = _timed_out(timeout), True, False
        except _Exited:
            payload, errored, healthy = _exit_error(worker.exit_status()), True, False
        duration_ms = (time.monotonic() - started) * 1000
        return _Outcome(payload, errored, healthy, duration_ms, init_ms, invoked_at=started)

    def _acquire(self, fingerprint: object) -> tuple[_Worker | None, list[_Worker]]:
        """Take a slot (or be throttled), and an idle worker still running the code as it is now if there is one."""
        stale: list[_Worker] = []
        with self._lock:
            if self._closed.is_set():
                raise PoolClosedError(self.spec.name)
            self.concurrency.acquire(self.spec.name)
            while self._idle:
                worker = self._idle.pop()
                if worker.fingerprint == fingerprint and worker.alive():
                    self._busy.add(worker)
                    return worker, stale
                stale.append(worker)
            return None, stale

    def _start_worker(self, fingerprint: object) -> _Worker:
        worker = _Worker(self.spec, lambda_environment(self.spec, self._base_environment), fingerprint)
        with self._lock:
            self._busy.add(worker)
            closed = self._closed.is_set()
        if closed:  # close() ran while the process was starting and could not see it
            worker.terminate()
        return worker

    def _release(self, worker: _Worker | None, healthy: bool) -> None:
        with self._lock:
            keep = worker is not None and healthy and not self._closed.is_set()
            if worker is not None:
                self._busy.discard(worker)
                if keep:
                    self._idle.append(worker)
            # After the worker is idle again: the invocation that takes this slot finds it warm.
            self.concurrency.release(self.spec.name)
        if worker is not None and not keep:
            worker.dispose()


def parse_function_name(name_or_arn: str) -> tuple[str, str | None]:
    """(function name, qualifier) from a name, "name:qualifier", an ARN, or a version- or alias-qualified ARN."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        # arn:partition:lambda:region:account:function:name[:qualifier]
        if len(parts) not in (7, 8) or parts[2] != "lambda" or parts[5] != "function":
            raise FunctionNotFoundError(name_or_arn)
        return parts[6], parts[7] if len(parts) == 8 else None
    name, _, qualifier = name_or_arn.partition(":")
    return name, qualifier or None


class Runtime:
    """Every function of the stack, by name or ARN: one pool each, all sharing the account's concurrency."""

    def __init__(
        self,
        specs: Iterable[FunctionSpec],
        *,
        base_environment: Mapping[str, str],
        account_concurrency: int,
        faults: FaultPlan | None = None,
        on_invocation: InvocationListener | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> None:
        specs = list(specs)
        names = [spec.name for spec in specs]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two functions are named {name}")
        self.concurrency = AccountConcurrency(
            account_concurrency,
            {spec.name: spec.reserved_concurrency for spec in specs if spec.reserved_concurrency is not None},
        )
        self._pools = {
            spec.name: FunctionPool(
                spec,
                base_environment=base_environment,
                concurrency=self.concurrency,
                faults=faults,
                on_invocation=on_invocation,
                account_id=account_id,
            )
            for spec in specs
        }

    def invoke(self, name_or_arn: str, event: Any) -> InvokeResult:
        """Invoke synchronously; raises TooManyRequestsError or ServiceError as FunctionPool.invoke does."""
        pool = self._pool(name_or_arn)
        _, qualifier = parse_function_name(name_or_arn)
        if name_or_arn.startswith("arn:"):
            invoked_arn = name_or_arn
        else:
            invoked_arn = pool.function_arn + (f":{qualifier}" if qualifier else "")
        return pool.invoke(event, invoked_function_arn=invoked_arn)

    def spec(self, name_or_arn: str) -> FunctionSpec:
        return self._pool(name_or_arn).spec

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()

    def _pool(self, name_or_arn: str) -> FunctionPool:
        name, _ = parse_function_name(name_or_arn)
        try:
            return self._pools[name]
        except KeyError:
            raise FunctionNotFoundError(name_or_arn) from None

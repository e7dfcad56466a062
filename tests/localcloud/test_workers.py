"""Lambda functions in worker processes (localcloud.workers): isolation, context, limits, errors, reloads,
concurrency (reservations, throttles) and the faults of the plan.

Each test writes a throwaway function into tmp_path; one runs the real catalog API's health check.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from localcloud import workers
from localcloud.faults import Fault, FaultPlan, Rule
from localcloud.workers import (
    FunctionNotFoundError,
    FunctionPool,
    FunctionSpec,
    InvokeResult,
    PoolClosedError,
    Runtime,
    ServiceError,
    TooManyRequestsError,
)

ROOT = Path(__file__).resolve().parents[2]
BASE_ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "base-key",
    "AWS_SECRET_ACCESS_KEY": "base-secret",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:5999",
}

WriteFunction = Callable[..., FunctionSpec]
StartPool = Callable[..., FunctionPool]


@pytest.fixture
def write_function(tmp_path: Path) -> WriteFunction:
    """A function folder with app.py (and any other files) in tmp_path, and its spec."""

    def write(
        source: str,
        *,
        name: str = "echo",
        timeout: float = 3.0,
        environment: Mapping[str, str] | None = None,
        layer_dirs: tuple[Path, ...] = (),
        memory_mb: int = 128,
        reserved: int | None = None,
    ) -> FunctionSpec:
        code_dir = tmp_path / name
        code_dir.mkdir()
        (code_dir / "app.py").write_text(dedent(source))
        return FunctionSpec(
            logical_id=f"{name.title()}Function",
            name=name,
            code_dir=code_dir,
            handler="app.lambda_handler",
            layer_dirs=layer_dirs,
            environment=dict(environment or {}),
            timeout_seconds=timeout,
            memory_mb=memory_mb,
            reserved_concurrency=reserved,
        )

    return write


@pytest.fixture
def start_pool() -> Iterator[StartPool]:
    pools: list[FunctionPool] = []

    def start(spec: FunctionSpec, **options: Any) -> FunctionPool:
        pool = FunctionPool(spec, base_environment=BASE_ENVIRONMENT, **options)
        pools.append(pool)
        return pool

    yield start
    for pool in pools:
        pool.close()


@pytest.fixture
def start_runtime() -> Iterator[Callable[..., Runtime]]:
    runtimes: list[Runtime] = []

    def start(*specs: FunctionSpec, **options: Any) -> Runtime:
        options.setdefault("account_concurrency", 10)
        runtime = Runtime(specs, base_environment=BASE_ENVIRONMENT, **options)
        runtimes.append(runtime)
        return runtime

    yield start
    for runtime in runtimes:
        runtime.close()


def answer(result: InvokeResult) -> Any:
    return json.loads(result.payload)


def process_exists(pid: int) -> bool:
    """Running or not yet reaped; a zombie whose parent is gone counts as gone (containers may not reap)."""
    if Path("/proc/self/stat").exists():
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        return state != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until_gone(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while process_exists(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


ECHO = """
    import os
    from decimal import Decimal

    def lambda_handler(event, context):
        return {"event": event, "pid": os.getpid(), "price": Decimal("12.50")}
"""

PID = """
    import os
    import time

    def lambda_handler(event, context):
        time.sleep(event.get("sleep", 0))
        return os.getpid()
"""


# --- Calling the handler ---------------------------------------------------------------------------------


def test_the_event_goes_in_and_the_return_value_comes_back_as_json(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(write_function(ECHO))

    result = pool.invoke({"orderId": "o-1", "lines": [1, 2]})

    assert not result.errored
    body = answer(result)
    assert body["event"] == {"orderId": "o-1", "lines": [1, 2]}
    assert body["price"] == 12.5  # Decimal (DynamoDB's numbers) serialised as Lambda does
    assert body["pid"] != os.getpid()


def test_the_handler_module_is_imported_once_per_process_and_reused_warm(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(
        write_function("""
            import os

            imports = int(os.environ.get("IMPORTS", "0")) + 1
            os.environ["IMPORTS"] = str(imports)
            calls = 0

            def lambda_handler(event, context):
                global calls
                calls += 1
                return {"pid": os.getpid(), "imports": imports, "calls": calls}
        """)
    )

    first, second = pool.invoke({}), pool.invoke({})

    assert (first.cold, second.cold) == (True, False)
    assert answer(second) == {"pid": answer(first)["pid"], "imports": 1, "calls": 2}
    assert first.init_duration_ms > 0
    assert second.init_duration_ms == 0


def test_a_function_with_its_own_log_group_sees_that_group_in_its_environment_and_context(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    spec = write_function(
        """
        import os

        def lambda_handler(event, context):
            return [os.environ["AWS_LAMBDA_LOG_GROUP_NAME"], context.log_group_name]
        """,
        name="orders",
    )

    logged_to = answer(start_pool(replace(spec, log_group="/aws/lambda/shop/OrdersApiFunction")).invoke({}))

    assert logged_to == ["/aws/lambda/shop/OrdersApiFunction"] * 2


def test_the_worker_sees_the_base_then_function_then_lambda_variables_and_nothing_of_the_parent(
    write_function: WriteFunction, start_pool: StartPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALCLOUD_PARENT_ONLY", "must not leak")
    spec = write_function(
        """
        import os

        def lambda_handler(event, context):
            return dict(os.environ)
        """,
        name="orders",
        memory_mb=512,
        environment={
            "ORDERS_TABLE_NAME": "orders-local",
            "AWS_ENDPOINT_URL": "http://function-endpoint",
            "AWS_LAMBDA_FUNCTION_NAME": "reserved-by-lambda",
        },
    )

    environment = answer(start_pool(spec).invoke({}))

    assert environment["AWS_SECRET_ACCESS_KEY"] == "base-secret"
    assert environment["ORDERS_TABLE_NAME"] == "orders-local"
    assert environment["AWS_ENDPOINT_URL"] == "http://function-endpoint"
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == "orders"
    assert environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert environment["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert environment["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/orders"
    assert "[$LATEST]" in environment["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert environment["LAMBDA_TASK_ROOT"] == str(spec.code_dir)
    assert environment["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert environment["_HANDLER"] == "app.lambda_handler"
    assert environment["AWS_REGION"] == "us-east-1"
    assert "LOCALCLOUD_PARENT_ONLY" not in environment
    assert environment["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull  # never the developer's real profile


def test_the_code_directory_then_the_layers_come_first_on_sys_path(
    write_function: WriteFunction, start_pool: StartPool, tmp_path: Path
) -> None:
    layer = tmp_path / "layer"
    (layer / "shopkit").mkdir(parents=True)
    (layer / "shopkit" / "__init__.py").write_text("NAME = 'from the layer'\n")
    spec = write_function(
        """
        import os
        import sys

        import shopkit

        def lambda_handler(event, context):
            return {
                "path": sys.path[:2],
                "cwd": os.getcwd(),
                "layer": shopkit.NAME,
                "localcloud": sorted(name for name in sys.modules if name.startswith("localcloud")),
            }
        """,
        layer_dirs=(layer,),
    )

    seen = answer(start_pool(spec).invoke({}))

    assert seen == {
        "path": [str(spec.code_dir), str(layer)],
        "cwd": str(spec.code_dir),
        "layer": "from the layer",
        "localcloud": [],
    }


def test_two_functions_whose_modules_are_both_named_app_do_not_collide(
    write_function: WriteFunction, start_runtime: Callable[..., Runtime]
) -> None:
    orders = write_function("def lambda_handler(event, context):\n    return 'orders'\n", name="orders")
    carts = write_function("def lambda_handler(event, context):\n    return 'carts'\n", name="carts")
    runtime = start_runtime(orders, carts)

    assert [answer(runtime.invoke(name, {})) for name in ("orders", "carts", "orders")] == ["orders", "carts", "orders"]


# --- The context ------------------------------------------------------------------------------------------

CONTEXT = """
    import time

    def lambda_handler(event, context):
        first = context.get_remaining_time_in_millis()
        time.sleep(0.05)
        return {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": [first, context.get_remaining_time_in_millis()],
        }
"""


def test_the_handler_gets_a_lambda_context_whose_remaining_time_counts_down_from_the_timeout(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(write_function(CONTEXT, name="payments", timeout=3.0, memory_mb=256))

    result = pool.invoke({})

    context = answer(result)
    assert context["aws_request_id"] == result.request_id
    assert uuid.UUID(context["aws_request_id"])
    assert context["function_name"] == "payments"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:payments"
    assert context["memory_limit_in_mb"] == "256"  # a string in Lambda's runtime too
    assert context["log_group_name"] == "/aws/lambda/payments"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", context["log_stream_name"])
    first, second = context["remaining"]
    assert 2500 < first <= 3000
    assert second <= first - 40


def test_each_invocation_gets_its_own_request_id(write_function: WriteFunction, start_pool: StartPool) -> None:
    pool = start_pool(write_function(CONTEXT))

    ids = {answer(pool.invoke({}))["aws_request_id"] for _ in range(3)}

    assert len(ids) == 3


# --- Errors -----------------------------------------------------------------------------------------------


def test_an_exception_in_the_handler_is_reported_under_its_class_name_and_the_worker_stays_warm(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(
        write_function("""
            import os

            class PaymentDeclined(Exception):
                pass

            def lambda_handler(event, context):
                if event.get("decline"):
                    raise PaymentDeclined("card ending 4242 was declined")
                return os.getpid()
        """)
    )
    pid = answer(pool.invoke({}))

    result = pool.invoke({"decline": True})

    assert result.errored
    error = answer(result)
    assert error["errorType"] == "PaymentDeclined"
    assert error["errorMessage"] == "card ending 4242 was declined"
    assert error["requestId"] == result.request_id
    assert "app.py" in error["stackTrace"][-1]
    assert 'raise PaymentDeclined("card ending 4242 was declined")' in error["stackTrace"][-1]
    assert not any("worker_main" in frame for frame in error["stackTrace"])
    assert "[ERROR] PaymentDeclined: card ending 4242 was declined" in result.logs
    after = pool.invoke({})
    assert (after.cold, answer(after)) == (False, pid)


def test_a_return_value_that_is_not_json_is_a_marshal_error(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(write_function("def lambda_handler(event, context):\n    return {1, 2}\n"))

    result = pool.invoke({})

    assert result.errored
    assert answer(result)["errorType"] == "Runtime.MarshalError"
    assert answer(result)["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"


def test_a_handler_timed_out_is_reported_as_lambda_does(write_function: WriteFunction, start_pool: StartPool) -> None:
    pool = start_pool(write_function(PID, timeout=0.5))

    started = time.monotonic()
    result = pool.invoke({"sleep": 5})

    assert result.errored
    assert answer(result) == {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 0.50 seconds"}
    assert 0.5 <= time.monotonic() - started < 1.5
    assert 500 <= result.duration_ms < 1500


def test_a_timed_out_worker_is_killed_with_what_it_started_and_the_next_call_starts_cold(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(
        write_function(
            """
            import os
            import subprocess
            import sys
            import time

            def lambda_handler(event, context):
                if event.get("hang"):
                    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
                    print(f"helper {helper.pid}")
                    time.sleep(60)
                return os.getpid()
            """,
            timeout=0.5,
        )
    )
    worker_pid = answer(pool.invoke({}))

    timed_out = pool.invoke({"hang": True})

    helper_pid = int(timed_out.logs.split("helper ", 1)[1].split()[0])  # the logs before the kill are kept
    assert wait_until_gone(worker_pid)
    assert wait_until_gone(helper_pid)
    after = pool.invoke({})
    assert not after.errored
    assert after.cold
    assert answer(after) != worker_pid


def test_a_worker_that_exits_is_an_exit_error_that_spares_other_functions_and_later_calls(
    write_function: WriteFunction, start_runtime: Callable[..., Runtime]
) -> None:
    crasher = write_function(
        """
        import os

        def lambda_handler(event, context):
            if event.get("crash"):
                os._exit(3)
            return os.getpid()
        """,
        name="crasher",
    )
    runtime = start_runtime(crasher, write_function(PID, name="steady"))
    steady_pid = answer(runtime.invoke("steady", {}))

    crashed = runtime.invoke("crasher", {"crash": True})

    assert crashed.errored
    assert answer(crashed) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "Runtime exited with error: exit status 3",
    }
    steady = runtime.invoke("steady", {})
    assert (steady.cold, answer(steady)) == (False, steady_pid)
    again = runtime.invoke("crasher", {})
    assert not again.errored
    assert again.cold


def test_a_worker_that_exits_leaving_a_process_behind_is_reported_at_once_and_the_process_killed(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(
        write_function(
            """
            import os
            import subprocess
            import sys

            def lambda_handler(event, context):
                # close_fds=False: the helper inherits every descriptor this process may pass on.
                helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], close_fds=False)
                print(f"helper {helper.pid}")
                os._exit(1)
            """,
            timeout=10,
        )
    )

    result = pool.invoke({})

    assert answer(result)["errorMessage"] == "Runtime exited with error: exit status 1"
    assert result.duration_ms < 3000  # not left waiting for the timeout on a pipe the helper holds open
    assert wait_until_gone(int(result.logs.split("helper ", 1)[1].split()[0]))


def test_a_segmentation_fault_is_an_exit_error_naming_the_signal(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(
        write_function("""
            import ctypes

            def lambda_handler(event, context):
                return ctypes.string_at(0)
        """)
    )

    result = pool.invoke({})

    assert result.errored
    assert answer(result) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "Runtime exited with error: signal: segmentation fault",
    }


def test_an_import_failure_is_an_import_module_error_and_every_call_retries_the_init(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(
        write_function("""
            import nonexistent_dependency_for_this_test

            def lambda_handler(event, context):
                return "never"
        """)
    )

    first, second = pool.invoke({}), pool.invoke({})

    assert first.errored
    error = answer(first)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == (
        "Unable to import module 'app': No module named 'nonexistent_dependency_for_this_test'"
    )
    assert "[ERROR] Runtime.ImportModuleError" in first.logs
    assert (second.errored, second.cold) == (True, True)
    assert pool.worker_pids() == []


def test_an_exception_during_init_is_reported_under_its_class_name(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(
        write_function("""
            class MissingSetting(Exception):
                pass

            raise MissingSetting("CATALOG_TABLE_NAME is not set")
        """)
    )

    result = pool.invoke({})

    assert result.errored
    assert answer(result)["errorType"] == "MissingSetting"
    assert answer(result)["errorMessage"] == "CATALOG_TABLE_NAME is not set"


def test_a_missing_handler_function_is_a_handler_not_found_error(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(write_function("def handler(event, context):\n    return 1\n"))

    result = pool.invoke({})

    assert answer(result)["errorType"] == "Runtime.HandlerNotFound"
    assert answer(result)["errorMessage"] == "Handler 'lambda_handler' missing on module 'app'"


def test_an_init_that_never_ends_times_out(
    write_function: WriteFunction, start_pool: StartPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "INIT_TIMEOUT_SECONDS", 0.3)
    pool = start_pool(write_function("import time\ntime.sleep(60)\n"))

    result = pool.invoke({})

    assert result.errored
    assert answer(result) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "Init phase timed out after 0.30 seconds",
    }
    assert pool.worker_pids() == []


# --- Logs -------------------------------------------------------------------------------------------------

NOISY = """
    import os
    import sys

    def lambda_handler(event, context):
        print("start of", event["n"])
        sys.stdout.write("x" * event["size"] + "\\n")
        os.write(1, b"\\x00\\x00\\x00\\x05Rjunk\\n")  # raw bytes on the descriptor, as C code would write them
        print("on stderr", event["n"], file=sys.stderr)
        print("end of", event["n"])
        return {"n": event["n"]}
"""


def test_what_the_handler_prints_is_its_invocation_log_and_never_corrupts_the_answer(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(write_function(NOISY))

    result = pool.invoke({"n": 1, "size": 10})

    assert answer(result) == {"n": 1}
    assert result.logs.startswith("start of 1\n")
    assert "on stderr 1\n" in result.logs
    assert result.logs.endswith("end of 1\n")


def test_a_flood_of_output_is_truncated_to_its_end_and_the_next_invocation_has_its_own_log(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(write_function(NOISY))

    flood = pool.invoke({"n": 1, "size": 2 * workers.LOG_LIMIT_BYTES})
    quiet = pool.invoke({"n": 2, "size": 10})

    assert answer(flood) == {"n": 1}
    assert flood.logs.startswith("[")
    assert "bytes of earlier output left out]" in flood.logs
    assert "start of 1" not in flood.logs
    assert flood.logs.endswith("end of 1\n")
    assert len(flood.logs.encode()) < workers.LOG_LIMIT_BYTES + 100
    assert quiet.logs.startswith("start of 2\n")
    assert "of 1" not in quiet.logs


# --- Concurrency ------------------------------------------------------------------------------------------


GATED = """
    import os
    import pathlib
    import time

    def lambda_handler(event, context):
        gate = pathlib.Path(event["gate"])
        (gate.parent / f"running-{context.aws_request_id}").write_text("")
        while not gate.exists():
            time.sleep(0.01)
        return os.getpid()
"""


class Gate:
    """Invocations of GATED hold their slot until the gate opens; each marks its start in the gate's folder."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.directory = directory
        self.event = {"gate": str(directory / "open")}

    def running(self) -> int:
        return len(list(self.directory.glob("running-*")))

    def wait_running(self, count: int, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while self.running() < count:
            assert time.monotonic() < deadline, f"{self.running()} of {count} invocations started"
            time.sleep(0.01)

    def open(self) -> None:
        (self.directory / "open").write_text("")


def throttled_at_once(invoke: Callable[[], object]) -> TooManyRequestsError:
    started = time.monotonic()
    with pytest.raises(TooManyRequestsError) as refused:
        invoke()
    assert time.monotonic() - started < 0.5  # refused, not queued
    return refused.value


def test_concurrent_invocations_run_side_by_side_in_separate_processes_that_are_then_reused(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(write_function(PID))

    with ThreadPoolExecutor(4) as executor:
        started = time.monotonic()
        first_round = list(executor.map(pool.invoke, [{"sleep": 0.8}] * 4))
        elapsed = time.monotonic() - started
        second_round = list(executor.map(pool.invoke, [{"sleep": 0.3}] * 4))

    assert elapsed < 1.6  # one after another would take 3.2 s
    first_pids = {answer(result) for result in first_round}
    assert len(first_pids) == 4
    assert all(not result.cold for result in second_round)
    assert {answer(result) for result in second_round} == first_pids


def test_a_function_with_a_reservation_runs_that_many_at_once_and_the_next_is_throttled_at_once(
    write_function: WriteFunction, start_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime = start_runtime(write_function(GATED, name="payments", reserved=2), account_concurrency=10)
    gate = Gate(tmp_path / "gate")

    with ThreadPoolExecutor(2) as executor:
        running = [executor.submit(runtime.invoke, "payments", gate.event) for _ in range(2)]
        gate.wait_running(2)
        refused = throttled_at_once(lambda: runtime.invoke("payments", gate.event))
        gate.open()
        results = [future.result() for future in running]

    assert refused.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert gate.running() == 2  # the throttled invocation never reached the handler
    assert not any(result.errored for result in results)
    assert not runtime.invoke("payments", gate.event).errored  # the slots are free again
    assert runtime.concurrency.running() == 0


def test_a_reservation_of_zero_throttles_every_invocation_and_starts_no_worker(
    write_function: WriteFunction, start_pool: StartPool, tmp_path: Path
) -> None:
    pool = start_pool(write_function(GATED, reserved=0))
    gate = Gate(tmp_path / "gate")
    gate.open()

    refusals = [throttled_at_once(lambda: pool.invoke(gate.event)) for _ in range(3)]

    assert {refused.reason for refused in refusals} == {"ReservedFunctionConcurrentInvocationLimitExceeded"}
    assert gate.running() == 0
    assert pool.worker_pids() == []


def test_functions_without_a_reservation_share_what_the_account_has_left_and_a_reserved_one_keeps_its_own(
    write_function: WriteFunction, start_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime = start_runtime(
        write_function(GATED, name="orders"),
        write_function(GATED, name="carts"),
        write_function(GATED, name="payments", reserved=2),
        account_concurrency=4,  # 2 reserved for payments, 2 shared by orders and carts
    )
    gate, open_gate = Gate(tmp_path / "gate"), Gate(tmp_path / "open-gate")
    open_gate.open()

    with ThreadPoolExecutor(2) as executor:
        running = [executor.submit(runtime.invoke, name, gate.event) for name in ("orders", "carts")]
        gate.wait_running(2)
        refusals = [throttled_at_once(partial(runtime.invoke, name, open_gate.event)) for name in ("orders", "carts")]
        reserved = runtime.invoke("payments", open_gate.event)
        gate.open()
        results = [future.result() for future in running]

    assert {refused.reason for refused in refusals} == {"ConcurrentInvocationLimitExceeded"}
    assert not reserved.errored
    assert not any(result.errored for result in results)
    assert open_gate.running() == 1  # only payments ran while the shared pool was full


def test_reservations_that_leave_the_account_nothing_unreserved_are_refused(
    write_function: WriteFunction, start_runtime: Callable[..., Runtime]
) -> None:
    payments = write_function(PID, name="payments", reserved=6)
    refunds = write_function(PID, name="refunds", reserved=4)

    with pytest.raises(ValueError, match=r"decreases account's UnreservedConcurrentExecution below its minimum"):
        start_runtime(payments, refunds, write_function(PID, name="orders"), account_concurrency=10)
    assert start_runtime(payments, refunds, account_concurrency=11).concurrency.unreserved == 1


# --- Faults from the plan ---------------------------------------------------------------------------------

COUNTED = """
    import os
    import pathlib

    def lambda_handler(event, context):
        with open(event["ran"], "a") as ran:
            ran.write(f"{os.getpid()}\\n")
        return os.getpid()
"""


def runs(path: Path) -> list[int]:
    """The pids of the handler's runs, one line each (COUNTED writes them)."""
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def plan_of(*rules: Rule) -> FaultPlan:
    plan = FaultPlan(seed=7)
    plan.add(rules)
    return plan


def test_a_throttle_fault_refuses_the_nth_invocation_before_the_handler_runs(
    write_function: WriteFunction, start_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    rule = Rule(Fault.LAMBDA_THROTTLE, function="EchoFunction", nth=2)
    plan = plan_of(rule)
    runtime = start_runtime(write_function(COUNTED), faults=plan)
    event = {"ran": str(tmp_path / "ran")}

    first = runtime.invoke("echo", event)
    refused = throttled_at_once(lambda: runtime.invoke("echo", event))
    third = runtime.invoke("echo", event)

    assert refused.reason == "ConcurrentInvocationLimitExceeded"
    assert (first.errored, third.errored) == (False, False)
    assert len(runs(tmp_path / "ran")) == 2
    assert plan.counts() == {rule.label: 1}


def test_service_error_faults_drawn_with_a_probability_fail_before_the_handler_runs(
    write_function: WriteFunction, start_pool: StartPool, tmp_path: Path
) -> None:
    rule = Rule(Fault.LAMBDA_SERVICE_ERROR, function="echo", probability=0.5)
    plan = plan_of(rule)
    pool = start_pool(write_function(COUNTED), faults=plan)
    event = {"ran": str(tmp_path / "ran")}
    failed = 0

    for _ in range(20):
        try:
            pool.invoke(event)
        except ServiceError:
            failed += 1

    assert 0 < failed < 20
    assert plan.counts() == {rule.label: failed}
    assert len(runs(tmp_path / "ran")) == 20 - failed


def test_an_error_fault_is_a_function_error_whose_handler_never_ran(
    write_function: WriteFunction, start_pool: StartPool, tmp_path: Path
) -> None:
    rule = Rule(Fault.LAMBDA_ERROR, function="echo", nth=1, error="CarrierUnavailable", message="the carrier is down")
    seen: list[InvokeResult] = []
    pool = start_pool(
        write_function(COUNTED), faults=plan_of(rule), on_invocation=lambda spec, result: seen.append(result)
    )
    event = {"ran": str(tmp_path / "ran")}

    failed = pool.invoke(event)
    after = pool.invoke(event)

    assert failed.errored
    assert answer(failed) == {"errorType": "CarrierUnavailable", "errorMessage": "the carrier is down"}
    assert failed.injected == rule.label
    assert runs(tmp_path / "ran") == [answer(after)]
    assert (after.errored, after.injected) == (False, None)
    assert seen == [failed, after]


def test_an_error_fault_without_a_message_names_its_rule(write_function: WriteFunction, start_pool: StartPool) -> None:
    rule = Rule(Fault.LAMBDA_ERROR, name="carrier outage", error="CarrierUnavailable")
    pool = start_pool(write_function(PID), faults=plan_of(rule))

    error = answer(pool.invoke({}))

    assert error["errorType"] == "CarrierUnavailable"
    assert "carrier outage" in error["errorMessage"]


def test_a_timeout_after_effects_fault_lets_the_handler_finish_then_times_out_when_the_timeout_is_up(
    write_function: WriteFunction, start_pool: StartPool, tmp_path: Path
) -> None:
    rule = Rule(Fault.LAMBDA_TIMEOUT_AFTER_EFFECTS, function="echo", nth=2)
    pool = start_pool(write_function(COUNTED, timeout=1.0), faults=plan_of(rule))
    event = {"ran": str(tmp_path / "ran")}
    worker_pid = answer(pool.invoke(event))  # warm: the time-out counts from the invocation, not the cold start

    started = time.monotonic()
    timed_out = pool.invoke(event)
    elapsed = time.monotonic() - started

    assert runs(tmp_path / "ran") == [worker_pid, worker_pid]  # the handler ran to the end: its effects happened
    assert timed_out.errored
    assert answer(timed_out) == {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 1.00 seconds"}
    assert 1.0 <= elapsed < 1.6
    assert timed_out.duration_ms >= 1000
    assert timed_out.injected == rule.label
    assert wait_until_gone(worker_pid)  # Lambda resets the environment after a time-out
    assert pool.invoke(event).cold


@pytest.mark.parametrize(("seconds", "reported"), [(0.3, 0.3), (5, 1.0)], ids=["shorter", "longer"])
def test_a_timeout_fault_with_seconds_times_out_as_if_the_timeout_were_that_long_when_shorter(
    write_function: WriteFunction, start_pool: StartPool, tmp_path: Path, seconds: float, reported: float
) -> None:
    rule = Rule(Fault.LAMBDA_TIMEOUT_AFTER_EFFECTS, function="echo", nth=2, seconds=seconds)
    pool = start_pool(write_function(COUNTED, timeout=1.0), faults=plan_of(rule))
    event = {"ran": str(tmp_path / "ran")}
    pool.invoke(event)  # warm

    started = time.monotonic()
    timed_out = pool.invoke(event)
    elapsed = time.monotonic() - started

    assert len(runs(tmp_path / "ran")) == 2  # the handler ran to the end: its effects happened
    # As if the function's timeout were the rule's seconds, never longer than its own (1 s).
    assert answer(timed_out) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"Task timed out after {reported:.2f} seconds",
    }
    assert reported <= elapsed < reported + 0.6


def test_a_slow_fault_within_the_timeout_holds_the_answer_back_and_keeps_the_worker(
    write_function: WriteFunction, start_pool: StartPool, tmp_path: Path
) -> None:
    rule = Rule(Fault.LAMBDA_SLOW, function="echo", nth=2, seconds=0.5)
    pool = start_pool(write_function(COUNTED, timeout=3.0), faults=plan_of(rule))
    event = {"ran": str(tmp_path / "ran")}
    worker_pid = answer(pool.invoke(event))

    started = time.monotonic()
    slow = pool.invoke(event)
    elapsed = time.monotonic() - started
    after = pool.invoke(event)

    assert (slow.errored, answer(slow), slow.injected) == (False, worker_pid, rule.label)
    assert 0.5 <= elapsed < 1.2
    assert slow.duration_ms >= 500
    assert (after.cold, answer(after)) == (False, worker_pid)


def test_a_slow_fault_that_outlasts_the_timeout_is_a_time_out_at_the_timeout(
    write_function: WriteFunction, start_pool: StartPool, tmp_path: Path
) -> None:
    rule = Rule(Fault.LAMBDA_SLOW, function="echo", nth=2, seconds=5)
    pool = start_pool(write_function(COUNTED, timeout=0.5), faults=plan_of(rule))
    event = {"ran": str(tmp_path / "ran")}
    worker_pid = answer(pool.invoke(event))

    started = time.monotonic()
    slow = pool.invoke(event)
    elapsed = time.monotonic() - started

    assert answer(slow) == {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 0.50 seconds"}
    assert 0.5 <= elapsed < 1.1  # at the timeout, not after the 5 s the rule asked for
    assert len(runs(tmp_path / "ran")) == 2
    assert wait_until_gone(worker_pid)
    assert pool.invoke(event).cold


def test_an_answer_held_back_by_a_fault_keeps_its_concurrency_slot(
    write_function: WriteFunction, start_pool: StartPool, tmp_path: Path
) -> None:
    rule = Rule(Fault.LAMBDA_SLOW, function="echo", nth=2, seconds=1.0)
    pool = start_pool(write_function(COUNTED, reserved=1), faults=plan_of(rule))
    ran = tmp_path / "ran"
    pool.invoke({"ran": str(ran)})

    with ThreadPoolExecutor(1) as executor:
        slow = executor.submit(pool.invoke, {"ran": str(ran)})
        deadline = time.monotonic() + 5
        while len(runs(ran)) < 2 and time.monotonic() < deadline:  # the handler has answered; the answer is held
            time.sleep(0.01)
        refused = throttled_at_once(lambda: pool.invoke({"ran": str(ran)}))
        assert not slow.result().errored

    assert refused.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert len(runs(ran)) == 2
    assert pool.concurrency.running() == 0


# --- Code reload ------------------------------------------------------------------------------------------


def test_an_edited_handler_takes_effect_on_the_next_invocation_with_a_cold_start(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    spec = write_function("def lambda_handler(event, context):\n    return 'version 1'\n")
    pool = start_pool(spec)
    before = pool.invoke({})

    # The same size, within the same second: a .pyc check (mtime in seconds, and size) would miss it.
    (spec.code_dir / "app.py").write_text("def lambda_handler(event, context):\n    return 'version 2'\n")
    after = pool.invoke({})

    assert (answer(before), answer(after)) == ("version 1", "version 2")
    assert after.cold
    assert not (spec.code_dir / "__pycache__").exists()  # nothing written next to the function's code


def test_an_edited_layer_module_takes_effect_on_the_next_invocation(
    write_function: WriteFunction, start_pool: StartPool, tmp_path: Path
) -> None:
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "greeting.py").write_text("WORD = 'hello'\n")
    spec = write_function(
        "import greeting\n\ndef lambda_handler(event, context):\n    return greeting.WORD\n", layer_dirs=(layer,)
    )
    pool = start_pool(spec)
    before = pool.invoke({})

    (layer / "greeting.py").write_text("WORD = 'howdy'\n")
    after = pool.invoke({})

    assert (answer(before), answer(after), after.cold) == ("hello", "howdy", True)


def test_unchanged_code_keeps_the_worker_warm(write_function: WriteFunction, start_pool: StartPool) -> None:
    spec = write_function(PID)
    (spec.code_dir / "notes.txt").write_text("not python")
    pool = start_pool(spec)
    first = pool.invoke({})

    (spec.code_dir / "notes.txt").write_text("still not python, and not code")
    second = pool.invoke({})

    assert (second.cold, answer(second)) == (False, answer(first))


# --- No strays --------------------------------------------------------------------------------------------


def test_close_kills_every_worker_and_refuses_further_invocations(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(write_function(PID))
    with ThreadPoolExecutor(2) as executor:
        pids = {answer(result) for result in executor.map(pool.invoke, [{"sleep": 0.2}] * 2)}
    assert sorted(pool.worker_pids()) == sorted(pids)

    pool.close()

    assert not any(process_exists(pid) for pid in pids)
    with pytest.raises(PoolClosedError):
        pool.invoke({})


def test_close_ends_a_running_invocation_with_an_exit_error(
    write_function: WriteFunction, start_pool: StartPool
) -> None:
    pool = start_pool(write_function(PID, timeout=60))
    results: list[InvokeResult] = []
    invocation = threading.Thread(target=lambda: results.append(pool.invoke({"sleep": 60})))
    invocation.start()
    deadline = time.monotonic() + 5
    while not pool.worker_pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    (pid,) = pool.worker_pids()

    pool.close()
    invocation.join(timeout=5)

    assert not process_exists(pid)
    assert answer(results[0])["errorType"] == "Runtime.ExitError"


ABANDONED_POOL = """
import sys, threading, time
from pathlib import Path
from localcloud.workers import FunctionPool, FunctionSpec

code_dir, marker = Path(sys.argv[1]), Path(sys.argv[2])
pool = FunctionPool(FunctionSpec("F", "f", code_dir, "app.lambda_handler", (), {}, 60.0), base_environment={})
threading.Thread(target=pool.invoke, args=({"marker": str(marker)},), daemon=True).start()
while not marker.exists():
    time.sleep(0.01)
print(pool.worker_pids()[0])
"""


def test_workers_are_killed_at_exit_even_when_nobody_closed_their_pool(write_function: WriteFunction) -> None:
    spec = write_function("""
        import pathlib
        import time

        def lambda_handler(event, context):
            pathlib.Path(event["marker"]).write_text("busy")
            time.sleep(60)
    """)
    marker = spec.code_dir.parent / "marker"

    finished = subprocess.run(  # noqa: S603
        [sys.executable, "-c", ABANDONED_POOL, str(spec.code_dir), str(marker)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )

    assert wait_until_gone(int(finished.stdout))


# --- Runtime: every function by name or ARN ---------------------------------------------------------------


def test_the_runtime_finds_a_function_by_name_arn_or_qualified_arn(
    write_function: WriteFunction, start_runtime: Callable[..., Runtime]
) -> None:
    spec = write_function(CONTEXT, name="payments")
    runtime = start_runtime(spec)
    arn = "arn:aws:lambda:us-east-1:123456789012:function:payments"

    invoked = {
        name: answer(runtime.invoke(name, {}))["invoked_function_arn"]
        for name in ("payments", arn, f"{arn}:live", "payments:live")
    }

    assert invoked == {"payments": arn, arn: arn, f"{arn}:live": f"{arn}:live", "payments:live": f"{arn}:live"}
    assert runtime.spec(f"{arn}:live") is spec
    with pytest.raises(FunctionNotFoundError):
        runtime.invoke("arn:aws:lambda:us-east-1:123456789012:function:unknown", {})


def test_every_invocation_is_reported_to_the_listener(
    write_function: WriteFunction, start_runtime: Callable[..., Runtime]
) -> None:
    spec = write_function(PID)
    seen: list[tuple[FunctionSpec, InvokeResult]] = []
    runtime = start_runtime(spec, on_invocation=lambda spec, result: seen.append((spec, result)))

    result = runtime.invoke(spec.name, {})

    assert seen == [(spec, result)]


# --- The real catalog API ---------------------------------------------------------------------------------


def test_the_catalog_health_check_answers_200_cold_then_warm(start_pool: StartPool) -> None:
    event = json.loads((ROOT / "events" / "catalog_api.json").read_text())
    event.update(path="/health", resource="/health", queryStringParameters=None, multiValueQueryStringParameters=None)
    event["requestContext"].update(path="/api/health", resourcePath="/health")
    spec = FunctionSpec(
        logical_id="CatalogApiFunction",
        name="catalog-api",
        code_dir=ROOT / "functions" / "catalog_api",
        handler="app.lambda_handler",
        layer_dirs=(ROOT / "layers" / "shop",),
        environment={
            "CATALOG_TABLE_NAME": "local-catalog",  # the settings want three characters at least
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "OrderFulfillment",
            "POWERTOOLS_SERVICE_NAME": "catalog",
        },
        timeout_seconds=10,
        memory_mb=512,
    )
    pool = start_pool(spec)

    cold, warm = pool.invoke(event), pool.invoke(event)

    for result in (cold, warm):
        assert not result.errored, result.payload
        response = answer(result)
        assert response["statusCode"] == 200
        assert json.loads(response["body"]) == {"status": "ok"}
    assert (cold.cold, warm.cold) == (True, False)

"""Cold-start init time of every function in template.yaml against a bare boto3 DynamoDB client.

A sample is a fresh interpreter (a subprocess of this Python) doing what Lambda's init phase does before the
first request: import the handler module, with the function's environment as template.yaml declares it, and
build its boto3 clients. The baseline interpreter only runs `import boto3; boto3.client("dynamodb")`. A bare
interpreter start is measured too and subtracted from both, so the ratio compares init work alone.

The machine may be noisy, so every round runs each subject once, in a shuffled order, and the ratio is also
given from the children's CPU time, which a busy machine disturbs less. Every child ends with `os._exit(0)`
as soon as init is done: interpreter teardown is no part of a cold start, and with boto3 loaded it costs tens
of milliseconds. One untimed check run per subject (which also warms the caches) records the boto3 clients
that init built and any network call made on the way (audit hook on socket connect/send and name look-ups;
urllib3's IPv6 probe only binds a local socket). A function whose init fails is reported, and the others are
still measured.

`--lambda-packages` hides what this virtualenv has installed beyond Lambda's Python runtime (boto3 and its
dependencies) and the shop layer's requirements. Tooling such as aws-sam-cli brings awscrt, pyOpenSSL and
requests, which botocore and the X-Ray SDK import when present; in Lambda they are absent.

Exit status: 0 when the figures were measured, whether or not the goal is met (it is a measurement);
1 when an init failed or touched the network (its time would not be init work alone).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from samcli.yamlhelper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
FUNCTIONS_DIR = ROOT / "functions"
LAYER_DIR = ROOT / "layers" / "shop"
LAYER_REQUIREMENTS = LAYER_DIR / "requirements.txt"
# What Lambda's Python runtime provides besides the standard library.
LAMBDA_RUNTIME_REQUIREMENTS = ("boto3",)

REGION = "us-east-1"
GOAL_RATIO = 1.3
DEFAULT_REPEAT = 15
# Compiled bytecode goes here rather than into functions/ and layers/ (others edit those); it persists
# between runs, and the untimed check run fills it before anything is timed.
PYCACHE_PREFIX = Path(tempfile.gettempdir()) / "order-fulfillment-bench-pycache"

PSEUDO_PARAMETERS = {
    "AWS::AccountId": "123456789012",
    "AWS::NoValue": "",
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::StackName": "order-fulfillment-bench",
    "AWS::URLSuffix": "amazonaws.com",
}

# --- What the children run -------------------------------------------------------------------------------
# Plain source for `python -c`: the children import nothing of this package.

BARE_INIT = "pass\n"
# The client is kept (as a handler module keeps its clients) so that the check run can see it.
BASELINE_INIT = 'import boto3\n_client = boto3.client("dynamodb")\n'
# argv[1] is the handler module, argv[2] the handler's name. Clients that the adapters build lazily (a
# module-level @cache builder without arguments, the shop's shared DynamoDB client) are built now, as the
# first request would build them.
FUNCTION_INIT = """\
import sys
__import__(sys.argv[1])
_handler_module = sys.modules[sys.argv[1]]
getattr(_handler_module, sys.argv[2])
for _builder in list(vars(_handler_module).values()):
    # callable() first: it never triggers a lazy module's import the way attribute access would.
    if not callable(_builder) or getattr(_builder, "__module__", None) != _handler_module.__name__:
        continue
    _code = getattr(getattr(_builder, "__wrapped__", None), "__code__", None)
    if hasattr(_builder, "cache_info") and _code is not None and _code.co_argcount + _code.co_kwonlyargcount == 0:
        _builder()
if "shop.adapters.dynamodb" in sys.modules:
    sys.modules["shop.adapters.dynamodb"].default_client()
"""
END_OF_INIT = "import os\nos._exit(0)\n"
# --lambda-packages: a None entry in sys.modules makes importing that name raise ModuleNotFoundError, as if
# the package were not installed, at no cost to the imports that are allowed.
HIDE_PACKAGES = "import sys\nsys.modules.update(dict.fromkeys({names!r}))\n"

# Installed before init in the check run only (the hook itself costs time on every import).
CHECK_PROLOGUE = """\
import sys
_network_calls = []
_sockets_opened = []
_SENDS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})  # first argument: the socket
_NETWORK_EVENTS = _SENDS | {
    "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo",
    "http.client.connect", "urllib.Request",
}
def _audit(event, args):
    if event in _NETWORK_EVENTS:
        _network_calls.append(event + " " + repr(args[1:] if event in _SENDS else args)[:200])
    elif event == "socket.__new__":
        _sockets_opened.append({1: "TCP", 2: "UDP"}.get(int(args[2]) & 0xF, "other"))
sys.addaudithook(_audit)
"""
CHECK_EPILOGUE = """\
import gc, json
_clients = []
if "botocore.client" in sys.modules:
    _base = sys.modules["botocore.client"].BaseClient
    _clients = sorted(o.meta.service_model.service_name for o in gc.get_objects() if isinstance(o, _base))
_modules = sum(module is not None for module in sys.modules.values())
print(json.dumps({
    "network": _network_calls, "sockets": _sockets_opened, "clients": _clients, "modules": _modules,
}), flush=True)
"""


class BenchmarkError(RuntimeError):
    """A child interpreter failed, so there is nothing to measure."""

    def __init__(self, label: str, returncode: int, stderr: str) -> None:
        super().__init__(f"{label}: the child exited with {returncode}\n{stderr}")
        lines = [line for line in stderr.splitlines() if line.strip()]
        self.summary = lines[-1].strip() if lines else f"exit status {returncode}"


@dataclass(frozen=True)
class LambdaFunction:
    """One function of template.yaml whose code lives under functions/."""

    name: str
    logical_id: str
    code_dir: Path
    handler_module: str
    handler_name: str
    environment: Mapping[str, str]


@dataclass(frozen=True)
class Subject:
    """Something to start in a fresh interpreter and time."""

    label: str
    init: str
    prologue: str = ""
    argv: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path = ROOT

    def command(self, script: str) -> list[str]:
        return [sys.executable, "-c", self.prologue + script, *self.argv]


@dataclass(frozen=True)
class Check:
    """What one untimed init did besides taking time."""

    network: list[str]
    sockets: list[str]
    clients: list[str]
    modules: int


# --- Reading the template --------------------------------------------------------------------------------


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    template: dict[str, Any] = yaml_parse(path.read_text())
    return template


def resolve(value: Any, parameters: Mapping[str, str]) -> str:
    """An environment value as the stack would give it: parameters take their default, resources a fake name."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, Mapping) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return _reference(str(argument), parameters)
        if function == "Fn::Sub" and isinstance(argument, str):
            return re.sub(r"\$\{([^}!][^}]*)\}", lambda match: _reference(match.group(1), parameters), argument)
        if function == "Fn::GetAtt":
            parts = argument.split(".") if isinstance(argument, str) else [str(part) for part in argument]
            return "bench-" + "-".join(parts)
    return "bench-value"


def _reference(name: str, parameters: Mapping[str, str]) -> str:
    if name in PSEUDO_PARAMETERS:
        return PSEUDO_PARAMETERS[name]
    if name in parameters:
        return parameters[name]
    return f"bench-{name}"


def runtime_environment() -> dict[str, str]:
    """What every child starts from: fake credentials, the region, and no AWS config from this machine."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "PYTHONPYCACHEPREFIX": str(PYCACHE_PREFIX),
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def discover_functions(
    template: Mapping[str, Any], functions_dir: Path = FUNCTIONS_DIR
) -> tuple[list[LambdaFunction], list[str]]:
    """The template's functions whose CodeUri is a folder of functions/ with an app.py; the other folders."""
    globals_ = template.get("Globals", {}).get("Function", {})
    parameters = {name: resolve(spec.get("Default", ""), {}) for name, spec in template.get("Parameters", {}).items()}
    by_code_dir: dict[Path, tuple[str, Mapping[str, Any]]] = {}
    for logical_id, definition in template.get("Resources", {}).items():
        properties = definition.get("Properties", {})
        code_uri = properties.get("CodeUri")
        if definition.get("Type") == "AWS::Serverless::Function" and isinstance(code_uri, str):
            by_code_dir[(ROOT / code_uri).resolve()] = (logical_id, properties)

    functions: list[LambdaFunction] = []
    skipped: list[str] = []
    for app in sorted(functions_dir.glob("*/app.py")):
        code_dir = app.parent.resolve()
        if code_dir not in by_code_dir:
            skipped.append(code_dir.name)
            continue
        logical_id, properties = by_code_dir[code_dir]
        handler = str(properties.get("Handler", globals_.get("Handler", "app.lambda_handler")))
        handler_module, _, handler_name = handler.rpartition(".")
        runtime = str(properties.get("Runtime", globals_.get("Runtime", "python3.13")))
        memory = resolve(properties.get("MemorySize", globals_.get("MemorySize", 128)), parameters)
        variables = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **properties.get("Environment", {}).get("Variables", {}),
        }
        environment = {name: resolve(value, parameters) for name, value in variables.items()}
        # What Lambda itself sets. LAMBDA_TASK_ROOT matters: without it Powertools' Tracer disables itself
        # and skips patching, which a deployed function never does.
        environment |= {
            "LAMBDA_TASK_ROOT": str(code_dir),
            "AWS_LAMBDA_FUNCTION_NAME": f"bench-{logical_id}",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
            "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "_HANDLER": handler,
        }
        functions.append(
            LambdaFunction(
                name=code_dir.name,
                logical_id=logical_id,
                code_dir=code_dir,
                handler_module=handler_module,
                handler_name=handler_name,
                environment=environment,
            )
        )
    return functions, skipped


def distribution_closure(requirements: Iterable[str]) -> set[str]:
    """The installed distributions that `requirements` pull in, extras and environment markers honoured."""
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [Requirement(requirement) for requirement in requirements]
    while pending:
        requirement = pending.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dependencies = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue
        extras = {"", *requirement.extras}
        for text in dependencies:
            dependency = Requirement(text)
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(dependency)
    return {name for name, _ in seen}


def packages_absent_from_lambda() -> list[str]:
    """Importable top-level names of this environment that Lambda's runtime plus the shop layer would lack."""
    layer = [
        line.split("#")[0].strip() for line in LAYER_REQUIREMENTS.read_text().splitlines() if line.split("#")[0].strip()
    ]
    present = distribution_closure([*LAMBDA_RUNTIME_REQUIREMENTS, *layer])
    return sorted(
        name
        for name, distributions in metadata.packages_distributions().items()
        if not any(canonicalize_name(distribution) in present for distribution in distributions)
        and not name.startswith("_distutils")
    )


def subjects_for(
    functions: Sequence[LambdaFunction], hidden_packages: Sequence[str] = ()
) -> tuple[Subject, Subject, list[Subject]]:
    base = runtime_environment()
    prologue = HIDE_PACKAGES.format(names=tuple(hidden_packages)) if hidden_packages else ""
    bare = Subject(label="bare interpreter (-c pass)", init=BARE_INIT, prologue=prologue, env=base)
    baseline = Subject(label='baseline: boto3.client("dynamodb")', init=BASELINE_INIT, prologue=prologue, env=base)
    measured = [
        Subject(
            label=function.name,
            init=FUNCTION_INIT,
            prologue=prologue,
            argv=(function.handler_module, function.handler_name),
            # Lambda puts the function's code first on the path, then the layer.
            env={
                **base,
                **function.environment,
                "PYTHONPATH": os.pathsep.join([str(function.code_dir), str(LAYER_DIR)]),
            },
            cwd=function.code_dir,
        )
        for function in functions
    ]
    return bare, baseline, measured


# --- Running the children --------------------------------------------------------------------------------


class Sample(NamedTuple):
    """One timed child, in milliseconds: wall clock from spawn to exit, and its CPU time (user + system)."""

    wall: float
    cpu: float


def _run(subject: Subject, script: str, *flags: str) -> subprocess.CompletedProcess[str]:
    command = subject.command(script)
    completed = subprocess.run(
        [command[0], *flags, *command[1:]],
        env=dict(subject.env),
        cwd=subject.cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchmarkError(subject.label, completed.returncode, completed.stderr)
    return completed


def _children_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def time_once(subject: Subject) -> Sample:
    """From spawning the interpreter until it exits right after init."""
    script = subject.init + END_OF_INIT
    cpu_before = _children_cpu_ms()
    started = time.perf_counter()
    _run(subject, script)
    wall = (time.perf_counter() - started) * 1000
    return Sample(wall=wall, cpu=_children_cpu_ms() - cpu_before)


def check_once(subject: Subject) -> Check:
    completed = _run(subject, CHECK_PROLOGUE + subject.init + CHECK_EPILOGUE + END_OF_INIT)
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return Check(
        network=list(report["network"]),
        sockets=list(report["sockets"]),
        clients=list(report["clients"]),
        modules=int(report["modules"]),
    )


def measure(subjects: Sequence[Subject], repeat: int, rng: random.Random) -> dict[str, list[Sample]]:
    """`repeat` rounds; each runs every subject once, in a fresh random order."""
    samples: dict[str, list[Sample]] = {subject.label: [] for subject in subjects}
    show_progress = sys.stderr.isatty()
    for round_number in range(1, repeat + 1):
        order = list(subjects)
        rng.shuffle(order)
        for subject in order:
            samples[subject.label].append(time_once(subject))
        if show_progress:
            print(f"\r  round {round_number}/{repeat}", end="", file=sys.stderr, flush=True)
    if show_progress:
        print("\r" + " " * 30 + "\r", end="", file=sys.stderr, flush=True)
    return samples


def import_profile(subject: Subject, top: int = 10) -> list[tuple[str, float]]:
    """Where init's import time goes: `-X importtime` self time summed per top-level package, in ms."""
    completed = _run(subject, subject.init + END_OF_INIT, "-X", "importtime")
    per_package: dict[str, float] = defaultdict(float)
    for line in completed.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            per_package[match.group(2).split(".")[0]] += int(match.group(1)) / 1000
    return sorted(per_package.items(), key=lambda item: item[1], reverse=True)[:top]


# --- Reporting -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """A subject's samples, with the bare interpreter's medians to subtract."""

    label: str
    samples: list[Sample]
    bare: Sample
    check: Check | None = None

    @property
    def wall(self) -> list[float]:
        return [sample.wall for sample in self.samples]

    @property
    def net(self) -> list[float]:
        return [sample.wall - self.bare.wall for sample in self.samples]

    @property
    def net_cpu(self) -> list[float]:
        return [sample.cpu - self.bare.cpu for sample in self.samples]


def p90(samples: Sequence[float]) -> float:
    return statistics.quantiles(samples, n=10, method="inclusive")[-1]


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


def _network_cell(check: Check | None) -> str:
    if check is None:
        return ""
    return "none" if not check.network else f"{len(check.network)} CALLS"


def _clients_cell(check: Check | None) -> str:
    if check is None:
        return ""
    if not check.clients:
        return "NONE BUILT"
    counts: dict[str, int] = defaultdict(int)
    for service in check.clients:
        counts[service] += 1
    return ", ".join(f"{service} x{count}" if count > 1 else service for service, count in counts.items())


def render(
    bare: Figures, baseline: Figures, functions: Sequence[Figures], failed: Sequence[str], repeat: int
) -> tuple[str, bool]:
    """The table, and whether every function meets the goal (a function whose init fails does not)."""
    baseline_net = statistics.median(baseline.net)
    baseline_cpu = statistics.median(baseline.net_cpu)
    header = ["subject", "raw med", "raw p90", "net med", "net p90", "ratio", "goal", "cpu ratio"]
    header += ["clients", "network", "modules"]
    rows = [[bare.label, f"{bare.bare.wall:.1f}", f"{p90(bare.wall):.1f}", "-", "-", "-", "", "-", "", "", ""]]
    met_count = 0
    for figures in [baseline, *functions]:
        net_median = statistics.median(figures.net)
        ratio = net_median / baseline_net
        verdict = ""
        if figures is not baseline:
            met_count += ratio <= GOAL_RATIO
            verdict = "MET" if ratio <= GOAL_RATIO else "NOT MET"
        rows.append(
            [
                figures.label,
                f"{statistics.median(figures.wall):.1f}",
                f"{p90(figures.wall):.1f}",
                f"{net_median:.1f}",
                f"{p90(figures.net):.1f}",
                f"{ratio:.2f}x",
                verdict,
                f"{statistics.median(figures.net_cpu) / baseline_cpu:.2f}x",
                _clients_cell(figures.check),
                _network_cell(figures.check),
                str(figures.check.modules) if figures.check else "",
            ]
        )
    rows += [[label, "-", "-", "-", "-", "-", "INIT FAILED", "-", "", "", ""] for label in failed]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    numeric = {1, 2, 3, 4, 5, 7, 10}

    def line(cells: Sequence[str]) -> str:
        padded = [cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(cells)]
        return "  ".join(padded).rstrip()

    total = len(functions) + len(failed)
    all_met = met_count == total
    lines = [
        "Cold start: init time per function vs. a bare boto3 DynamoDB client (milliseconds)",
        f"  {repeat} interleaved runs per row, shuffled each round. Python {sys.version.split()[0]}, "
        f"boto3 {_version('boto3')}, botocore {_version('botocore')}, "
        f"aws-lambda-powertools {_version('aws-lambda-powertools')}, pydantic {_version('pydantic')}",
        "  raw = spawn to exit right after init (wall clock); "
        f"net = raw - bare interpreter median ({bare.bare.wall:.1f} ms)",
        f"  ratio = net median / baseline net median ({baseline_net:.1f} ms); "
        "cpu ratio = the same from the children's CPU time (less sensitive to a busy machine)",
        "",
        line(header),
        line(["-" * width for width in widths]),
        *(line(row) for row in rows),
        "",
        f"Goal: ratio <= {GOAL_RATIO:.1f}x for every function -> {'MET' if all_met else 'NOT MET'} "
        f"({met_count} of {total} within the goal)",
    ]
    return "\n".join(lines), all_met


def network_summary(checks: Mapping[str, Check]) -> str:
    """One line: whether init made network calls, and which sockets it opened without using them."""
    calls = sum(len(check.network) for check in checks.values())
    opened: dict[str, int] = defaultdict(int)
    for check in checks.values():
        for kind in set(check.sockets):
            opened[kind] += 1
    sockets = ", ".join(f"{kind} in {count} of {len(checks)}" for kind, count in sorted(opened.items()))
    verdict = "none" if not calls else f"{calls} CALLS (listed on stderr)"
    return f"Network at init: {verdict} (audit hook on socket connect/send and name look-ups)" + (
        f"; sockets opened but unused: {sockets}" if sockets else ""
    )


def render_profile(label: str, profile: Sequence[tuple[str, float]]) -> str:
    cells = ", ".join(f"{package} {milliseconds:.0f}" for package, milliseconds in profile)
    return f"  {label}: {cells}"


# --- Entry point -----------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks cold-start", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=DEFAULT_REPEAT, help=f"runs per subject (default {DEFAULT_REPEAT}, min 3)"
    )
    parser.add_argument("--only", nargs="+", metavar="FUNCTION", help="measure only these functions (folder names)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the run order (default: random)")
    parser.add_argument(
        "--lambda-packages",
        action="store_true",
        help="hide installed packages that Lambda's Python runtime and the shop layer would not have "
        "(the dev tooling brings awscrt, pyOpenSSL, requests, ...)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also print where each function's import time goes (-X importtime, self time per package)",
    )
    arguments = parser.parse_args(argv)
    if arguments.repeat < 3:
        parser.error("--repeat must be at least 3 (the p90 needs a few samples)")
    return arguments


def select_functions(only: Sequence[str] | None) -> tuple[list[LambdaFunction], list[str]]:
    """The functions to measure and the folders of functions/ that template.yaml does not declare."""
    functions, skipped = discover_functions(load_template())
    if only:
        unknown = set(only) - {function.name for function in functions}
        if unknown:
            raise SystemExit(f"not functions of {TEMPLATE.name}: {', '.join(sorted(unknown))}")
        functions = [function for function in functions if function.name in only]
    if not functions:
        raise SystemExit(f"no folder of functions/ with an app.py is a function of {TEMPLATE.name}")
    return functions, skipped


def check_all(subjects: Sequence[Subject]) -> tuple[dict[str, Check], dict[str, BenchmarkError]]:
    """One untimed check run per subject: what its init does, or how it fails."""
    checks: dict[str, Check] = {}
    failures: dict[str, BenchmarkError] = {}
    for subject in subjects:
        try:
            checks[subject.label] = check_once(subject)
        except BenchmarkError as error:
            failures[subject.label] = error
    return checks, failures


def print_notes(checks: Mapping[str, Check], hidden: Sequence[str], skipped: Sequence[str]) -> None:
    print(network_summary(checks))
    if hidden:
        print(f"Packages: {len(hidden)} installed packages hidden, as Lambda would not have them (--lambda-packages)")
    else:
        print("Packages: all of this environment is importable, dev tooling included (compare --lambda-packages)")
    if skipped:
        print(f"Not in {TEMPLATE.name}, so not measured: {', '.join(skipped)}")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    functions, skipped = select_functions(arguments.only)
    hidden = packages_absent_from_lambda() if arguments.lambda_packages else []
    bare, baseline, measured = subjects_for(functions, hidden)

    try:
        # Untimed: fills the page and bytecode caches, and checks what init does. A function whose init fails
        # is reported and left out; the others are still measured.
        time_once(bare)
        checks, failures = check_all([baseline, *measured])
        if baseline.label in failures:
            raise failures[baseline.label]
        measured = [subject for subject in measured if subject.label not in failures]
        order = random.Random(arguments.seed)  # noqa: S311  (shuffles the run order; nothing secret)
        samples = measure([bare, baseline, *measured], arguments.repeat, order)
        profiles = [(subject.label, import_profile(subject)) for subject in measured] if arguments.explain else []
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1

    bare_median = Sample(
        wall=statistics.median(sample.wall for sample in samples[bare.label]),
        cpu=statistics.median(sample.cpu for sample in samples[bare.label]),
    )
    table, _ = render(
        Figures(bare.label, samples[bare.label], bare_median),
        Figures(baseline.label, samples[baseline.label], bare_median, checks[baseline.label]),
        [Figures(subject.label, samples[subject.label], bare_median, checks[subject.label]) for subject in measured],
        list(failures),
        arguments.repeat,
    )
    print(table)
    for label, failure in failures.items():
        print(f"{label}: init failed: {failure.summary}")
    print_notes(checks, hidden, skipped)
    if profiles:
        print("\nImport self time per top-level package (ms, one -X importtime run each):")
        for label, profile in profiles:
            print(render_profile(label, profile))

    offenders = {label: check.network for label, check in checks.items() if check.network}
    for label, calls in offenders.items():
        print(f"NETWORK AT INIT in {label}: {'; '.join(calls[:5])}", file=sys.stderr)
    for failure in failures.values():
        print(f"INIT FAILED in {failure}", file=sys.stderr)
    return 1 if offenders or failures else 0

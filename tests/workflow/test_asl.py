"""Static checks of statemachine/order.asl.json, none of which moto makes: it accepts a definition whose Catch
names a state that does not exist and only fails the execution that takes that path (the local cloud's tests in
this folder execute the definition; these read it).

Each check is a function returning the problems it found, and each is also run against a deliberately broken
copy of the definition, to show that it can fail.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from localcloud.template import load_stack
from shop.adapters import approvals_table, orders_table, payments_table, stock
from shop.domain import payments, settlement
from shop.domain.errors import DomainError
from shop.usecases import warehouse

ROOT = Path(__file__).resolve().parents[2]
DEFINITION_FILE = ROOT / "statemachine" / "order.asl.json"
ASL_VALIDATOR = ROOT / "node_modules" / ".bin" / "asl-validator"

# Tasks allowed to have no catch-all, each with the reason. None is: every failure must end in a final status.
UNCAUGHT_TASKS: Mapping[str, str] = {}

TERMINAL_TYPES = frozenset({"Succeed", "Fail"})
FLAT_TYPES = frozenset({"Task", "Pass", "Choice", "Wait", "Succeed", "Fail"})
# The ASL spec's predefined error names, and the Lambda service errors AWS recommends retrying.
STATES_ERRORS = frozenset(
    {
        "States.ALL",
        "States.HeartbeatTimeout",
        "States.Timeout",
        "States.TaskFailed",
        "States.Permissions",
        "States.ResultPathMatchFailure",
        "States.ParameterPathFailure",
        "States.QueryEvaluationError",
        "States.BranchFailed",
        "States.NoChoiceMatched",
        "States.IntrinsicFailure",
        "States.ExceedToleratedFailureThreshold",
        "States.ItemReaderFailed",
        "States.ResultWriterFailed",
    }
)
LAMBDA_SERVICE_ERRORS = frozenset(
    {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.TooManyRequestsException",
        "Lambda.Unknown",
        "Sandbox.Timedout",  # the function ran out of time (after its side effects, perhaps)
    }
)
# Errors of the SQS service integration (ShipOrder retries its sendMessage on them).
SQS_SERVICE_ERRORS = frozenset({"SQS.SdkClientException", "SQS.AmazonSQSException", "SQS.SqsException"})
# Names sent with SendTaskFailure (the approver's rejection, the customer's cancel, the DLQ handler).
TASK_FAILURE_ERRORS = frozenset({settlement.ORDER_REJECTED, settlement.ORDER_CANCELLED, settlement.SHIPPING_FAILED})
# Modules whose DomainError subclasses a task can raise (imported above so the subclasses are registered).
_RAISING_MODULES = (approvals_table, orders_table, payments_table, stock, payments, warehouse)


def definition_text() -> str:
    return DEFINITION_FILE.read_text()


def definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(definition_text())
    return loaded


def declared_substitutions() -> set[str]:
    """DefinitionSubstitutions of the state machine, as written in template.yaml."""
    return set(substitutions())


def substitutions() -> dict[str, Any]:
    properties = load_stack().sam["Resources"]["OrderStateMachine"]["Properties"]
    return dict(properties.get("DefinitionSubstitutions", {}))


def substituted_definition() -> str:
    """The definition as CloudFormation hands it to Step Functions: each substitution replaced by a value of the
    shape it has once deployed (an alias ARN, a queue URL, a parameter's default)."""
    template = load_stack().sam
    text = definition_text()
    for name, value in substitutions().items():
        ref = str(value["Ref"])
        if ref.endswith(".Alias"):
            resolved = f"arn:aws:lambda:us-east-1:123456789012:function:shop-{ref.removesuffix('.Alias')}:live"
        elif ref in template["Parameters"]:
            resolved = str(template["Parameters"][ref]["Default"])
        else:
            assert template["Resources"][ref]["Type"] == "AWS::SQS::Queue", f"{name}: no sample value for {ref}"
            resolved = f"https://sqs.us-east-1.amazonaws.com/123456789012/shop-{ref}"
        text = text.replace("${" + name + "}", resolved)
    return text


# ---------------------------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------------------------


def targets(state: Mapping[str, Any]) -> Iterator[str]:
    """Every state this one can move to: Next, a Choice's rules and Default, and each Catch."""
    if "Next" in state:
        yield state["Next"]
    for rule in state.get("Choices", []):
        yield rule["Next"]
    if "Default" in state:
        yield state["Default"]
    for catcher in state.get("Catch", []):
        yield catcher["Next"]


def missing_targets(asl: Mapping[str, Any]) -> list[str]:
    states = asl["States"]
    problems = [] if asl["StartAt"] in states else [f"StartAt -> {asl['StartAt']}"]
    problems += [
        f"{name} -> {target}" for name, state in states.items() for target in targets(state) if target not in states
    ]
    return problems


def unreachable_states(asl: Mapping[str, Any]) -> list[str]:
    states = asl["States"]
    seen: set[str] = set()
    pending = [asl["StartAt"]]
    while pending:
        name = pending.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        pending.extend(targets(states[name]))
    return [name for name in states if name not in seen]


def dead_ends(asl: Mapping[str, Any]) -> list[str]:
    """States that neither move on nor end the execution."""
    problems = []
    for name, state in asl["States"].items():
        kind = state["Type"]
        if kind in TERMINAL_TYPES:
            continue
        if kind == "Choice":
            if not state.get("Choices"):
                problems.append(name)
        elif "Next" not in state and state.get("End") is not True:
            problems.append(name)
    return problems


def uncaught_tasks(asl: Mapping[str, Any], exempt: Mapping[str, str]) -> list[str]:
    """Tasks with no catch-all: an error there would fail the execution with nothing compensated."""
    return [
        name
        for name, state in asl["States"].items()
        if state["Type"] == "Task"
        and name not in exempt
        and not any("States.ALL" in catcher["ErrorEquals"] for catcher in state.get("Catch", []))
    ]


def domain_error_names() -> set[str]:
    names: set[str] = set()
    pending: list[type[BaseException]] = [DomainError]
    while pending:
        error = pending.pop()
        names.add(error.__name__)
        pending.extend(error.__subclasses__())
    return names


def unknown_error_names(asl: Mapping[str, Any]) -> list[str]:
    """Error names in Retry and Catch that nothing raises: a typo there silently never matches."""
    known = STATES_ERRORS | LAMBDA_SERVICE_ERRORS | SQS_SERVICE_ERRORS | TASK_FAILURE_ERRORS | domain_error_names()
    problems = []
    for name, state in asl["States"].items():
        for rule in [*state.get("Retry", []), *state.get("Catch", [])]:
            problems += [f"{name}: {error}" for error in rule["ErrorEquals"] if error not in known]
    return problems


def placeholder_mismatches(text: str, substitutions: set[str]) -> list[str]:
    used = set(re.findall(r"\$\{([^}]*)\}", text))
    return [f"${{{name}}} has no DefinitionSubstitutions entry" for name in sorted(used - substitutions)] + [
        f"DefinitionSubstitutions.{name} is never used" for name in sorted(substitutions - used)
    ]


# ---------------------------------------------------------------------------------------------------------------
# The definition passes them
# ---------------------------------------------------------------------------------------------------------------


def test_the_checks_understand_every_state_type_the_definition_uses() -> None:
    # Map and Parallel nest states of their own, which these checks do not walk into.
    assert {state["Type"] for state in definition()["States"].values()} <= FLAT_TYPES


def test_every_transition_target_exists() -> None:
    assert missing_targets(definition()) == []


def test_every_state_is_reachable_from_start_at() -> None:
    assert unreachable_states(definition()) == []


def test_every_state_either_moves_on_or_ends_the_execution() -> None:
    assert dead_ends(definition()) == []


def test_every_task_has_a_catch_all() -> None:
    asl = definition()
    assert uncaught_tasks(asl, UNCAUGHT_TASKS) == []
    # An exemption for a task that no longer exists, or that now has a catch-all, is stale.
    for name in UNCAUGHT_TASKS:
        assert uncaught_tasks({"States": {name: asl["States"][name]}}, {}) == [name]


def test_every_caught_or_retried_error_is_one_the_code_raises() -> None:
    assert unknown_error_names(definition()) == []


def test_every_placeholder_has_a_substitution_in_the_template_and_every_substitution_is_used() -> None:
    assert placeholder_mismatches(definition_text(), declared_substitutions()) == []


# ---------------------------------------------------------------------------------------------------------------
# ...and each check fails a broken copy
# ---------------------------------------------------------------------------------------------------------------


def broken(change: Any) -> dict[str, Any]:
    asl = copy.deepcopy(definition())
    change(asl["States"])
    return asl


def test_a_catch_naming_a_missing_state_is_found() -> None:
    def rename(states: dict[str, Any]) -> None:
        states["ReserveStock"]["Catch"][0]["Next"] = "MarkSoldOut"

    assert missing_targets(broken(rename)) == ["ReserveStock -> MarkSoldOut"]


def test_a_state_nothing_leads_to_is_found() -> None:
    def orphan(states: dict[str, Any]) -> None:
        states["Forgotten"] = {"Type": "Succeed"}

    assert unreachable_states(broken(orphan)) == ["Forgotten"]


def test_a_task_that_neither_moves_on_nor_ends_is_found() -> None:
    def drop_next(states: dict[str, Any]) -> None:
        del states["MarkShipped"]["Next"]

    assert dead_ends(broken(drop_next)) == ["MarkShipped"]


def test_a_task_without_a_catch_all_is_found() -> None:
    def drop_catch_all(states: dict[str, Any]) -> None:
        states["ChargePayment"]["Catch"] = [c for c in states["ChargePayment"]["Catch"] if c["Next"] != "Settle"]

    assert uncaught_tasks(broken(drop_catch_all), UNCAUGHT_TASKS) == ["ChargePayment"]


def test_a_misspelt_error_name_is_found() -> None:
    def misspell(states: dict[str, Any]) -> None:
        states["ChargePayment"]["Catch"][0]["ErrorEquals"] = ["PaymentDenied"]

    assert unknown_error_names(broken(misspell)) == ["ChargePayment: PaymentDenied"]


def test_a_placeholder_without_a_substitution_and_an_unused_substitution_are_found() -> None:
    text = definition_text().replace("${SettleOrderFunctionArn}", "${SettleFunctionArn}")

    assert placeholder_mismatches(text, declared_substitutions()) == [
        "${SettleFunctionArn} has no DefinitionSubstitutions entry",
        "DefinitionSubstitutions.SettleOrderFunctionArn is never used",
    ]


# ---------------------------------------------------------------------------------------------------------------
# asl-validator (npm, package.json at the repository root), on the definition as Step Functions receives it
# ---------------------------------------------------------------------------------------------------------------


def asl_validator(path: Path) -> subprocess.CompletedProcess[str]:
    # `make install` runs `npm ci`: a missing validator is a broken install, not a reason to skip.
    assert shutil.which("node") is not None, "node is not on PATH (Node.js 20 runs the ASL and edge checks)"
    assert ASL_VALIDATOR.exists(), "asl-validator is not installed: run `npm ci` (make install does)"
    return subprocess.run(  # noqa: S603  (a fixed local tool on a file this test wrote)
        [str(ASL_VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def test_asl_validator_accepts_the_substituted_definition(tmp_path: Path) -> None:
    path = tmp_path / "order.asl.json"
    path.write_text(substituted_definition())

    result = asl_validator(path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def test_asl_validator_rejects_a_definition_with_a_missing_target(tmp_path: Path) -> None:
    asl = json.loads(substituted_definition())
    asl["States"]["ReserveStock"]["Catch"][0]["Next"] = "MarkSoldOut"
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(asl))

    result = asl_validator(path)

    assert result.returncode != 0
    assert "MISSING_TRANSITION_TARGET" in result.stdout + result.stderr
    assert "MarkSoldOut" in result.stdout + result.stderr

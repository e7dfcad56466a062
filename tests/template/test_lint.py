"""The linters on template.yaml: cfn-lint (with the serverless rules) as written and after the SAM transform,
and `sam validate --lint`. cfn-lint alone misses errors that only show in one of the two forms."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_file

from localcloud.template import ROOT, TEMPLATE, load_stack

pytestmark = pytest.mark.slow  # external linters, seconds in all (see the marker in pyproject.toml)

SERVERLESS_RULES = "cfn_lint_serverless.rules"
# SAM adds DependsOn to resources it generates (the usage plan on its API, the plan key on its API key) that
# already Ref what they depend on. The SAM form is ours to fix, the generated one is not: ignored there only.
TRANSFORMED_IGNORED = ["W3005"]
# Findings on resources SAM generates, which the SAM form cannot annotate: suppressed on exactly those resources
# (as cfn-lint Metadata written into the transformed copy), each with its reason.
SQS_MAPPING = (
    "an SQS event source mapping takes no OnFailure destination: the queue's own RedrivePolicy is its DLQ "
    "(the fulfillment DLQ's handler is the last stop, watched by the DLQ depth alarm)"
)
ALIAS_INVOKE_CONFIG = (
    "the function's EventInvokeConfig exists, on its 'live' alias (Qualifier), which is what the permission "
    "targets; the rule does not follow qualifiers"
)
GENERATED_SUPPRESSIONS: dict[str, dict[str, str]] = {
    "WarehouseFunctionShipmentJobs": {"ES1001": SQS_MAPPING},
    "FulfillmentDlqFunctionAbandonedJobs": {"ES1001": SQS_MAPPING},
    "NotificationSenderFunctionShopEventsPermission": {"ES1007": ALIAS_INVOKE_CONFIG},
}


def cfn_lint(template: Path, ignore_checks: list[str] | None = None) -> list[str]:
    """cfn-lint's findings (errors and warnings) with the serverless rules appended, one line each."""
    config = ManualArgs(
        append_rules=[SERVERLESS_RULES],
        ignore_checks=ignore_checks or [],
        regions=[os.environ["AWS_DEFAULT_REGION"]],
    )
    return [str(match) for match in lint_file(template, config)]


def test_template_as_written_passes_cfn_lint() -> None:
    findings = cfn_lint(TEMPLATE)

    assert findings == [], "cfn-lint template.yaml -a cfn_lint_serverless.rules:\n" + "\n".join(findings)


def test_serverless_rules_are_loaded(tmp_path: Path) -> None:
    # A function with no tracing, no log group, default memory and timeout breaks four serverless rules.
    untraced = tmp_path / "untraced.yaml"
    untraced.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Untraced:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: python3.13, Handler: app.handler, CodeUri: s3://bucket/key}\n"
    )

    findings = cfn_lint(untraced)

    assert any("WS1000" in finding for finding in findings), findings  # Lambda tracing
    assert any("WS1004" in finding for finding in findings), findings  # log group retention


def test_transformed_template_passes_cfn_lint(tmp_path: Path) -> None:
    cloudformation = copy.deepcopy(load_stack().cloudformation)
    for logical_id, rules in GENERATED_SUPPRESSIONS.items():
        metadata = cloudformation["Resources"][logical_id].setdefault("Metadata", {})
        metadata["cfn-lint"] = {"config": {"ignore_checks": sorted(rules)}}
    transformed = tmp_path / "transformed.json"
    transformed.write_text(json.dumps(cloudformation, indent=1))
    # Checks ignored here replace those the template's Metadata ignores (with its reasons): keep both.
    config = cloudformation.get("Metadata", {}).get("cfn-lint", {}).get("config", {})
    ignored_by_template = config.get("ignore_checks", [])

    findings = cfn_lint(transformed, ignore_checks=ignored_by_template + TRANSFORMED_IGNORED)

    assert findings == [], f"cfn-lint on the transformed template ({transformed}):\n" + "\n".join(findings)


def test_sam_validate_lint() -> None:
    sam = Path(sys.executable).parent / "sam"
    assert sam.is_file(), f"no sam next to {sys.executable}: install the dev dependencies (make install)"

    result = subprocess.run(  # noqa: S603  (the virtualenv's own sam, fixed arguments)
        [str(sam), "validate", "--lint", "--template-file", str(TEMPLATE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, f"sam validate --lint:\n{result.stdout}{result.stderr}"

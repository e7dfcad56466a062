"""checkov, the security scanner, on template.yaml as written and after the SAM transform (what deploys): no
finding may stand unless the resource's Metadata skips it (checkov reads Metadata.checkov.skip) with its reason.

checkov pins boto3 exactly, so it cannot share the dev environment: it runs from its own virtualenv,
.venv/checkov, which `make install` makes from pyproject.toml's `checkov` extra."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from localcloud.template import ROOT, TEMPLATE, load_stack

pytestmark = pytest.mark.slow  # an external scanner, seconds per run (see the marker in pyproject.toml)

CHECKOV_VENV = ROOT / ".venv" / "checkov"
CHECKOV = CHECKOV_VENV / "bin" / "checkov"
# The requirement the virtualenv was made from: a changed pin in pyproject.toml remakes it.
INSTALLED_MARKER = CHECKOV_VENV / "requirement.txt"
# Resources SAM generates from a resource of the template, which the template cannot annotate: they take the
# skips of the resource they come from (the Api's stage, named after its StageName, "api").
GENERATED_FROM = {"ApiapiStage": "Api"}
# A reason, not a label: "see ticket" or "not needed" does not say why.
MIN_COMMENT_WORDS = 6


def checkov_requirement() -> str:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (requirement,) = extras["checkov"]
    return str(requirement)


@pytest.fixture(scope="module")
def checkov() -> Path:
    """checkov in its own virtualenv, made by `make install` from the pin in pyproject.toml."""
    requirement = checkov_requirement()
    installed = INSTALLED_MARKER.read_text().strip() if INSTALLED_MARKER.is_file() else "nothing"
    assert CHECKOV.is_file(), f"no {CHECKOV}: run `make install`"
    assert installed == requirement, (
        f"{CHECKOV_VENV} has {installed}, pyproject.toml asks for {requirement}: run `make install`"
    )
    return CHECKOV


def scan(checkov: Path, template: Path) -> dict[str, Any]:
    """checkov's report on one CloudFormation template, offline (--skip-download: no policies from the platform)."""
    # Not --quiet: it drops the skipped checks from the report, which test_every_checkov_skip_is_still_needed reads.
    result = subprocess.run(  # noqa: S603  (checkov from its virtualenv, fixed arguments)
        [
            *(str(checkov), "--skip-download", "--compact", "--framework", "cloudformation"),
            *("--output", "json", "--file", str(template)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Exit code 1 means findings; anything else that prints no report is checkov itself failing.
    assert result.stdout.strip().startswith(("{", "[")), f"checkov failed:\n{result.stdout}{result.stderr}"
    report = json.loads(result.stdout)
    # One report per framework; an empty template gives a summary-only object.
    if isinstance(report, list):
        (report,) = report
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    return dict(report)


def transformed_template(directory: Path) -> Path:
    """The SAM-transformed template, with the skips of SAM resources copied to the resources made from them.
    (SAM already copies a function's Metadata to its AWS::Lambda::Function.)"""
    cloudformation = copy.deepcopy(load_stack().cloudformation)
    resources = cloudformation["Resources"]
    for generated, source in GENERATED_FROM.items():
        assert generated in resources, f"SAM no longer generates {generated} (from {source}): update GENERATED_FROM"
        skips = resources[source].get("Metadata", {}).get("checkov", {}).get("skip", [])
        resources[generated].setdefault("Metadata", {})["checkov"] = {"skip": skips}
    transformed = directory / "transformed.json"
    transformed.write_text(json.dumps(cloudformation, indent=1))
    return transformed


@pytest.fixture(scope="module")
def reports(checkov: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Both forms scanned once: as written (checkov reads some SAM) and transformed (what CloudFormation gets)."""
    transformed = transformed_template(tmp_path_factory.mktemp("checkov"))
    return {"as written": scan(checkov, TEMPLATE), "transformed": scan(checkov, transformed)}


def finding(check: dict[str, Any]) -> str:
    return f"{check['check_id']} {check['resource']}: {check['check_name']}"


@pytest.mark.parametrize("form", ["as written", "transformed"])
def test_template_has_no_unsuppressed_checkov_findings(
    form: str, reports: dict[str, dict[str, Any]], template_summary: list[str]
) -> None:
    report = reports[form]
    summary = report["summary"]
    counts = f"checkov {report['check_type']} ({form}): {summary['passed']} passed, {summary['failed']} failed"
    template_summary.append(f"{counts}, {summary['skipped']} skipped (with reasons in the template's Metadata)")

    failed = [finding(check) for check in report["results"]["failed_checks"]]

    assert failed == [], f"{counts}; fix, or skip in the resource's Metadata with a reason:\n" + "\n".join(failed)


def template_skips() -> dict[tuple[str, str], str]:
    """(logical id, check id) -> the comment, for every checkov skip in template.yaml."""
    skips: dict[tuple[str, str], str] = {}
    for logical_id, resource in load_stack().sam["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            skips[(logical_id, str(skip.get("id", "")))] = str(skip.get("comment", ""))
    return skips


def test_every_checkov_skip_gives_its_reason() -> None:
    skips = template_skips()

    assert skips, "no checkov skip in template.yaml: is Metadata.checkov.skip still where checkov reads it?"
    unexplained = [
        f"{logical_id} {check_id}: {comment!r}"
        for (logical_id, check_id), comment in sorted(skips.items())
        if not re.fullmatch(r"CKV2?_AWS_\d+", check_id) or len(comment.split()) < MIN_COMMENT_WORDS
    ]
    assert unexplained == [], f"each skip needs a check id and a reason of {MIN_COMMENT_WORDS}+ words:\n" + "\n".join(
        unexplained
    )


def test_every_checkov_skip_is_still_needed(reports: dict[str, dict[str, Any]]) -> None:
    # A skip whose finding went away (fixed, or the resource renamed) would silently cover a future regression.
    skipped = {
        (GENERATED_FROM.get(logical_id, logical_id), check["check_id"])
        for report in reports.values()
        for check in report["results"]["skipped_checks"]
        for logical_id in [check["resource"].split(".", 1)[1]]
    }

    unused = sorted(set(template_skips()) - skipped)

    assert unused == [], "checkov skips that no check needs any more (remove them):\n" + "\n".join(map(str, unused))

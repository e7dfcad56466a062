"""The layer ships exactly the project's runtime dependencies, with the same version ranges (boto3 included:
see the comment in layers/shop/requirements.txt)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from localcloud.template import ROOT

LAYER_REQUIREMENTS = ROOT / "layers" / "shop" / "requirements.txt"

Key = tuple[str, tuple[str, ...], str, str]


def _key(requirement: Requirement) -> Key:
    """What makes two requirement lines the same: name, extras, version range and marker, however spelled."""
    return (
        canonicalize_name(requirement.name),
        tuple(sorted(canonicalize_name(extra) for extra in requirement.extras)),
        str(requirement.specifier),
        str(requirement.marker or ""),
    )


def read_requirements_file(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def project_runtime_dependencies(pyproject: Path = ROOT / "pyproject.toml") -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]]


def layer_mismatch(project: list[Requirement], layer: list[Requirement]) -> tuple[set[Key], set[Key]]:
    """(what the layer lacks, what the layer has that the project does not ask for)."""
    expected = {_key(r) for r in project}
    shipped = {_key(r) for r in layer}
    return expected - shipped, shipped - expected


def test_layer_requirements_match_the_project_dependencies() -> None:
    missing, extra = layer_mismatch(project_runtime_dependencies(), read_requirements_file(LAYER_REQUIREMENTS))

    assert (missing, extra) == (set(), set()), f"missing from the layer: {missing}; not in pyproject: {extra}"


def test_layer_lists_each_dependency_once() -> None:
    names = [canonicalize_name(requirement.name) for requirement in read_requirements_file(LAYER_REQUIREMENTS)]

    assert len(names) == len(set(names)), names


def test_boto3_ships_with_the_botocore_that_the_tracer_brings() -> None:
    shipped = {canonicalize_name(requirement.name) for requirement in read_requirements_file(LAYER_REQUIREMENTS)}

    assert "boto3" in shipped


def test_mismatch_reports_a_different_range_a_lost_extra_and_an_extra_package(tmp_path: Path) -> None:
    drifted = tmp_path / "requirements.txt"
    drifted.write_text(
        "aws-lambda-powertools>=3.20,<4\npydantic>=2.5,<3\nboto3>=1.35\ntenacity>=9,<10\nPyJWT[crypto]>=2.15,<3\nrequests\n"
    )

    missing, extra = layer_mismatch(project_runtime_dependencies(), read_requirements_file(drifted))

    assert {name for name, *_ in missing} == {"aws-lambda-powertools", "pydantic"}
    assert {name for name, *_ in extra} == {"aws-lambda-powertools", "pydantic", "requests"}

"""`sam build` of template.yaml, once for this module: every function and the layer are built for arm64 and
Python 3.13, stay small, and the built template points at the built code. The build time and the artifact sizes
go to <build dir>/artifact-sizes.json and to the "template build" section of pytest's summary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from samcli.yamlhelper import yaml_parse

from localcloud.template import ROOT, load_stack
from tests.template import checks

pytestmark = pytest.mark.slow

FUNCTION_LIMIT_BYTES = 1024 * 1024  # a function's own code; what it shares lives in the layer
LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024  # Lambda's limit for a function and all its layers, unzipped
EM_AARCH64 = 183  # ELF e_machine of 64-bit ARM
EM_X86_64 = 62  # ELF e_machine of x86-64
# A Lambda@Edge function has no layer: it carries its dependencies (the image resizer, Pillow). Its package may be
# 50 MB zipped for origin triggers (CloudFront's quotas on Lambda@Edge); unzipped bytes bound the zip from above.
EDGE_FUNCTION_LIMIT_BYTES = 50 * 1000 * 1000


@dataclass(frozen=True)
class Build:
    directory: Path
    seconds: float
    output: str


def _is_python313(python: Path) -> bool:
    """Whether this runs Python 3.13 (a pyenv shim named python3.13 may only print an error)."""
    try:
        result = subprocess.run(  # noqa: S603  (a candidate interpreter, fixed arguments)
            [str(python), "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return result.returncode == 0 and result.stdout.strip() == "True"


def _pyenv_root() -> Path:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        result = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
        if result.returncode == 0 and result.stdout.strip():
            return Path(result.stdout.strip())
    return Path.home() / ".pyenv"


def find_python313() -> Path | None:
    """A real Python 3.13: python3.13 on PATH if it works, else one of pyenv's 3.13 versions."""
    on_path = shutil.which("python3.13")
    candidates = [Path(on_path)] if on_path else []
    candidates += sorted((_pyenv_root() / "versions").glob("3.13*/bin/python3.13"), reverse=True)
    return next((candidate for candidate in candidates if _is_python313(candidate)), None)


def tree_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file() and not path.is_symlink())


def elf_machine(library: Path) -> int:
    header = library.read_bytes()[:20]
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def _sam_resources(resource_type: str) -> list[str]:
    return [lid for lid, res in load_stack().sam["Resources"].items() if res["Type"] == resource_type]


FUNCTIONS = _sam_resources("AWS::Serverless::Function")
EDGE_FUNCTIONS = sorted(checks.lambda_at_edge(load_stack().cloudformation))
LAYERS = _sam_resources("AWS::Serverless::LayerVersion")


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory, template_summary: list[str]) -> Build:
    python = find_python313()
    if python is None:
        pytest.fail(
            "sam build needs a Python 3.13 on PATH (the functions' runtime) and none was found: neither python3.13 "
            f"on PATH runs, nor {_pyenv_root()}/versions/3.13*/bin/python3.13 exists. Install one "
            "(pyenv install 3.13) and run again.",
            pytrace=False,
        )
    directory = tmp_path_factory.mktemp("sam-build") / "build"
    venv_bin = Path(sys.executable).parent
    environment = {
        **os.environ,
        "PATH": os.pathsep.join([str(python.parent), str(venv_bin), os.environ.get("PATH", "")]),
        "SAM_CLI_TELEMETRY": "0",
    }
    if not (venv_bin / "sam").is_file():
        pytest.fail(f"no sam next to {sys.executable}: install the dev dependencies (make install)", pytrace=False)
    command = [str(venv_bin / "sam"), "build", "--build-dir", str(directory), "--template-file", "template.yaml"]

    started = time.monotonic()
    result = subprocess.run(  # noqa: S603  (the virtualenv's own sam, fixed arguments)
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900, check=False
    )
    seconds = time.monotonic() - started

    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"sam build failed after {seconds:.1f}s ({' '.join(command)}):\n{output}", pytrace=False)
    line = f"sam build: {seconds:.1f}s with {python} -> {directory}"
    print(line)
    template_summary.append(line)
    return Build(directory=directory, seconds=seconds, output=output)


@pytest.fixture(scope="module")
def sizes(build: Build, template_summary: list[str]) -> dict[str, Any]:
    """Unzipped bytes of each built artifact, also written to <build dir>/artifact-sizes.json."""
    report: dict[str, Any] = {
        "sam_build_seconds": round(build.seconds, 1),
        "functions": {lid: tree_bytes(build.directory / lid) for lid in FUNCTIONS if (build.directory / lid).is_dir()},
        "layers": {lid: tree_bytes(build.directory / lid) for lid in LAYERS if (build.directory / lid).is_dir()},
    }
    path = build.directory / "artifact-sizes.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"  {lid}: {size / 1024:,.1f} KiB" for lid, size in report["functions"].items()]
    lines += [f"  {lid} (layer): {size / 1024 / 1024:,.1f} MiB" for lid, size in report["layers"].items()]
    text = "\n".join([f"built artifact sizes, unzipped ({path}):", *lines])
    print(text)
    template_summary.extend(text.splitlines())
    return report


def test_every_function_and_layer_is_built(build: Build) -> None:
    built = {path.name for path in build.directory.iterdir() if path.is_dir()}

    assert set(FUNCTIONS) | set(LAYERS) <= built, build.output
    for lid in FUNCTIONS:
        module = load_stack().resource(lid)["Properties"]["Handler"].rsplit(".", 1)[0]
        assert (build.directory / lid / f"{module.replace('.', '/')}.py").is_file(), f"{lid}: no handler module"


def test_layer_holds_the_shop_package_and_its_dependencies(build: Build) -> None:
    for lid in LAYERS:
        python = build.directory / lid / "python"

        assert (python / "shop" / "__init__.py").is_file(), f"{lid}: no shop package"
        assert (python / "aws_lambda_powertools" / "__init__.py").is_file(), f"{lid}: no Powertools"
        assert (python / "pydantic" / "__init__.py").is_file(), f"{lid}: no pydantic"
        # botocore comes with the Tracer's aws-xray-sdk; boto3 ships beside it so that the two always match.
        assert (python / "boto3" / "__init__.py").is_file(), f"{lid}: botocore without its matching boto3"


def test_layer_binaries_are_built_for_arm64_and_python313(build: Build) -> None:
    for lid in LAYERS:
        python = build.directory / lid / "python"
        pydantic_core = list((python / "pydantic_core").glob("*.so"))
        binaries = list(python.rglob("*.so"))

        assert [so.name for so in pydantic_core if "cpython-313-aarch64" in so.name], f"{lid}: {pydantic_core}"
        not_arm = [str(so.relative_to(python)) for so in binaries if elf_machine(so) != EM_AARCH64]
        assert not_arm == [], f"{lid}: native libraries not built for aarch64"


def test_no_function_artifact_is_over_1_mib(sizes: dict[str, Any]) -> None:
    assert set(sizes["functions"]) == set(FUNCTIONS)

    too_big = {
        lid: size
        for lid, size in sizes["functions"].items()
        if size > (EDGE_FUNCTION_LIMIT_BYTES if lid in EDGE_FUNCTIONS else FUNCTION_LIMIT_BYTES)
    }

    assert too_big == {}, f"over {FUNCTION_LIMIT_BYTES} bytes ({EDGE_FUNCTION_LIMIT_BYTES} at the edge): {too_big}"


@pytest.mark.parametrize("lid", EDGE_FUNCTIONS)
def test_edge_function_binaries_are_built_for_x86_64_and_python313(build: Build, lid: str) -> None:
    binaries = list((build.directory / lid).rglob("*.so*"))
    extensions = [so.name for so in binaries if so.name.endswith(".so")]

    assert binaries, f"{lid}: no native library built (Pillow's)"
    assert all("cpython-313-x86_64" in name for name in extensions if "cpython" in name), extensions
    not_x86 = [str(so.relative_to(build.directory / lid)) for so in binaries if elf_machine(so) != EM_X86_64]
    assert not_x86 == [], f"{lid}: native libraries not built for x86_64 (Lambda@Edge's only architecture)"


def test_function_and_layers_fit_lambdas_unzipped_limit(sizes: dict[str, Any]) -> None:
    largest = max(sizes["functions"].values()) + sum(sizes["layers"].values())

    assert largest < LAMBDA_UNZIPPED_LIMIT_BYTES


def test_built_template_references_the_built_code(build: Build) -> None:
    built = yaml_parse((build.directory / "template.yaml").read_text())["Resources"]
    code_property = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}

    for lid in FUNCTIONS + LAYERS:
        uri = built[lid]["Properties"][code_property[built[lid]["Type"]]]
        assert (build.directory / uri).resolve() == (build.directory / lid).resolve(), f"{lid}: {uri}"

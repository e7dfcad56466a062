"""events/ holds one sample event per function of template.yaml (for `sam local invoke -e`), and every one of
them is an input of some test, so none can drift from what its function accepts."""

from __future__ import annotations

import re
from pathlib import Path

from localcloud.template import load_stack

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"
TESTS = ROOT / "tests"
THIS_FILE = Path(__file__).resolve()


def function_dirs() -> dict[str, str]:
    """Each AWS::Serverless::Function's logical id and its code folder under functions/."""
    dirs = {}
    for logical_id, resource in load_stack().sam["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        code_uri = resource["Properties"]["CodeUri"]
        match = re.fullmatch(r"functions/(\w+)/?", code_uri)
        assert match, f"{logical_id}: CodeUri {code_uri} is not a folder under functions/"
        dirs[logical_id] = match.group(1)
    return dirs


def references(stem: str, source: str) -> bool:
    """Whether a test's source uses events/<stem>.json: it names the file, or it reads events/ (through
    `read_event` or `ApiCaller`) and names the event."""
    reads_events = "read_event(" in source or "ApiCaller(" in source
    return f"{stem}.json" in source or (reads_events and f'"{stem}"' in source)


def test_every_function_has_an_event_file() -> None:
    dirs = function_dirs()

    missing = sorted(
        f"{logical_id}: events/{name}.json"
        for logical_id, name in dirs.items()
        if not (EVENTS / f"{name}.json").is_file()
    )

    assert dirs, "template.yaml declares no function"
    assert missing == []


def test_every_event_file_is_the_input_of_a_test() -> None:
    sources = [path.read_text() for path in TESTS.rglob("*.py") if path.resolve() != THIS_FILE]

    unused = [path.name for path in sorted(EVENTS.glob("*.json")) if not any(references(path.stem, s) for s in sources)]

    assert unused == []


def test_every_event_file_belongs_to_a_function() -> None:
    names = set(function_dirs().values())

    assert sorted(path.stem for path in EVENTS.glob("*.json") if path.stem not in names) == []

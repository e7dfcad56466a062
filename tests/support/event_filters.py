"""The filter criteria of template.yaml's event source mappings, matched the way Lambda matches them.

Lambda filters stream and queue records with EventBridge's pattern syntax; moto implements that syntax for
EventBridge rules (`moto.events.models.EventPattern`), so the template's own patterns are checked with it.
"""

from __future__ import annotations

from typing import Any

from localcloud import pollers
from localcloud.template import load_stack


def filter_patterns(function_id: str, event_id: str) -> list[str]:
    """The patterns (JSON text, as written in template.yaml) of one event of one function."""
    events = load_stack().sam["Resources"][function_id]["Properties"]["Events"]
    filters = events[event_id]["Properties"]["FilterCriteria"]["Filters"]
    return [str(entry["Pattern"]) for entry in filters]


def passes_filters(record: dict[str, Any], patterns: list[str]) -> bool:
    """Whether Lambda would hand `record` to the function: the local cloud's pollers decide it the same way."""
    assert patterns, "a filter test needs the template's patterns"
    return pollers.passes_filters(record, pollers.load_patterns(patterns))

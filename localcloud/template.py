"""template.yaml as CloudFormation: SAM transformed offline by samtranslator, with the local code paths kept.

samtranslator wants S3 locations for code; the local paths are swapped for placeholders before the
transform and recorded, so whoever runs the functions (tests, the emulator) still knows where the code is.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
PLACEHOLDER_BUCKET = "local-code"

_CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


@dataclass(frozen=True)
class Stack:
    """The SAM template as written, its CloudFormation form, and where each function's code lives."""

    sam: dict[str, Any]
    cloudformation: dict[str, Any]
    code_paths: dict[str, Path] = field(default_factory=dict)

    def resource(self, logical_id: str) -> dict[str, Any]:
        resources: dict[str, dict[str, Any]] = self.cloudformation["Resources"]
        return resources[logical_id]

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.cloudformation["Resources"].items()
            if resource["Type"] == resource_type
        }


class _NoManagedPolicies:
    """The transform asks for AWS managed policy ARNs only for names it cannot build; we use none."""

    def load(self) -> dict[str, str]:
        return {}


def read_sam(path: Path = TEMPLATE) -> dict[str, Any]:
    sam: dict[str, Any] = yaml_parse(path.read_text())
    return sam


def to_cloudformation(sam: dict[str, Any], parameters: dict[str, str] | None = None, base: Path = ROOT) -> Stack:
    """Run the SAM transform offline. The AWS region comes from the environment (AWS_DEFAULT_REGION)."""
    local = copy.deepcopy(sam)
    code_paths: dict[str, Path] = {}
    for logical_id, resource in local.get("Resources", {}).items():
        prop = _CODE_PROPERTIES.get(resource.get("Type", ""))
        uri = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(uri, str) and not uri.startswith("s3://"):
            code_paths[logical_id] = (base / uri).resolve()
            resource["Properties"][prop] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}"
    cloudformation: dict[str, Any] = transform(local, parameters or {}, _NoManagedPolicies())
    # The transform renames layers (their logical id gains a hash); map code paths to the new ids too.
    for logical_id, resource in cloudformation["Resources"].items():
        content = resource.get("Properties", {}).get("Content", {})
        key = content.get("S3Key") if isinstance(content, dict) else None
        if resource["Type"] == "AWS::Lambda::LayerVersion" and key in code_paths:
            code_paths[logical_id] = code_paths[key]
    return Stack(sam=sam, cloudformation=json.loads(json.dumps(cloudformation)), code_paths=code_paths)


@cache
def load_stack() -> Stack:
    """This repository's template.yaml, transformed (cached: the file does not change during a run)."""
    return to_cloudformation(read_sam())

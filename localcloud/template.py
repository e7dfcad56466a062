"""template.yaml as CloudFormation: its Fn::ForEach loops expanded as AWS::LanguageExtensions does (by SAM CLI's
own processor), then SAM transformed offline by samtranslator, with the local code paths kept.

samtranslator wants S3 locations for code; the local paths are swapped for placeholders before the
transform and recorded, so whoever runs the functions (tests, the emulator) still knows where the code is.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from samcli.lib.cfn_language_extensions.models import TemplateProcessingContext
from samcli.lib.cfn_language_extensions.processors import ForEachProcessor, TemplateParsingProcessor
from samcli.yamlhelper import yaml_parse
from samtranslator.parser.parser import Parser
from samtranslator.translator.arn_generator import ArnGenerator
from samtranslator.translator.transform import transform
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
PLACEHOLDER_BUCKET = "local-code"
LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
# The other language extensions: expanded by CloudFormation, not here (the template uses none of them).
_NOT_EXPANDED = ("Fn::Length", "Fn::ToJsonString")

_CODE_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


@dataclass(frozen=True)
class Stack:
    """The SAM template (its loops expanded), its CloudFormation form, and where each function's code lives."""

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


def expand_language_extensions(sam: dict[str, Any]) -> dict[str, Any]:
    """What CloudFormation's AWS::LanguageExtensions transform does before SAM's, for the one extension the
    template uses: every Fn::ForEach loop becomes the resources it names. Parameters, conditions and other
    intrinsics are left for CloudFormation (SAM CLI's full pipeline would resolve them with their defaults)."""
    transforms = sam.get("Transform", [])
    transforms = [transforms] if isinstance(transforms, str) else list(transforms)
    if LANGUAGE_EXTENSIONS not in transforms:
        return sam
    context = TemplateProcessingContext(fragment=copy.deepcopy(sam))
    TemplateParsingProcessor().process_template(context)
    ForEachProcessor().process_template(context)
    expanded: dict[str, Any] = _literal_names(context.fragment)
    text = json.dumps(expanded)
    unexpanded = [name for name in _NOT_EXPANDED if f'"{name}"' in text]
    if unexpanded:
        raise ValueError(f"{', '.join(unexpanded)}: expanded by CloudFormation only, not by the local cloud")
    expanded["Transform"] = [name for name in transforms if name != LANGUAGE_EXTENSIONS]
    return expanded


def _literal_names(value: Any) -> Any:
    """`Ref: !Sub ${Function}Function` names a resource from a loop's identifier (the transform allows an
    intrinsic inside Ref and Fn::GetAtt); once the loop is expanded the Fn::Sub is a plain name: use it."""

    def literal(name: Any) -> Any:
        plain = isinstance(name, dict) and list(name) == ["Fn::Sub"] and isinstance(name["Fn::Sub"], str)
        return name["Fn::Sub"] if plain and "${" not in name["Fn::Sub"] else name

    if isinstance(value, list):
        return [_literal_names(item) for item in value]
    if not isinstance(value, dict):
        return value
    if list(value) == ["Ref"]:
        return {"Ref": literal(value["Ref"])}
    if list(value) == ["Fn::GetAtt"] and isinstance(value["Fn::GetAtt"], list) and value["Fn::GetAtt"]:
        name, *attribute = value["Fn::GetAtt"]
        return {"Fn::GetAtt": [literal(name), *attribute]}
    return {key: _literal_names(item) for key, item in value.items()}


_TRANSFORM_LOCK = threading.Lock()  # one transform at a time: the region is set on the translator's class


def to_cloudformation(
    sam: dict[str, Any], parameters: dict[str, str] | None = None, base: Path = ROOT, region: str | None = None
) -> Stack:
    """Expand the template's loops, then run the SAM transform offline, for `region` (None: the environment's,
    AWS_DEFAULT_REGION)."""
    sam = expand_language_extensions(sam)
    local = copy.deepcopy(sam)
    code_paths: dict[str, Path] = {}
    for logical_id, resource in local.get("Resources", {}).items():
        prop = _CODE_PROPERTIES.get(resource.get("Type", ""))
        uri = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(uri, str) and not uri.startswith("s3://"):
            code_paths[logical_id] = (base / uri).resolve()
            resource["Properties"][prop] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}"
    if region is None:
        cloudformation: dict[str, Any] = transform(local, parameters or {}, _NoManagedPolicies())
    else:
        # samtranslator's transform() reads the region from boto3's default session (the environment); its Translator
        # takes a session, and sets the region on a class attribute for its ARNs: one translation at a time, and the
        # attribute put back after.
        with _TRANSFORM_LOCK, mock.patch.object(ArnGenerator, "BOTO_SESSION_REGION_NAME", region):
            translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
            values = dict(parameters or {})
            to_py27_compatible_template(local, values)
            translated = translator.translate(local, parameter_values=values, get_managed_policy_map=dict)
            cloudformation = undo_mark_unicode_str_in_template(translated)
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

"""The checked-in OpenAPI document is generated from the code, and the code's routes are the template's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.template import load_stack
from tools.openapi import DOCUMENT, build_document, render

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def template_routes() -> dict[tuple[str, str], str]:
    """(path, method) of every Api event in the SAM template, mapped to what it asks of the caller."""
    routes = {}
    for resource in load_stack().sam["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            props = event["Properties"]
            auth = props.get("Auth", {})
            if auth.get("ApiKeyRequired"):
                protection = "CarrierApiKey"
            elif auth.get("Authorizer") == "NONE":
                protection = "public"
            else:
                protection = "CognitoIdToken"
            routes[(props["Path"], props["Method"].lower())] = protection
    return routes


def document_routes(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (path, method): next(iter(operation["security"][0])) if operation.get("security") else "public"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in HTTP_METHODS
    }


def test_checked_in_document_matches_the_code(document: dict[str, Any]) -> None:
    checked_in = json.loads(DOCUMENT.read_text())
    assert checked_in == document, "docs/openapi.json is out of date: run `make openapi`"
    assert DOCUMENT.read_text() == render(document)


def test_every_template_route_is_served_by_the_code_with_the_same_protection(document: dict[str, Any]) -> None:
    assert document_routes(document) == template_routes()


def test_every_error_response_is_a_problem_document(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (path, method, status)

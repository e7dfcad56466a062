"""The template's CloudFront viewer-response function, run locally by Node.js as the local cloud does."""

from __future__ import annotations

import pytest

from localcloud.edge import EdgeFunctionError, default_viewer_response_code, run_function, viewer_response_headers
from localcloud.template import load_stack


def function_codes() -> dict[str, str]:
    resources = load_stack().cloudformation["Resources"]
    return {
        logical_id: resource["Properties"]["FunctionCode"]
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::CloudFront::Function"
    }


def test_the_default_behaviours_viewer_response_function_is_found_in_the_template() -> None:
    code = default_viewer_response_code(load_stack().cloudformation["Resources"], function_codes())

    assert code == function_codes()["ViewerResponseFunction"]


def test_its_security_headers_are_what_the_local_gateway_adds() -> None:
    headers = {
        name.lower(): value
        for name, value in viewer_response_headers(function_codes()["ViewerResponseFunction"]).items()
    }

    assert headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["strict-transport-security"].startswith("max-age=")


def test_a_function_that_throws_is_a_clear_error() -> None:
    with pytest.raises(EdgeFunctionError, match="boom"):
        run_function("function handler(event) { throw new Error('boom'); }", {})

"""CloudFront Functions of the template, run locally with Node.js exactly as written in the template.

The local distribution (localcloud.distribution) runs no CloudFront Functions; instead, the viewer-response
function of the distribution's default behaviour is run once at start-up and the headers it sets are added to every
successful response, so the security headers seen locally are the deployed ones. (CloudFront does not run
viewer-response functions for origin errors, status 400 and above, and neither does the local cloud.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

# Like CloudFront: a fresh context with only the language's built-ins, strict mode, JSON in and out.
_RUNNER = r"""
const vm = require('node:vm');
const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
const context = vm.createContext({});
new vm.Script("'use strict';\n" + input.code).runInContext(context);
const json = vm.runInContext('JSON', context);
process.stdout.write(json.stringify(context.handler(json.parse(JSON.stringify(input.event)))));
"""


class EdgeFunctionError(RuntimeError):
    """The function could not be run (Node.js missing, or the code failed)."""


def run_function(code: str, event: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        raise EdgeFunctionError("Node.js is needed to run the template's CloudFront Functions locally")
    done = subprocess.run(  # noqa: S603  (node from PATH running a fixed script on the template's code)
        [node, "-e", _RUNNER],
        input=json.dumps({"code": code, "event": event}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        raise EdgeFunctionError(f"the CloudFront Function failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def viewer_response_headers(code: str) -> dict[str, str]:
    """The headers a viewer-response function sets on a plain 200 response (header names as it writes them)."""
    event = {
        "version": "1.0",
        "context": {"distributionDomainName": "localhost", "eventType": "viewer-response"},
        "viewer": {"ip": "127.0.0.1"},
        "request": {"method": "GET", "uri": "/index.html", "querystring": {}, "headers": {}, "cookies": {}},
        "response": {"statusCode": 200, "statusDescription": "OK", "headers": {}, "cookies": {}},
    }
    headers = run_function(code, event).get("headers", {})
    return {name: str(header["value"]) for name, header in headers.items()}


def default_viewer_response_code(resources: dict[str, Any], function_codes: dict[str, str]) -> str | None:
    """The code of the viewer-response function on the first distribution's default behaviour, if any.

    `function_codes` maps a CloudFront Function's logical id to its FunctionCode.
    """
    for resource in resources.values():
        if resource.get("Type") != "AWS::CloudFront::Distribution":
            continue
        behaviour = resource["Properties"]["DistributionConfig"].get("DefaultCacheBehavior", {})
        for association in behaviour.get("FunctionAssociations", []):
            arn = association.get("FunctionARN", {})
            target = arn.get("Fn::GetAtt", [None])[0] if isinstance(arn, dict) else None
            if association.get("EventType") == "viewer-response" and target in function_codes:
                return function_codes[target]
    return None

"""The edge: the CloudFront Functions deployed from template.yaml are edge/<name>.js byte for byte, edge/'s node
tests pass, and the distribution is wired as designed (a private console bucket read only through the
distribution, HTTPS only, the API uncached but for the catalog, Cognito on the console's origin, each function
on its behaviours)."""

from __future__ import annotations

import ast
import copy
import difflib
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from localcloud.template import ROOT, load_stack
from tests.template import checks

EDGE = ROOT / "edge"
# Each CloudFront Function of the template and the file in edge/ that is its code.
EDGE_FUNCTIONS = {"ViewerRequestFunction": "viewer-request.js", "ViewerResponseFunction": "viewer-response.js"}
RUNTIME = "cloudfront-js-2.0"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CATALOG_QUERY_KEYS = ["limit", "nextToken"]
CATALOG_MAX_TTL_SECONDS = 300
CLOUDFRONT = {"Service": "cloudfront.amazonaws.com"}
HTTPS_ONLY = frozenset({"redirect-to-https", "https-only"})
NODE_TIMEOUT_SECONDS = 120

Template = Mapping[str, Any]


# ---------------------------------------------------------------------------------------------------------------
# Checks: each returns the problems it finds as sentences
# ---------------------------------------------------------------------------------------------------------------
def function_code_problems(template: Template, edge: Path = EDGE) -> list[str]:
    """Every CloudFront Function runs cloudfront-js-2.0, is published, and its code is its edge/ file exactly."""
    functions = checks.resources(template, "AWS::CloudFront::Function")
    problems = [f"{logical_id}: no file in edge/ is its code" for logical_id in functions.keys() - EDGE_FUNCTIONS]
    for logical_id, file in EDGE_FUNCTIONS.items():
        if logical_id not in functions:
            problems.append(f"{logical_id}: missing (edge/{file} is deployed by nothing)")
            continue
        properties = functions[logical_id]["Properties"]
        if properties.get("FunctionConfig", {}).get("Runtime") != RUNTIME:
            problems.append(f"{logical_id}: runtime is not {RUNTIME}")
        if properties.get("AutoPublish") is not True:
            problems.append(f"{logical_id}: AutoPublish is not true, so the distribution would run a stale version")
        deployed = properties.get("FunctionCode")
        wanted = (edge / file).read_bytes()
        if not isinstance(deployed, str) or deployed.encode("utf-8") != wanted:
            diff = difflib.unified_diff(
                wanted.decode("utf-8").splitlines(),
                str(deployed).splitlines(),
                f"edge/{file}",
                f"template.yaml {logical_id}.FunctionCode",
                lineterm="",
            )
            problems.append(
                f"{logical_id}: FunctionCode is not edge/{file} byte for byte (paste the file into the template, "
                "indented under `FunctionCode: |`):\n" + "\n".join(list(diff)[:40])
            )
    return problems


def _target(value: Any) -> str | None:
    """The logical id a Ref or Fn::GetAtt names; None for anything else."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(checks.as_list(value["Fn::GetAtt"])[0]).split(".")[0]
    return None


def _behaviours(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Cache behaviours by path pattern, the default one as "*"."""
    found = {"*": config.get("DefaultCacheBehavior", {})}
    # A behaviour made only under a condition (Fn::If, e.g. /images/*) is held to the same rules.
    for behaviour in config.get("CacheBehaviors", []):
        found.update({chosen["PathPattern"]: chosen for chosen in checks.alternatives(behaviour)})
    return found


def _associations(behaviour: Mapping[str, Any]) -> dict[str, str | None]:
    """Event type -> the logical id of the function associated with it."""
    associations = behaviour.get("FunctionAssociations", [])
    return {association["EventType"]: _target(association.get("FunctionARN")) for association in associations}


def _origin_problems(config: Mapping[str, Any], template: Template) -> list[str]:
    origins = {origin["Id"]: origin for origin in config.get("Origins", [])}
    problems = []
    console = origins.get("console", {})
    if _target(console.get("DomainName")) != "ConsoleBucket":
        problems.append("the console origin is not ConsoleBucket")
    if _target(console.get("OriginAccessControlId")) not in checks.resources(
        template, "AWS::CloudFront::OriginAccessControl"
    ):
        problems.append("the console origin is not signed by an origin access control of this template")
    api = origins.get("api", {})
    if checks.as_text(api.get("DomainName")) != "${Api}.execute-api.${AWS::Region}.amazonaws.com":
        problems.append("the api origin is not the REST API's execute-api domain")
    if api.get("OriginPath"):
        problems.append("the api origin has an origin path (the stage is named api: /api/x is already its /x)")
    if api.get("CustomOriginConfig", {}).get("OriginProtocolPolicy") != "https-only":
        problems.append("the api origin is not reached over HTTPS only")
    cognito = origins.get("cognito", {})
    if checks.as_text(cognito.get("DomainName")) != "cognito-idp.${AWS::Region}.amazonaws.com":
        problems.append("no cognito origin at Cognito's endpoint in the stack's region")
    if cognito.get("CustomOriginConfig", {}).get("OriginProtocolPolicy") != "https-only":
        problems.append("the cognito origin is not reached over HTTPS only")
    return problems


def _cognito_behaviour_problems(behaviours: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The console's only other host was Cognito: on its own origin, the CSP's connect-src is 'self' alone."""
    cognito = behaviours.get("/cognito", {})
    problems = []
    if cognito.get("TargetOriginId") != "cognito":
        problems.append("no /cognito behaviour to the cognito origin")
    if (cognito.get("CachePolicyId"), cognito.get("OriginRequestPolicyId")) != (
        CACHING_DISABLED,
        ALL_VIEWER_EXCEPT_HOST_HEADER,
    ):
        problems.append("/cognito is not CachingDisabled with AllViewerExceptHostHeader")
    if "POST" not in cognito.get("AllowedMethods", []):
        problems.append("/cognito does not take POST")
    if _associations(cognito).get("viewer-request") != "ViewerRequestFunction":
        problems.append("/cognito does not run ViewerRequestFunction (which sends it to Cognito's root)")
    return problems


def _behaviour_problems(config: Mapping[str, Any], template: Template) -> list[str]:
    behaviours = _behaviours(config)
    problems = [
        f"behaviour {pattern}: viewers may use plain HTTP"
        for pattern, behaviour in behaviours.items()
        if behaviour.get("ViewerProtocolPolicy") not in HTTPS_ONLY
    ]
    problems += [
        f"behaviour {pattern}: no security headers (viewer-response is not ViewerResponseFunction)"
        for pattern, behaviour in behaviours.items()
        if _associations(behaviour).get("viewer-response") != "ViewerResponseFunction"
    ]
    if _associations(behaviours["*"]).get("viewer-request") != "ViewerRequestFunction":
        problems.append("the default behaviour does not run ViewerRequestFunction (console routes, traversal)")
    if behaviours["*"].get("TargetOriginId") != "console":
        problems.append("the default behaviour does not serve the console")
    api = behaviours.get("/api/*", {})
    if api.get("TargetOriginId") != "api":
        problems.append("no /api/* behaviour to the api origin")
    if (api.get("CachePolicyId"), api.get("OriginRequestPolicyId")) != (
        CACHING_DISABLED,
        ALL_VIEWER_EXCEPT_HOST_HEADER,
    ):
        problems.append("/api/* is not CachingDisabled with AllViewerExceptHostHeader")
    problems += _cognito_behaviour_problems(behaviours)
    patterns = list(behaviours)
    catalog = behaviours.get("/api/products*", {})
    ahead = "/api/products*" in patterns and patterns.index("/api/products*") < patterns.index("/api/*")
    if catalog.get("TargetOriginId") != "api" or not ahead:
        problems.append("no /api/products* behaviour to the api origin ahead of /api/*")
    if set(catalog.get("AllowedMethods", [])) != {"GET", "HEAD"}:
        problems.append("/api/products* is cached but takes more than GET and HEAD")
    policy = checks.resources(template, "AWS::CloudFront::CachePolicy").get(
        str(_target(catalog.get("CachePolicyId"))), {}
    )
    settings = policy.get("Properties", {}).get("CachePolicyConfig", {})
    query = settings.get("ParametersInCacheKeyAndForwardedToOrigin", {}).get("QueryStringsConfig", {})
    if query.get("QueryStringBehavior") != "whitelist" or sorted(query.get("QueryStrings", [])) != CATALOG_QUERY_KEYS:
        problems.append(f"/api/products*: the cache key's query strings are not exactly {CATALOG_QUERY_KEYS}")
    if not isinstance(settings.get("MaxTTL"), int) or settings["MaxTTL"] > CATALOG_MAX_TTL_SECONDS:
        problems.append(f"/api/products*: cached for longer than {CATALOG_MAX_TTL_SECONDS} s")
    return problems


def distribution_problems(template: Template) -> list[str]:
    """The one distribution: console at /, API at /api/*, Cognito at /cognito, HTTPS only, the price class a
    parameter, logs kept."""
    distributions = checks.resources(template, "AWS::CloudFront::Distribution")
    if len(distributions) != 1:
        return [f"{len(distributions)} distributions, expected one"]
    config = next(iter(distributions.values()))["Properties"]["DistributionConfig"]
    problems = _origin_problems(config, template) + _behaviour_problems(config, template)
    if config.get("PriceClass") != {"Ref": "PriceClass"}:
        problems.append("the price class is not the PriceClass parameter")
    log_bucket = checks.resources(template, "AWS::S3::Bucket").get(
        str(_target(config.get("Logging", {}).get("Bucket")))
    )
    if (log_bucket or {}).get("Properties", {}).get("OwnershipControls", {}).get("Rules") != [
        {"ObjectOwnership": "BucketOwnerPreferred"}
    ]:
        problems.append("no access logs to a bucket that takes CloudFront's ACL grant (BucketOwnerPreferred)")
    return problems


def console_bucket_problems(template: Template) -> list[str]:
    """The console bucket is private and encrypted, and its policy lets only this distribution read it."""
    bucket = checks.resources(template, "AWS::S3::Bucket").get("ConsoleBucket", {}).get("Properties", {})
    problems = []
    block = bucket.get("PublicAccessBlockConfiguration", {})
    public = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    if not all(block.get(setting) is True for setting in public):
        problems.append("ConsoleBucket: public access is not blocked")
    if not bucket.get("BucketEncryption"):
        problems.append("ConsoleBucket: no default encryption")
    policies = [
        policy["Properties"]["PolicyDocument"]
        for policy in checks.resources(template, "AWS::S3::BucketPolicy").values()
        if policy["Properties"].get("Bucket") == {"Ref": "ConsoleBucket"}
    ]
    allows = [s for document in policies for s in checks.statements(document) if s.get("Effect") == "Allow"]
    if not allows:
        problems.append("ConsoleBucket: no bucket policy lets CloudFront read it")
    for statement in allows:
        if (statement.get("Principal"), statement.get("Action")) != (CLOUDFRONT, "s3:GetObject"):
            problems.append("ConsoleBucket: the policy allows more than CloudFront reading objects")
        source = checks.as_text(statement.get("Condition", {}).get("StringEquals", {}).get("AWS:SourceArn")) or ""
        if not source.endswith(":distribution/${Distribution}"):
            problems.append("ConsoleBucket: CloudFront's read is not limited to this distribution (AWS:SourceArn)")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cloudformation() -> dict[str, Any]:
    return load_stack().cloudformation


def _node() -> str:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH: edge/ is tested with Node.js 20 or later (node --test edge/)"
    return node


def test_deployed_function_code_is_the_file_in_edge(cloudformation: dict[str, Any]) -> None:
    assert function_code_problems(cloudformation) == []


def test_the_distribution_serves_the_console_and_the_api_over_https(cloudformation: dict[str, Any]) -> None:
    assert distribution_problems(cloudformation) == []


def test_only_the_distribution_reads_the_console_bucket(cloudformation: dict[str, Any]) -> None:
    assert console_bucket_problems(cloudformation) == []


def test_node_tests_of_edge_pass(template_summary: list[str]) -> None:
    result = subprocess.run(  # noqa: S603  (node from PATH, fixed arguments)
        [_node(), "--test", "edge/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
        check=False,
    )

    assert result.returncode == 0, f"node --test edge/ failed:\n{result.stdout}{result.stderr}"
    counts = dict(re.findall(r"^# (tests|pass|fail|skipped) (\d+)$", result.stdout, re.MULTILINE))
    template_summary.append(f"node --test edge/: {counts.get('pass')} of {counts.get('tests')} passed")
    for file in EDGE_FUNCTIONS.values():
        template_summary.append(f"edge/{file}: {len((EDGE / file).read_bytes())} bytes (CloudFront's limit: 10 KB)")


def _policy_edge_sends() -> str:
    script = (
        "const { loadHandler, viewerResponse } = require('./edge/sandbox.js');"
        "const headers = loadHandler('viewer-response.js')(viewerResponse()).headers;"
        "process.stdout.write(headers['content-security-policy'].value);"
    )
    return subprocess.run(  # noqa: S603  (node from PATH, fixed script)
        [_node(), "-e", script], cwd=ROOT, capture_output=True, text=True, timeout=NODE_TIMEOUT_SECONDS, check=True
    ).stdout


def _regions(settings: Mapping[str, Any]) -> set[str]:
    """Every `region` samconfig.toml sets, in any environment and command."""
    found = {str(settings["region"])} if "region" in settings else set()
    for value in settings.values():
        if isinstance(value, Mapping):
            found |= _regions(value)
    return found


def test_the_console_may_open_its_websocket_in_every_region_the_stack_is_deployed_to(
    cloudformation: dict[str, Any],
) -> None:
    # The function's code is static: its connect-src names the WebSocket API's host by region, not by id.
    url = checks.as_text(cloudformation["Outputs"]["WebSocketUrl"]["Value"]) or ""
    regions = _regions(tomllib.loads((ROOT / "samconfig.toml").read_text()))
    connect = next(d.split()[1:] for d in _policy_edge_sends().split(";") if d.split()[:1] == ["connect-src"])

    assert url.startswith("wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"), url
    assert regions, "samconfig.toml names no region"
    missing = [region for region in sorted(regions) if f"wss://*.execute-api.{region}.amazonaws.com" not in connect]
    assert not missing, f"connect-src {connect} refuses the live updates' socket of the stack in {missing}"


def test_the_browser_tests_hold_the_console_to_the_policy_edge_sends() -> None:
    conftest = ROOT / "tests" / "browser" / "conftest.py"
    if not conftest.is_file():
        pytest.skip("no browser tests for the console")
    assigned = {
        target.id: node.value
        for node in ast.parse(conftest.read_text()).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert "CONSOLE_CSP" in assigned, f"{conftest} no longer names the policy it tests the console with CONSOLE_CSP"

    sent = _policy_edge_sends()

    assert ast.literal_eval(assigned["CONSOLE_CSP"]) == sent


# ---------------------------------------------------------------------------------------------------------------
# Each check on a broken copy, to show it can fail
# ---------------------------------------------------------------------------------------------------------------
def _resource(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return resource


def _config(template: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = _resource(template, "Distribution")["DistributionConfig"]
    return config


def _api_behaviour(template: dict[str, Any]) -> dict[str, Any]:
    behaviour: dict[str, Any] = _config(template)["CacheBehaviors"][1]
    assert behaviour["PathPattern"] == "/api/*"
    return behaviour


def _one_more_byte(template: dict[str, Any]) -> None:
    _resource(template, "ViewerRequestFunction")["FunctionCode"] += " "


def _old_runtime(template: dict[str, Any]) -> None:
    _resource(template, "ViewerResponseFunction")["FunctionConfig"]["Runtime"] = "cloudfront-js-1.0"


def _cached_api(template: dict[str, Any]) -> None:
    _api_behaviour(template)["CachePolicyId"] = "658327ea-f89d-4fab-a63d-7e88639e58f6"


def _plain_http(template: dict[str, Any]) -> None:
    _config(template)["DefaultCacheBehavior"]["ViewerProtocolPolicy"] = "allow-all"


def _api_without_headers(template: dict[str, Any]) -> None:
    _api_behaviour(template)["FunctionAssociations"] = []


def _cached_cognito(template: dict[str, Any]) -> None:
    (cognito,) = [b for b in _config(template)["CacheBehaviors"] if b.get("PathPattern") == "/cognito"]
    cognito["CachePolicyId"] = "658327ea-f89d-4fab-a63d-7e88639e58f6"


def _cognito_elsewhere(template: dict[str, Any]) -> None:
    (cognito,) = [o for o in _config(template)["Origins"] if o["Id"] == "cognito"]
    cognito["DomainName"] = "cognito-idp.us-east-1.amazonaws.com"


def _catalog_after_api(template: dict[str, Any]) -> None:
    _config(template)["CacheBehaviors"].reverse()


def _catalog_keyed_on_everything(template: dict[str, Any]) -> None:
    settings = _resource(template, "ProductsCachePolicy")["CachePolicyConfig"]
    settings["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"] = {"QueryStringBehavior": "all"}


def _any_distribution_reads(template: dict[str, Any]) -> None:
    statement = _resource(template, "ConsoleBucketPolicy")["PolicyDocument"]["Statement"][0]
    statement = statement["Fn::If"][1]  # the statement made when there is a distribution (not for a PRIVATE API)
    del statement["Condition"]


def _public_console(template: dict[str, Any]) -> None:
    _resource(template, "ConsoleBucket")["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] = False


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], Callable[[Template], list[str]], str]] = {
    "code differs by a byte": (_one_more_byte, function_code_problems, "not edge/viewer-request.js byte for byte"),
    "old runtime": (_old_runtime, function_code_problems, "runtime is not cloudfront-js-2.0"),
    "API cached": (_cached_api, distribution_problems, "/api/* is not CachingDisabled"),
    "Cognito cached": (_cached_cognito, distribution_problems, "/cognito is not CachingDisabled"),
    "Cognito in another region": (_cognito_elsewhere, distribution_problems, "no cognito origin at Cognito's"),
    "plain HTTP": (_plain_http, distribution_problems, "behaviour *: viewers may use plain HTTP"),
    "API without security headers": (_api_without_headers, distribution_problems, "behaviour /api/*: no security"),
    "catalog after the API": (_catalog_after_api, distribution_problems, "ahead of /api/*"),
    "catalog keyed on every query": (_catalog_keyed_on_everything, distribution_problems, "query strings are not"),
    "any distribution reads": (_any_distribution_reads, console_bucket_problems, "not limited to this distribution"),
    "public console bucket": (_public_console, console_bucket_problems, "public access is not blocked"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_check_reports_a_broken_edge(case: str, cloudformation: dict[str, Any]) -> None:
    breaks, check, expected = BROKEN[case]
    broken = copy.deepcopy(cloudformation)
    breaks(broken)

    problems = check(broken)

    assert any(expected in problem for problem in problems), problems

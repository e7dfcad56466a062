"""The API's edge after the SAM transform, for every endpoint type with and without a custom domain, and with the
catalog cache on and off (docs/api-edge.md); the Rules, evaluated on parameter sets, refuse each combination that
cannot work and accept the ones that can. Each check is also run on a broken copy of the template, to show it can
fail."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from localcloud.template import read_sam, to_cloudformation
from tests.template import checks

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0b6d4c5e-1111-2222-3333-444455556666"
REGIONAL_CERTIFICATE = CERTIFICATE.replace("us-east-1", "eu-west-1")
VPC_ENDPOINT = "vpce-0a1b2c3d4e5f60718"
DOMAIN = {"DomainName": "shop.example.com", "CertificateArn": CERTIFICATE, "HostedZoneId": "Z0123456789ABC"}
PRIVATE = {"EndpointType": "PRIVATE", "VpcEndpointId": VPC_ENDPOINT}

# Every endpoint type, with and without a domain (a PRIVATE API takes none: the rules refuse it, below).
CHOICES: dict[str, dict[str, str]] = {
    "REGIONAL": {},
    "REGIONAL, domain": {**DOMAIN},
    "REGIONAL, domain without zone": {"DomainName": "shop.example.com", "CertificateArn": CERTIFICATE},
    "REGIONAL, domain, eu-west-1": {
        **DOMAIN,
        "AWS::Region": "eu-west-1",
        "EnableWaf": "false",
        "ApiCertificateArn": REGIONAL_CERTIFICATE,
    },
    "EDGE": {"EndpointType": "EDGE"},
    "EDGE, domain": {"EndpointType": "EDGE", **DOMAIN},
    "EDGE, domain, eu-west-1": {"EndpointType": "EDGE", **DOMAIN, "AWS::Region": "eu-west-1", "EnableWaf": "false"},
    "PRIVATE": {**PRIVATE},
    "PRIVATE, prod, eu-west-1 with WAF on": {**PRIVATE, "Stage": "prod", "AWS::Region": "eu-west-1"},
}


@cache
def transformed(region: str = "us-east-1") -> dict[str, Any]:
    """template.yaml after the SAM transform (conditions are kept: one transform serves every parameter set)."""
    return to_cloudformation(read_sam(), region=region).cloudformation


def _of(parameters: dict[str, str]) -> dict[str, Any]:
    return transformed(parameters.get("AWS::Region", "us-east-1"))


def _made(parameters: dict[str, str], resource_type: str | None = None) -> dict[str, Any]:
    return checks.made(_of(parameters), parameters, resource_type)


@pytest.mark.parametrize("parameters", CHOICES.values(), ids=CHOICES)
def test_each_endpoint_type_with_and_without_a_domain_is_accepted_and_complete(parameters: dict[str, str]) -> None:
    cloudformation = _of(parameters)

    assert checks.parameter_problems(cloudformation, parameters) == []
    assert checks.refusing_rules(cloudformation, parameters) == []
    assert checks.endpoint_problems(cloudformation, parameters) == []
    assert checks.custom_domain_problems(cloudformation, parameters) == []
    assert checks.catalog_cache_problems(cloudformation, parameters) == []
    if parameters.get("EndpointType") != "PRIVATE":
        assert checks.edge_security_problems(cloudformation, parameters) == []


def test_a_private_api_answers_only_through_its_vpc_endpoint_with_no_cloudfront() -> None:
    api = _made(PRIVATE)["Api"]["Properties"]
    made = _made(PRIVATE)

    assert api["EndpointConfiguration"] == {
        "Types": [{"Ref": "EndpointType"}],
        "VpcEndpointIds": [{"Ref": "VpcEndpointId"}],
    }
    deny, allow = api["Policy"]["Statement"]
    assert (deny["Effect"], deny["Action"], deny["Condition"]) == (
        "Deny",
        "execute-api:Invoke",
        {"StringNotEquals": {"aws:SourceVpce": {"Ref": "VpcEndpointId"}}},
    )
    assert (allow["Effect"], allow["Condition"]) == (
        "Allow",
        {"StringEquals": {"aws:SourceVpce": {"Ref": "VpcEndpointId"}}},
    )
    cloudfront = {
        logical_id for logical_id, r in made.items() if r["Type"].startswith(("AWS::CloudFront::", "AWS::WAFv2::"))
    }
    assert cloudfront == set()
    assert "ConsoleBucket" in made  # the bucket stays (publish-console and the reports' logs), unread by anyone
    assert not {"ConsoleUrl", "DistributionId"} & {
        name for name, output in _of(PRIVATE)["Outputs"].items() if checks._made(output, PRIVATE, _of(PRIVATE))
    }


@pytest.mark.parametrize("endpoint_type", ["REGIONAL", "EDGE"])
def test_a_public_api_has_no_resource_policy_and_cloudfront_in_front(endpoint_type: str) -> None:
    parameters = {"EndpointType": endpoint_type}
    api = _made(parameters)["Api"]["Properties"]

    assert "Policy" not in api
    assert api["EndpointConfiguration"] == {"Types": [{"Ref": "EndpointType"}]}
    assert set(_made(parameters, "AWS::CloudFront::Distribution")) == {"Distribution"}


@pytest.mark.parametrize(
    ("endpoint_type", "certificate", "target"),
    [
        ("REGIONAL", {"RegionalCertificateArn": {"Ref": "CertificateArn"}}, "Regional"),
        ("EDGE", {"CertificateArn": {"Ref": "CertificateArn"}}, "Distribution"),
    ],
)
def test_a_domain_takes_the_endpoint_type_its_certificate_and_its_alias(
    endpoint_type: str, certificate: dict[str, Any], target: str
) -> None:
    parameters = {"EndpointType": endpoint_type, **DOMAIN}

    domain = _made(parameters)["ApiDomain"]["Properties"]
    mapping = _made(parameters)["ApiDomainMapping"]["Properties"]
    record = _made(parameters)["ApiDomainRecord"]["Properties"]

    assert domain["SecurityPolicy"] == "TLS_1_2"
    assert checks.evaluate(domain["EndpointConfiguration"]["Types"][0], parameters, _of(parameters)) == endpoint_type
    assert {k: v for k, v in domain.items() if k.endswith("CertificateArn")} == certificate
    assert (mapping["DomainName"], mapping["RestApiId"], mapping["Stage"]) == (
        {"Ref": "ApiDomain"},
        {"Ref": "Api"},
        "api",
    )
    assert record["AliasTarget"] == {
        "DNSName": {"Fn::GetAtt": ["ApiDomain", f"{target}DomainName"]},
        "HostedZoneId": {"Fn::GetAtt": ["ApiDomain", f"{target}HostedZoneId"]},
    }


@pytest.mark.parametrize("endpoint_type", ["REGIONAL", "EDGE"])
def test_without_a_domain_the_stack_is_as_before(endpoint_type: str) -> None:
    parameters = {"EndpointType": endpoint_type}
    config = _made(parameters)["Distribution"]["Properties"]["DistributionConfig"]

    assert _made(parameters, "AWS::ApiGateway::DomainName") == {}
    assert _made(parameters, "AWS::ApiGateway::BasePathMapping") == {}
    assert _made(parameters, "AWS::Route53::RecordSet") == _made(parameters, "AWS::Route53::RecordSetGroup") == {}
    assert "Aliases" not in config
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}


CACHE_SWITCH = {
    "dev by default: off": ({}, False),
    "prod by default: on": ({"Stage": "prod"}, True),
    "dev, turned on": ({"EnableApiCache": "true"}, True),
    "prod, turned off": ({"Stage": "prod", "EnableApiCache": "false"}, False),
    "private prod: on": ({**PRIVATE, "Stage": "prod"}, True),
}


@pytest.mark.parametrize(("parameters", "on"), CACHE_SWITCH.values(), ids=CACHE_SWITCH)
def test_the_catalog_cache_follows_its_switch_and_caches_only_the_public_catalog(
    parameters: dict[str, str], on: bool
) -> None:
    stage = _made(parameters)["ApiapiStage"]["Properties"]
    cached = {
        (s["ResourcePath"], s["HttpMethod"]): s["CachingEnabled"]
        for s in stage["MethodSettings"]
        if "CachingEnabled" in s
    }

    assert stage["CacheClusterEnabled"] is on
    assert cached == {("/~1products", "GET"): on, ("/~1products~1{productId}", "GET"): on}
    assert checks.catalog_cache_problems(_of(parameters), parameters) == []


def test_the_catalog_is_keyed_on_what_the_handler_reads_and_origin() -> None:
    paths = _made({})["Api"]["Properties"]["Body"]["paths"]

    keys = {
        path: paths[path]["get"]["x-amazon-apigateway-integration"]["cacheKeyParameters"]
        for path in ("/products", "/products/{productId}")
    }

    assert keys == {
        "/products": [
            "method.request.querystring.limit",
            "method.request.querystring.nextToken",
            "method.request.header.Origin",
        ],
        "/products/{productId}": ["method.request.path.productId", "method.request.header.Origin"],
    }


# ---------------------------------------------------------------------------------------------------------------
# The Rules
# ---------------------------------------------------------------------------------------------------------------
# Each combination that cannot work, and what refuses it: a rule (by name) or a parameter's own constraint.
REFUSED: dict[str, tuple[dict[str, str], str]] = {
    "PRIVATE without a VPC endpoint": ({"EndpointType": "PRIVATE"}, "PrivateApiThroughItsVpcEndpoint"),
    "a VPC endpoint on a REGIONAL API": ({"VpcEndpointId": VPC_ENDPOINT}, "VpcEndpointOnlyForPrivateApi"),
    "a VPC endpoint on an EDGE API": (
        {"EndpointType": "EDGE", "VpcEndpointId": VPC_ENDPOINT},
        "VpcEndpointOnlyForPrivateApi",
    ),
    "PRIVATE with a custom domain": ({**PRIVATE, **DOMAIN}, "PrivateApiAlone"),
    "PRIVATE behind CloudFront's web ACL": (
        {**PRIVATE, "WebAclArn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/shop/1a2b"},
        "PrivateApiAlone",
    ),
    "an EDGE domain with a regional certificate": (
        {"EndpointType": "EDGE", **DOMAIN, "ApiCertificateArn": REGIONAL_CERTIFICATE},
        "EdgeDomainCertificateFromUsEast1",
    ),
    "an EDGE domain whose certificate is not in us-east-1": (
        {"EndpointType": "EDGE", **DOMAIN, "CertificateArn": REGIONAL_CERTIFICATE},
        "parameter",
    ),
    "a domain without a certificate": ({"DomainName": "shop.example.com"}, "DomainWithCertificate"),
    "an EDGE domain without a certificate": (
        {"EndpointType": "EDGE", "DomainName": "shop.example.com"},
        "DomainWithCertificate",
    ),
    "a REGIONAL domain outside us-east-1 without a regional certificate": (
        {**DOMAIN, "AWS::Region": "eu-west-1", "EnableWaf": "false"},
        "DomainWithCertificate",
    ),
    "a hosted zone without a domain": ({"HostedZoneId": "Z0123456789ABC"}, "HostedZoneWithDomain"),
    "an endpoint type API Gateway does not have": ({"EndpointType": "GLOBAL"}, "parameter"),
    "a VPC endpoint id that is not one": ({**PRIVATE, "VpcEndpointId": "vpc-0a1b2c3d"}, "parameter"),
}


@pytest.mark.parametrize(("parameters", "refused_by"), REFUSED.values(), ids=REFUSED)
def test_the_rules_refuse_each_combination_that_cannot_work(parameters: dict[str, str], refused_by: str) -> None:
    cloudformation = transformed()

    refusing = checks.refusing_rules(cloudformation, parameters)
    constraints = checks.parameter_problems(cloudformation, parameters)

    if refused_by == "parameter":
        assert constraints != []
    else:
        assert constraints == []
        assert refusing == [refused_by]


def test_without_its_rule_a_refused_combination_would_deploy() -> None:
    # The evaluator is what the rule tests stand on: with the rule gone, the same parameters pass.
    cloudformation = copy.deepcopy(transformed())
    parameters, rule = REFUSED["PRIVATE with a custom domain"]
    del cloudformation["Rules"][rule]

    assert checks.refusing_rules(cloudformation, parameters) == []


def test_a_private_api_outside_us_east_1_is_not_refused_for_a_web_acl_it_does_not_make() -> None:
    parameters = {**PRIVATE, "AWS::Region": "eu-west-1"}

    assert checks.refusing_rules(transformed(), parameters) == []
    assert checks.refusing_rules(transformed(), {"AWS::Region": "eu-west-1"}) == ["WebAclFromUsEast1"]


# ---------------------------------------------------------------------------------------------------------------
# The checks fail on broken templates
# ---------------------------------------------------------------------------------------------------------------
def _api(sam: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = sam["Resources"]["Api"]["Properties"]
    return properties


def _private_policy(sam: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = _api(sam)["Policy"]["Fn::If"][1]["Statement"]
    return statements


def _allow_any_endpoint(sam: dict[str, Any]) -> None:
    del _private_policy(sam)[1]["Condition"]


def _no_deny(sam: dict[str, Any]) -> None:
    _private_policy(sam).pop(0)


def _cloudfront_always(sam: dict[str, Any]) -> None:
    del sam["Resources"]["Distribution"]["Condition"]


def _endpoint_always_regional(sam: dict[str, Any]) -> None:
    _api(sam)["EndpointConfiguration"]["Type"] = "REGIONAL"


def _cache_everything(sam: dict[str, Any]) -> None:
    _api(sam)["MethodSettings"][0]["CachingEnabled"] = True


def _cache_the_cart(sam: dict[str, Any]) -> None:
    setting = copy.deepcopy(_api(sam)["MethodSettings"][1])
    setting["ResourcePath"] = "/~1cart"
    _api(sam)["MethodSettings"].append(setting)


def _no_origin_key(sam: dict[str, Any]) -> None:
    sam["Resources"]["CatalogApiFunction"]["Properties"]["Events"]["GetProduct"]["Properties"][
        "RequestParameters"
    ].pop()


def _unencrypted_cache(sam: dict[str, Any]) -> None:
    _api(sam)["MethodSettings"][2]["CacheDataEncrypted"] = False


def _cached_without_throttling(sam: dict[str, Any]) -> None:
    del _api(sam)["MethodSettings"][1]["ThrottlingRateLimit"]


def _flush_every_api(sam: dict[str, Any]) -> None:
    statement = sam["Resources"]["CatalogCacheFlushRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    statement[-1]["Fn::If"][1]["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/*"}


def _domain_always_regional(sam: dict[str, Any]) -> None:
    sam["Resources"]["ApiDomain"]["Properties"]["EndpointConfiguration"]["Types"] = ["REGIONAL"]


def _record_always_regional(sam: dict[str, Any]) -> None:
    record = sam["Resources"]["ApiDomainRecord"]["Properties"]
    record["AliasTarget"] = record["AliasTarget"]["Fn::If"][2]


def _domain_on_tls_1_0(sam: dict[str, Any]) -> None:
    sam["Resources"]["ApiDomain"]["Properties"]["SecurityPolicy"] = "TLS_1_0"


Check = Callable[[dict[str, Any], dict[str, str]], list[str]]
EDGE_DOMAIN = {"EndpointType": "EDGE", **DOMAIN}
BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], Check, dict[str, str], str]] = {
    "any VPC endpoint allowed": (_allow_any_endpoint, checks.endpoint_problems, PRIVATE, "not limited to VpcEndpoint"),
    "no deny": (_no_deny, checks.endpoint_problems, PRIVATE, "no Deny of execute-api:Invoke"),
    "CloudFront in front of PRIVATE": (_cloudfront_always, checks.endpoint_problems, PRIVATE, "CloudFront in front"),
    "EndpointType ignored": (_endpoint_always_regional, checks.endpoint_problems, PRIVATE, "not [PRIVATE]"),
    "every method cached": (_cache_everything, checks.catalog_cache_problems, {}, "('*', '*'): caching set"),
    "the cart cached": (_cache_the_cart, checks.catalog_cache_problems, {}, "('/cart', 'get'): caching set"),
    "Origin not in the key": (_no_origin_key, checks.catalog_cache_problems, {}, "('/products/{productId}', 'get')"),
    "unencrypted cache": (_unencrypted_cache, checks.catalog_cache_problems, {}, "cached data is not encrypted"),
    "cache loses throttling": (_cached_without_throttling, checks.catalog_cache_problems, {}, "ThrottlingRateLimit"),
    "flush any API": (_flush_every_api, checks.catalog_cache_problems, {"Stage": "prod"}, "API Gateway grants"),
    "EDGE domain regional": (_domain_always_regional, checks.custom_domain_problems, EDGE_DOMAIN, "endpoint types"),
    "EDGE record regional": (_record_always_regional, checks.custom_domain_problems, EDGE_DOMAIN, "Distribution name"),
    "domain on TLS 1.0": (_domain_on_tls_1_0, checks.custom_domain_problems, DOMAIN, "security policy TLS_1_0"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_check_reports_a_broken_api_edge(case: str) -> None:
    break_template, check, parameters, expected = BROKEN[case]
    sam = copy.deepcopy(read_sam())
    break_template(sam)

    problems = check(to_cloudformation(sam).cloudformation, parameters)

    assert any(expected in problem for problem in problems), problems

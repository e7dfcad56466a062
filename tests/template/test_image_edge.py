"""Product images at the edge, on the transformed template: the resizer is a Lambda@Edge function as CloudFront
takes one (x86_64, no environment, no layers, a numbered version, edgelambda.amazonaws.com in its role's trust,
least privilege), on the origin request of /images/*, keyed on the path only; it is made only in us-east-1, and a
stack elsewhere associates the version given as ImageResizerVersionArn."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import pytest

from localcloud.template import load_stack, read_sam, to_cloudformation
from tests.template import checks

FUNCTION = "ImageResizerFunction"
GIVEN_VERSION = "arn:aws:lambda:us-east-1:123456789012:function:shop-image-resizer:7"

Template = Mapping[str, Any]


@pytest.fixture(scope="module")
def cloudformation() -> dict[str, Any]:
    return load_stack().cloudformation


def _resources(template: Template) -> dict[str, dict[str, Any]]:
    return checks.resources(template)


def _made(template: Template, logical_id: str, parameters: Mapping[str, str]) -> bool:
    condition = _resources(template)[logical_id].get("Condition")
    return condition is None or bool(checks.evaluate({"Condition": condition}, parameters, template))


def _images_behaviour(template: Template, parameters: Mapping[str, str]) -> dict[str, Any] | None:
    """The /images/* behaviour the distribution has with these parameters (None: none)."""
    config = _resources(template)["Distribution"]["Properties"]["DistributionConfig"]
    for behaviour in config.get("CacheBehaviors", []):
        chosen = checks.resolve(behaviour, parameters, template)
        if chosen is not None and chosen["PathPattern"] == "/images/*":
            return dict(chosen)
    return None


def _association(behaviour: Mapping[str, Any], parameters: Mapping[str, str], template: Template) -> dict[str, Any]:
    (association,) = behaviour["LambdaFunctionAssociations"]
    return {**association, "LambdaFunctionARN": checks.resolve(association["LambdaFunctionARN"], parameters, template)}


# ---------------------------------------------------------------------------------------------------------------
# The function
# ---------------------------------------------------------------------------------------------------------------
def test_the_resizer_is_x86_64_without_environment_layers_or_tracing(cloudformation: dict[str, Any]) -> None:
    properties = _resources(cloudformation)[FUNCTION]["Properties"]

    assert properties["Architectures"] == ["x86_64"]
    assert "Environment" not in properties
    assert "Layers" not in properties
    assert "TracingConfig" not in properties
    assert properties["Runtime"] == "python3.13"
    assert properties["Timeout"] <= 30  # origin-request triggers
    assert checks.lambda_at_edge(cloudformation) == {FUNCTION}


@pytest.mark.parametrize("switch", ["EnableSnapStart", "EnableProvisionedConcurrency"])
def test_the_warm_start_switches_leave_the_resizer_alone(switch: str) -> None:
    parameters = {switch: "true"}
    template = to_cloudformation(read_sam(), parameters).cloudformation

    properties = _resources(template)[FUNCTION]["Properties"]
    aliases = [a for a in _resources(template).values() if a["Type"] == "AWS::Lambda::Alias"]

    assert "SnapStart" not in properties
    assert all(
        "ProvisionedConcurrencyConfig" not in alias["Properties"]
        for alias in aliases
        if alias["Properties"]["FunctionName"] == {"Ref": FUNCTION}
    )
    assert checks.warm_start_problems(template, parameters) == []


def test_the_role_may_be_assumed_by_lambda_and_lambda_at_edge(cloudformation: dict[str, Any]) -> None:
    role = _resources(cloudformation)[f"{FUNCTION}Role"]["Properties"]

    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]

    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert sorted(statement["Principal"]["Service"]) == ["edgelambda.amazonaws.com", "lambda.amazonaws.com"]


def test_the_role_reads_the_originals_and_writes_nothing(cloudformation: dict[str, Any]) -> None:
    role = _resources(cloudformation)[f"{FUNCTION}Role"]["Properties"]

    grants = sorted(
        (statement["Action"], checks.as_text(statement["Resource"]))
        for policy in role["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    )

    assert grants == [("s3:GetObject", "${ImagesBucket.Arn}/originals/*"), ("s3:ListBucket", "${ImagesBucket.Arn}")]
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
    ] or role["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]


def test_the_distribution_runs_a_numbered_version_on_origin_request(cloudformation: dict[str, Any]) -> None:
    behaviour = _images_behaviour(cloudformation, {})
    assert behaviour is not None

    association = _association(behaviour, {}, cloudformation)
    (version_id,) = [
        lid
        for lid, resource in _resources(cloudformation).items()
        if resource["Type"] == "AWS::Lambda::Version" and resource["Properties"]["FunctionName"] == {"Ref": FUNCTION}
    ]

    assert association["EventType"] == "origin-request"
    assert association["IncludeBody"] is False
    # Ref of an AWS::Lambda::Version is its ARN with the version number: not $LATEST, not the alias.
    assert association["LambdaFunctionARN"] == {"Ref": version_id}
    assert "$LATEST" not in str(association)
    assert "Alias" not in str(association)


def test_the_images_behaviour_is_cached_on_the_path_only_from_the_images_bucket(cloudformation: dict[str, Any]) -> None:
    behaviour = _images_behaviour(cloudformation, {})
    assert behaviour is not None
    config = _resources(cloudformation)["Distribution"]["Properties"]["DistributionConfig"]
    (origin,) = [origin for origin in config["Origins"] if origin["Id"] == behaviour["TargetOriginId"]]
    policy = _resources(cloudformation)[behaviour["CachePolicyId"]["Ref"]]["Properties"]["CachePolicyConfig"]
    key = policy["ParametersInCacheKeyAndForwardedToOrigin"]

    assert behaviour["PathPattern"] == "/images/*"
    assert set(behaviour["AllowedMethods"]) == {"GET", "HEAD"}
    assert origin["DomainName"] == {"Fn::GetAtt": ["ImagesBucket", "RegionalDomainName"]}
    assert "S3OriginConfig" in origin  # the resizer finds the bucket in request.origin.s3
    assert (key["HeadersConfig"], key["CookiesConfig"], key["QueryStringsConfig"]) == (
        {"HeaderBehavior": "none"},
        {"CookieBehavior": "none"},
        {"QueryStringBehavior": "none"},
    )
    assert policy["MaxTTL"] >= 86400


def test_the_images_bucket_is_private_encrypted_and_read_only_through_this_distribution(
    cloudformation: dict[str, Any],
) -> None:
    bucket = _resources(cloudformation)["ImagesBucket"]["Properties"]
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in _resources(cloudformation).values()
        if p["Type"] == "AWS::S3::BucketPolicy" and p["Properties"]["Bucket"] == {"Ref": "ImagesBucket"}
    ]
    allows = [s for s in checks.statements(policy) if s.get("Effect") == "Allow"]

    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert [(s["Principal"], s["Action"]) for s in allows] == [
        ({"Service": "cloudfront.amazonaws.com"}, "s3:GetObject")
    ]
    source = checks.as_text(allows[0]["Condition"]["StringEquals"]["AWS:SourceArn"]) or ""
    assert source.endswith(":distribution/${Distribution}")


# ---------------------------------------------------------------------------------------------------------------
# Regions: made in us-east-1 only; elsewhere, the version given as a parameter
# ---------------------------------------------------------------------------------------------------------------
REGIONS = {
    "us-east-1": {"AWS::Region": "us-east-1"},
    "eu-west-1": {"AWS::Region": "eu-west-1"},
    "eu-west-1 with a version": {"AWS::Region": "eu-west-1", "ImageResizerVersionArn": GIVEN_VERSION},
    "us-east-1 with a version": {"AWS::Region": "us-east-1", "ImageResizerVersionArn": GIVEN_VERSION},
    "a private API": {"AWS::Region": "us-east-1", "EndpointType": "PRIVATE", "VpcEndpointId": "vpce-0123456789abcdef0"},
}
# (resizer made here, the version /images/* runs: "own", "given" or None for no /images/* behaviour)
EXPECTED = {
    "us-east-1": (True, "own"),
    "eu-west-1": (False, None),
    "eu-west-1 with a version": (False, "given"),
    "us-east-1 with a version": (False, "given"),
    "a private API": (False, None),
}


@pytest.mark.parametrize("case", REGIONS)
def test_the_resizer_is_made_in_us_east_1_and_a_given_version_is_associated_instead(
    cloudformation: dict[str, Any], case: str
) -> None:
    parameters = REGIONS[case]
    made, runs = EXPECTED[case]
    if "EndpointType" in parameters and "EndpointType" not in cloudformation["Parameters"]:
        pytest.skip("no EndpointType parameter in this template")

    behaviour = (
        _images_behaviour(cloudformation, parameters) if _made(cloudformation, "Distribution", parameters) else None
    )
    version = _association(behaviour, parameters, cloudformation)["LambdaFunctionARN"] if behaviour else None

    assert _made(cloudformation, FUNCTION, parameters) is made
    assert _made(cloudformation, f"{FUNCTION}Role", parameters) is made
    assert _made(cloudformation, "ImageResizerLogGroup", parameters) is made
    if runs is None:
        assert behaviour is None
    elif runs == "given":
        assert version == {"Ref": "ImageResizerVersionArn"}
        assert _made(cloudformation, behaviour["CachePolicyId"]["Ref"], parameters)
    else:
        assert isinstance(version, dict)
        assert version["Ref"].startswith(f"{FUNCTION}Version")


def test_the_transform_in_another_region_keeps_the_conditions() -> None:
    # SAM transforms the template in the stack's region; CloudFormation then evaluates the conditions there.
    template = to_cloudformation(read_sam(), region="eu-west-1").cloudformation

    assert template["Conditions"]["InUsEast1"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert not _made(template, FUNCTION, {"AWS::Region": "eu-west-1"})
    assert _made(template, FUNCTION, {"AWS::Region": "us-east-1"})


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        (GIVEN_VERSION, True),
        ("arn:aws:lambda:us-east-1:123456789012:function:shop-image-resizer", False),  # unqualified: $LATEST
        ("arn:aws:lambda:us-east-1:123456789012:function:shop-image-resizer:$LATEST", False),
        ("arn:aws:lambda:us-east-1:123456789012:function:shop-image-resizer:live", False),  # an alias
        ("arn:aws:lambda:eu-west-1:123456789012:function:shop-image-resizer:7", False),  # not us-east-1
    ],
)
def test_the_version_parameter_takes_only_a_numbered_version_in_us_east_1(
    cloudformation: dict[str, Any], value: str, accepted: bool
) -> None:
    parameter = cloudformation["Parameters"]["ImageResizerVersionArn"]

    assert parameter["Default"] == ""
    assert (re.fullmatch(parameter["AllowedPattern"], value) is not None) is accepted


# ---------------------------------------------------------------------------------------------------------------
# The checks see a resizer that Lambda@Edge would refuse
# ---------------------------------------------------------------------------------------------------------------
BROKEN = {
    "arm64": (lambda p: p.__setitem__("Architectures", ["arm64"]), "Lambda@Edge runs ['x86_64'] only"),
    "environment": (lambda p: p.__setitem__("Environment", {"Variables": {"BUCKET": "x"}}), "no environment"),
    "a layer": (lambda p: p.__setitem__("Layers", [{"Ref": "ShopLayer"}]), "allows no layers"),
    "X-Ray": (lambda p: p.__setitem__("TracingConfig", {"Mode": "Active"}), "does not support X-Ray"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_the_function_check_reports_what_lambda_at_edge_refuses(cloudformation: dict[str, Any], case: str) -> None:
    breaks, expected = BROKEN[case]
    broken = copy.deepcopy(cloudformation)
    breaks(broken["Resources"][FUNCTION]["Properties"])

    problems = checks.function_problems(broken)

    assert any(expected in problem for problem in problems), problems

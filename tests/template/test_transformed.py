"""template.yaml after the SAM transform: least privilege, data protection, authentication and the Lambda
settings the layer and the operations depend on. Each check is also run on a broken copy, to show it can fail."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from localcloud.template import load_stack, read_sam, to_cloudformation
from tests.template import checks

REQUIRED_PARAMETERS = (
    "Stage",
    "ApprovalThresholdCents",
    "ApprovalTimeoutSeconds",
    "EnableSnapStart",
    "EnableProvisionedConcurrency",
    "AdminEmail",
)
BOTH_SWITCHES = [
    {"EnableSnapStart": snap_start, "EnableProvisionedConcurrency": provisioned}
    for snap_start in ("true", "false")
    for provisioned in ("true", "false")
]


@pytest.fixture(scope="module")
def cloudformation() -> dict[str, Any]:
    return load_stack().cloudformation


def test_no_role_grants_wildcards_on_data_services(cloudformation: dict[str, Any]) -> None:
    assert checks.wildcard_grants(cloudformation) == []


def test_every_role_and_policy_is_walked(cloudformation: dict[str, Any]) -> None:
    walked = {where.split("/")[0] for where, _ in checks.policy_documents(cloudformation)}

    with_inline_policies = {
        logical_id
        for logical_id, role in checks.resources(cloudformation, "AWS::IAM::Role").items()
        if role["Properties"].get("Policies")
    }
    assert with_inline_policies <= walked
    assert {"OrdersApiFunctionRole", "CartApiFunctionRole", "CustomerIdentityRole"} <= walked


def test_tables_have_recovery_expiry_and_streams(cloudformation: dict[str, Any]) -> None:
    assert checks.table_problems(cloudformation) == []


def test_every_route_but_the_public_ones_needs_a_cognito_token(cloudformation: dict[str, Any]) -> None:
    assert checks.api_auth_problems(cloudformation) == []


def test_the_public_routes_exist(cloudformation: dict[str, Any]) -> None:
    paths = cloudformation["Resources"]["Api"]["Properties"]["Body"]["paths"]

    routes = {(path, method) for path, operations in paths.items() for method in operations}

    assert routes >= checks.PUBLIC_ROUTES


def test_the_api_stage_waits_for_the_logging_role(cloudformation: dict[str, Any]) -> None:
    assert checks.api_logging_order_problems(cloudformation) == []


def test_the_api_account_setting_survives_the_deletion_of_this_stack(cloudformation: dict[str, Any]) -> None:
    assert checks.api_account_problems(cloudformation) == []


def test_alarms_can_publish_to_the_encrypted_ops_topic(cloudformation: dict[str, Any]) -> None:
    assert checks.ops_topic_problems(cloudformation) == []
    alarms = checks.resources(cloudformation, "AWS::CloudWatch::Alarm")
    assert sum(checks.mentions(alarm["Properties"], "OpsTopic") for alarm in alarms.values()) >= 40


def test_eventbridge_and_sns_may_each_send_to_their_dead_letter_queues(cloudformation: dict[str, Any]) -> None:
    assert checks.dead_letter_problems(cloudformation) == []
    rules = checks.resources(cloudformation, "AWS::Events::Rule")
    assert any(target.get("DeadLetterConfig") for rule in rules.values() for target in rule["Properties"]["Targets"])


def test_every_consumed_queue_hides_a_message_six_times_its_functions_timeout(cloudformation: dict[str, Any]) -> None:
    assert checks.queue_visibility_problems(cloudformation) == []


def test_identity_pool_role_reads_only_the_callers_own_orders(cloudformation: dict[str, Any]) -> None:
    assert checks.identity_pool_problems(cloudformation) == []


def test_every_function_is_python313_on_arm64_traced_with_a_retained_log_group(
    cloudformation: dict[str, Any],
) -> None:
    assert checks.resources(cloudformation, "AWS::Lambda::Function"), "no functions"
    assert checks.function_problems(cloudformation) == []


def test_table_variables_name_tables_of_the_template(cloudformation: dict[str, Any]) -> None:
    assert checks.table_variable_problems(cloudformation) == []


def test_required_parameters_are_declared(cloudformation: dict[str, Any]) -> None:
    parameters = cloudformation["Parameters"]

    assert [name for name in REQUIRED_PARAMETERS if name not in parameters] == []
    assert parameters["EnableSnapStart"]["Default"] == "false"
    assert parameters["EnableProvisionedConcurrency"]["Default"] == "false"


@pytest.mark.parametrize("switch", ["EnableSnapStart", "EnableProvisionedConcurrency"])
def test_template_transforms_with_a_warm_start_switch_on(switch: str) -> None:
    parameters = {switch: "true"}

    stack = to_cloudformation(read_sam(), parameters)

    assert checks.rule_accepts(stack.cloudformation, parameters)
    assert checks.warm_start_problems(stack.cloudformation, parameters) == []


@pytest.mark.parametrize("parameters", BOTH_SWITCHES, ids=lambda p: "snapstart={}-pc={}".format(*p.values()))
def test_the_rule_refuses_snapstart_together_with_provisioned_concurrency(
    cloudformation: dict[str, Any], parameters: dict[str, str]
) -> None:
    both_on = set(parameters.values()) == {"true"}

    assert "SnapStartOrProvisionedConcurrency" in cloudformation["Rules"]
    assert checks.rule_accepts(cloudformation, parameters) is not both_on
    if not both_on:
        assert checks.warm_start_problems(cloudformation, parameters) == []


# ---------------------------------------------------------------------------------------------------------------
# The checks fail on broken templates
# ---------------------------------------------------------------------------------------------------------------
def _function(sam: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = sam["Resources"][logical_id]["Properties"]
    return properties


def _grant_dynamodb_everything(sam: dict[str, Any]) -> None:
    _function(sam, "OrdersApiFunction")["Policies"].append(
        {"Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}
    )


def _grant_every_queue(sam: dict[str, Any]) -> None:
    resource = {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:*"}
    _function(sam, "CartApiFunction")["Policies"].append(
        {"Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": resource}]}
    )


def _attach_full_access(sam: dict[str, Any]) -> None:
    sam["Resources"]["ApiGatewayCloudWatchRole"]["Properties"]["ManagedPolicyArns"].append(
        "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"
    )


def _drop_recovery(sam: dict[str, Any]) -> None:
    del sam["Resources"]["CatalogTable"]["Properties"]["PointInTimeRecoverySpecification"]


def _disable_session_expiry(sam: dict[str, Any]) -> None:
    sam["Resources"]["SessionsTable"]["Properties"]["TimeToLiveSpecification"]["Enabled"] = False


def _keys_only_orders_stream(sam: dict[str, Any]) -> None:
    sam["Resources"]["OrdersTable"]["Properties"]["StreamSpecification"]["StreamViewType"] = "KEYS_ONLY"


def _open_the_cart(sam: dict[str, Any]) -> None:
    _function(sam, "CartApiFunction")["Events"]["GetCart"]["Properties"]["Auth"] = {"Authorizer": "NONE"}


def _no_default_authorizer(sam: dict[str, Any]) -> None:
    del sam["Resources"]["Api"]["Properties"]["Auth"]["DefaultAuthorizer"]
    for name in ("CatalogApiFunction", "CarrierApiFunction"):
        for event in _function(sam, name)["Events"].values():
            del event["Properties"]["Auth"]  # "NONE" is only valid against a default authorizer


def _carrier_without_key(sam: dict[str, Any]) -> None:
    del _function(sam, "CarrierApiFunction")["Events"]["ReportDelivery"]["Properties"]["Auth"]["ApiKeyRequired"]


def _stage_not_after_account(sam: dict[str, Any]) -> None:
    sam["Resources"]["Api"].pop("DependsOn", None)


def _identity_role(sam: dict[str, Any]) -> dict[str, Any]:
    policy = sam["Resources"]["CustomerIdentityRole"]["Properties"]["Policies"][0]
    statement: dict[str, Any] = policy["PolicyDocument"]["Statement"][0]
    return statement


def _drop_leading_keys(sam: dict[str, Any]) -> None:
    del _identity_role(sam)["Condition"]


def _allow_scan(sam: dict[str, Any]) -> None:
    _identity_role(sam)["Action"].append("dynamodb:Scan")


def _expose_the_status_index(sam: dict[str, Any]) -> None:
    _identity_role(sam)["Resource"].append({"Fn::Sub": "${OrdersTable.Arn}/index/byStatus"})


def _tag_from_the_identity_id(sam: dict[str, Any]) -> None:
    sam["Resources"]["IdentityPoolPrincipalTags"]["Properties"]["PrincipalTags"] = {"customerId": "aud"}


def _account_not_retained(sam: dict[str, Any]) -> None:
    del sam["Resources"]["ApiGatewayCloudWatchRole"]["DeletionPolicy"]


def _aws_managed_ops_key(sam: dict[str, Any]) -> None:
    sam["Resources"]["OpsTopic"]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"


def _key_without_cloudwatch(sam: dict[str, Any]) -> None:
    statement = sam["Resources"]["OpsTopicKey"]["Properties"]["KeyPolicy"]["Statement"][1]
    statement["Principal"]["Service"] = ["events.amazonaws.com"]


def _dead_letter_queue_for_sns_only(sam: dict[str, Any]) -> None:
    sam["Resources"]["AsyncFailureQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"].pop()


def _dlq_visibility_equal_to_timeout(sam: dict[str, Any]) -> None:
    sam["Resources"]["FulfillmentDeadLetterQueue"]["Properties"]["VisibilityTimeout"] = 30


def _python312(sam: dict[str, Any]) -> None:
    _function(sam, "CartApiFunction")["Runtime"] = "python3.12"


def _x86(sam: dict[str, Any]) -> None:
    sam["Globals"]["Function"]["Architectures"] = ["x86_64"]


def _no_tracing(sam: dict[str, Any]) -> None:
    _function(sam, "OrdersApiFunction")["Tracing"] = "PassThrough"


def _no_log_group(sam: dict[str, Any]) -> None:
    del sam["Resources"]["CatalogApiLogGroup"]


def _log_group_named_after_the_function(sam: dict[str, Any]) -> None:
    sam["Resources"]["CatalogApiLogGroup"]["Properties"]["LogGroupName"] = {
        "Fn::Sub": "/aws/lambda/${CatalogApiFunction}"
    }


def _literal_table_name(sam: dict[str, Any]) -> None:
    _function(sam, "CartApiFunction")["Environment"]["Variables"]["SESSIONS_TABLE_NAME"] = "sessions"


def _table_without_grant(sam: dict[str, Any]) -> None:
    _function(sam, "CatalogApiFunction")["Environment"]["Variables"]["ORDERS_TABLE_NAME"] = {"Ref": "OrdersTable"}


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], Callable[[dict[str, Any]], list[str]], str]] = {
    "dynamodb:* on *": (_grant_dynamodb_everything, checks.wildcard_grants, "grants every action (dynamodb:*)"),
    "every queue": (_grant_every_queue, checks.wildcard_grants, "sqs:sendmessage on every resource"),
    "managed full access": (_attach_full_access, checks.wildcard_grants, "AmazonDynamoDBFullAccess"),
    "no PITR": (_drop_recovery, checks.table_problems, "CatalogTable: point-in-time recovery"),
    "no session TTL": (_disable_session_expiry, checks.table_problems, "SessionsTable: TTL"),
    "keys-only stream": (_keys_only_orders_stream, checks.table_problems, "OrdersTable: stream"),
    "public cart": (_open_the_cart, checks.api_auth_problems, "GET /cart does not require"),
    "no default authorizer": (_no_default_authorizer, checks.api_auth_problems, "POST /orders does not require"),
    "carrier without key": (_carrier_without_key, checks.api_auth_problems, "POST /carrier/deliveries must take"),
    "stage races account": (_stage_not_after_account, checks.api_logging_order_problems, "ApiapiStage"),
    "no LeadingKeys": (_drop_leading_keys, checks.identity_pool_problems, "no ForAllValues:StringEquals"),
    "Scan allowed": (_allow_scan, checks.identity_pool_problems, "dynamodb:scan is not limited"),
    "GSI exposed": (_expose_the_status_index, checks.identity_pool_problems, "byStatus is not partitioned"),
    "tag not sub": (_tag_from_the_identity_id, checks.identity_pool_problems, "customerId is not mapped"),
    "account role deleted": (_account_not_retained, checks.api_account_problems, "ApiGatewayCloudWatchRole"),
    "AWS-managed ops key": (_aws_managed_ops_key, checks.ops_topic_problems, "alias/aws/sns"),
    "key without alarms": (_key_without_cloudwatch, checks.ops_topic_problems, "not admit cloudwatch"),
    "DLQ for SNS only": (_dead_letter_queue_for_sns_only, checks.dead_letter_problems, "EventBridge may not send"),
    "DLQ visibility": (_dlq_visibility_equal_to_timeout, checks.queue_visibility_problems, "FulfillmentDeadLetter"),
    "python3.12": (_python312, checks.function_problems, "CartApiFunction: runtime python3.12"),
    "x86_64": (_x86, checks.function_problems, "architectures ['x86_64']"),
    "no tracing": (_no_tracing, checks.function_problems, "OrdersApiFunction: tracing"),
    "no log group": (_no_log_group, checks.function_problems, "CatalogApiFunction: no log group"),
    "log group races": (_log_group_named_after_the_function, checks.function_problems, "name depends on the func"),
    "literal table": (_literal_table_name, checks.table_variable_problems, "SESSIONS_TABLE_NAME='sessions'"),
    "table not granted": (_table_without_grant, checks.table_variable_problems, "grants nothing on"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_check_reports_a_broken_template(case: str) -> None:
    break_template, check, expected = BROKEN[case]
    sam = copy.deepcopy(load_stack().sam)
    break_template(sam)

    problems = check(to_cloudformation(sam).cloudformation)

    assert any(expected in problem for problem in problems), problems


def test_a_function_left_out_of_the_operations_loop_is_reported() -> None:
    # The log groups and alarms come from one Fn::ForEach over the functions' names (template.yaml): a function
    # added to the template but not to that list has neither.
    sam = read_sam()
    _, names, _ = sam["Resources"]["Fn::ForEach::FunctionOperations"]
    names.remove("CarrierApi")

    problems = checks.function_problems(to_cloudformation(sam).cloudformation)

    assert problems == [
        "CarrierApiFunction: no log group of its own (LoggingConfig.LogGroup)",
        "CarrierApiFunction: no Errors alarm to the ops topic",
        "CarrierApiFunction: no Throttles alarm to the ops topic",
    ]


CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0b6d4c5e-1111-2222-3333-444455556666"
EDGE_PARAMETERS = {
    "defaults": {},
    "no WAF": {"EnableWaf": "false"},
    "a web ACL of one's own": {"WebAclArn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/shop/1a2b"},
    "a domain": {"DomainName": "shop.example.com", "CertificateArn": CERTIFICATE, "HostedZoneId": "Z0123456789ABC"},
    "a domain, no zone": {"DomainName": "shop.example.com", "CertificateArn": CERTIFICATE},
}


@pytest.mark.parametrize("parameters", EDGE_PARAMETERS.values(), ids=EDGE_PARAMETERS)
def test_the_edge_is_guarded_by_waf_and_tls12_for_each_choice(parameters: dict[str, str]) -> None:
    cloudformation = to_cloudformation(read_sam(), parameters).cloudformation

    assert checks.rule_accepts(cloudformation, parameters)
    assert checks.edge_security_problems(cloudformation, parameters) == []


REFUSED_EDGE_PARAMETERS = {
    "WAF made outside us-east-1": {"AWS::Region": "eu-west-1"},
    "a domain without its certificate": {"DomainName": "shop.example.com"},
    "api.<domain> outside us-east-1 without a regional certificate": {
        "AWS::Region": "eu-west-1",
        "EnableWaf": "false",
        "DomainName": "shop.example.com",
        "CertificateArn": CERTIFICATE,
    },
    "a hosted zone without a domain": {"HostedZoneId": "Z0123456789ABC"},
}
ACCEPTED_OUTSIDE_US_EAST_1 = {
    "AWS::Region": "eu-west-1",
    "WebAclArn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/shop/1a2b",
    "DomainName": "shop.example.com",
    "CertificateArn": CERTIFICATE,
    "ApiCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0b6d4c5e-1111-2222-3333-444455556666",
}


@pytest.mark.parametrize("parameters", REFUSED_EDGE_PARAMETERS.values(), ids=REFUSED_EDGE_PARAMETERS)
def test_the_rules_refuse_an_edge_that_cannot_work(cloudformation: dict[str, Any], parameters: dict[str, str]) -> None:
    assert not checks.rule_accepts(cloudformation, parameters)
    assert checks.rule_accepts(cloudformation, ACCEPTED_OUTSIDE_US_EAST_1)


def test_the_certificate_parameter_takes_only_us_east_1(cloudformation: dict[str, Any]) -> None:
    # CloudFront reads certificates from us-east-1 only: CloudFormation refuses any other before deploying.
    pattern = cloudformation["Parameters"]["CertificateArn"]["AllowedPattern"]

    assert re.fullmatch(pattern, CERTIFICATE)
    assert re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, CERTIFICATE.replace("us-east-1", "eu-west-1"))


def _waf_without_rate_limit(sam: dict[str, Any]) -> None:
    sam["Resources"]["EdgeWebAcl"]["Properties"]["Rules"].pop(0)


def _waf_not_attached(sam: dict[str, Any]) -> None:
    del sam["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["WebACLId"]


def _tls_1_0_api(sam: dict[str, Any]) -> None:
    sam["Resources"]["ApiDomain"]["Properties"]["SecurityPolicy"] = "TLS_1_0"


def _old_viewer_protocol(sam: dict[str, Any]) -> None:
    config = sam["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    config["ViewerCertificate"]["Fn::If"][1]["MinimumProtocolVersion"] = "TLSv1"


BROKEN_EDGE = {
    "no rate limit": (_waf_without_rate_limit, {}, "the first rule is not a blocking rate limit"),
    "WAF not attached": (_waf_not_attached, {}, "no web ACL of this stack"),
    "API on TLS 1.0": (_tls_1_0_api, EDGE_PARAMETERS["a domain"], "ApiDomain: security policy TLS_1_0"),
    "viewer TLS 1.0": (_old_viewer_protocol, EDGE_PARAMETERS["a domain"], "minimum protocol is TLSv1"),
}


@pytest.mark.parametrize("case", BROKEN_EDGE)
def test_edge_check_reports_a_broken_template(case: str) -> None:
    break_template, parameters, expected = BROKEN_EDGE[case]
    sam = copy.deepcopy(load_stack().sam)
    break_template(sam)

    problems = checks.edge_security_problems(to_cloudformation(sam, parameters).cloudformation, parameters)

    assert any(expected in problem for problem in problems), problems


def test_rule_check_notices_a_missing_rule(cloudformation: dict[str, Any]) -> None:
    broken = copy.deepcopy(cloudformation)
    del broken["Rules"]
    both_on = {"EnableSnapStart": "true", "EnableProvisionedConcurrency": "true"}

    assert checks.rule_accepts(broken, both_on)
    assert "SnapStart and provisioned concurrency on one version" in " ".join(
        checks.warm_start_problems(broken, both_on)
    )


def test_warm_start_check_notices_a_switch_that_does_nothing(cloudformation: dict[str, Any]) -> None:
    broken = copy.deepcopy(cloudformation)
    for function in checks.resources(broken, "AWS::Lambda::Function").values():
        function["Properties"].pop("SnapStart", None)  # a Lambda@Edge function has none to lose

    problems = checks.warm_start_problems(broken, {"EnableSnapStart": "true"})

    assert any("SnapStart is off" in problem for problem in problems), problems

"""The live updates' WebSocket API after the SAM transform (docs/live-updates.md): the authorizer guards $connect
and nothing else, the functions may be invoked by this API only, the push may post to this API's stage only and
reads only status changes of the Orders stream, connections expire at API Gateway's two-hour limit, and each new
function has its alarms and a log group with a retention."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.template import load_stack
from shop.adapters import connections_table
from shop.domain.live import CONNECTION_LIFETIME
from tests.template import checks

LIVE_FUNCTIONS = ("LiveAuthorizerFunction", "LiveConnectionsFunction", "LivePushFunction")
EXECUTE_API = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}"


@pytest.fixture(scope="module")
def cloudformation() -> dict[str, Any]:
    return load_stack().cloudformation


@pytest.fixture(scope="module")
def resources(cloudformation: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = cloudformation["Resources"]
    return found


def routes(cloudformation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Route key -> the route's properties."""
    return {
        route["Properties"]["RouteKey"]: route["Properties"]
        for route in checks.resources(cloudformation, "AWS::ApiGatewayV2::Route").values()
    }


def test_the_api_is_a_websocket_api_routed_by_the_action_of_a_message(resources: dict[str, Any]) -> None:
    api = resources["WebSocketApi"]

    assert api["Type"] == "AWS::ApiGatewayV2::Api"
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    assert api["Properties"]["RouteSelectionExpression"] == "$request.body.action"


def test_the_authorizer_guards_connect_and_no_other_route(cloudformation: dict[str, Any]) -> None:
    by_key = routes(cloudformation)

    assert set(by_key) == {"$connect", "$disconnect", "$default"}
    assert by_key["$connect"]["AuthorizationType"] == "CUSTOM"
    assert by_key["$connect"]["AuthorizerId"] == {"Ref": "WebSocketAuthorizer"}
    for key in ("$disconnect", "$default"):
        assert by_key[key]["AuthorizationType"] == "NONE", key
        assert "AuthorizerId" not in by_key[key], key


def test_the_authorizer_reads_the_token_of_the_query_string_with_the_authorizer_function(
    resources: dict[str, Any],
) -> None:
    authorizer = resources["WebSocketAuthorizer"]["Properties"]

    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.token"]
    assert authorizer["ApiId"] == {"Ref": "WebSocketApi"}
    assert checks.mentions(authorizer["AuthorizerUri"], "LiveAuthorizerFunctionAliaslive")


def test_every_route_is_a_proxy_integration_of_the_connections_function(
    cloudformation: dict[str, Any], resources: dict[str, Any]
) -> None:
    integration = resources["WebSocketConnectionsIntegration"]["Properties"]

    assert integration["IntegrationType"] == "AWS_PROXY"
    assert checks.mentions(integration["IntegrationUri"], "LiveConnectionsFunctionAliaslive")
    assert {checks.as_text(route["Target"]) for route in routes(cloudformation).values()} == {
        "integrations/${WebSocketConnectionsIntegration}"
    }
    # $default answers on the socket (ping -> PONG): its route response is what sends the function's body back.
    responses = checks.resources(cloudformation, "AWS::ApiGatewayV2::RouteResponse").values()
    assert [r["Properties"]["RouteId"] for r in responses] == [{"Ref": "WebSocketDefaultRoute"}]


def test_api_gateway_may_invoke_the_two_functions_from_this_api_only(cloudformation: dict[str, Any]) -> None:
    permissions = {
        checks.as_text(p["Properties"]["FunctionName"]): p["Properties"]
        for p in checks.resources(cloudformation, "AWS::Lambda::Permission").values()
        if checks.mentions(p["Properties"].get("SourceArn"), "WebSocketApi")
    }

    assert set(permissions) == {"${LiveAuthorizerFunctionAliaslive}", "${LiveConnectionsFunctionAliaslive}"}
    assert {p["Principal"] for p in permissions.values()} == {"apigateway.amazonaws.com"}
    assert checks.as_text(permissions["${LiveAuthorizerFunctionAliaslive}"]["SourceArn"]) == (
        f"{EXECUTE_API}/authorizers/${{WebSocketAuthorizer}}"
    )
    assert checks.as_text(permissions["${LiveConnectionsFunctionAliaslive}"]["SourceArn"]) == (
        f"{EXECUTE_API}/${{WebSocketStage}}/*"
    )


def test_the_stage_is_deployed_throttled_and_logged_after_the_account_logging_role(
    resources: dict[str, Any], cloudformation: dict[str, Any]
) -> None:
    stage = resources["WebSocketStage"]
    properties = stage["Properties"]
    deployment = resources["WebSocketDeployment"]

    assert properties["DeploymentId"] == {"Ref": "WebSocketDeployment"}
    assert set(deployment["DependsOn"]) >= {
        "WebSocketConnectRoute",
        "WebSocketDisconnectRoute",
        "WebSocketDefaultRoute",
    }
    assert "ApiGatewayAccount" in checks.as_list(stage["DependsOn"])
    settings = properties["DefaultRouteSettings"]
    assert {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(settings)
    assert settings["DataTraceEnabled"] is False  # a trace would log the token of the query string
    assert properties["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["WebSocketAccessLogGroup", "Arn"]}
    days = checks._retention_days(resources["WebSocketAccessLogGroup"]["Properties"]["RetentionInDays"], cloudformation)
    assert days
    assert all(isinstance(day, int) and day > 0 for day in days)


def _statements_with(cloudformation: dict[str, Any], action: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (where.split("/")[0], statement)
        for where, document in checks.policy_documents(cloudformation)
        for statement in checks.statements(document)
        if action in [str(a).lower() for a in checks.as_list(statement.get("Action", []))]
    ]


def test_only_the_push_may_manage_connections_and_only_post_on_this_apis_stage(
    cloudformation: dict[str, Any],
) -> None:
    granted = _statements_with(cloudformation, "execute-api:manageconnections")

    assert [role for role, _ in granted] == ["LivePushRole"]
    [(_, statement)] = granted
    assert statement["Effect"] == "Allow"
    assert [checks.as_text(r) for r in checks.as_list(statement["Resource"])] == [
        f"{EXECUTE_API}/${{WebSocketStage}}/POST/@connections/*"
    ]


def test_the_push_reads_connections_by_the_two_indexes_and_deletes_only_gone_ones(resources: dict[str, Any]) -> None:
    [policy] = resources["LivePushRole"]["Properties"]["Policies"]
    on_connections = {
        str(action): [checks.as_text(r) for r in checks.as_list(statement["Resource"])]
        for statement in checks.statements(policy["PolicyDocument"])
        for action in checks.as_list(statement["Action"])
        if checks.mentions(statement["Resource"], "ConnectionsTable")
    }

    assert on_connections == {
        "dynamodb:Query": ["${ConnectionsTable.Arn}/index/byCustomer", "${ConnectionsTable.Arn}/index/byApproverGroup"],
        "dynamodb:DeleteItem": ["${ConnectionsTable.Arn}"],
    }


def test_the_push_is_fed_status_changes_of_the_orders_stream_as_the_other_stream_consumers_are(
    cloudformation: dict[str, Any],
) -> None:
    [mapping] = [
        m["Properties"]
        for m in checks.resources(cloudformation, "AWS::Lambda::EventSourceMapping").values()
        if checks.mentions(m["Properties"]["FunctionName"], "LivePushFunctionAliaslive")
    ]

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["OrdersTable", "StreamArn"]}
    assert mapping["FilterCriteria"]["Filters"], "every Orders change would reach the function"
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 0 < mapping["MaximumRetryAttempts"] <= 10
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["StreamFailureQueue", "Arn"]}


def test_the_push_posts_to_the_https_endpoint_of_the_same_api_and_stage(resources: dict[str, Any]) -> None:
    variables = resources["LivePushFunction"]["Properties"]["Environment"]["Variables"]

    assert checks.as_text(variables["CONNECTIONS_ENDPOINT_URL"]) == (
        "https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${WebSocketStage}"
    )
    assert variables["APPROVERS_GROUP"] == {"Ref": "AdminsGroup"}


def test_the_websocket_url_is_an_output(cloudformation: dict[str, Any]) -> None:
    url = cloudformation["Outputs"]["WebSocketUrl"]["Value"]

    assert checks.as_text(url) == "wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${WebSocketStage}"


def test_connections_are_keyed_for_each_lookup_and_expire_at_the_connection_limit(resources: dict[str, Any]) -> None:
    table = resources["ConnectionsTable"]["Properties"]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}

    assert table["KeySchema"] == [{"AttributeName": "connectionId", "KeyType": "HASH"}]
    assert indexes[connections_table.BY_CUSTOMER]["KeySchema"] == [{"AttributeName": "customerId", "KeyType": "HASH"}]
    assert indexes[connections_table.BY_APPROVER_GROUP]["KeySchema"] == [
        {"AttributeName": "approverGroup", "KeyType": "HASH"}
    ]
    # The look-ups skip connections past their expiry, which TTL deletes late: the indexes must carry it.
    assert all("expiresAt" in index["Projection"]["NonKeyAttributes"] for index in indexes.values())
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert CONNECTION_LIFETIME.total_seconds() == 2 * 3600
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"


@pytest.mark.parametrize("function", LIVE_FUNCTIONS)
def test_each_live_function_has_its_alarms_and_a_retained_log_group(
    cloudformation: dict[str, Any], function: str
) -> None:
    problems = [problem for problem in checks.function_problems(cloudformation) if problem.startswith(f"{function}:")]

    assert problems == []


def test_the_websocket_apis_own_errors_raise_an_alarm(resources: dict[str, Any]) -> None:
    alarm = resources["WebSocketErrorsAlarm"]["Properties"]

    assert alarm["Namespace"] == "AWS/ApiGateway"
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        "ApiId": {"Ref": "WebSocketApi"},
        "Stage": {"Ref": "WebSocketStage"},
    }
    assert alarm["AlarmActions"] == [{"Ref": "OpsTopic"}]

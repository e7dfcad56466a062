"""Least privilege, measured: every function's execution role grants what its code calls, and nothing more.

The local cloud authorizes each call a function makes against its role (localcloud.iam), so a missing grant
fails the story with AccessDenied, as it would in AWS. This module plays the whole order story (the demo's, and
what the demo leaves out: listings, a cancel, the nightly report), then reads which grants were used: a grant
that no call used must be one of UNUSED_ON_PURPOSE, with the path that needs it. A broad policy, or one
forgotten when the code stopped needing it, fails here.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import ExitStack
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from websockets.sync.client import connect

from localcloud.client import DEFAULT_ADDRESS
from localcloud.demo import play
from localcloud.iam import Request, Statement
from tests.localcloud.conftest import Shop
from tools.seed_images import upload

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

# Read by the event source mappings and destinations Lambda runs for the function (the local cloud's pollers),
# not by the function's code; the template's own checks cover them (tests/template).
SERVICE_SIDE = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:SendMessage",
    "sqs:SendMessage*",
    "logs:*",
    "xray:*",
)
IDEMPOTENCY_RECORDS = "Powertools reads a record back on a repeated key and deletes it when the handler fails"
STOCK_REASON = "a cancelled stock transaction's reason is read back per product (a conflict is not 'short')"
# (role logical id, action, table or resource suffix) -> the path that needs the grant, which the story does not take.
TABLES = (
    "IdempotencyTable",
    "CatalogTable",
    "OrdersTable",
    "SessionsTable",
    "PaymentProviderTable",
    "ConnectionsTable",
)
UNUSED_ON_PURPOSE: dict[tuple[str, str, str], str] = {
    ("OrdersApiFunctionRole", "dynamodb:GetItem", "IdempotencyTable"): IDEMPOTENCY_RECORDS,
    ("OrdersApiFunctionRole", "dynamodb:DeleteItem", "IdempotencyTable"): IDEMPOTENCY_RECORDS,
    ("OrderEventsRole", "dynamodb:GetItem", "IdempotencyTable"): IDEMPOTENCY_RECORDS,
    ("OrderEventsRole", "dynamodb:DeleteItem", "IdempotencyTable"): IDEMPOTENCY_RECORDS,
    ("AbandonedCartRole", "dynamodb:GetItem", "IdempotencyTable"): IDEMPOTENCY_RECORDS,
    ("AbandonedCartRole", "dynamodb:DeleteItem", "IdempotencyTable"): IDEMPOTENCY_RECORDS,
    ("ReserveStockFunctionRole", "dynamodb:GetItem", "CatalogTable"): STOCK_REASON,
    ("CompleteShipmentFunctionRole", "dynamodb:GetItem", "CatalogTable"): STOCK_REASON,
    ("SettleOrderFunctionRole", "dynamodb:GetItem", "CatalogTable"): STOCK_REASON,
    ("ApprovalsApiFunctionRole", "dynamodb:GetItem", "OrdersTable"): "a decision on an order that is not waiting "
    "reads the approval back to answer 404 or 409",
    ("RequestApprovalFunctionRole", "states:SendTaskSuccess", "*"): "a retried request meets a decision given already",
    ("RequestApprovalFunctionRole", "states:SendTaskFailure", "*"): "a retried request meets a decision given already",
    ("FulfillmentDlqRole", "states:SendTaskSuccess", "*"): "a job whose order already shipped answers its task",
    ("WarehouseRole", "states:SendTaskFailure", "*"): "a job the carrier refuses for good fails its task",
    ("NotificationSenderFunctionRole", "ses:SendEmail", "identity/*"): "only with a SenderEmail (none locally)",
    ("LivePushRole", "dynamodb:DeleteItem", "IdempotencyTable"): "a message API Gateway refused (throttled, "
    "unreachable) gives its delivery claim back",
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def usage(shop: Shop) -> dict[str, Any]:
    """Play the story, then read what every role's calls used (GET {aws}/_localcloud/iam)."""
    # Live updates: a customer and an approver connected for the story, and a connection a lost $disconnect left
    # in the table (the push forgets it at its 410).
    table = str(shop.endpoints.outputs["ConnectionsTableName"])
    sockets = ExitStack()
    for token in (shop.customer_token, shop.approver_token):
        sockets.enter_context(connect(f"{shop.endpoints.websocket}?token={token}"))
    stale = shop.client("dynamodb").scan(TableName=table)["Items"][0]
    shop.client("dynamodb").put_item(TableName=table, Item={**stale, "connectionId": {"S": "stale-connection="}})
    demo = play(shop.cloud)
    assert demo.failures == [], demo.failures
    api, customer, approver = shop.api, auth(shop.customer_token), auth(shop.approver_token)
    assert requests.get(f"{api}/products", timeout=10).status_code == 200
    assert requests.get(f"{api}/products/scale", timeout=10).status_code == 200
    assert requests.get(f"{api}/cart", headers=customer, timeout=10).status_code == 200
    assert requests.delete(f"{api}/cart", headers=customer, timeout=10).status_code == 204
    assert requests.get(f"{api}/orders", headers=customer, timeout=10).status_code == 200
    assert requests.get(f"{api}/approvals", headers=approver, timeout=10).status_code == 200
    placed = requests.post(
        f"{api}/orders",
        json={"items": [{"productId": "espresso-machine", "quantity": 1}], "shippingAddress": DEFAULT_ADDRESS},
        headers={**customer, "Idempotency-Key": "least-privilege-cancel"},
        timeout=10,
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["orderId"]
    deadline = time.monotonic() + 30
    while (
        requests.get(f"{api}/orders/{order_id}", headers=customer, timeout=10).json()["status"] != "AWAITING_APPROVAL"
    ):
        assert time.monotonic() < deadline, "the order never waited for an approver"
        time.sleep(0.2)
    cancelled = requests.post(f"{api}/orders/{order_id}/cancel", headers=customer, timeout=10)
    assert cancelled.status_code == 200, cancelled.text
    # An admin reads any order by its id alone (the byOrderId index).
    read = requests.get(f"{api}/orders/{order_id}", headers=approver, timeout=10)
    assert (read.status_code, read.json().get("orderId")) == (200, order_id), read.text
    # The nightly workflow: the export and the sweep, then the sales report read from the export.
    nightly = run_nightly_report(shop)
    assert nightly["status"] == "SUCCEEDED", nightly
    # Product images at the edge: a picture resized from its original, and one whose original is missing (a 404
    # that needs the bucket's listing rather than an AccessDenied).
    upload(str(shop.endpoints.outputs["ImagesBucketName"]), shop.client("s3"))
    images = f"{shop.endpoints.console}/images/320/webp"
    assert requests.get(f"{images}/scale.webp", timeout=30).status_code == 200
    assert requests.get(f"{images}/no-such-product.webp", timeout=30).status_code == 404
    shop.cloud.drain()
    sockets.close()
    while shop.client("dynamodb").scan(TableName=table)["Count"]:  # each $disconnect forgets its connection
        time.sleep(0.1)
    # As an operator reads it from a running cloud: the AWS endpoint's IAM report.
    report = requests.get(f"{shop.endpoints.aws}/_localcloud/iam", timeout=10)
    assert report.status_code == 200, report.text
    usage: dict[str, Any] = report.json()
    return usage


def run_nightly_report(shop: Shop) -> dict[str, Any]:
    """One execution of the nightly report workflow, as its schedule starts it; its description once it ended."""
    sfn = shop.client("stepfunctions")
    [machine] = [m for m in sfn.list_state_machines()["stateMachines"] if m["name"].endswith("-nightly-report")]
    execution = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], name=f"nightly-{uuid.uuid4().hex[:8]}", input="{}"
    )["executionArn"]
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the nightly report workflow did not end"
        time.sleep(0.2)
    found: dict[str, Any] = described
    return found


def role_arns(shop: Shop) -> dict[str, str]:
    """Each function's execution role: logical id -> ARN. (The state machine's role and the identity pool's are
    not a function's: the local cloud does not authorize their calls.)"""
    resolved = shop.cloud.resolver
    assert resolved is not None
    functions = shop.cloud.iam.function_roles()
    return {
        logical_id: str(attributes["Arn"])
        for logical_id, attributes in resolved.attributes.items()
        if attributes.get("Arn") in functions
    }


def service_side(action: str) -> bool:
    return any(Statement("Allow", (pattern,), ("*",), {}).applies(Request(action, "*")) for pattern in SERVICE_SIDE)


def test_every_grant_of_every_function_role_is_used_by_the_story(shop: Shop, usage: dict[str, Any]) -> None:
    unexplained: list[str] = []
    roles = role_arns(shop)
    for logical_id, arn in roles.items():
        for grant in usage[arn]["unused"]:
            action, resource = grant["action"], grant["resource"]
            if service_side(action):
                continue
            named = next((table for table in TABLES if table in resource), resource.rsplit(":", 1)[-1])
            if (logical_id, action, named) not in UNUSED_ON_PURPOSE:
                unexplained.append(f"{logical_id}: {action} on {resource}")
    print(f"\n{len(roles)} roles, grants unused by the story on purpose: {len(UNUSED_ON_PURPOSE)}")
    assert unexplained == [], (
        "granted, never used (remove it, or say in UNUSED_ON_PURPOSE which path needs it):\n" + "\n".join(unexplained)
    )


def test_no_call_of_the_story_was_refused(usage: dict[str, Any]) -> None:
    denied = {role: calls["denied"] for role, calls in usage.items() if calls["denied"]}

    assert denied == {}, json.dumps(denied, indent=1)


@pytest.mark.parametrize(
    ("role", "action", "table"),
    [
        ("CarrierApiFunctionRole", "dynamodb:PutItem", "OrdersTable"),
        ("CarrierApiFunctionRole", "dynamodb:DeleteItem", "OrdersTable"),
        ("CarrierApiFunctionRole", "dynamodb:Scan", "OrdersTable"),
        ("ReserveStockFunctionRole", "dynamodb:PutItem", "CatalogTable"),
        ("ReserveStockFunctionRole", "dynamodb:DeleteItem", "CatalogTable"),
        ("SettleOrderFunctionRole", "dynamodb:PutItem", "CatalogTable"),
        ("CompleteShipmentFunctionRole", "dynamodb:DeleteItem", "CatalogTable"),
        ("CatalogApiFunctionRole", "dynamodb:UpdateItem", "CatalogTable"),
        ("OrdersApiFunctionRole", "dynamodb:Scan", "OrdersTable"),
    ],
)
def test_a_role_cannot_do_what_its_function_never_does(shop: Shop, role: str, action: str, table: str) -> None:
    table_name = shop.endpoints.outputs.get(f"{table}Name") or f"{shop.cloud.stack_name}-{table}"
    arn = f"arn:aws:dynamodb:{shop.endpoints.region}:{shop.cloud.iam.account_id}:table/{table_name}"

    assert not shop.cloud.iam.allows(role_arns(shop)[role], action, arn)


def test_the_nightly_report_writes_exports_and_reports_each_in_its_place_and_cannot_change_the_bucket(
    shop: Shop,
) -> None:
    roles = role_arns(shop)
    exporter, reporter = roles["NightlyReportFunctionRole"], roles["SalesReportFunctionRole"]
    bucket = f"arn:aws:s3:::{shop.endpoints.outputs['ReportsBucketName']}"
    export = f"{bucket}/exports/orders/2026-12-03/AWSDynamoDB/01796379438793-31854e08/data/a.json.gz"
    report = f"{bucket}/sales/2026-12-03.json"

    assert shop.cloud.iam.allows(exporter, "s3:PutObject", export)
    assert not shop.cloud.iam.allows(exporter, "s3:PutObject", report)
    assert shop.cloud.iam.allows(reporter, "s3:GetObject", export)
    assert shop.cloud.iam.allows(reporter, "s3:PutObject", report)
    assert not shop.cloud.iam.allows(reporter, "s3:PutObject", export)
    for role in (exporter, reporter):
        assert not shop.cloud.iam.allows(role, "s3:PutLifecycleConfiguration", bucket)
        assert not shop.cloud.iam.allows(role, "s3:PutObjectAcl", report)


def as_function(shop: Shop, role: str, service: str) -> Any:
    """A client that signs as a function running with `role` does (its session's credentials)."""
    credentials = shop.cloud.iam.credentials_for(role_arns(shop)[role], "probe", counted=False)
    return boto3.client(
        service,
        endpoint_url=shop.endpoints.aws,
        region_name=shop.endpoints.region,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )


def test_a_refused_call_gets_the_services_own_access_denied_and_changes_nothing(shop: Shop) -> None:
    orders = shop.endpoints.outputs["OrdersTableName"]
    carrier = as_function(shop, "CarrierApiFunctionRole", "dynamodb")
    schema = shop.client("dynamodb").describe_table(TableName=orders)["Table"]["KeySchema"]
    key = {part["AttributeName"]: {"S": f"forged-{part['KeyType']}"} for part in schema}

    with pytest.raises(ClientError) as refused:
        carrier.put_item(TableName=orders, Item={**key, "status": {"S": "DELIVERED"}})

    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: dynamodb:PutItem" in refused.value.response["Error"]["Message"]
    assert "Item" not in shop.client("dynamodb").get_item(TableName=orders, Key=key)


def test_a_transaction_is_authorized_item_by_item(shop: Shop) -> None:
    # The stock tasks may update a product, not put one: a transaction that puts is refused as a whole.
    catalog = shop.endpoints.outputs["CatalogTableName"]
    stock = as_function(shop, "ReserveStockFunctionRole", "dynamodb")
    forged = {"productId": {"S": "forged"}, "name": {"S": "Forged"}}

    with pytest.raises(ClientError) as refused:
        stock.transact_write_items(TransactItems=[{"Put": {"TableName": catalog, "Item": forged}}])

    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "Item" not in shop.client("dynamodb").get_item(TableName=catalog, Key={"productId": {"S": "forged"}})


@pytest.mark.parametrize(
    ("role", "service", "call", "code"),
    [
        (
            "CatalogApiFunctionRole",
            "sns",
            lambda c, o: c.publish(TopicArn=o["NotificationsTopicArn"], Message="x"),
            "AuthorizationError",
        ),
        (
            "NightlyReportFunctionRole",
            "s3",
            lambda c, o: c.delete_object(Bucket=o["ReportsBucketName"], Key="k"),
            "AccessDenied",
        ),
        (
            "CartApiFunctionRole",
            "lambda",
            lambda c, o: c.invoke(FunctionName="shop-PaymentProviderFunction"),
            "AccessDeniedException",
        ),
        (
            "CarrierApiFunctionRole",
            "stepfunctions",
            lambda c, o: c.start_execution(stateMachineArn=o["OrderStateMachineArn"], name="x"),
            "AccessDeniedException",
        ),
    ],
)
def test_every_service_answers_a_refusal_in_its_own_protocol(
    shop: Shop, role: str, service: str, call: Any, code: str
) -> None:
    client = as_function(shop, role, service)

    with pytest.raises(ClientError) as refused:
        call(client, shop.endpoints.outputs)

    assert refused.value.response["Error"]["Code"] == code


def test_a_statement_taken_out_of_a_role_fails_the_call_locally(shop: Shop) -> None:
    # The catalog function's only statement (GetItem and Scan on the Catalog) removed, as a careless edit would.
    role = role_arns(shop)["CatalogApiFunctionRole"]
    declared = shop.cloud.iam.properties(role)
    shop.cloud.iam.add_role(role, {**declared, "Policies": []})
    try:
        refused = requests.get(f"{shop.api}/products", timeout=30)
    finally:
        shop.cloud.iam.add_role(role, declared)
    served = requests.get(f"{shop.api}/products", timeout=30)

    assert refused.status_code == 500
    assert served.status_code == 200
    denied = shop.cloud.iam.usage()[role]["denied"]
    assert [call["action"] for call in denied] == ["dynamodb:Scan"]
    shop.cloud.iam.forget_refusals(role)  # provoked on purpose: the module's teardown checks nothing else was refused

"""The local cloud's IAM evaluation (localcloud.iam), on its own: policies, and the actions a request needs."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from localcloud.iam import IamEnforcement, Policies, PolicyError, Request, requested

ROLE = "arn:aws:iam::123456789012:role/shop-Role"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/shop-OrdersTable"


def role(*statements: dict[str, Any], managed: tuple[str, ...] = ()) -> Policies:
    policies = Policies("123456789012")
    policies.add_role(
        ROLE,
        {
            "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": list(statements)}}],
            "ManagedPolicyArns": list(managed),
        },
    )
    return policies


def test_nothing_is_allowed_that_no_statement_allows() -> None:
    policies = role({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE})

    assert policies.allows(ROLE, "dynamodb:GetItem", TABLE)
    assert not policies.allows(ROLE, "dynamodb:PutItem", TABLE)
    assert not policies.allows(ROLE, "dynamodb:GetItem", TABLE + "-other")
    assert not policies.allows("arn:aws:iam::123456789012:role/unknown", "dynamodb:GetItem", TABLE)


def test_an_explicit_deny_wins_over_any_allow() -> None:
    policies = role(
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": TABLE},
    )

    assert policies.allows(ROLE, "dynamodb:PutItem", TABLE)
    assert not policies.allows(ROLE, "dynamodb:DeleteItem", TABLE)


def test_actions_match_without_case_and_resources_with_it_and_wildcards_are_iams_own() -> None:
    policies = role({"Effect": "Allow", "Action": "DynamoDB:get?tem", "Resource": f"{TABLE}/index/*"})

    assert policies.allows(ROLE, "dynamodb:GetItem", f"{TABLE}/index/byStatus")
    assert not policies.allows(ROLE, "dynamodb:GetItem", f"{TABLE.upper()}/index/byStatus")
    assert not policies.allows(ROLE, "dynamodb:GetItem", TABLE)


def test_a_condition_on_a_key_the_call_does_not_carry_fails_closed() -> None:
    sender = "arn:aws:ses:us-east-1:123456789012:identity/shop@example.com"
    policies = role(
        {
            "Effect": "Allow",
            "Action": "ses:SendEmail",
            "Resource": "arn:aws:ses:us-east-1:123456789012:identity/*",
            "Condition": {"StringEquals": {"ses:FromAddress": "shop@example.com"}},
        }
    )

    assert policies.allows(ROLE, "ses:SendEmail", sender, {"ses:FromAddress": "shop@example.com"})
    assert not policies.allows(ROLE, "ses:SendEmail", sender, {"ses:FromAddress": "evil@example.com"})
    assert not policies.allows(ROLE, "ses:SendEmail", sender)


def test_managed_policies_grant_what_aws_documents_and_unknown_ones_nothing() -> None:
    policies = role(
        managed=(
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/AdministratorAccess",
        )
    )

    assert policies.allows(ROLE, "logs:PutLogEvents", "arn:aws:logs:us-east-1:123456789012:log-group:x")
    assert not policies.allows(ROLE, "dynamodb:GetItem", TABLE)


def test_a_policy_it_cannot_evaluate_is_refused_when_the_stack_starts() -> None:
    with pytest.raises(PolicyError, match="NotAction"):
        role({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})


def call(service: str, method: str = "POST", path: str = "/", body: Any = b"", **environ: str) -> list[Request]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw)}
    return list(requested(service, {**env, **environ}, raw, "us-east-1", "123456789012"))


def test_a_transaction_needs_the_action_of_each_item_on_its_table() -> None:
    items = [
        {"Update": {"TableName": "Catalog", "Key": {}}},
        {"ConditionCheck": {"TableName": "Orders", "Key": {}}},
        {"Put": {"TableName": "Orders", "Item": {}}},
    ]

    needed = call("dynamodb", body={"TransactItems": items}, HTTP_X_AMZ_TARGET="DynamoDB_20120810.TransactWriteItems")

    assert [(r.action, r.resource.rsplit("/", 1)[-1]) for r in needed] == [
        ("dynamodb:UpdateItem", "Catalog"),
        ("dynamodb:ConditionCheckItem", "Orders"),
        ("dynamodb:PutItem", "Orders"),
    ]


def test_a_query_on_an_index_needs_the_index() -> None:
    (needed,) = call(
        "dynamodb", body={"TableName": "Orders", "IndexName": "byStatus"}, HTTP_X_AMZ_TARGET="DynamoDB_20120810.Query"
    )

    assert needed == Request("dynamodb:Query", "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/index/byStatus")


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (
            ("s3", "PUT", "/reports/2026/12/03.json", "", b"{}"),
            ("s3:PutObject", "arn:aws:s3:::reports/2026/12/03.json"),
        ),
        (("s3", "PUT", "/reports", "lifecycle", b""), ("s3:PutLifecycleConfiguration", "arn:aws:s3:::reports")),
        (("s3", "GET", "/reports", "list-type=2", b""), ("s3:ListBucket", "arn:aws:s3:::reports")),
        (
            ("lambda", "POST", "/2015-03-31/functions/shop-Provider/invocations", "Qualifier=live", b"{}"),
            ("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:shop-Provider:live"),
        ),
        (
            (
                "sns",
                "POST",
                "/",
                "",
                b"Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Anotes&Message=x",
            ),
            ("sns:Publish", "arn:aws:sns:us-east-1:123456789012:notes"),
        ),
    ],
)
def test_rest_and_query_calls_name_their_action_and_resource(
    sent: tuple[str, str, str, str, bytes], expected: tuple[str, str]
) -> None:
    service, method, path, query, body = sent

    (needed,) = call(service, method, path, body, QUERY_STRING=query)

    assert (needed.action, needed.resource) == expected


@pytest.mark.parametrize(
    ("grants", "key", "status"),
    [
        (["s3:GetObject"], "there.png", "200 OK"),
        (["s3:GetObject"], "missing.png", "403 Forbidden"),  # S3 says nothing of a missing key to this caller
        (["s3:GetObject", "s3:ListBucket"], "missing.png", "404 Not Found"),
    ],
)
def test_a_missing_key_is_404_only_to_a_caller_that_may_list_the_bucket(
    grants: list[str], key: str, status: str
) -> None:
    statements = [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::images/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::images"},
    ]
    policies = role(*[statement for statement in statements if statement["Action"] in grants])
    access_key = policies.credentials_for(ROLE, "resizer")["AWS_ACCESS_KEY_ID"]

    def s3(environ: dict[str, Any], start_response: Any) -> list[bytes]:  # moto's answer for the one key it holds
        found = environ["PATH_INFO"] == "/images/there.png"
        start_response("200 OK" if found else "404 Not Found", [("Content-Type", "application/xml")])
        return [b"picture" if found else b"<Error><Code>NoSuchKey</Code></Error>"]

    answered: list[str] = []
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": f"/images/{key}",
        "CONTENT_LENGTH": "0",
        "wsgi.input": io.BytesIO(b""),
        "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={access_key}/20261204/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=x",
    }
    body = b"".join(IamEnforcement(s3, policies, "us-east-1")(environ, lambda line, headers: answered.append(line)))

    assert answered == [status]
    assert (b"AccessDenied" in body) == (status == "403 Forbidden")

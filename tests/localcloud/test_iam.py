"""The local cloud's IAM evaluation (localcloud.iam), on its own: policies, and the actions a request needs."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from localcloud.iam import Policies, PolicyError, Request, requested

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

"""Cognito's PostConfirmation trigger, run inside the confirmation (localcloud.triggers), on moto in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID

from localcloud import moto_hooks
from localcloud.triggers import PostConfirmation, PostConfirmations

PASSWORD = "Trigger-test-Passw0rd"


@contextmanager
def post_confirmation(triggers: list[PostConfirmation], invoke: Any) -> Iterator[None]:
    """While inside: moto's default account runs the triggers, as a local cloud's account does."""
    with moto_hooks.claimed(DEFAULT_ACCOUNT_ID) as cloud:
        cloud.confirmations = PostConfirmations(triggers, invoke)
        yield


class Calls:
    def __init__(self, failing: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.failing = failing

    def __call__(self, function: str, event: dict[str, Any]) -> tuple[bool, bytes]:
        self.events.append({"function": function, **event})
        if self.failing:
            return True, json.dumps({"errorMessage": "the group is gone", "errorType": "ResourceNotFound"}).encode()
        return False, b"null"


@pytest.fixture
def pool() -> Iterator[tuple[Any, str, str]]:
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name="us-east-1")
        pool_id = cognito.create_user_pool(PoolName="shop")["UserPool"]["Id"]
        client_id = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="web")["UserPoolClient"]["ClientId"]
        yield cognito, pool_id, client_id


def sign_up(cognito: Any, client_id: str, email: str) -> None:
    cognito.sign_up(
        ClientId=client_id, Username=email, Password=PASSWORD, UserAttributes=[{"Name": "email", "Value": email}]
    )


@pytest.mark.parametrize("by_admin", [False, True])
def test_a_confirmed_sign_up_runs_the_trigger_before_the_confirmation_answers(
    pool: tuple[Any, str, str], by_admin: bool
) -> None:
    cognito, pool_id, client_id = pool
    calls = Calls()
    sign_up(cognito, client_id, "dana@example.com")

    with post_confirmation([PostConfirmation(pool_id, "post-confirmation", "us-east-1")], calls):
        if by_admin:
            cognito.admin_confirm_sign_up(UserPoolId=pool_id, Username="dana@example.com")
        else:
            cognito.confirm_sign_up(ClientId=client_id, Username="dana@example.com", ConfirmationCode="123456")

    (event,) = calls.events
    assert event["function"] == "post-confirmation"
    assert event["triggerSource"] == "PostConfirmation_ConfirmSignUp"
    assert event["userPoolId"] == pool_id
    assert event["request"]["userAttributes"]["email"] == "dana@example.com"
    assert event["callerContext"]["clientId"] == client_id


def test_a_failing_trigger_fails_the_confirmation_and_the_user_stays_confirmed(pool: tuple[Any, str, str]) -> None:
    cognito, pool_id, client_id = pool
    sign_up(cognito, client_id, "erin@example.com")

    trigger = PostConfirmation(pool_id, "post-confirmation", "us-east-1")
    with post_confirmation([trigger], Calls(failing=True)), pytest.raises(ClientError) as failed:
        cognito.confirm_sign_up(ClientId=client_id, Username="erin@example.com", ConfirmationCode="123456")

    assert failed.value.response["Error"]["Code"] == "UserLambdaValidationException"
    assert "PostConfirmation failed with error the group is gone" in failed.value.response["Error"]["Message"]
    assert cognito.admin_get_user(UserPoolId=pool_id, Username="erin@example.com")["UserStatus"] == "CONFIRMED"


def test_users_an_administrator_creates_and_other_pools_never_fire_it(pool: tuple[Any, str, str]) -> None:
    cognito, pool_id, client_id = pool
    calls = Calls()
    other_pool = cognito.create_user_pool(PoolName="other")["UserPool"]["Id"]
    other_client = cognito.create_user_pool_client(UserPoolId=other_pool, ClientName="web")["UserPoolClient"][
        "ClientId"
    ]
    sign_up(cognito, other_client, "finn@example.com")
    sign_up(cognito, client_id, "gus@example.com")

    with post_confirmation([PostConfirmation(pool_id, "post-confirmation", "us-east-1")], calls):
        cognito.admin_create_user(UserPoolId=pool_id, Username="admin-made@example.com", MessageAction="SUPPRESS")
        cognito.confirm_sign_up(ClientId=other_client, Username="finn@example.com", ConfirmationCode="123456")
        cognito.admin_confirm_sign_up(UserPoolId=pool_id, Username="gus@example.com")
        cognito.admin_confirm_sign_up(UserPoolId=pool_id, Username="gus@example.com")  # confirmed already

    assert [event["userName"] for event in calls.events] == ["gus@example.com"]


def test_outside_the_context_moto_confirms_as_before(pool: tuple[Any, str, str]) -> None:
    cognito, pool_id, client_id = pool
    calls = Calls()
    with post_confirmation([PostConfirmation(pool_id, "post-confirmation", "us-east-1")], calls):
        pass
    sign_up(cognito, client_id, "hal@example.com")

    cognito.confirm_sign_up(ClientId=client_id, Username="hal@example.com", ConfirmationCode="123456")

    assert calls.events == []

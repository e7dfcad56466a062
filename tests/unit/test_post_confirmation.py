"""The Cognito post-confirmation trigger puts every newly confirmed user in the customers group."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud.template import load_stack
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event

# The user pool settings that CreateUserPool takes under the same names as CloudFormation.
_POOL_PROPERTIES = ("UsernameAttributes", "AutoVerifiedAttributes", "Policies", "Schema", "AccountRecoverySetting")


@dataclass(frozen=True)
class UserPool:
    client: Any
    pool_id: str
    username: str
    customers_group: str

    def groups_of_user(self) -> list[str]:
        groups = self.client.admin_list_groups_for_user(UserPoolId=self.pool_id, Username=self.username)["Groups"]
        return sorted(group["GroupName"] for group in groups)


@pytest.fixture
def user_pool() -> Iterator[UserPool]:
    """The template's user pool and groups, holding one user who has just signed up (alice@example.com)."""
    stack = load_stack()
    with mock_aws():
        client = boto3.client("cognito-idp")
        properties = stack.resource("UserPool")["Properties"]
        pool_id = client.create_user_pool(
            PoolName="test-users", **{name: properties[name] for name in _POOL_PROPERTIES}
        )["UserPool"]["Id"]
        groups = {
            logical_id: resource["Properties"]["GroupName"]
            for logical_id, resource in stack.resources_of_type("AWS::Cognito::UserPoolGroup").items()
        }
        for group in groups.values():
            client.create_group(UserPoolId=pool_id, GroupName=group)
        user = client.admin_create_user(
            UserPoolId=pool_id,
            Username="alice@example.com",
            UserAttributes=[{"Name": "email", "Value": "alice@example.com"}],
        )["User"]
        yield UserPool(client, pool_id, user["Username"], groups["CustomersGroup"])


def confirmation_event(pool: UserPool, trigger_source: str | None = None) -> dict[str, Any]:
    """events/post_confirmation.json, aimed at the test's pool and user."""
    event = read_event("post_confirmation")
    event["userPoolId"] = pool.pool_id
    event["userName"] = pool.username
    event["request"]["userAttributes"]["sub"] = pool.username
    if trigger_source is not None:
        event["triggerSource"] = trigger_source
    return event


def confirm(event: dict[str, Any]) -> Any:
    return load_function("post_confirmation").lambda_handler(event, FakeLambdaContext())


def test_a_confirmed_sign_up_joins_the_customers_group(user_pool: UserPool) -> None:
    # Given a user in no group yet
    assert user_pool.groups_of_user() == []

    # When Cognito reports the confirmed sign-up
    confirm(confirmation_event(user_pool))

    # Then the user is a customer, and nothing more
    assert user_pool.groups_of_user() == [user_pool.customers_group]


def test_the_trigger_returns_the_event_it_was_given(user_pool: UserPool) -> None:
    event = confirmation_event(user_pool)
    sent = copy.deepcopy(event)

    returned = confirm(event)

    assert returned == sent


def test_a_confirmed_password_reset_adds_nothing(user_pool: UserPool) -> None:
    event = confirmation_event(user_pool, "PostConfirmation_ConfirmForgotPassword")
    sent = copy.deepcopy(event)

    returned = confirm(event)

    assert user_pool.groups_of_user() == []
    assert returned == sent


def test_a_repeated_confirmation_leaves_one_membership(user_pool: UserPool) -> None:
    # Cognito retries a trigger that times out, so the same confirmation can arrive twice.
    confirm(confirmation_event(user_pool))

    confirm(confirmation_event(user_pool))

    assert user_pool.groups_of_user() == [user_pool.customers_group]

"""The end-to-end suite's target: the local cloud (in `make test`), or a deployed stack (`make e2e STACK=<name>`).

Written once, against what any client of the shop has: the API's URL, the user pool and its client, the carrier's
API key, and an administrator's Cognito client (to confirm a sign-up and make an approver, as an operator would).
Nothing here reaches into the local cloud's internals, so what passes locally is what is asked of AWS.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from localcloud.cloud import LocalCloud
from localcloud.users import ensure_user, id_token
from tools.seed import seed

STACK = os.environ.get("E2E_STACK", "")
# Passwords of the users the suite makes (sign-ups on a deployed stack are deleted at the end).
PASSWORD = f"E2e-{uuid.uuid4().hex[:12]}-Aa1"


@dataclass
class Target:
    """A running shop, as its clients see it."""

    api: str
    user_pool_id: str
    client_id: str
    carrier_api_key: str
    cognito: Any  # an administrator's client of the user pool
    deployed: bool

    def user(self, group: str) -> tuple[str, str]:
        """A confirmed user of `group` made for this run: (email, ID token)."""
        email = f"e2e-{group}-{uuid.uuid4().hex[:10]}@example.com"
        ensure_user(self.cognito, self.user_pool_id, email, PASSWORD, group)
        self.made.append(email)
        return email, id_token(self.cognito, self.client_id, email, PASSWORD)

    def __post_init__(self) -> None:
        self.made: list[str] = []


def deployed_target(stack: str) -> Target:
    """The endpoints of a deployed stack, from its outputs (the carrier's key value from API Gateway)."""
    try:
        outputs = {
            output["OutputKey"]: output["OutputValue"]
            for output in boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
        }
    except (BotoCoreError, ClientError) as exc:
        pytest.skip(f"stack {stack} cannot be read with these credentials ({exc})")
    key = boto3.client("apigateway").get_api_key(apiKey=outputs["CarrierApiKeyId"], includeValue=True)["value"]
    return Target(
        api=outputs["ApiUrl"].rstrip("/"),
        user_pool_id=outputs["UserPoolId"],
        client_id=outputs["UserPoolClientId"],
        carrier_api_key=key,
        cognito=boto3.client("cognito-idp"),
        deployed=True,
    )


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    if STACK:
        shop = deployed_target(STACK)
        try:
            yield shop
        finally:
            for email in shop.made:
                shop.cognito.admin_delete_user(UserPoolId=shop.user_pool_id, Username=email)
        return
    cloud = LocalCloud(api_port=0, aws_port=0, parameters={"ApprovalTimeoutSeconds": "60"}, log=lambda _: None)
    endpoints = cloud.start()
    try:
        seed(str(endpoints.outputs["CatalogTableName"]), cloud.client("dynamodb"))
        yield Target(
            api=endpoints.api,
            user_pool_id=endpoints.user_pool_id,
            client_id=endpoints.user_pool_client_id,
            carrier_api_key=endpoints.carrier_api_key,
            cognito=cloud.client("cognito-idp"),
            deployed=False,
        )
    finally:
        cloud.stop()

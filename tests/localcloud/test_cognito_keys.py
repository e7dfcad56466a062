"""Each user pool of the local cloud signs with a key made for it (localcloud.cognito_keys), not with the key whose
private half ships in the moto package; the AWS endpoint serves the pool's public key set where Cognito does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import pytest
from moto import mock_aws
from moto.utilities.utils import load_resource

from localcloud.cognito_keys import MOTO_KEY_ID, PoolKeys, PoolKeySets

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
PASSWORD = "Keys-test-Passw0rd"


@pytest.fixture
def cognito() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cognito-idp", region_name=REGION)


def pool_with_user(cognito: Any, name: str) -> tuple[str, str]:
    pool_id = cognito.create_user_pool(PoolName=name)["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    )["UserPoolClient"]["ClientId"]
    cognito.admin_create_user(UserPoolId=pool_id, Username="kim@example.com", MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool_id, Username="kim@example.com", Password=PASSWORD, Permanent=True)
    return pool_id, client_id


def id_token(cognito: Any, client_id: str) -> str:
    answer = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "kim@example.com", "PASSWORD": PASSWORD},
    )
    return str(answer["AuthenticationResult"]["IdToken"])


def verifies(token: str, key_set: dict[str, Any]) -> bool:
    key = jwt.PyJWKSet.from_dict(key_set)[MOTO_KEY_ID]
    try:
        jwt.decode(token, key=key, algorithms=["RS256"], options={"verify_aud": False})
    except jwt.InvalidSignatureError:
        return False
    return True


def test_a_pools_tokens_verify_with_its_own_key_and_not_with_motos(cognito: Any) -> None:
    pool_id, client_id = pool_with_user(cognito, "shop")
    key_set = PoolKeys(ACCOUNT_ID).issue(REGION, pool_id)

    token = id_token(cognito, client_id)

    assert verifies(token, key_set)
    assert not verifies(token, load_resource("cognitoidp/resources/jwks-public.json"))
    assert "d" not in key_set["keys"][0], "the key set must hold the public half only"


def test_each_pool_gets_a_key_of_its_own(cognito: Any) -> None:
    keys = PoolKeys(ACCOUNT_ID)
    first, first_client = pool_with_user(cognito, "shop")
    second, _ = pool_with_user(cognito, "other-shop")

    first_keys, second_keys = keys.issue(REGION, first), keys.issue(REGION, second)

    assert first_keys["keys"][0]["n"] != second_keys["keys"][0]["n"]
    assert not verifies(id_token(cognito, first_client), second_keys)


def test_the_endpoint_serves_the_pools_key_set_where_cognito_does(cognito: Any) -> None:
    pool_id, _ = pool_with_user(cognito, "shop")
    keys = PoolKeys(ACCOUNT_ID)
    key_set = keys.issue(REGION, pool_id)
    passed_on: list[str] = []

    def moto(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        passed_on.append(environ["PATH_INFO"])
        start_response("404 Not Found", [])
        return [b""]

    app = PoolKeySets(moto, keys)
    statuses: list[str] = []
    served = b"".join(
        app({"PATH_INFO": f"/{pool_id}/.well-known/jwks.json"}, lambda status, _: statuses.append(status))
    )
    app({"PATH_INFO": "/us-east-1_unknown/.well-known/jwks.json"}, lambda status, _: statuses.append(status))
    app({"PATH_INFO": "/"}, lambda status, _: statuses.append(status))

    assert json.loads(served) == key_set
    assert statuses == ["200 OK", "404 Not Found", "404 Not Found"]
    assert passed_on == ["/us-east-1_unknown/.well-known/jwks.json", "/"]

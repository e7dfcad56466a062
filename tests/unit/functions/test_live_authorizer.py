"""The WebSocket API's $connect authorizer: a valid Cognito ID token in the query string is an Allow on the route
with the caller in the context; an expired, tampered, forged, other pool's, other client's, access or missing
token is a Deny. Tokens are signed with a key made here, whose key set the authorizer's key client is served
in place of Cognito's (its fetch is the seam: no network in unit tests)."""

from __future__ import annotations

import base64
import copy
import json
import os
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWKClient, PyJWKClientConnectionError
from jwt.algorithms import RSAAlgorithm

from shop.adapters.id_tokens import KeySetUnavailable, key_set_url
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event

POOL_ID = os.environ["USER_POOL_ID"]
CLIENT_ID = os.environ["USER_POOL_CLIENT_ID"]
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}"
KEY_ID = "pool-key-1"
EVENT = read_event("live_authorizer")
METHOD_ARN = EVENT["methodArn"]
ALICE = "3c5f9a2e-8d41-4b7a-9f0e-1a2b3c4d5e6f"

_POOL_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_set() -> dict[str, Any]:
    """The pool's JWKS, as Cognito serves it at {issuer}/.well-known/jwks.json."""
    public = RSAAlgorithm.to_jwk(_POOL_KEY.public_key(), as_dict=True)
    return {"keys": [{**public, "kid": KEY_ID, "alg": "RS256", "use": "sig"}]}


def id_token(key: Any = _POOL_KEY, kid: str = KEY_ID, **claims: Any) -> str:
    """An ID token as Cognito issues it to the console (the claims of events/orders_api.json), claim by claim
    overridable; a claim given as None is left out."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": ALICE,
        "cognito:groups": ["customers"],
        "email_verified": True,
        "iss": ISSUER,
        "cognito:username": ALICE,
        "aud": CLIENT_ID,
        "event_id": "5f6e7d8c-0000-4000-8000-000000000002",
        "token_use": "id",
        "auth_time": now - 60,
        "iat": now - 60,
        "exp": now + 3600,
        "jti": "9e8d7c6b-0000-4000-8000-000000000003",
        "email": "alice@example.com",
    }
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def connect_with(token: str | None) -> dict[str, Any]:
    """The authorizer's event of events/live_authorizer.json, carrying `token` (None: no query string)."""
    event = copy.deepcopy(EVENT)
    if token is None:
        event["queryStringParameters"] = None
        event["multiValueQueryStringParameters"] = None
    else:
        event["queryStringParameters"] = {"token": token}
        event["multiValueQueryStringParameters"] = {"token": [token]}
    return event


class KeySetFetches:
    """Counts the authorizer's fetches of the key set (what would be requests to Cognito)."""

    def __init__(self) -> None:
        self.count = 0
        self.failure: Exception | None = None

    def __call__(self) -> dict[str, Any]:
        self.count += 1
        if self.failure is not None:
            raise self.failure
        return key_set()


@pytest.fixture
def authorizer() -> ModuleType:
    return load_function("live_authorizer")


@pytest.fixture
def fetches(authorizer: ModuleType, monkeypatch: pytest.MonkeyPatch) -> KeySetFetches:
    """A key client like the module's (same URL), with nothing cached yet and its fetch served here."""
    fetch = KeySetFetches()
    keys = PyJWKClient(authorizer.verifier.keys.uri, cache_jwk_set=True, lifespan=3600)
    monkeypatch.setattr(keys, "fetch_data", fetch)
    monkeypatch.setattr(authorizer.verifier, "keys", keys)
    return fetch


@pytest.fixture
def authorize(authorizer: ModuleType, fetches: KeySetFetches) -> Callable[[str | None], dict[str, Any]]:
    def call(token: str | None) -> dict[str, Any]:
        answer: dict[str, Any] = authorizer.lambda_handler(connect_with(token), FakeLambdaContext())
        return answer

    return call


def effect(answer: dict[str, Any]) -> str:
    [statement] = answer["policyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"] == METHOD_ARN
    return str(statement["Effect"])


def test_a_valid_id_token_is_allowed_with_the_caller_in_the_context(authorize: Callable[..., Any]) -> None:
    answer = authorize(id_token(**{"cognito:groups": ["customers", "admins"]}))

    assert effect(answer) == "Allow"
    assert answer["principalId"] == ALICE
    assert answer["context"] == {"customerId": ALICE, "groups": "admins,customers", "email": "alice@example.com"}


def test_an_expired_token_is_denied(authorize: Callable[..., Any]) -> None:
    an_hour_ago = int(time.time()) - 3600

    answer = authorize(id_token(iat=an_hour_ago - 3600, auth_time=an_hour_ago - 3600, exp=an_hour_ago))

    assert effect(answer) == "Deny"
    assert "context" not in answer


def test_a_token_whose_claims_were_changed_after_signing_is_denied(authorize: Callable[..., Any]) -> None:
    header, _, signature = id_token().split(".")
    claims = jwt.decode(id_token(), options={"verify_signature": False})
    claims["cognito:groups"] = ["admins"]
    tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")

    answer = authorize(f"{header}.{tampered}.{signature}")

    assert effect(answer) == "Deny"


def test_a_token_signed_with_another_key_under_the_pools_key_id_is_denied(authorize: Callable[..., Any]) -> None:
    assert effect(authorize(id_token(key=_OTHER_KEY))) == "Deny"


def test_a_token_of_another_user_pool_is_denied(authorize: Callable[..., Any]) -> None:
    other_pool = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Zz98Yx76W"

    assert effect(authorize(id_token(iss=other_pool))) == "Deny"


def test_a_token_for_another_app_client_is_denied(authorize: Callable[..., Any]) -> None:
    assert effect(authorize(id_token(aud="7k9m2n4p6q8r1s3t5v7w9x1y2z"))) == "Deny"


def test_an_access_token_is_denied_even_with_the_pools_audience(authorize: Callable[..., Any]) -> None:
    # Cognito's access tokens carry client_id and no aud; this one has aud too, so only token_use can refuse it.
    access = {"token_use": "access", "client_id": CLIENT_ID}

    assert effect(authorize(id_token(**access))) == "Deny"
    assert effect(authorize(id_token(**access, aud=None, email=None))) == "Deny"


@pytest.mark.parametrize("token", [None, ""], ids=["no query string", "empty token"])
def test_no_token_is_denied(authorize: Callable[..., Any], fetches: KeySetFetches, token: str | None) -> None:
    assert effect(authorize(token)) == "Deny"
    assert fetches.count == 0


def test_a_token_that_is_not_a_jwt_is_denied(authorize: Callable[..., Any]) -> None:
    assert effect(authorize("not-a-token")) == "Deny"


def test_the_sample_events_token_is_signed_by_no_pool_and_denied(
    authorizer: ModuleType, fetches: KeySetFetches
) -> None:
    answer = authorizer.lambda_handler(read_event("live_authorizer"), FakeLambdaContext())

    assert effect(answer) == "Deny"


def test_the_key_set_is_fetched_once_for_many_connections(
    authorize: Callable[..., Any], fetches: KeySetFetches
) -> None:
    answers = [authorize(id_token(sub=f"customer-{n}", **{"cognito:username": f"customer-{n}"})) for n in range(5)]

    assert [effect(answer) for answer in answers] == ["Allow"] * 5
    assert fetches.count == 1


def test_the_key_set_is_cognitos_unless_aws_endpoint_url_points_elsewhere(authorizer: ModuleType) -> None:
    assert authorizer.verifier.keys.uri == f"{ISSUER}/.well-known/jwks.json"
    assert (
        key_set_url("us-east-1", POOL_ID, "http://127.0.0.1:4566/")
        == f"http://127.0.0.1:4566/{POOL_ID}/.well-known/jwks.json"
    )


def test_a_key_set_that_cannot_be_read_is_an_error_not_a_deny(
    authorize: Callable[..., Any], fetches: KeySetFetches
) -> None:
    fetches.failure = PyJWKClientConnectionError("Fail to fetch data from the url, err: timed out")

    with pytest.raises(KeySetUnavailable):
        authorize(id_token())

"""The local API Gateway, tested over real HTTP: a Gateway behind a Distribution started on a free port, a fake
`invoke` that records the events the functions would get, and a local JWKS server holding a key pair made here (no
moto)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from localcloud.cognito_tokens import TokenVerifier
from localcloud.distribution import Distribution
from localcloud.gateway import Gateway
from localcloud.rest_api import Route, routes_from_rest_api
from localcloud.template import load_stack
from localcloud.throttling import Quota, Throttle, UsagePlan

# Every test talks to servers it starts on the loopback address, and to nothing else.
pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

ROOT = Path(__file__).resolve().parents[2]
STAGE = "api"  # the stage the gateway serves the routes under (its default, and template.yaml's StageName)
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Local0001"
CLIENT_ID = "localclient0001"
KID = "local-key-1"
CARRIER_KEY = "carrier-key-value-0001"
CARRIER_KEY_ID = "k7x2p9q4w1"
PROBLEM = "application/problem+json"
OK = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"ok": true}'}
ECHO = Route("POST", "/echo", "EchoFunction", "none")  # a public route that takes a body


# --- fixtures ------------------------------------------------------------------------------------------


class FakeFunctions:
    """Stands in for the function workers: records each (function, event) and answers a canned response."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, tuple[int | None, Any]] = {}

    def __call__(self, function_logical_id: str, event: dict[str, Any]) -> tuple[int | None, Any]:
        self.calls.append((function_logical_id, event))
        return self.answers.get(function_logical_id, (None, OK))

    @property
    def last_event(self) -> dict[str, Any]:
        return self.calls[-1][1]


class Jwks:
    """The user pool's key set served on 127.0.0.1, counting how often it is fetched."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.fetches = 0
        document = json.dumps({"keys": keys}).encode()
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def pool_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def stranger_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": KID, "alg": "RS256", "use": "sig"}


@pytest.fixture
def jwks(pool_key: rsa.RSAPrivateKey) -> Iterator[Jwks]:
    server = Jwks([public_jwk(pool_key)])
    yield server
    server.close()


@pytest.fixture(scope="module")
def template_routes() -> list[Route]:
    return routes_from_rest_api(load_stack().resource("Api")["Properties"]["Body"])


@pytest.fixture
def functions() -> FakeFunctions:
    return FakeFunctions()


StartGateway = Callable[..., str]
# What start_gateway passes to the Distribution; every other setting is the Gateway's.
DISTRIBUTION_SETTINGS = ("static_dir", "extra_files", "cognito_url", "viewer_response_headers", "on_request")


@pytest.fixture
def start_gateway(template_routes: list[Route], functions: FakeFunctions, jwks: Jwks) -> Iterator[StartGateway]:
    """Starts a Gateway with template.yaml's routes (plus ECHO) behind a Distribution on a free port; returns its
    stage's URL (as the ApiUrl output names it: http://127.0.0.1:<port>/api); the distribution's root is the
    console's. Each override goes to whichever of the two takes it."""
    started: list[Distribution] = []

    def start(**overrides: Any) -> str:
        edge = {name: overrides.pop(name) for name in DISTRIBUTION_SETTINGS if name in overrides}
        settings: dict[str, Any] = {
            "routes": [*template_routes, ECHO],
            "invoke": functions,
            "verifier": TokenVerifier(jwks_url=jwks.url, issuer=ISSUER, client_ids=[CLIENT_ID]),
            "api_keys": {CARRIER_KEY: CARRIER_KEY_ID},
            "usage_plan": UsagePlan(Throttle(rate=100, burst=100)),
            **overrides,
        }
        distribution = Distribution(Gateway(**settings), **edge)
        port = distribution.start(port=0)
        started.append(distribution)
        return f"http://127.0.0.1:{port}/{STAGE}"

    yield start
    for distribution in started:
        distribution.stop()


@pytest.fixture
def api(start_gateway: StartGateway) -> str:
    return start_gateway()


def id_token(key: rsa.RSAPrivateKey, *, kid: str = KID, algorithm: str = "RS256", **claims: Any) -> str:
    """An ID token like Cognito's (the claims of events/orders_api.json), overridable claim by claim."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": "3c5f9a2e-8d41-4b7a-9f0e-1a2b3c4d5e6f",
        "cognito:groups": ["admins", "customers"],
        "email_verified": True,
        "iss": ISSUER,
        "cognito:username": "3c5f9a2e-8d41-4b7a-9f0e-1a2b3c4d5e6f",
        "origin_jti": "0a1b2c3d-0000-4000-8000-000000000001",
        "aud": CLIENT_ID,
        "event_id": "5f6e7d8c-0000-4000-8000-000000000002",
        "token_use": "id",
        "auth_time": now - 60,
        "exp": now + 3600,
        "iat": now - 60,
        "jti": "9e8d7c6b-0000-4000-8000-000000000003",
        "email": "alice@example.com",
    }
    payload.update(claims)
    return jwt.encode(
        {k: v for k, v in payload.items() if v is not None}, key, algorithm=algorithm, headers={"kid": kid}
    )


def root(api: str) -> str:
    """The distribution's root (the console's origin) from its stage's URL."""
    return api.removesuffix(f"/{STAGE}")


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["Content-Type"] == PROBLEM
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["type"] == "about:blank"
    return problem


# --- routes from the template ----------------------------------------------------------------------------


def test_routes_come_from_the_transformed_template(template_routes: list[Route]) -> None:
    routes = {(route.method, route.resource): route for route in template_routes}

    assert routes["GET", "/orders/{orderId}"] == Route("GET", "/orders/{orderId}", "OrdersApiFunction", "cognito")
    assert routes["POST", "/carrier/deliveries"].auth == "api_key"
    assert routes["POST", "/carrier/deliveries"].function_logical_id == "CarrierApiFunction"
    assert routes["GET", "/health"] == Route("GET", "/health", "CatalogApiFunction", "none")
    assert routes["PUT", "/cart"].auth == "cognito"
    assert not any(route.method == "OPTIONS" for route in template_routes)  # CORS mocks are the gateway's own
    assert len(routes) == len(template_routes) == 13


def _body(uri: Any, security: list[dict[str, Any]] | None = None, kind: str = "aws_proxy") -> dict[str, Any]:
    operation: dict[str, Any] = {"x-amazon-apigateway-integration": {"type": kind, "httpMethod": "POST", "uri": uri}}
    if security is not None:
        operation["security"] = security
    return {
        "paths": {"/things/{id}": {"get": operation}},
        "components": {
            "securitySchemes": {
                "Custom": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "x-amazon-apigateway-authorizer": {"type": "token"},
                },
            }
        },
    }


FUNCTIONS_PATH = "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"


@pytest.mark.parametrize(
    "uri",
    [
        {"Fn::Sub": FUNCTIONS_PATH + "${ThingsFunction.Arn}/invocations"},
        {"Fn::Sub": FUNCTIONS_PATH + "${ThingsFunctionAliaslive}/invocations"},
        {"Fn::Sub": [FUNCTIONS_PATH + "${Target}/invocations", {"Target": {"Fn::GetAtt": ["ThingsFunction", "Arn"]}}]},
    ],
)
def test_a_route_names_the_function_its_integration_uri_invokes(uri: Any) -> None:
    assert routes_from_rest_api(_body(uri)) == [Route("GET", "/things/{id}", "ThingsFunction", "none")]


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (_body("https://example.test/things", kind="http_proxy"), "integration type"),
        (_body({"Fn::Sub": FUNCTIONS_PATH + "${ThingsFunction.Arn}/invocations"}, [{"Custom": []}]), "not supported"),
        (_body({"Fn::Sub": FUNCTIONS_PATH + "${ThingsFunction.Arn}/invocations"}, [{"Missing": []}]), "not declared"),
        (_body("arn:aws:lambda:us-east-1:123456789012:function:things"), "which function"),
    ],
)
def test_a_route_the_gateway_cannot_serve_faithfully_is_refused_at_load(body: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        routes_from_rest_api(body)


# --- matching and events ---------------------------------------------------------------------------------


def test_a_public_route_gets_a_rest_proxy_event(api: str, functions: FakeFunctions) -> None:
    response = requests.get(f"{api}/products/espresso-1kg?limit=5&tag=a&tag=b%20c", timeout=5)

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    function, event = functions.calls[-1]
    assert function == "CatalogApiFunction"
    assert event["resource"] == "/products/{productId}"
    assert event["path"] == "/products/espresso-1kg"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"productId": "espresso-1kg"}
    assert event["queryStringParameters"] == {"limit": "5", "tag": "b c"}
    assert event["multiValueQueryStringParameters"] == {"limit": ["5"], "tag": ["a", "b c"]}
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    assert event["stageVariables"] is None
    context = event["requestContext"]
    assert context["stage"] == "api"
    assert context["path"] == "/api/products/espresso-1kg"
    assert context["resourcePath"] == "/products/{productId}"
    assert context["httpMethod"] == "GET"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == requests.utils.default_user_agent()
    assert re.fullmatch(r"[0-9a-f-]{36}", context["requestId"])
    assert abs(context["requestTimeEpoch"] / 1000 - time.time()) < 5
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["requestTime"])
    assert "authorizer" not in context
    assert "apiKey" not in context["identity"]
    assert response.headers["x-amzn-RequestId"] == context["requestId"]


def test_a_route_without_parameters_or_query_has_none_for_them(api: str, functions: FakeFunctions) -> None:
    requests.get(f"{api}/health", timeout=5)

    event = functions.last_event
    assert event["pathParameters"] is None
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None


def test_the_routes_are_served_under_the_stage_only(api: str, functions: FakeFunctions) -> None:
    # As API Gateway (https://<id>.execute-api.<region>.amazonaws.com/api/...) and CloudFront's /api/* put them.
    outside = requests.get(f"{root(api)}/products/espresso-1kg", timeout=5)
    response = requests.get(f"{api}/products/espresso-1kg", timeout=5)

    assert_problem(outside, 404)
    assert response.status_code == 200
    event = functions.last_event
    assert event["path"] == "/products/espresso-1kg"
    assert event["requestContext"]["path"] == "/api/products/espresso-1kg"


def test_repeated_headers_keep_the_last_value_and_all_values(api: str, functions: FakeFunctions) -> None:
    connection = http.client.HTTPConnection(root(api).removeprefix("http://"), timeout=5)
    connection.putrequest("GET", f"/{STAGE}/health")
    connection.putheader("X-Tag", "first")
    connection.putheader("X-Tag", "second")
    connection.endheaders()
    assert connection.getresponse().status == 200
    connection.close()

    event = functions.last_event
    assert event["headers"]["X-Tag"] == "second"
    assert event["multiValueHeaders"]["X-Tag"] == ["first", "second"]
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"


def test_a_text_body_is_passed_as_a_string(api: str, functions: FakeFunctions) -> None:
    requests.post(f"{api}/echo", data='{"café": 1}'.encode(), timeout=5)

    assert functions.last_event["body"] == '{"café": 1}'
    assert functions.last_event["isBase64Encoded"] is False


def test_a_body_that_is_not_utf8_is_text_without_binary_media_types(api: str, functions: FakeFunctions) -> None:
    # The template declares no binary media types: API Gateway passes every body as text, whatever its bytes.
    requests.post(f"{api}/echo", data=b"\xff\x00\xfe", headers={"Content-Type": "image/png"}, timeout=5)

    assert functions.last_event["isBase64Encoded"] is False
    assert functions.last_event["body"] == "\ufffd\x00\ufffd"


def test_a_body_of_a_binary_media_type_is_passed_base64_encoded(
    start_gateway: StartGateway, functions: FakeFunctions
) -> None:
    api = start_gateway(binary_media_types=["image~1*", "application/octet-stream"])  # CloudFormation's ~1 is /

    requests.post(f"{api}/echo", data=b"\xff\x00\xfe", headers={"Content-Type": "image/png"}, timeout=5)
    png = functions.last_event
    requests.post(f"{api}/echo", data=b"{}", headers={"Content-Type": "application/json"}, timeout=5)

    assert (png["isBase64Encoded"], base64.b64decode(png["body"])) == (True, b"\xff\x00\xfe")
    assert (functions.last_event["isBase64Encoded"], functions.last_event["body"]) == (False, "{}")


def test_a_literal_resource_wins_over_a_parameter_and_a_greedy_path_takes_the_rest(
    start_gateway: StartGateway, functions: FakeFunctions
) -> None:
    routes = [
        Route("GET", "/files/{proxy+}", "FilesFunction", "none"),
        Route("GET", "/items/{itemId}", "ItemFunction", "none"),
        Route("GET", "/items/search", "SearchFunction", "none"),
    ]
    api = start_gateway(routes=routes)

    requests.get(f"{api}/items/search", timeout=5)
    requests.get(f"{api}/items/i-1", timeout=5)
    requests.get(f"{api}/files/a/b/c.txt", timeout=5)

    assert [function for function, _ in functions.calls] == ["SearchFunction", "ItemFunction", "FilesFunction"]
    assert functions.calls[2][1]["pathParameters"] == {"proxy": "a/b/c.txt"}


def _key_shape(value: Any) -> Any:
    """Keys at every level and the type of every leaf; header maps hold data, so only their names."""
    if isinstance(value, dict):
        return {key: _key_shape(item) for key, item in value.items()}
    return type(value).__name__


def _assert_same_shape(generated: Any, recorded: Any, where: str = "event") -> None:
    if isinstance(recorded, dict):
        assert isinstance(generated, dict), where
        if where.endswith(("headers", "Headers")):  # the recorded request's headers, plus the gateway's own
            assert set(recorded) <= set(generated), where
            return
        assert set(generated) == set(recorded), where
        for key in recorded:
            _assert_same_shape(generated[key], recorded[key], f"{where}.{key}")
    else:
        assert type(generated) is type(recorded), where


@pytest.mark.parametrize("name", ["orders_api", "cart_api", "approvals_api", "catalog_api", "carrier_api"])
def test_generated_events_have_the_shape_of_the_recorded_events(
    name: str, api: str, functions: FakeFunctions, pool_key: rsa.RSAPrivateKey
) -> None:
    # Given the request that events/<name>.json records, replayed with a real token or key
    recorded = json.loads((ROOT / "events" / f"{name}.json").read_text())
    headers = {key: value for key, value in recorded["headers"].items() if key.lower() != "host"}
    claims = recorded["requestContext"].get("authorizer", {}).get("claims")
    if claims is not None:
        token_claims = {key: value for key, value in claims.items() if key not in ("exp", "iat", "auth_time")}
        headers["Authorization"] = id_token(pool_key, **{**token_claims, "iss": ISSUER, "aud": CLIENT_ID})
    if "x-api-key" in headers:
        headers["x-api-key"] = CARRIER_KEY

    # When it goes through the gateway
    response = requests.request(
        recorded["httpMethod"],
        api + recorded["path"],
        params=recorded["multiValueQueryStringParameters"],
        headers=headers,
        data=recorded["body"].encode() if recorded["body"] is not None else None,
        timeout=5,
    )

    # Then the function gets an event with the same keys at every level (values aside)
    assert response.status_code == 200
    generated = functions.last_event
    _assert_same_shape(generated, recorded)
    assert list(generated) == list(recorded)  # even in the same order, as API Gateway writes them


def test_an_event_has_the_keys_of_sam_generate_event(api: str, functions: FakeFunctions) -> None:
    sam = Path(sys.executable).with_name("sam")
    generated_by_sam = subprocess.run(  # noqa: S603  (the venv's own sam, fixed arguments)
        [str(sam), "local", "generate-event", "apigateway", "aws-proxy"],
        capture_output=True,
        check=True,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        timeout=60,
    )
    sample = json.loads(generated_by_sam.stdout)

    requests.get(f"{api}/health", timeout=5)

    generated = functions.last_event
    assert list(generated) == list(sample)
    assert set(sample["requestContext"]) <= set(generated["requestContext"])
    assert set(sample["requestContext"]["identity"]) == set(generated["requestContext"]["identity"])


# --- refusals before any function runs -------------------------------------------------------------------


def test_an_unknown_path_is_a_404_problem(api: str, functions: FakeFunctions) -> None:
    problem = assert_problem(requests.get(f"{api}/nowhere", timeout=5), 404)

    assert problem["detail"] == "no such resource"
    assert functions.calls == []


def test_a_known_path_with_another_method_is_a_404_problem(api: str, functions: FakeFunctions) -> None:
    assert_problem(requests.delete(f"{api}/health", timeout=5), 404)
    assert functions.calls == []


def test_a_body_over_10_mb_is_refused_with_413(api: str, functions: FakeFunctions) -> None:
    response = requests.post(f"{api}/echo", data=b"x" * (10 * 1024 * 1024 + 1), timeout=10)

    assert_problem(response, 413)
    assert functions.calls == []


def test_a_body_over_10_mb_announced_with_expect_100_is_refused_before_it_is_sent(
    api: str, functions: FakeFunctions
) -> None:
    connection = http.client.HTTPConnection(root(api).removeprefix("http://"), timeout=5)
    connection.putrequest("POST", f"/{STAGE}/echo")
    connection.putheader("Content-Length", str(20 * 1024 * 1024))
    connection.putheader("Expect", "100-continue")
    connection.endheaders()

    response = connection.getresponse()

    assert response.status == 413
    assert json.loads(response.read())["status"] == 413
    connection.close()
    assert functions.calls == []


def test_a_body_above_the_functions_own_limit_still_reaches_them(api: str, functions: FakeFunctions) -> None:
    requests.post(f"{api}/echo", data=b"y" * (1024 * 1024), timeout=5)

    assert len(functions.last_event["body"]) == 1024 * 1024


# --- Cognito routes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["", "Bearer ", "bearer "])
def test_a_valid_id_token_passes_its_claims_as_strings(
    scheme: str, api: str, functions: FakeFunctions, pool_key: rsa.RSAPrivateKey
) -> None:
    token = id_token(pool_key, exp=4102444800, auth_time=1767225600, iat=1767225600)

    response = requests.get(f"{api}/orders/o-1", headers={"Authorization": scheme + token}, timeout=5)

    assert response.status_code == 200
    function, event = functions.calls[-1]
    assert function == "OrdersApiFunction"
    claims = event["requestContext"]["authorizer"]["claims"]
    assert all(isinstance(value, str) for value in claims.values())
    assert claims["cognito:groups"] == "admins,customers"
    assert claims["email_verified"] == "true"
    assert claims["auth_time"] == "1767225600"
    assert claims["exp"] == "Fri Jan 01 00:00:00 UTC 2100"  # as API Gateway renders dates (Java's Date)
    assert claims["iat"] == "Thu Jan 01 00:00:00 UTC 2026"
    assert claims["sub"] == "3c5f9a2e-8d41-4b7a-9f0e-1a2b3c4d5e6f"
    assert claims["token_use"] == "id"
    assert event["pathParameters"] == {"orderId": "o-1"}


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "someone-else"
    forged = _b64url(json.dumps(claims).encode())
    return f"{header}.{forged}.{signature}"


def _hs256_with_public_key(key: rsa.RSAPrivateKey) -> str:
    """The algorithm-confusion forgery (PyJWT refuses to make one, so by hand)."""
    secret = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = {"sub": "x", "iss": ISSUER, "aud": CLIENT_ID, "token_use": "id", "exp": int(time.time()) + 60}
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    payload = _b64url(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


BAD_TOKENS: dict[str, Callable[[rsa.RSAPrivateKey, rsa.RSAPrivateKey], str | None]] = {
    "missing": lambda key, stranger: None,
    "empty bearer": lambda key, stranger: "Bearer ",
    "malformed": lambda key, stranger: "not-a-jwt",
    "expired": lambda key, stranger: id_token(key, exp=int(time.time()) - 5),
    "tampered": lambda key, stranger: _tampered(id_token(key)),
    "signed by another key": lambda key, stranger: id_token(stranger),
    "unknown key id": lambda key, stranger: id_token(stranger, kid="other-key"),
    "another audience": lambda key, stranger: id_token(key, aud="some-other-client"),
    "another issuer": lambda key, stranger: id_token(key, iss="https://cognito-idp.us-east-1.amazonaws.com/other"),
    "access token": lambda key, stranger: id_token(key, token_use="access"),  # noqa: S106  (not a password)
    "no token_use": lambda key, stranger: id_token(key, token_use=None),
    "no expiry": lambda key, stranger: id_token(key, exp=None),
    "HS256 with the public key as secret": lambda key, stranger: _hs256_with_public_key(key),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_a_bad_token_is_refused_with_401_before_any_function_runs(
    case: str,
    api: str,
    functions: FakeFunctions,
    pool_key: rsa.RSAPrivateKey,
    stranger_key: rsa.RSAPrivateKey,
) -> None:
    token = BAD_TOKENS[case](pool_key, stranger_key)
    headers = {} if token is None else {"Authorization": token}

    response = requests.post(f"{api}/orders", headers=headers, json={}, timeout=5)

    problem = assert_problem(response, 401)
    assert problem["title"] == "Unauthorized"
    assert functions.calls == []


def test_an_expired_token_is_refused_with_api_gateways_message(api: str, pool_key: rsa.RSAPrivateKey) -> None:
    token = id_token(pool_key, exp=int(time.time()) - 5)

    response = requests.get(f"{api}/cart", headers={"Authorization": token}, timeout=5)

    assert assert_problem(response, 401)["detail"] == "The incoming token has expired"


def test_the_pools_keys_are_fetched_once_and_cached(api: str, jwks: Jwks, pool_key: rsa.RSAPrivateKey) -> None:
    for _ in range(3):
        response = requests.get(f"{api}/cart", headers={"Authorization": id_token(pool_key)}, timeout=5)
        assert response.status_code == 200

    assert jwks.fetches == 1


def test_the_pools_keys_can_also_be_read_from_a_file(
    start_gateway: StartGateway, functions: FakeFunctions, pool_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    key_file = tmp_path / "jwks.json"
    key_file.write_text(json.dumps({"keys": [public_jwk(pool_key)]}))
    api = start_gateway(verifier=TokenVerifier(jwks_url=key_file.as_uri(), issuer=ISSUER, client_ids=[CLIENT_ID]))

    response = requests.get(f"{api}/cart", headers={"Authorization": id_token(pool_key)}, timeout=5)

    assert response.status_code == 200
    assert (
        functions.last_event["requestContext"]["authorizer"]["claims"]["sub"] == "3c5f9a2e-8d41-4b7a-9f0e-1a2b3c4d5e6f"
    )


def test_an_unreachable_jwks_is_a_server_error_not_the_callers(
    start_gateway: StartGateway, functions: FakeFunctions, pool_key: rsa.RSAPrivateKey
) -> None:
    closed = Jwks([])
    closed.close()  # nothing listens on its port any more
    api = start_gateway(verifier=TokenVerifier(jwks_url=closed.url, issuer=ISSUER, client_ids=[CLIENT_ID]))

    response = requests.get(f"{api}/cart", headers={"Authorization": id_token(pool_key)}, timeout=10)

    assert_problem(response, 500)
    assert functions.calls == []


# --- API-key routes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "not-a-key"}, {"x-api-key": ""}])
def test_a_missing_or_unknown_api_key_is_refused_with_403(
    headers: dict[str, str], api: str, functions: FakeFunctions
) -> None:
    response = requests.post(f"{api}/carrier/deliveries", headers=headers, json={}, timeout=5)

    assert assert_problem(response, 403)["title"] == "Forbidden"
    assert functions.calls == []


def test_a_valid_api_key_and_its_id_reach_the_function(api: str, functions: FakeFunctions) -> None:
    response = requests.post(f"{api}/carrier/deliveries", headers={"X-Api-Key": CARRIER_KEY}, json={}, timeout=5)

    assert response.status_code == 200
    function, event = functions.calls[-1]
    assert function == "CarrierApiFunction"
    assert event["requestContext"]["identity"]["apiKey"] == CARRIER_KEY
    assert event["requestContext"]["identity"]["apiKeyId"] == CARRIER_KEY_ID
    assert "authorizer" not in event["requestContext"]


def test_a_key_over_its_usage_limit_is_throttled_with_429(
    start_gateway: StartGateway, functions: FakeFunctions
) -> None:
    api = start_gateway(
        api_keys={CARRIER_KEY: CARRIER_KEY_ID, "second-key": "k2"}, usage_plan=UsagePlan(Throttle(rate=2, burst=2))
    )

    def deliver(key: str) -> int:
        return requests.post(f"{api}/carrier/deliveries", headers={"x-api-key": key}, json={}, timeout=5).status_code

    statuses = [deliver(CARRIER_KEY) for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert len(functions.calls) == 2
    assert deliver("second-key") == 200  # each key has its own bucket
    time.sleep(0.6)  # two requests a second: one more token after half a second
    assert deliver(CARRIER_KEY) == 200


def test_a_key_may_burst_above_its_rate_up_to_the_plans_burst(start_gateway: StartGateway) -> None:
    api = start_gateway(usage_plan=UsagePlan(Throttle(rate=1, burst=3)))

    def deliver() -> int:
        headers = {"x-api-key": CARRIER_KEY}
        return requests.post(f"{api}/carrier/deliveries", headers=headers, json={}, timeout=5).status_code

    statuses = [deliver() for _ in range(4)]
    time.sleep(1.1)  # one request a second: one more token

    assert statuses == [200, 200, 200, 429]
    assert deliver() == 200


def test_a_key_past_its_quota_is_refused_until_the_next_period(start_gateway: StartGateway) -> None:
    now = [datetime(2026, 12, 4, 23, 59, tzinfo=UTC)]
    api = start_gateway(
        usage_plan=UsagePlan(Throttle(rate=100, burst=100), Quota(limit=2, period="DAY")), clock=lambda: now[0]
    )

    def deliver() -> requests.Response:
        return requests.post(f"{api}/carrier/deliveries", headers={"x-api-key": CARRIER_KEY}, json={}, timeout=5)

    statuses = [deliver().status_code for _ in range(2)]
    refused = deliver()
    now[0] += timedelta(minutes=2)  # past midnight UTC: a new day's quota

    assert statuses == [200, 200]
    assert assert_problem(refused, 429)["detail"] == "Limit Exceeded"
    assert deliver().status_code == 200


def test_the_stage_throttles_each_method_before_any_check_or_function(
    start_gateway: StartGateway, functions: FakeFunctions
) -> None:
    api = start_gateway(stage_throttle=Throttle(rate=0.5, burst=2))

    health = [requests.get(f"{api}/health", timeout=5).status_code for _ in range(3)]
    unauthenticated = [requests.get(f"{api}/orders", timeout=5).status_code for _ in range(3)]

    assert health == [200, 200, 429]
    assert unauthenticated == [401, 401, 429]  # its own bucket, spent even by refused calls; 429 before the 401
    assert len(functions.calls) == 2


def test_the_throttle_answers_problem_json(start_gateway: StartGateway) -> None:
    api = start_gateway(usage_plan=UsagePlan(Throttle(rate=1, burst=1)))
    headers = {"x-api-key": CARRIER_KEY}
    requests.post(f"{api}/carrier/deliveries", headers=headers, json={}, timeout=5)

    response = requests.post(f"{api}/carrier/deliveries", headers=headers, json={}, timeout=5)

    assert assert_problem(response, 429)["title"] == "Too Many Requests"


# --- CORS --------------------------------------------------------------------------------------------------


def test_a_preflight_on_a_known_path_answers_the_templates_cors(api: str, functions: FakeFunctions) -> None:
    response = requests.options(
        f"{api}/orders/o-1",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"},
        timeout=5,
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "GET,PUT,POST,DELETE,OPTIONS"
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization,Content-Type,Idempotency-Key,X-Api-Key"
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert functions.calls == []  # no token needed, no function run


def test_a_preflight_on_an_unknown_path_is_a_404(api: str) -> None:
    assert_problem(requests.options(f"{api}/nowhere", timeout=5), 404)


def test_a_function_response_carries_no_cors_header_the_function_did_not_set(start_gateway: StartGateway) -> None:
    # API Gateway's proxy integration passes the function's headers and adds no CORS of its own: a gateway that did
    # would hide a function that forgot them (its browser clients would fail only in AWS).
    api = start_gateway(cors_origin="http://localhost:3000")

    response = requests.get(f"{api}/health", headers={"Origin": "http://localhost:3000"}, timeout=5)

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_functions_own_allowed_origin_is_kept(api: str, functions: FakeFunctions) -> None:
    functions.answers["CatalogApiFunction"] = (
        None,
        {"statusCode": 200, "headers": {"access-control-allow-origin": "https://shop.example"}, "body": ""},
    )

    response = requests.get(f"{api}/health", timeout=5)

    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"


# --- responses ---------------------------------------------------------------------------------------------


def test_the_functions_status_headers_and_body_are_the_response(api: str, functions: FakeFunctions) -> None:
    functions.answers["CatalogApiFunction"] = (
        None,
        {
            "statusCode": 201,
            "headers": {"Location": "orders/o-1", "X-Single": "one", "Set-Cookie": "dropped=1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "X-Multi": ["x", "y"]},
            "body": '{"orderId": "o-1"}',
        },
    )

    response = requests.get(f"{api}/health", timeout=5)

    assert response.status_code == 201
    assert response.json() == {"orderId": "o-1"}
    assert response.headers["Location"] == "orders/o-1"
    assert response.headers["X-Single"] == "one"
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]  # multiValueHeaders win for a name in both
    assert response.raw.headers.getlist("X-Multi") == ["x", "y"]
    assert response.headers["Content-Type"] == "application/json"  # API Gateway's default


def test_a_base64_encoded_response_body_is_decoded(api: str, functions: FakeFunctions) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x01"
    functions.answers["CatalogApiFunction"] = (
        None,
        {
            "statusCode": 200,
            "headers": {"Content-Type": "image/png"},
            "body": base64.b64encode(png).decode(),
            "isBase64Encoded": True,
        },
    )

    response = requests.get(f"{api}/health", timeout=5)

    assert response.content == png
    assert response.headers["Content-Type"] == "image/png"


def test_a_204_response_has_no_body(api: str, functions: FakeFunctions) -> None:
    functions.answers["CatalogApiFunction"] = (None, {"statusCode": 204, "body": ""})

    response = requests.get(f"{api}/health", timeout=5)

    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize(
    "answer",
    [
        (502, None),  # the function raised or timed out
        (None, {"body": "no status"}),  # malformed proxy response
        (None, "not a dict"),
        (None, {"statusCode": 200, "body": {"not": "a string"}}),
    ],
)
def test_a_failed_integration_is_a_502_problem(
    answer: tuple[int | None, Any], api: str, functions: FakeFunctions
) -> None:
    functions.answers["CatalogApiFunction"] = answer

    problem = assert_problem(requests.get(f"{api}/health", timeout=5), 502)

    assert problem["title"] == "Internal Server Error"
    assert problem["detail"] == "an internal error occurred"  # nothing of the function's failure leaks


def test_an_invoke_that_raises_is_a_502_problem(start_gateway: StartGateway) -> None:
    def broken(function_logical_id: str, event: dict[str, Any]) -> tuple[int | None, Any]:
        raise RuntimeError("worker died")

    api = start_gateway(invoke=broken)

    assert_problem(requests.get(f"{api}/health", timeout=5), 502)


# --- static files and the request log ------------------------------------------------------------------


@pytest.fixture
def console(tmp_path: Path) -> Path:
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>Shop</title>")
    (web / "assets" / "app.js").write_text("export const shop = 1;")
    (web / "assets" / "app.css").write_text("body {}")
    (web / "assets" / "logo.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("not for the web")
    return web


@pytest.mark.parametrize(
    ("path", "content_type", "text"),
    [
        ("/", "text/html; charset=utf-8", "<!doctype html><title>Shop</title>"),
        ("/index.html", "text/html; charset=utf-8", "<!doctype html><title>Shop</title>"),
        ("/assets/app.js", "text/javascript; charset=utf-8", "export const shop = 1;"),
        ("/assets/app.css", "text/css; charset=utf-8", "body {}"),
        ("/assets/logo.svg", "image/svg+xml", "<svg/>"),
    ],
)
def test_the_console_is_served_from_the_static_dir(
    path: str, content_type: str, text: str, start_gateway: StartGateway, console: Path
) -> None:
    api = start_gateway(static_dir=console)

    response = requests.get(root(api) + path, timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.text == text


def test_routes_win_over_static_files_and_nothing_leaves_the_static_dir(
    start_gateway: StartGateway, console: Path, functions: FakeFunctions
) -> None:
    (console / "api").mkdir()
    (console / "api" / "health").write_text("shadowed")
    api = start_gateway(static_dir=console)

    assert requests.get(f"{api}/health", timeout=5).json() == {"ok": True}
    assert_problem(requests.get(f"{root(api)}/assets/missing.js", timeout=5), 404)
    assert_problem(requests.get(f"{root(api)}/..%2fsecret.txt", timeout=5), 404)
    assert_problem(requests.get(f"{api}/index.html", timeout=5), 404)  # /api/ is the API's, never the console's


def test_a_nul_in_a_static_path_is_a_404_not_a_dropped_connection(start_gateway: StartGateway, console: Path) -> None:
    api = start_gateway(static_dir=console)

    assert_problem(requests.get(f"{root(api)}/index.html%00.js", timeout=5), 404)


def raw_exchange(api: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library's checks) and read the answer."""
    host, port = api.removeprefix("http://").split("/")[0].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.connect()
    assert connection.sock is not None
    connection.sock.sendall(request)
    response = http.client.HTTPResponse(connection.sock, method="GET")
    response.begin()
    answer = (response.status, {name.lower(): value for name, value in response.getheaders()}, response.read())
    connection.close()
    return answer


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"TRACE /health HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 70000 + b"\r\n\r\n", 431),
        (b"GARBAGE\r\n\r\n", 400),
    ],
)
def test_what_the_http_server_refuses_itself_is_answered_as_problem_json(
    api: str, request_bytes: bytes, status: int
) -> None:
    answered, headers, body = raw_exchange(api, request_bytes)

    assert answered == status
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == status


def test_a_burst_of_connections_is_accepted_not_reset(api: str) -> None:
    # socketserver's default backlog (5) dropped a burst of simultaneous clients: the kernel let their handshakes
    # wait for a retransmission (1 s) or reset them. With room in the backlog, the kernel completes every one at once.
    port = int(api.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=0.9) for _ in range(200)]
    try:
        for one in sockets:
            one.settimeout(30)
            one.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers = [one.makefile("rb").readline() for one in sockets]
    finally:
        for one in sockets:
            one.close()

    assert all(answer.startswith(b"HTTP/1.1 200 ") for answer in answers), answers[:3]


def test_without_a_static_dir_the_root_is_a_404(api: str) -> None:
    assert_problem(requests.get(f"{root(api)}/", timeout=5), 404)


def test_each_request_is_reported_once(start_gateway: StartGateway) -> None:
    records: list[dict[str, Any]] = []
    api = start_gateway(on_request=records.append)

    requests.get(f"{api}/health", timeout=5)
    requests.get(f"{root(api)}/nowhere", timeout=5)

    assert [{key: value for key, value in record.items() if key != "duration_ms"} for record in records] == [
        {"method": "GET", "path": "/api/health", "status": 200, "function": "CatalogApiFunction"},
        {"method": "GET", "path": "/nowhere", "status": 404, "function": None},
    ]
    assert all(isinstance(record["duration_ms"], float) and record["duration_ms"] >= 0 for record in records)


# --- lifecycle ---------------------------------------------------------------------------------------------


def test_after_stop_nothing_answers_not_even_an_open_keep_alive_connection(
    template_routes: list[Route], functions: FakeFunctions
) -> None:
    gateway = Gateway(
        routes=[route for route in template_routes if route.auth == "none"],
        invoke=functions,
        verifier=None,
        api_keys={},
        usage_plan=UsagePlan(Throttle(rate=1, burst=1)),
    )
    distribution = Distribution(gateway)
    port = distribution.start(port=0)
    with requests.Session() as session:
        assert session.get(f"http://127.0.0.1:{port}/{STAGE}/health", timeout=5).status_code == 200

        started = time.monotonic()
        distribution.stop()

        assert time.monotonic() - started < 2
        with pytest.raises(requests.ConnectionError):
            session.get(f"http://127.0.0.1:{port}/{STAGE}/health", timeout=2)  # would reuse the pooled connection
    assert len(functions.calls) == 1


def test_cognito_routes_without_a_verifier_are_refused_at_construction(template_routes: list[Route]) -> None:
    with pytest.raises(ValueError, match="TokenVerifier"):
        Gateway(
            routes=template_routes,
            invoke=FakeFunctions(),
            verifier=None,
            api_keys={},
            usage_plan=UsagePlan(Throttle(rate=1, burst=1)),
        )

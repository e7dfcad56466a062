"""The order story end to end, through the API and the user pool only (see conftest.py for the target)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
import requests
from joserfc import jwk
from joserfc import jwt as jose_jwt
from moto.utilities.utils import load_resource

from tests.e2e.conftest import PASSWORD, STACK, Target

# The local cloud is on this machine; a deployed stack is AWS (make e2e), whose addresses are not known up front.
pytestmark = pytest.mark.enable_socket if STACK else pytest.mark.allow_hosts(["127.0.0.1"])

ADDRESS = {
    "name": "E2E Customer",
    "line1": "1 Market Street",
    "city": "Springfield",
    "postalCode": "12345",
    "country": "US",
}
FINAL = {"SHIPPED", "DELIVERED", "CANCELLED", "FAILED", "REJECTED"}
# How long a workflow may take to reach a state (a deployed stack's cold starts included).
PATIENCE_SECONDS = 120


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def customer(target: Target) -> str:
    return target.user("customers")[1]


@pytest.fixture(scope="module")
def approver(target: Target) -> str:
    return target.user("admins")[1]


def place(target: Target, token: str, product: str, **extra: Any) -> dict[str, Any]:
    response = requests.post(
        f"{target.api}/orders",
        json={"items": [{"productId": product, "quantity": 1}], "shippingAddress": ADDRESS, **extra},
        headers={**auth(token), "Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )
    assert response.status_code == 201, f"{response.status_code} {response.text} (is the catalog seeded?)"
    order: dict[str, Any] = response.json()
    return order


def wait_for(target: Target, token: str, order_id: str, statuses: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while True:
        order: dict[str, Any] = requests.get(f"{target.api}/orders/{order_id}", headers=auth(token), timeout=30).json()
        if order["status"] in statuses:
            return order
        assert order["status"] not in FINAL, f"{order_id} ended {order['status']} {order.get('failureReason')}"
        assert time.monotonic() < deadline, f"{order_id} is still {order['status']} after {PATIENCE_SECONDS} s"
        time.sleep(1)


def test_a_sign_up_confirmed_becomes_a_customer_who_can_order(target: Target) -> None:
    email = f"e2e-signup-{uuid.uuid4().hex[:10]}@example.com"
    target.cognito.sign_up(
        ClientId=target.client_id,
        Username=email,
        Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": email}],
    )
    target.made.append(email)
    target.cognito.admin_confirm_sign_up(UserPoolId=target.user_pool_id, Username=email)

    # The post-confirmation trigger runs inside the confirmation: the group is there when it returns.
    groups = target.cognito.admin_list_groups_for_user(UserPoolId=target.user_pool_id, Username=email)["Groups"]
    assert [group["GroupName"] for group in groups] == ["customers"]


def test_a_small_order_ships_and_the_carrier_delivers_it(target: Target, customer: str) -> None:
    order = place(target, customer, "scale")
    shipped = wait_for(target, customer, order["orderId"], {"SHIPPED"})

    delivered = requests.post(
        f"{target.api}/carrier/deliveries",
        json={
            "orderId": shipped["orderId"],
            "trackingNumber": shipped["trackingNumber"],
            "deliveredAt": shipped["updatedAt"],
        },
        headers={"x-api-key": target.carrier_api_key},
        timeout=30,
    )

    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["status"] == "DELIVERED"


@pytest.mark.parametrize(("decision", "outcome"), [("approve", "SHIPPED"), ("reject", "REJECTED")])
def test_a_large_order_waits_for_an_approver_and_follows_the_decision(
    target: Target, customer: str, approver: str, decision: str, outcome: str
) -> None:
    order = place(target, customer, "espresso-machine")
    wait_for(target, customer, order["orderId"], {"AWAITING_APPROVAL"})
    waiting = requests.get(f"{target.api}/approvals", headers=auth(approver), timeout=30).json()
    assert order["orderId"] in {approval["orderId"] for approval in waiting["items"]}

    decided = requests.post(
        f"{target.api}/approvals/{order['orderId']}", json={"decision": decision}, headers=auth(approver), timeout=30
    )

    assert decided.status_code == 200, decided.text
    assert wait_for(target, customer, order["orderId"], {outcome})["status"] == outcome


def test_a_declined_card_fails_the_order(target: Target, customer: str) -> None:
    order = place(target, customer, "scale", paymentToken="tok_decline")

    failed = wait_for(target, customer, order["orderId"], {"FAILED"})

    assert failed["failureReason"] == "PAYMENT_DECLINED"


def test_a_cancel_while_awaiting_approval_ends_the_order(target: Target, customer: str, approver: str) -> None:
    order = place(target, customer, "espresso-machine")
    wait_for(target, customer, order["orderId"], {"AWAITING_APPROVAL"})

    cancelled = requests.post(f"{target.api}/orders/{order['orderId']}/cancel", headers=auth(customer), timeout=30)

    assert cancelled.status_code == 200, cancelled.text
    assert wait_for(target, customer, order["orderId"], {"CANCELLED"})["status"] == "CANCELLED"
    too_late = requests.post(
        f"{target.api}/approvals/{order['orderId']}", json={"decision": "approve"}, headers=auth(approver), timeout=30
    )
    assert too_late.status_code in (404, 409), too_late.text


def forged_with_motos_key(token: str) -> str:
    """The token's claims made an approver's, signed with the RSA key whose private half ships in the moto package:
    a local cloud that trusted moto's bundled key set would take it (ours gives each pool a key of its own)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["cognito:groups"] = ["admins"]
    key = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    return jose_jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, key)


def test_the_auth_matrix(target: Target, customer: str, approver: str) -> None:
    api = target.api
    mine = place(target, customer, "scale")
    _, stranger = target.user("customers")

    answers = {
        "no token, orders": requests.get(f"{api}/orders", timeout=30).status_code,
        "tampered token": requests.get(f"{api}/orders", headers=auth(customer[:-4] + "AAAA"), timeout=30).status_code,
        "signed with moto's key": requests.get(
            f"{api}/approvals", headers=auth(forged_with_motos_key(customer)), timeout=30
        ).status_code,
        "customer, approvals": requests.get(f"{api}/approvals", headers=auth(customer), timeout=30).status_code,
        "approver, cart": requests.get(f"{api}/cart", headers=auth(approver), timeout=30).status_code,
        "no key, carrier": requests.post(f"{api}/carrier/deliveries", json={}, timeout=30).status_code,
        "public catalog": requests.get(f"{api}/products", timeout=30).status_code,
        "another's order": requests.get(
            f"{api}/orders/{mine['orderId']}", headers=auth(stranger), timeout=30
        ).status_code,
    }

    assert answers == {
        "no token, orders": 401,
        "tampered token": 401,
        "signed with moto's key": 401,
        "customer, approvals": 403,
        "approver, cart": 403,
        "no key, carrier": 403,
        "public catalog": 200,
        "another's order": 404,
    }

"""The web console driven in Chromium against the local cloud: sign-up, cart, checkout, the order page with its
timeline and its Cancel button, approvals; no console error and no CSP violation anywhere."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import requests

from tests.browser.conftest import APPROVER, CONSOLE_CSP, PASSWORD, LocalShop, OpenConsole
from tests.browser.steps import (
    BIG_ORDER,
    SHIPPING,
    SMALL_ORDER,
    add_to_cart,
    approval_row,
    expect,
    navigate,
    order_something,
    place_order,
    sign_in,
    status_in_list,
    status_on_page,
    step,
    timeline,
)

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])


def test_the_console_serves_its_configuration_and_only_public_cognito_actions(local_shop: LocalShop) -> None:
    config = requests.get(f"{local_shop.url}/config.json", timeout=5).json()
    admin_call = requests.post(
        f"{local_shop.url}/cognito",
        data=json.dumps({"UserPoolId": local_shop.endpoints.user_pool_id, "Username": APPROVER}),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSCognitoIdentityProviderService.AdminGetUser",
        },
        timeout=5,
    )

    assert config == {
        "apiBase": "/api",
        "region": local_shop.endpoints.region,
        "userPoolId": local_shop.endpoints.user_pool_id,
        "userPoolClientId": local_shop.endpoints.user_pool_client_id,
        "cognitoEndpoint": "/cognito",
        "webSocketUrl": local_shop.endpoints.websocket,
    }
    assert admin_call.status_code == 400
    assert admin_call.json()["__type"] == "MissingAuthenticationTokenException"


def test_the_consoles_policy_lets_it_reach_the_local_websocket_api_as_edge_lets_it_reach_aws(
    local_shop: LocalShop,
) -> None:
    policy = requests.get(f"{local_shop.url}/", timeout=5).headers["Content-Security-Policy"]
    connect = next(d.split()[1:] for d in policy.split(";") if d.split()[:1] == ["connect-src"])
    socket_origin = "/".join(local_shop.endpoints.websocket.split("/")[:3])  # ws://127.0.0.1:<port>

    assert connect == ["'self'", "wss://*.execute-api.us-east-1.amazonaws.com", socket_origin]
    assert policy.replace(f" {socket_origin}", "") == CONSOLE_CSP  # and nothing else than edge/ sends


def test_a_new_customer_signs_up_orders_and_follows_the_order_on_its_page_until_it_ships(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    console = open_console("customer")
    page = console.page
    console.screenshot("catalog")
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"

    navigate(console, "Sign up")
    form = page.locator("#sign-up-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("status")).to_contain_text("Account created")
    console.screenshot("signed-up")
    local_shop.cloud.drain()  # the trigger sees the user unconfirmed, as it would while a person reads the email
    page.get_by_label("Confirmation code").fill("123456")  # moto takes any code
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("Account confirmed")
    local_shop.cloud.drain()  # the post-confirmation trigger puts the user in `customers`
    page.locator("#sign-in-form").get_by_label("Password").fill(PASSWORD)
    page.locator("#sign-in-form").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status")).to_have_text(f"Signed in as {email}.")

    add_to_cart(console, SMALL_ORDER, 1)
    expect(page.get_by_role("status")).to_contain_text(f"{SMALL_ORDER} to your cart")
    console.screenshot("added-to-cart")
    navigate(console, "Cart")
    expect(page.get_by_role("row", name=re.compile(SMALL_ORDER))).to_be_visible()
    console.screenshot("cart")
    order_id = place_order(console)
    console.screenshot("order-placed")

    # The order page follows the workflow by itself: paid, then shipped with its tracking number.
    expect(status_on_page(console)).to_have_text("Shipped", timeout=SHIPPING)
    assert timeline(console) == [
        ("PLACED", "done"),
        ("PAID", "done"),
        ("SHIPPED", "done"),
        ("DELIVERED", "current"),
    ]
    expect(step(console, "SHIPPED")).to_contain_text(re.compile(r"Tracking number TRK"))
    expect(page.get_by_role("row", name=re.compile(SMALL_ORDER))).to_contain_text("$49.00")
    expect(page.locator("#order-address")).to_contain_text("1 Market Street")
    expect(page.get_by_role("button", name="Cancel this order")).to_have_count(0)  # paid: too late to cancel
    console.screenshot("order-shipped")

    navigate(console, "My orders")
    expect(status_in_list(console, order_id)).to_have_text("Shipped")
    expect(page.locator(f'#orders tr[data-order="{order_id}"]')).to_contain_text("TRK")
    console.screenshot("my-orders")
    page.get_by_role("link", name=order_id).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order_id}")


def test_an_approver_approves_a_large_order_and_the_customer_sees_it_ship(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    customer = open_console("customer")
    sign_in(customer, local_shop.user("big-spender@example.com", "customers"))
    order_id = order_something(customer, BIG_ORDER)
    expect(status_on_page(customer)).to_have_text("Waiting for approval", timeout=SHIPPING)
    customer.screenshot("awaiting-approval")

    approver = open_console("approver")
    sign_in(approver, APPROVER)  # an approver starts at the approvals
    expect(approver.page.get_by_role("heading", name="Pending approvals")).to_be_visible()
    expect(approval_row(approver, order_id)).to_be_visible()
    approver.screenshot("pending-approvals")
    approver.page.get_by_role("button", name=f"Approve order {order_id}").press("Enter")
    expect(approver.page.get_by_role("status")).to_have_text(f"Order {order_id} approved.")
    expect(approval_row(approver, order_id)).to_have_count(0)
    approver.screenshot("approved")

    expect(status_on_page(customer)).to_have_text("Shipped", timeout=SHIPPING)
    assert timeline(customer)[:3] == [("PLACED", "done"), ("AWAITING_APPROVAL", "done"), ("PAID", "done")]
    expect(step(customer, "AWAITING_APPROVAL")).to_contain_text("Approved.")
    customer.screenshot("shipped")


def test_a_customer_cancels_an_order_waiting_for_approval_from_its_page(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    console = open_console("customer")
    page = console.page
    sign_in(console, local_shop.user("changed-mind@example.com", "customers"))
    order_id = order_something(console, BIG_ORDER)

    # While it waits for an approver, the page says so and offers to cancel.
    expect(step(console, "AWAITING_APPROVAL")).to_have_attribute("data-state", "current", timeout=SHIPPING)
    assert timeline(console) == [
        ("PLACED", "done"),
        ("AWAITING_APPROVAL", "current"),
        ("PAID", "next"),
        ("SHIPPED", "next"),
        ("DELIVERED", "next"),
    ]
    expect(page.locator("#order-lines")).to_contain_text(BIG_ORDER)
    console.screenshot("order-waiting")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel this order").click()

    expect(page.get_by_role("status")).to_contain_text(f"Order {order_id} is cancelled. Nothing was charged")
    expect(status_on_page(console)).to_have_text("Cancelled")
    assert timeline(console) == [("PLACED", "done"), ("AWAITING_APPROVAL", "done"), ("CANCELLED", "ended")]
    expect(step(console, "CANCELLED")).to_contain_text("nothing was charged, and the stock held for it was released")
    expect(page.get_by_role("button", name="Cancel this order")).to_have_count(0)
    console.screenshot("order-cancelled")
    page.reload()  # what the API says, not what the page remembers
    expect(status_on_page(console)).to_have_text("Cancelled")


def test_a_declined_card_ends_the_timeline_with_what_was_undone(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    console = open_console("customer")
    sign_in(console, local_shop.user("declined@example.com", "customers"))
    order_something(console, SMALL_ORDER, payment="tok_decline")

    expect(status_on_page(console)).to_have_text("Failed: card declined", timeout=SHIPPING)
    assert timeline(console) == [("PLACED", "done"), ("FAILED", "ended")]
    expect(step(console, "FAILED")).to_contain_text(
        "The card was declined: nothing was charged, and the stock held for it was released."
    )
    expect(console.page.get_by_role("button", name="Cancel this order")).to_have_count(0)
    console.screenshot("order-declined")


def test_the_catalog_shows_each_products_picture_resized_at_the_edge(open_console: OpenConsole) -> None:
    console = open_console("pictures")
    page = console.page
    pictures = page.locator("#products img.product-image")
    expect(pictures.first).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#products img.product-image')].every((i) => i.complete)"
    )
    console.screenshot("catalog-pictures")

    loaded = pictures.evaluate_all("(images) => images.map((i) => [i.currentSrc, i.naturalWidth, i.naturalHeight])")
    assert len(loaded) >= 10
    assert {source.split("/images/", 1)[1].split("/")[1] for source, _, _ in loaded} == {"webp"}
    assert {width for _, width, _ in loaded} <= {160, 320, 640}
    assert all(height * 4 == width * 3 for _, width, height in loaded), loaded

"""The web console driven in Chromium against the local cloud: sign-up, cart, checkout, live order status,
approvals, and the API's errors shown on the page; no console error and no CSP violation anywhere."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import requests

from tests.browser.conftest import APPROVER, PASSWORD, LocalShop, OpenConsole, Watched, sync_api

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

expect = sync_api.expect
ADDRESS = {
    "Name": "Alice Example",
    "Address line 1": "1 Market Street",
    "City": "Springfield",
    "Postal code": "12345",
}
SHIPPING = 30_000  # ms: the workflow, the warehouse queue and the callback, with cold workers


def sign_in(console: Watched, email: str) -> None:
    page = console.page
    page.get_by_role("link", name="Sign in").click()
    form = page.locator("#sign-in-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_label("Password").press("Enter")  # the keyboard submits every form
    expect(page.get_by_role("status")).to_have_text(f"Signed in as {email}.")


def loaded(console: Watched, view: str) -> None:
    """Waits until the view shows what it fetched (it is aria-busy until then)."""
    console.page.locator(f'section[data-view="{view}"]:not([aria-busy])').wait_for()


def add_to_cart(console: Watched, product: str, quantity: int) -> None:
    loaded(console, "catalog")  # a catalog still loading would replace the card being filled in
    card = console.page.get_by_role("listitem").filter(has=console.page.get_by_role("heading", name=product))
    card.get_by_label("Quantity").fill(str(quantity))
    card.get_by_role("button", name="Add to cart").click()


def place_order(console: Watched, payment: str = "tok_ok") -> str:
    page = console.page
    page.get_by_role("link", name="Cart").click()
    for label, value in ADDRESS.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Payment").select_option(payment)
    with page.expect_request(lambda request: request.method == "POST" and request.url.endswith("/api/orders")) as sent:
        page.get_by_role("button", name="Place order").click()
    assert re.fullmatch(r"[0-9a-f-]{36}", sent.value.headers["idempotency-key"])
    expect(page.get_by_role("heading", name="My orders")).to_be_visible()
    placed = re.search(r"Order (\S+) placed", page.get_by_role("status").inner_text())
    assert placed is not None
    return placed[1]


def status_of(console: Watched, order_id: str) -> object:
    return console.page.locator(f'tr[data-order="{order_id}"] .status')


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
    }
    assert admin_call.status_code == 400
    assert admin_call.json()["__type"] == "MissingAuthenticationTokenException"


def test_a_new_customer_signs_up_orders_and_sees_the_order_ship(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    console = open_console("customer")
    page = console.page
    console.screenshot("catalog")
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"

    page.get_by_role("link", name="Sign up").click()
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

    add_to_cart(console, "Coffee scale with timer", 1)
    expect(page.get_by_role("status")).to_contain_text("Coffee scale with timer to your cart")
    console.screenshot("added-to-cart")
    page.get_by_role("link", name="Cart").click()
    expect(page.get_by_role("row", name=re.compile("Coffee scale with timer"))).to_be_visible()
    console.screenshot("cart")
    order_id = place_order(console)
    console.screenshot("order-placed")

    expect(status_of(console, order_id)).to_have_text("SHIPPED", timeout=SHIPPING)
    expect(page.locator(f'tr[data-order="{order_id}"]')).to_contain_text("TRK")
    console.screenshot("order-shipped")


def test_an_approver_approves_a_large_order_and_the_customer_sees_it_ship(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    customer = open_console("customer")
    sign_in(customer, local_shop.user("big-spender@example.com", "customers"))
    add_to_cart(customer, "Dual-boiler espresso machine", 1)
    expect(customer.page.get_by_role("status")).to_contain_text("Added 1")
    order_id = place_order(customer)
    expect(status_of(customer, order_id)).to_have_text("AWAITING_APPROVAL", timeout=SHIPPING)
    customer.screenshot("awaiting-approval")

    approver = open_console("approver")
    sign_in(approver, APPROVER)
    approver.page.get_by_role("link", name="Approvals").click()
    expect(approver.page.locator(f'tr[data-order="{order_id}"]')).to_be_visible()
    approver.screenshot("pending-approvals")
    approver.page.get_by_role("button", name=f"Approve order {order_id}").press("Enter")
    expect(approver.page.get_by_role("status")).to_have_text(f"Order {order_id} approved.")
    expect(approver.page.locator(f'tr[data-order="{order_id}"]')).to_have_count(0)
    approver.screenshot("approved")

    expect(status_of(customer, order_id)).to_have_text("SHIPPED", timeout=SHIPPING)
    customer.screenshot("shipped")


def test_the_apis_validation_errors_are_shown_on_the_page(local_shop: LocalShop, open_console: OpenConsole) -> None:
    console = open_console("customer")
    console.expect_console_error(r"status of 422")  # Chromium logs the rejected requests themselves
    page = console.page
    sign_in(console, local_shop.user("careless@example.com", "customers"))
    alert = page.get_by_role("alert")

    add_to_cart(console, "Descaling solution", 101)
    expect(alert).to_contain_text("the request does not match the API contract")
    expect(alert).to_contain_text("items[0].quantity: Input should be less than or equal to 100")
    console.screenshot("quantity-101")

    page.get_by_role("link", name="Cart").click()
    page.get_by_role("button", name="Place order").click()
    expect(alert).to_contain_text("shippingAddress.name: String should have at least 1 character")
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    console.screenshot("empty-address")

"""The console as the people who use it meet it: errors in sentences, what each role sees, signing out, and the
approvals an approver watches expire."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from tests.browser.conftest import APPROVER, PASSWORD, LocalShop, OpenConsole
from tests.browser.steps import (
    ADDRESS,
    BIG_ORDER,
    SHIPPING,
    SMALL_ORDER,
    add_to_cart,
    approval_row,
    card,
    expect,
    fill_address,
    loaded,
    nav_links,
    navigate,
    order_something,
    order_through_the_api,
    sign_in,
    sign_out,
    step,
)

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

CUSTOMER_LINKS = ["Catalog", "Cart", "My orders"]
APPROVER_LINKS = ["Approvals", "Find an order"]


def api_paths(page: Any) -> list[str]:
    """Every API path the page asks for from now on (a list that fills as it goes)."""
    asked: list[str] = []
    page.on(
        "request", lambda request: asked.append(request.url.split("/api", 1)[1]) if "/api/" in request.url else None
    )
    return asked


# --- Errors ------------------------------------------------------------------------------------------------


def test_sign_in_and_sign_up_errors_read_as_sentences_never_null(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    console = open_console("guest")
    console.expect_console_error(r"status of 400")  # Cognito's refusals, logged by Chromium
    page = console.page
    alert = page.get_by_role("alert")
    email = local_shop.user("forgot-password@example.com", "customers")

    navigate(console, "Sign in")
    page.locator("#sign-in-form").get_by_role("button", name="Sign in").click()
    expect(alert).to_have_text("Some details need correcting:Email is required.Password is required.")
    expect(page.locator("#sign-in-email")).to_have_attribute("aria-invalid", "true")

    page.locator("#sign-in-form").get_by_label("Email").fill(email)
    page.locator("#sign-in-form").get_by_label("Password").fill("Not-the-password-1")
    page.locator("#sign-in-form").get_by_role("button", name="Sign in").click()
    expect(alert).to_have_text("The email address or password is not right.")
    console.screenshot("wrong-password")

    navigate(console, "Sign up")
    page.locator("#sign-up-form").get_by_label("Email").fill("weak@example.com")
    page.locator("#sign-up-form").get_by_label("Password").fill("short")
    page.locator("#sign-up-form").get_by_role("button", name="Sign up").click()
    expect(alert).to_have_text(
        "Choose a stronger password: at least 12 characters, with upper and lower case letters and a digit."
    )
    console.screenshot("weak-password")

    page.locator("#sign-up-form").get_by_label("Email").fill(email)
    page.locator("#sign-up-form").get_by_label("Password").fill(PASSWORD)
    page.locator("#sign-up-form").get_by_role("button", name="Sign up").click()
    expect(alert).to_have_text("An account with this email address exists already: sign in instead.")
    assert "null" not in alert.inner_text()


def test_the_apis_field_errors_name_the_fields_the_person_sees(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    console = open_console("customer")
    console.expect_console_error(r"status of 422")  # Chromium logs the rejected requests themselves
    page = console.page
    sign_in(console, local_shop.user("careless@example.com", "customers"))
    alert = page.get_by_role("alert")

    add_to_cart(console, "Descaling solution", 101)
    expect(alert).to_have_text("One detail needs correcting:Quantity of Descaling solution must be between 1 and 100.")
    expect(card(console, "Descaling solution").get_by_label("Quantity")).to_have_attribute("aria-invalid", "true")
    console.screenshot("quantity-101")

    add_to_cart(console, "Descaling solution", 2)
    expect(page.get_by_role("status")).to_contain_text("Added 2")
    navigate(console, "Cart")
    loaded(console, "cart")
    page.get_by_label("Country (two-letter code)").fill("us")
    page.get_by_role("button", name="Place order").click()
    expect(alert).to_contain_text("Some details need correcting:")
    items = alert.get_by_role("listitem")
    expect(items).to_have_text(
        [
            "Name is required.",
            "Address line 1 is required.",
            "City is required.",
            "Postal code is required.",
            "Country must be a two-letter code, such as US.",
        ]
    )
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Country (two-letter code)")).to_have_attribute("aria-invalid", "true")
    for developer_words in ("API contract", "shippingAddress", "String should", "null"):
        expect(alert).not_to_contain_text(developer_words)
    console.screenshot("empty-address")


def test_an_approver_who_also_shops_is_told_why_they_cannot_decide_their_own_order(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    console = open_console("both")
    console.expect_console_error(r"status of 403")
    page = console.page
    email = local_shop.user("shop-owner@example.com", "customers", "admins")
    sign_in(console, email)
    assert nav_links(console) == CUSTOMER_LINKS + APPROVER_LINKS
    order_id = order_through_the_api(local_shop, email, "espresso-machine")

    navigate(console, "Approvals")
    expect(approval_row(console, order_id)).to_be_visible(timeout=SHIPPING)  # the list refreshes itself
    page.get_by_role("button", name=f"Approve order {order_id}").click()

    expect(page.get_by_role("alert")).to_have_text("You placed this order yourself: another approver must decide it.")
    expect(approval_row(console, order_id)).to_be_visible()  # still waiting for someone else
    console.screenshot("own-order")


# --- Roles ----------------------------------------------------------------------------------------------------


def test_each_role_sees_its_own_pages_and_is_kept_out_of_the_others(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    customer = open_console("customer")
    assert nav_links(customer) == ["Catalog", "Sign in", "Sign up"]
    sign_in(customer, local_shop.user("role-customer@example.com", "customers"))
    assert nav_links(customer) == CUSTOMER_LINKS
    asked = api_paths(customer.page)
    customer.page.goto("/#/approvals")
    expect(customer.page.get_by_role("status")).to_have_text("That page is for approvers.")
    expect(customer.page.get_by_role("heading", level=1)).to_have_text("Catalog")
    assert not [path for path in asked if path.startswith("/approvals")]

    approver = open_console("approver")
    sign_in(approver, APPROVER)
    assert nav_links(approver) == APPROVER_LINKS
    expect(approver.page.get_by_role("heading", level=1)).to_have_text("Pending approvals")
    asked = api_paths(approver.page)
    for page_for_customers in ("cart", "orders"):
        approver.page.goto(f"/#/{page_for_customers}")
        expect(approver.page.get_by_role("status")).to_have_text("That page is for customers.")
        expect(approver.page.get_by_role("heading", level=1)).to_have_text("Pending approvals")
    assert not [path for path in asked if path.startswith(("/cart", "/orders"))]
    approver.page.goto("/#/catalog")
    loaded(approver, "catalog")
    expect(approver.page.get_by_role("button", name="Add to cart")).to_have_count(0)  # an approver does not shop

    navigate(approver, "Find an order")
    approver.page.get_by_label("Order number").fill("ord with spaces")
    approver.page.get_by_role("button", name="Open the order").click()
    expect(approver.page.get_by_role("alert")).to_have_text(
        "One detail needs correcting:Order number has only letters, digits, _ and -, as in ord_4k2m…"
    )
    approver.screenshot("find-an-order")


def test_an_approver_opens_any_order_by_its_number(local_shop: LocalShop, open_console: OpenConsole) -> None:
    email = local_shop.user("opened-by-approver@example.com", "customers")
    order_id = order_through_the_api(local_shop, email, "scale")
    approver = open_console("approver")
    approver.expect_console_error(r"status of 404")
    sign_in(approver, APPROVER)

    navigate(approver, "Find an order")
    approver.page.get_by_label("Order number").fill(order_id)
    approver.page.get_by_role("button", name="Open the order").click()
    expect(approver.page.get_by_role("heading", level=1)).to_have_text(f"Order {order_id}")
    expect(approver.page.locator("#order-lines")).to_contain_text(SMALL_ORDER)
    expect(step(approver, "PLACED")).to_have_attribute("data-state", "done")
    expect(approver.page.get_by_role("button", name="Cancel this order")).to_have_count(0)  # customers cancel
    approver.screenshot("any-order")

    navigate(approver, "Find an order")
    approver.page.get_by_label("Order number").fill("ord_nosuchorder")
    approver.page.get_by_role("button", name="Open the order").click()
    expect(approver.page.get_by_role("alert")).to_have_text("There is no order ord_nosuchorder: check the number.")


def test_signing_out_forgets_everything_the_previous_person_saw_or_typed(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    console = open_console("shared-computer")
    console.expect_console_error(r"status of 404")
    page = console.page
    first = local_shop.user("first-customer@example.com", "customers")
    sign_in(console, first)
    order_id = order_something(console, SMALL_ORDER)
    navigate(console, "My orders")
    expect(page.locator(f'#orders tr[data-order="{order_id}"]')).to_be_visible()
    add_to_cart(console, "Insulated travel mug", 1)
    expect(page.get_by_role("status")).to_contain_text("Added 1")
    fill_address(console)  # typed, never sent

    sign_out(console)

    assert page.evaluate("() => [sessionStorage.length, localStorage.length]") == [0, 0]
    page_text = page.evaluate("() => document.body.innerHTML")
    for trace in (order_id, first):
        assert trace not in page_text
    expect(page.locator("#cart-lines tr")).to_have_count(0)
    typed = page.evaluate("() => [...document.querySelectorAll('input')].map((input) => input.value)")
    assert not set(typed) & set(ADDRESS.values())
    assert nav_links(console) == ["Catalog", "Sign in", "Sign up"]
    console.screenshot("signed-out")

    sign_in(console, local_shop.user("second-customer@example.com", "customers"))
    navigate(console, "My orders")
    loaded(console, "orders")
    expect(page.get_by_text("No orders yet.")).to_be_visible()
    assert order_id not in page.evaluate("() => document.body.innerHTML")
    page.goto(f"/#/orders/{order_id}")  # the first person's order, by its address in the history
    expect(page.get_by_role("alert")).to_have_text(f"There is no order {order_id} among your orders: check the number.")
    expect(page.locator("#order-details")).to_be_hidden()


# --- Approvals ---------------------------------------------------------------------------------------------


def test_approvals_show_who_how_much_and_the_time_left_and_refresh_themselves(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    approver = open_console("approver", clock=True)
    sign_in(approver, APPROVER)
    loaded(approver, "approvals")  # opened before the order exists: only a refresh of its own can show it

    customer = open_console("customer")
    email = local_shop.user("watched@example.com", "customers")
    sign_in(customer, email)
    order_id = order_something(customer, BIG_ORDER)

    row = approval_row(approver, order_id)
    expect(row).to_be_visible(timeout=SHIPPING)
    expect(row.locator(".customer")).to_have_text(email)
    expect(row).to_contain_text("$1,490.00")
    time_left = row.locator(".time-left")
    expect(time_left).to_have_text(re.compile(r"^(24 h 00|23 h 59) min left$"))  # ApprovalTimeoutSeconds: a day
    approver.screenshot("new-approval")

    approver.page.clock.fast_forward("23:59:00")  # the last minute of the day it may wait
    expect(time_left).to_have_text(re.compile(r"^0:[0-5]\d left$"))
    before = time_left.inner_text()
    expect(time_left).not_to_have_text(before)  # it counts down by itself
    approver.screenshot("last-minute")
    approver.page.clock.fast_forward("02:00")
    expect(time_left).to_have_text("Expired: it can no longer be decided")
    expect(row.get_by_role("button", name=f"Approve order {order_id}")).to_be_disabled()
    approver.screenshot("expired")

    # Once the order stops waiting (its customer cancels it), the list drops it at its next read without being asked
    # to: no message says that an approval ended (docs/live-updates.md), the next request's re-reads the list.
    cancelled = requests.post(
        f"{local_shop.url}/api/orders/{order_id}/cancel",
        headers={"Authorization": local_shop.id_token(email)},
        timeout=10,
    )
    assert cancelled.status_code == 200, cancelled.text
    next_order = order_through_the_api(local_shop, email, "espresso-machine")
    expect(approval_row(approver, next_order)).to_be_visible(timeout=SHIPPING)
    expect(row).to_have_count(0)

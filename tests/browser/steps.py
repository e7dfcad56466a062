"""What a person does in the console, as steps the browser tests share."""

from __future__ import annotations

import re
import uuid
from typing import Any

import requests
from playwright import sync_api

from tests.browser.conftest import PASSWORD, LocalShop, Watched

expect = sync_api.expect
ADDRESS = {
    "Name": "Alice Example",
    "Address line 1": "1 Market Street",
    "City": "Springfield",
    "Postal code": "12345",
}
SHIPPING = 30_000  # ms: the workflow, the warehouse queue and the callback, with cold workers
BIG_ORDER = "Dual-boiler espresso machine"  # $1,490.00: above the approval threshold, so it waits for an approver
SMALL_ORDER = "Coffee scale with timer"  # $49.00: straight to payment


def sign_in(console: Watched, email: str) -> None:
    page = console.page
    navigate(console, "Sign in")
    form = page.locator("#sign-in-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_label("Password").press("Enter")  # the keyboard submits every form
    expect(page.get_by_role("status")).to_have_text(f"Signed in as {email}.")


def navigate(console: Watched, link: str) -> None:
    """Follows a link of the main navigation."""
    console.page.get_by_role("navigation").get_by_role("link", name=link, exact=True).click()


def sign_out(console: Watched) -> None:
    console.page.get_by_role("button", name="Sign out").click()
    expect(console.page.get_by_role("status")).to_have_text("Signed out.")


def loaded(console: Watched, view: str) -> None:
    """Waits until the view shows what it fetched (it is aria-busy until then)."""
    console.page.locator(f'section[data-view="{view}"]:not([hidden]):not([aria-busy])').wait_for()


def nav_links(console: Watched) -> list[str]:
    return [name.strip() for name in console.page.get_by_role("navigation").get_by_role("link").all_inner_texts()]


def card(console: Watched, product: str) -> Any:
    page = console.page
    return page.locator("#products > li").filter(has=page.get_by_role("heading", name=product, exact=True))


def add_to_cart(console: Watched, product: str, quantity: int) -> None:
    page = console.page
    if "#/catalog" not in page.url:
        navigate(console, "Catalog")
    loaded(console, "catalog")  # a catalog still loading would replace the card being filled in
    card(console, product).get_by_label("Quantity").fill(str(quantity))
    card(console, product).get_by_role("button", name="Add to cart").click()


def fill_address(console: Watched) -> None:
    page = console.page
    navigate(console, "Cart")
    loaded(console, "cart")
    for label, value in ADDRESS.items():
        page.get_by_label(label, exact=True).fill(value)


def place_order(console: Watched, payment: str = "tok_ok") -> str:
    """Checks the cart out; the console then shows the new order's page. Returns the order's id."""
    page = console.page
    fill_address(console)
    page.get_by_label("Payment").select_option(payment)
    with page.expect_request(lambda request: request.method == "POST" and request.url.endswith("/api/orders")) as sent:
        page.get_by_role("button", name="Place order").click()
    assert re.fullmatch(r"[0-9a-f-]{36}", sent.value.headers["idempotency-key"])
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"Order \S+ placed"))
    placed = re.search(r"Order (\S+) placed", page.get_by_role("status").inner_text())
    assert placed is not None
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {placed[1]}")
    return placed[1]


def order_something(console: Watched, product: str, payment: str = "tok_ok") -> str:
    add_to_cart(console, product, 1)
    expect(console.page.get_by_role("status")).to_contain_text(f"{product} to your cart")
    return place_order(console, payment)


def status_in_list(console: Watched, order_id: str) -> Any:
    return console.page.locator(f'#orders tr[data-order="{order_id}"] .status')


def status_on_page(console: Watched) -> Any:
    return console.page.locator("#order-status .status")


def step(console: Watched, status: str) -> Any:
    """One step of the order page's timeline (its data-state: done, current, next or ended)."""
    return console.page.locator(f'#order-timeline li[data-step="{status}"]')


def timeline(console: Watched) -> list[tuple[str, str]]:
    steps = console.page.locator("#order-timeline li")
    return [(item.get_attribute("data-step") or "", item.get_attribute("data-state") or "") for item in steps.all()]


def approval_row(console: Watched, order_id: str) -> Any:
    return console.page.locator(f'#approvals tr[data-order="{order_id}"]')


def order_through_the_api(shop: LocalShop, email: str, product_id: str) -> str:
    """An order placed past the console (as another device of the customer's would); returns its id."""
    response = requests.post(
        f"{shop.url}/api/orders",
        json={
            "items": [{"productId": product_id, "quantity": 1}],
            "shippingAddress": {
                "name": "Alice Example",
                "line1": "1 Market Street",
                "city": "Springfield",
                "postalCode": "12345",
                "country": "US",
            },
        },
        headers={"Authorization": shop.id_token(email), "Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["orderId"])

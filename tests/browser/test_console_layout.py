"""The console's layout: catalog cards that stay aligned when names wrap, and every page at a phone's width (375 px)
with long product names, a long e-mail address and long order numbers, without a page wider than the screen.
Each page's screenshot is kept under test-output/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest

from shop.domain.models import Product
from tests.browser.conftest import APPROVER, PHONE, LocalShop, OpenConsole, Watched
from tests.browser.steps import (
    SHIPPING,
    add_to_cart,
    approval_row,
    expect,
    fill_address,
    loaded,
    navigate,
    order_through_the_api,
    sign_in,
    status_on_page,
)

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

LONG_NAMES = [
    Product(
        product_id="stoneware-set",
        name="Hand-thrown stoneware pour-over set with a matching carafe, two cups and a walnut stand, glazed blue",
        price_cents=8900,
        available=50,
    ),
    Product(
        product_id="grinder-deluxe",
        name="Supercalifragilisticexpialidociouscoffeegrinderdeluxeedition",
        price_cents=3900,
        available=50,
    ),
    Product(
        product_id="tasting-flight",
        name="Single-origin tasting flight: Ethiopia Yirgacheffe, Colombia Huila, Kenya Nyeri, Guatemala Huehuetenango",
        price_cents=4200,
        available=50,
    ),
]
LONG_EMAIL = "a-customer-with-a-rather-long-address-for-wrapping@example.com"


@pytest.fixture(scope="module", autouse=True)
def long_names(local_shop: LocalShop) -> None:
    for product in LONG_NAMES:
        local_shop.add_product(product)


def holds_its_width(console: Watched, page_name: str) -> None:
    """Nothing on the page is wider than the screen (no sideways scrolling), and its screenshot is kept."""
    page = console.page
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page_name} is {widths[0]} px wide on a {widths[1]} px screen"
    console.screenshot(page_name)


def card_positions(page: Any) -> list[dict[str, Any]]:
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('#products > li')].map((card) => ({
                name: card.querySelector('h2').textContent,
                top: Math.round(card.getBoundingClientRect().top),
                price: Math.round(card.querySelector('.price').getBoundingClientRect().top),
                button: Math.round(card.querySelector('button').getBoundingClientRect().top),
            }))"""
        )
    )


def test_catalog_cards_in_a_row_stay_aligned_when_names_wrap(open_console: OpenConsole) -> None:
    console = open_console("desktop")
    loaded(console, "catalog")

    rows: dict[int, list[dict[str, Any]]] = {}
    for position in card_positions(console.page):
        rows.setdefault(position["top"], []).append(position)

    long_names = {product.name for product in LONG_NAMES}
    shared = [row for row in rows.values() if len(row) > 1 and long_names & {card["name"] for card in row}]
    assert shared, "no row of cards holds a long name next to a short one: the test would prove nothing"
    for row in rows.values():
        assert len({card["price"] for card in row}) == 1, f"prices at different heights in {row}"
        assert len({card["button"] for card in row}) == 1, f"buttons at different heights in {row}"
    console.screenshot("catalog-long-names")


def test_every_page_holds_at_phone_width(local_shop: LocalShop, open_console: OpenConsole) -> None:
    guest = open_console("phone-guest", viewport=PHONE)
    holds_its_width(guest, "catalog")
    navigate(guest, "Sign in")
    holds_its_width(guest, "sign-in")
    navigate(guest, "Sign up")
    holds_its_width(guest, "sign-up")

    customer = open_console("phone-customer", viewport=PHONE)
    sign_in(customer, local_shop.user(LONG_EMAIL, "customers"))
    for product in LONG_NAMES[:2]:
        add_to_cart(customer, product.name, 2)
        expect(customer.page.get_by_role("status")).to_contain_text("Added 2")
    holds_its_width(customer, "catalog-signed-in")
    fill_address(customer)
    holds_its_width(customer, "cart")
    customer.page.get_by_role("button", name="Place order").click()
    expect(status_on_page(customer)).to_have_text("Shipped", timeout=SHIPPING)
    holds_its_width(customer, "order")
    navigate(customer, "My orders")
    loaded(customer, "orders")
    holds_its_width(customer, "my-orders")

    waiting = order_through_the_api(local_shop, LONG_EMAIL, "espresso-machine")
    approver = open_console("phone-approver", viewport=PHONE)
    sign_in(approver, APPROVER)
    expect(approval_row(approver, waiting)).to_contain_text(LONG_EMAIL, timeout=SHIPPING)
    holds_its_width(approver, "approvals")
    navigate(approver, "Find an order")
    holds_its_width(approver, "find-an-order")

"""Live updates in the console: its WebSocket (docs/live-updates.md) brings order statuses and approval requests onto
the open page without a reload and without polling; when the socket cannot connect, the page polls as before."""

from __future__ import annotations

import itertools
import json
import re
import time
from typing import Any

import pytest
import requests

from tests.browser.conftest import APPROVER, LocalShop, OpenConsole, Watched
from tests.browser.steps import (
    BIG_ORDER,
    SHIPPING,
    approval_row,
    expect,
    loaded,
    order_something,
    order_through_the_api,
    sign_in,
    status_on_page,
    step,
)

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

POLL_MS = 2000  # web/app.js: an order page's poll
APPROVALS_REFRESH_MS = 5000  # web/app.js: the approvals list's


def reads(page: Any, path: str) -> list[str]:
    """Every GET of the API path `path` (a regular expression) the page makes from now on."""
    asked: list[str] = []

    def on_request(request: Any) -> None:
        api_path = request.url.split("/api", 1)[-1].split("?", 1)[0]
        if request.method == "GET" and "/api/" in request.url and re.fullmatch(path, api_path):
            asked.append(api_path)

    page.on("request", on_request)
    return asked


def frames(page: Any) -> list[dict[str, Any]]:
    """Every message the page's WebSockets receive from now on."""
    received: list[dict[str, Any]] = []
    page.on("websocket", lambda socket: socket.on("framereceived", lambda data: received.append(json.loads(data))))
    return received


def settled(console: Watched, asked: list[str], quiet_ms: int = 600) -> int:
    """How many requests `asked` holds once the page has made none for `quiet_ms` (Playwright delivers the page's
    events while it waits)."""
    for _ in range(20):
        count = len(asked)
        console.page.wait_for_timeout(quiet_ms)
        if len(asked) == count:
            return count
    raise AssertionError(f"the page never stopped asking: {asked[-5:]}")


def live(console: Watched) -> None:
    expect(console.page.locator("html")).to_have_attribute("data-live", "open")


def approve(shop: LocalShop, order_id: str) -> None:
    """An approver's decision, made past this console (another approver's)."""
    response = requests.post(
        f"{shop.url}/api/approvals/{order_id}",
        json={"decision": "approve"},
        headers={"Authorization": shop.id_token(APPROVER)},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_an_open_order_page_shows_each_status_as_the_socket_tells_it_and_does_not_poll(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    console = open_console("customer", clock=True)
    page = console.page
    order_reads = reads(page, r"/orders/[^/]+")
    heard = frames(page)
    sign_in(console, local_shop.user("live-customer@example.com", "customers"))
    live(console)

    order_id = order_something(console, BIG_ORDER)  # waits for an approver: a page that polls would poll now
    expect(status_on_page(console)).to_have_text("Waiting for approval", timeout=SHIPPING)
    waiting = settled(console, order_reads)
    page.clock.fast_forward(POLL_MS * 5)
    assert settled(console, order_reads) == waiting, "the order page polled while its socket was open"

    approve(local_shop, order_id)

    expect(status_on_page(console)).to_have_text("Shipped", timeout=SHIPPING)  # no reload
    expect(step(console, "SHIPPED")).to_contain_text(re.compile(r"Tracking number TRK"))  # the details, read once
    notices = [m for m in heard if m["type"] == "ORDER_STATUS_CHANGED" and m["orderId"] == order_id]
    assert [notice["status"] for notice in notices] == ["PLACED", "AWAITING_APPROVAL", "PAID", "SHIPPED"]
    # Its own read when it opened, then at most one per notice (PLACED's came before the page): nothing by polling.
    assert 1 < settled(console, order_reads) <= 1 + len(notices), order_reads


def test_an_order_page_follows_the_order_by_polling_when_the_socket_cannot_connect(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    console = open_console("no-socket")
    console.expect_console_error(r"WebSocket connection to .* failed")  # Chromium's own line for each attempt
    page = console.page
    # The WebSocket API's own port (the one origin the local policy allows besides the console's), but no stage
    # of it: every handshake is refused, as a browser sees a dropped or unreachable socket.
    refused = local_shop.endpoints.websocket.rsplit("/", 1)[0] + "/no-such-stage"
    page.route("**/config.json", lambda route: route.fulfill(json={**route.fetch().json(), "webSocketUrl": refused}))
    page.reload()
    page.locator("#products li").first.wait_for()
    attempts: list[float] = []
    page.on("websocket", lambda socket: attempts.append(time.monotonic()) if socket.url.startswith(refused) else None)
    order_reads = reads(page, r"/orders/[^/]+")
    heard = frames(page)
    sign_in(console, local_shop.user("unplugged-customer@example.com", "customers"))

    order_id = order_something(console, BIG_ORDER)
    expect(status_on_page(console)).to_have_text("Waiting for approval", timeout=SHIPPING)
    approve(local_shop, order_id)

    expect(status_on_page(console)).to_have_text("Shipped", timeout=SHIPPING)  # only a poll can have brought it
    assert len(order_reads) >= 2
    assert heard == []
    expect(page.locator("html")).to_have_attribute("data-live", "closed")
    assert len(attempts) >= 2, "the console did not try again"
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert min(gaps) >= 0.4, f"tries again without backing off: {gaps}"  # the first wait is 0.5 to 1 s


def test_an_approvers_list_shows_a_new_request_as_the_socket_tells_it_and_does_not_poll(
    local_shop: LocalShop, open_console: OpenConsole
) -> None:
    approver = open_console("approver", clock=True)
    page = approver.page
    list_reads = reads(page, r"/approvals")
    heard = frames(page)
    sign_in(approver, APPROVER)
    loaded(approver, "approvals")
    live(approver)
    before = settled(approver, list_reads)
    heard_before = len(heard)

    order_id = order_through_the_api(
        local_shop, local_shop.user("live-big-spender@example.com", "customers"), "espresso-machine"
    )

    expect(approval_row(approver, order_id)).to_be_visible(timeout=SHIPPING)  # no reload
    page.clock.fast_forward(APPROVALS_REFRESH_MS * 3)
    after = settled(approver, list_reads)
    requests_heard = [m for m in heard[heard_before:] if m["type"] == "APPROVAL_REQUESTED"]

    assert order_id in [request["orderId"] for request in requests_heard]
    assert after - before == len(requests_heard), list_reads  # one read of the list per request heard, no poll

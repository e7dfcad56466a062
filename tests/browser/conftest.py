"""The web console in a real browser: a local cloud serving web/, and Chromium driven by Playwright.

Playwright drives Debian's Chromium (its own browser download is not used); every page is watched for console
errors, uncaught exceptions and Content-Security-Policy violations.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

# `make install` brings Playwright (pip) and Debian's Chromium (apt): missing either is a broken install, not a
# reason to skip.
from playwright import sync_api

from localcloud.cloud import Endpoints, LocalCloud
from localcloud.users import ensure_user, id_token
from shop.adapters.catalog_table import CatalogTable
from shop.domain.models import Product
from tools.seed import seed
from tools.seed_images import upload

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# The policy edge/ sends in front of the console. Applied here when the gateway sends none, so that the console
# is held to it whether or not the local gateway adds security headers.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' wss://*.execute-api.us-east-1.amazonaws.com; font-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
PASSWORD = "Local-test-Passw0rd"
APPROVER = "approver@example.com"
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
DESKTOP = {"width": 1100, "height": 800}
PHONE = {"width": 375, "height": 740}

# Reports every Content-Security-Policy violation to the test as it happens (before any page script runs).
_REPORT_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (event) => {
  window.reportCspViolation(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'} ${event.sample}`);
});
"""


@dataclass
class LocalShop:
    cloud: LocalCloud
    endpoints: Endpoints

    @property
    def url(self) -> str:
        return self.endpoints.console

    def user(self, email: str, *groups: str) -> str:
        """A confirmed user of the pool, in each of `groups`; returns the email to sign in with."""
        for group in groups:
            ensure_user(self.client("cognito-idp"), self.endpoints.user_pool_id, email, PASSWORD, group)
        return email

    def id_token(self, email: str) -> str:
        """An ID token of `email`, as the console would hold it (for calls a test makes past the console)."""
        return id_token(self.client("cognito-idp"), self.endpoints.user_pool_client_id, email, PASSWORD)

    def add_product(self, product: Product) -> None:
        CatalogTable(str(self.endpoints.outputs["CatalogTableName"]), self.client("dynamodb")).put(product)

    def client(self, service: str) -> Any:
        return self.cloud.client(service)


@dataclass
class Watched:
    """A browser context's page and what went wrong in it."""

    page: Any
    screenshots: Path
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    expected_errors: list[re.Pattern[str]] = field(default_factory=list)
    _shots: int = 0

    def expect_console_error(self, pattern: str) -> None:
        """An error the step provokes on purpose (Chromium logs every 4xx response as a console error)."""
        self.expected_errors.append(re.compile(pattern))

    def on_console(self, message: Any) -> None:
        # A product without a picture is by design (the console hides its image): not the page's error.
        if message.type == "error" and "/images/" not in str((message.location or {}).get("url", "")):
            self.console_errors.append(message.text)

    def on_page_error(self, error: Any) -> None:
        self.page_errors.append(str(error))

    def on_csp_violation(self, violation: str) -> None:
        self.csp_violations.append(violation)

    def screenshot(self, step: str) -> None:
        self._shots += 1
        self.page.screenshot(path=self.screenshots / f"{self._shots:02d}-{step}.png", full_page=True)

    def unexpected(self) -> list[str]:
        console = [
            error for error in self.console_errors if not any(pattern.search(error) for pattern in self.expected_errors)
        ]
        return [*(f"CSP: {v}" for v in self.csp_violations), *(f"error: {e}" for e in self.page_errors), *console]


@pytest.fixture(scope="module")
def local_shop() -> Iterator[LocalShop]:
    # Module scope: moto's backends are process-wide, so the cloud must be gone before other tests' mock_aws;
    # and a stack name of its own, so that its resources do not collide with the other local clouds' in moto.
    cloud = LocalCloud(stack_name="console", api_port=0, aws_port=0, log=lambda _: None)
    endpoints = cloud.start()
    try:
        seed(str(endpoints.outputs["CatalogTableName"]), cloud.client("dynamodb"))
        upload(str(endpoints.outputs["ImagesBucketName"]), cloud.client("s3"))  # the demo catalog's pictures
        running = LocalShop(cloud=cloud, endpoints=endpoints)
        running.user(APPROVER, "admins")
        yield running
    finally:
        cloud.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert CHROMIUM.is_file(), (
        f"the browser tests need Chromium at {CHROMIUM}: make install runs apt-get install chromium"
    )
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class OpenConsole(Protocol):
    def __call__(self, label: str, *, viewport: dict[str, int] = ..., clock: bool = ...) -> Watched: ...


@pytest.fixture
def open_console(browser: Any, local_shop: LocalShop, request: pytest.FixtureRequest) -> Iterator[OpenConsole]:
    """Opens the console in a fresh browser context (its own session), watched; fails the test on any error,
    console message or CSP violation the test did not expect. Screenshots go to test-output/screenshots/<test>/.

    `clock`: the page's clock is Playwright's (it runs, and a test can move it on with page.clock.fast_forward)."""
    folder = OUTPUT / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    opened: list[tuple[Any, Watched]] = []

    def open_one(label: str, *, viewport: dict[str, int] = DESKTOP, clock: bool = False) -> Watched:
        context = browser.new_context(base_url=local_shop.url, viewport=viewport)
        # The console's document comes through _with_console_csp, and Chromium gives a document Playwright fulfilled
        # no address: it counts as public, and its WebSocket to 127.0.0.1 as a local network access to be allowed.
        # (The console served straight from 127.0.0.1, as make run serves it, is loopback like its socket.)
        context.grant_permissions(["local-network-access"])
        if clock:
            context.clock.install()
        context.set_default_timeout(10_000)
        screenshots = folder / label
        screenshots.mkdir(parents=True, exist_ok=True)
        watched = Watched(page=None, screenshots=screenshots)
        context.expose_function("reportCspViolation", watched.on_csp_violation)
        context.add_init_script(_REPORT_CSP_VIOLATIONS)
        context.route("**/*", _with_console_csp)
        page = context.new_page()
        page.on("console", watched.on_console)
        page.on("pageerror", watched.on_page_error)
        watched.page = page
        page.goto("/")
        page.locator("#products li").first.wait_for()  # the catalog, fetched from the API
        opened.append((context, watched))
        return watched

    yield open_one
    for context, _ in opened:
        context.close()
    problems = [f"{watched.screenshots.name}: {problem}" for _, watched in opened for problem in watched.unexpected()]
    assert not problems, "the console reported problems:\n" + "\n".join(problems)


def _with_console_csp(route: Any) -> None:
    if route.request.resource_type != "document":
        route.continue_()
        return
    response = route.fetch()
    headers = response.headers
    if "content-security-policy" not in headers:
        headers = {**headers, "content-security-policy": CONSOLE_CSP}
    route.fulfill(response=response, headers=headers)

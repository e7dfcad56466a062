"""The API against its contract: Schemathesis generates requests for every operation of docs/openapi.json, valid
ones and invalid ones, and sends them to the local cloud as a signed-in customer, an admin and the carrier would.

Every answer must be documented: no server error (5xx), a status code and content type the operation declares,
and a body that matches the declared schema. Generation is seeded (derandomized), so a run is reproducible; the
counts are printed (`-s`) and asserted at the end of the module.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from localcloud.client import DEFAULT_ADDRESS
from tests.localcloud.conftest import Shop

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "openapi.json"
# Valid requests name random products and orders, which do not exist: half of them are pointed at real ones (the
# seeded catalog's products, orders placed before and during the run) so that success answers are checked too.
PRODUCTS = [str(product["productId"]) for product in json.loads((ROOT / "tools" / "demo_catalog.json").read_text())]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# Examples per operation and generation mode. Operations without inputs run once (Hypothesis stops when it has
# generated everything there is); the carrier's route is throttled by its usage plan (5 requests a second), so it
# gets fewer examples than the others.
MAX_EXAMPLES = 70
CARRIER_MAX_EXAMPLES = 20
MINIMUM_CASES = 1000
# The checks that count: a server error, and the three ways an answer can break the contract.
SERVER_ERROR_CHECKS = (not_a_server_error,)
SCHEMA_CHECKS = (status_code_conformance, content_type_conformance, response_schema_conformance)
ADMIN_PATHS = ("/approvals",)
CARRIER_PATHS = ("/carrier/",)
THROTTLED = 429
RETRIES_ON_THROTTLE = 20

SCHEMA = schemathesis.openapi.from_path(SPEC)
# The generated requests carry no credentials of their own: each operation gets the identity it is meant for.
SCHEMA.config.generation.update(with_security_parameters=False)
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}


@dataclass
class Tally:
    """What the module's cases found, over every operation."""

    cases: Counter[str] = field(default_factory=Counter)  # per operation
    statuses: dict[str, Counter[int]] = field(default_factory=dict)  # per operation: what the API answered
    throttled: int = 0  # 429s from the carrier's usage plan, retried
    server_errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"schemathesis: {sum(self.cases.values())} cases, {len(self.server_errors)} server errors, "
            f"{len(self.violations)} schema violations"
        )


TALLY = Tally()
ORDERS: list[str] = []  # the customer's orders: placed by the fixture, then by the generated requests


def realistic(case: Case, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
    """Point some of a valid case's identifiers at things that exist (in place)."""
    if "productId" in (case.path_parameters or {}) and draw(st.booleans()):
        case.path_parameters["productId"] = draw(st.sampled_from(PRODUCTS))  # type: ignore[index]
    if "orderId" in (case.path_parameters or {}) and ORDERS and draw(st.booleans()):
        case.path_parameters["orderId"] = draw(st.sampled_from(ORDERS))  # type: ignore[index]
    body = case.body
    if isinstance(body, dict):
        if isinstance(body.get("orderId"), str) and ORDERS and draw(st.booleans()):
            body["orderId"] = draw(st.sampled_from(ORDERS))
        for item in body.get("items") or []:
            if isinstance(item, dict) and draw(st.booleans()):
                item["productId"] = draw(st.sampled_from(PRODUCTS))
                item["quantity"] = draw(st.integers(min_value=1, max_value=3))


def remember(response: Response) -> None:
    """Orders the generated requests placed join the identifiers later cases use."""
    if response.status_code == 201 and response.request.path_url.endswith("/orders"):
        order_id = json.loads(response.content).get("orderId")
        if isinstance(order_id, str) and order_id not in ORDERS:
            ORDERS.append(order_id)


def credentials(shop: Shop, path: str) -> dict[str, str]:
    """The headers of the identity an operation is meant for (none for public routes)."""
    operation = next(op for op in OPERATIONS.values() if op.path == path)
    security = operation.definition.raw.get("security") or []
    schemes = {name for requirement in security for name in requirement}
    if "CarrierApiKey" in schemes or path.startswith(CARRIER_PATHS):
        return {"x-api-key": shop.endpoints.carrier_api_key}
    if "CognitoIdToken" in schemes:
        token = shop.approver_token if path.startswith(ADMIN_PATHS) else shop.customer_token
        return {"Authorization": f"Bearer {token}"}
    return {}


def describe(case: Case, response: Response, failure: BaseException) -> str:
    """The request, the answer and what is wrong with it, on one line (enough to replay it with curl)."""
    request = response.request
    body = request.body.decode("utf-8", "replace") if isinstance(request.body, bytes) else request.body
    content_type = ",".join(response.headers.get("content-type", []))
    mode = case.meta.generation.mode.value if case.meta else "?"
    return (
        f"{case.operation.label} [{mode}]: {request.method} {request.url} headers={_shown(request.headers)} "
        f"body={body!r:.300} -> {response.status_code} {content_type} {response.content[:300]!r}: "
        f"{' / '.join(str(one).strip() for one in getattr(failure, 'exceptions', [failure]))[:600]}"
    )


def _shown(headers: Any) -> dict[str, str]:
    """The request's headers, credentials shortened."""
    secret = {"authorization", "x-api-key"}
    return {name: (f"{value[:12]}..." if name.lower() in secret else value) for name, value in headers.items()}


def send(case: Case, session: requests.Session, base_url: str, headers: dict[str, str]) -> Response:
    """Call the API; the carrier's usage plan answers 429 past 5 requests a second, so wait and send again."""
    for attempt in range(RETRIES_ON_THROTTLE + 1):
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=15)
        if response.status_code != THROTTLED or attempt == RETRIES_ON_THROTTLE or not headers.get("x-api-key"):
            break
        TALLY.throttled += 1
        time.sleep(0.2)
    return response


def check(
    case: Case, response: Response, headers: dict[str, str], checks: tuple[Callable[..., Any], ...]
) -> Iterator[str]:
    for one in checks:
        try:
            case.validate_response(response, checks=[one], headers=headers)
        except FailureGroup as group:
            yield describe(case, response, group)


def order_status(session: requests.Session, shop: Shop, order_id: str) -> str:
    answer = session.get(f"{shop.api}/orders/{order_id}", headers=credentials(shop, "/orders"), timeout=15)
    return str(answer.json()["status"])


@pytest.fixture(scope="module")
def session(shop: Shop) -> Iterator[requests.Session]:
    with requests.Session() as opened:
        # A small order (approved automatically, ships) and a large one (waits for an approver).
        for items in ([{"productId": "scale", "quantity": 1}], [{"productId": "espresso-machine", "quantity": 1}]):
            placed = opened.post(
                f"{shop.api}/orders",
                json={"items": items, "shippingAddress": DEFAULT_ADDRESS},
                headers={**credentials(shop, "/orders"), "Idempotency-Key": str(uuid.uuid4())},
                timeout=15,
            )
            assert placed.status_code == 201, placed.text
            ORDERS.append(placed.json()["orderId"])
        # The approvals' cases come first: the large order must be waiting for its decision by then.
        deadline = time.monotonic() + 30
        while order_status(opened, shop, ORDERS[-1]) != "AWAITING_APPROVAL":
            assert time.monotonic() < deadline, "the large order never waited for an approver"
            time.sleep(0.2)
        yield opened


@dataclass
class Found:
    """What one operation's cases found."""

    server_errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


def explore(operation: Any, mode: GenerationMode, examples: int, each: Callable[[Case], None]) -> None:
    """Generate `examples` cases of one operation in one mode (seeded), valid ones made realistic, and pass each on."""

    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: Case, data: st.DataObject) -> None:
        if mode is GenerationMode.POSITIVE:
            realistic(case, data.draw)
        each(case)

    run()


def call(case: Case, session: requests.Session, base_url: str, headers: dict[str, str], found: Found) -> None:
    """Send one case, count its answer, and check it against the contract."""
    response = send(case, session, base_url, headers)
    remember(response)
    label = case.operation.label
    TALLY.cases[label] += 1
    TALLY.statuses.setdefault(label, Counter())[response.status_code] += 1
    found.server_errors.extend(check(case, response, headers, SERVER_ERROR_CHECKS))
    found.violations.extend(check(case, response, headers, SCHEMA_CHECKS))


@pytest.mark.parametrize("label", list(OPERATIONS))
def test_every_answer_of_the_operation_is_documented(shop: Shop, session: requests.Session, label: str) -> None:
    operation = OPERATIONS[label]
    headers = credentials(shop, operation.path)
    found = Found()
    examples = CARRIER_MAX_EXAMPLES if operation.path.startswith(CARRIER_PATHS) else MAX_EXAMPLES

    raw = operation.definition.raw
    # An operation without parameters or body has nothing to make invalid: only valid requests.
    modes = MODES if raw.get("parameters") or raw.get("requestBody") else (GenerationMode.POSITIVE,)
    for mode in modes:
        explore(operation, mode, examples, lambda case: call(case, session, shop.api, headers, found))

    TALLY.server_errors.extend(found.server_errors)
    TALLY.violations.extend(found.violations)
    answered = ", ".join(f"{status}: {count}" for status, count in sorted(TALLY.statuses[label].items()))
    print(
        f"\n{label}: {TALLY.cases[label]} cases ({answered}), "
        f"{len(found.server_errors)} server errors, {len(found.violations)} violations"
    )
    assert not found.server_errors, "\n".join(found.server_errors[:5])
    assert not found.violations, "\n".join(found.violations[:3])


def test_the_counts(request: pytest.FixtureRequest) -> None:
    """The totals over every operation (the module's other tests ran first, in the same process)."""
    print(f"\n{TALLY.line()} ({TALLY.throttled} throttled carrier calls retried)")
    if set(TALLY.cases) != set(OPERATIONS):
        pytest.skip("only some operations ran (-k?): the totals are for the whole module")
    assert sum(TALLY.cases.values()) >= MINIMUM_CASES, TALLY.cases
    assert not TALLY.server_errors
    assert not TALLY.violations

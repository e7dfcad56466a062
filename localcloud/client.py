"""A client of the shop's API as its users call it (over HTTP, with a Cognito ID token), for the demo, the fault
suite, the benchmarks and the tests.

Under faults the API may answer 5xx or drop a connection; the client then does what a careful client of this API
does: it tries again, and a retried POST /orders carries the same Idempotency-Key, so it can never place a second
order. Every retry is counted.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import requests

FINAL_STATUSES = frozenset({"SHIPPED", "DELIVERED", "CANCELLED", "REJECTED", "FAILED"})
DEFAULT_ADDRESS = {
    "name": "Alice Example",
    "line1": "1 Market Street",
    "city": "Springfield",
    "postalCode": "12345",
    "country": "US",
}


class ApiError(Exception):
    """The API answered with a status the caller did not expect (after any retries)."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"{response.request.method} {response.url} answered {response.status_code}: {response.text}")
        self.response = response


@dataclass
class ShopClient:
    api: str
    token: str = ""
    timeout: float = 15.0
    attempts: int = 6
    session: requests.Session = field(default_factory=requests.Session)
    retries: int = 0  # how many requests were tried again (5xx, 429 or no answer)

    def with_token(self, token: str) -> ShopClient:
        return ShopClient(self.api, token, self.timeout, self.attempts)

    # -- Orders ---------------------------------------------------------------------------------------------------

    def place(
        self,
        idempotency_key: str,
        items: list[dict[str, Any]] | None,
        *,
        payment_token: str | None = None,
        address: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"shippingAddress": address or DEFAULT_ADDRESS}
        if items is not None:
            body["items"] = items
        if payment_token is not None:
            body["paymentToken"] = payment_token
        response = self.call("POST", "/orders", json=body, headers={"Idempotency-Key": idempotency_key})
        return _expect(response, 201)

    def order(self, order_id: str) -> dict[str, Any]:
        return _expect(self.call("GET", f"/orders/{order_id}"), 200)

    def cancel(self, order_id: str) -> requests.Response:
        return self.call("POST", f"/orders/{order_id}/cancel")

    def wait_for(
        self, order_id: str, statuses: Collection[str] = FINAL_STATUSES, timeout: float = 60.0, poll: float = 0.2
    ) -> dict[str, Any]:
        """Poll the order until its status is one of `statuses`; TimeoutError names the status it is stuck in."""
        deadline = time.monotonic() + timeout
        while True:
            order = self.order(order_id)
            if order["status"] in statuses:
                return order
            if time.monotonic() > deadline:
                raise TimeoutError(f"order {order_id} is still {order['status']} after {timeout:.0f} s")
            time.sleep(poll)

    # -- Approvals ------------------------------------------------------------------------------------------------

    def pending_approvals(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = _expect(self.call("GET", "/approvals"), 200)["items"]
        return items

    def decide(self, order_id: str, decision: str, comment: str | None = None) -> requests.Response:
        body = {"decision": decision} | ({"comment": comment} if comment else {})
        return self.call("POST", f"/approvals/{order_id}", json=body)

    # -- Plumbing -------------------------------------------------------------------------------------------------

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request, tried again with backoff on a 5xx, a 429 or no answer (what API Gateway's clients should
        do: its throttles answer 429)."""
        headers = dict(kwargs.pop("headers", {}))
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        delay = 0.2
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.session.request(
                    method, f"{self.api}{path}", headers=headers, timeout=self.timeout, **kwargs
                )
            except (requests.ConnectionError, requests.Timeout):
                if attempt == self.attempts:
                    raise
            else:
                retryable = response.status_code >= 500 or response.status_code == 429
                if not retryable or attempt == self.attempts:
                    return response
            self.retries += 1
            time.sleep(delay)
            delay = min(delay * 2, 3.0)
        raise AssertionError("unreachable")  # pragma: no cover


def _expect(response: requests.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise ApiError(response)
    body: dict[str, Any] = response.json()
    return body

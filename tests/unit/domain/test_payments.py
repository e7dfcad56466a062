"""How long the workflow waits before asking a silent payment provider again (shop.domain.payments)."""

from __future__ import annotations

import pytest

from shop.domain.payments import (
    PROVIDER_FIRST_WAIT_SECONDS,
    PROVIDER_MAX_WAIT_SECONDS,
    PROVIDER_RETRIES,
    provider_retry_after,
)


def test_the_longest_waits_double_from_the_first_up_to_the_cap() -> None:
    longest = [provider_retry_after(unanswered, 0.999999) for unanswered in range(1, PROVIDER_RETRIES + 1)]

    assert longest == [2, 4, 8, 16, 30, 30]
    assert longest[0] == PROVIDER_FIRST_WAIT_SECONDS
    assert max(longest) == PROVIDER_MAX_WAIT_SECONDS


@pytest.mark.parametrize("unanswered", range(1, PROVIDER_RETRIES + 1))
def test_every_wait_is_drawn_below_its_ceiling_and_is_at_least_a_second(unanswered: int) -> None:
    waits = {provider_retry_after(unanswered, draw / 100) for draw in range(100)}

    assert min(waits) == 1
    assert max(waits) <= min(PROVIDER_MAX_WAIT_SECONDS, PROVIDER_FIRST_WAIT_SECONDS * 2 ** (unanswered - 1))


def test_after_the_last_retry_there_is_no_wait_the_order_is_settled() -> None:
    assert provider_retry_after(PROVIDER_RETRIES + 1, 0.5) == 0
    assert provider_retry_after(PROVIDER_RETRIES + 10, 0.5) == 0

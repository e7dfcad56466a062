"""The order status transition table, checked as properties over every status and random walks."""

from __future__ import annotations

from collections import deque

from hypothesis import given
from hypothesis import strategies as st

from shop.domain.models import FailureReason, OrderStatus
from shop.domain.status import CANCELLABLE, FAILURES_FROM, TERMINAL, TRANSITIONS, can_transition, sources_of

S = OrderStatus
statuses = st.sampled_from(list(OrderStatus))
reasons = st.one_of(st.none(), st.sampled_from(list(FailureReason)))


def reachable_from(start: OrderStatus) -> set[OrderStatus]:
    seen, queue = {start}, deque([start])
    while queue:
        for nxt in TRANSITIONS[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def test_the_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)


def test_every_status_is_reachable_from_placed() -> None:
    assert reachable_from(S.PLACED) == set(OrderStatus)


def test_the_final_statuses_are_exactly_the_terminal_exits() -> None:
    assert {S.DELIVERED, S.CANCELLED, S.REJECTED, S.FAILED} == TERMINAL


def test_nothing_ever_returns_to_placed() -> None:
    assert all(S.PLACED not in nexts for nexts in TRANSITIONS.values())


def test_the_table_has_no_cycles() -> None:
    for status in OrderStatus:
        for nxt in TRANSITIONS[status]:
            assert status not in reachable_from(nxt), f"{status} can come back through {nxt}"


def test_a_customer_can_cancel_only_before_payment() -> None:
    assert {S.PLACED, S.AWAITING_APPROVAL} == CANCELLABLE


def test_delivery_only_follows_shipping_and_shipping_only_follows_payment() -> None:
    assert sources_of(S.DELIVERED) == {S.SHIPPED}
    assert sources_of(S.SHIPPED) == {S.PAID}


def test_rejection_needs_a_pending_approval() -> None:
    assert sources_of(S.REJECTED) == {S.AWAITING_APPROVAL}


def test_each_failure_reason_belongs_to_its_stage() -> None:
    assert sources_of(S.FAILED, FailureReason.OUT_OF_STOCK) == {S.PLACED}
    assert sources_of(S.FAILED, FailureReason.PAYMENT_DECLINED) == {S.PLACED, S.AWAITING_APPROVAL}
    assert sources_of(S.FAILED, FailureReason.SHIPPING_FAILED) == {S.PAID}


def test_a_technical_failure_can_close_an_order_at_any_open_stage_but_never_a_shipped_one() -> None:
    assert sources_of(S.FAILED, FailureReason.TECHNICAL_FAILURE) == {S.PLACED, S.AWAITING_APPROVAL, S.PAID}
    assert not can_transition(S.SHIPPED, S.FAILED, FailureReason.TECHNICAL_FAILURE)


@given(statuses, statuses, reasons)
def test_a_reason_is_given_exactly_when_an_order_fails(
    current: OrderStatus, target: OrderStatus, reason: FailureReason | None
) -> None:
    if can_transition(current, target, reason):
        assert (reason is not None) == (target is S.FAILED)
        assert target in TRANSITIONS[current]


@given(statuses, statuses, reasons)
def test_sources_of_is_the_inverse_of_can_transition(
    current: OrderStatus, target: OrderStatus, reason: FailureReason | None
) -> None:
    assert (current in sources_of(target, reason)) == can_transition(current, target, reason)


@given(st.lists(st.tuples(statuses, reasons), max_size=12))
def test_any_walk_through_the_table_ends_or_stops_at_a_terminal_status(
    steps: list[tuple[OrderStatus, FailureReason | None]],
) -> None:
    # Apply only the allowed moves of a random walk: the order never leaves a terminal status and
    # never passes through more statuses than the longest path (PLACED → … → DELIVERED).
    status, history = S.PLACED, [S.PLACED]
    for target, reason in steps:
        if can_transition(status, target, reason):
            assert status not in TERMINAL
            status = target
            history.append(status)
    assert len(history) == len(set(history)), "a status repeated"
    assert len(history) <= 5


def test_failures_are_listed_only_for_statuses_that_can_fail() -> None:
    assert all(S.FAILED in TRANSITIONS[status] for status in FAILURES_FROM)

"""Pricing in integer cents, checked as properties over random catalogs and orders."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shop.domain.errors import InvalidRequest
from shop.domain.models import MAX_LINE_QUANTITY, CartLine, Product
from shop.domain.pricing import check_lines, order_total, price_lines

product_ids = st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True)
prices = st.integers(min_value=0, max_value=10_000_000)
quantities = st.integers(min_value=1, max_value=MAX_LINE_QUANTITY)


@st.composite
def catalogs_and_lines(draw: st.DrawFn) -> tuple[dict[str, Product], list[CartLine]]:
    ids = draw(st.lists(product_ids, min_size=1, max_size=30, unique=True))
    catalog = {
        pid: Product(
            product_id=pid, name=f"Product {pid}", price_cents=draw(prices), available=draw(st.integers(0, 99))
        )
        for pid in ids
    }
    chosen = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=len(ids), unique=True))
    lines = [CartLine(product_id=pid, quantity=draw(quantities)) for pid in chosen]
    return catalog, lines


@given(catalogs_and_lines())
def test_each_line_is_unit_price_times_quantity(case: tuple[dict[str, Product], list[CartLine]]) -> None:
    catalog, lines = case
    for line, priced in zip(lines, price_lines(lines, catalog), strict=True):
        assert priced.unit_price_cents == catalog[line.product_id].price_cents
        assert priced.line_total_cents == priced.unit_price_cents * line.quantity
        assert priced.name == catalog[line.product_id].name


@given(catalogs_and_lines())
def test_the_total_is_the_exact_integer_sum_of_the_lines(case: tuple[dict[str, Product], list[CartLine]]) -> None:
    catalog, lines = case
    total = order_total(price_lines(lines, catalog))
    assert isinstance(total, int)
    assert total == sum(catalog[line.product_id].price_cents * line.quantity for line in lines)
    assert total >= 0


@given(catalogs_and_lines(), st.randoms())
def test_the_order_of_the_lines_does_not_change_the_total(
    case: tuple[dict[str, Product], list[CartLine]], rng: random.Random
) -> None:
    catalog, lines = case
    shuffled = list(lines)
    rng.shuffle(shuffled)
    assert order_total(price_lines(shuffled, catalog)) == order_total(price_lines(lines, catalog))


@given(catalogs_and_lines(), product_ids)
def test_an_unknown_product_is_named_by_its_line(case: tuple[dict[str, Product], list[CartLine]], unknown: str) -> None:
    catalog, lines = case
    if unknown in catalog:
        return
    bad = [*lines, CartLine(product_id=unknown, quantity=1)]
    with pytest.raises(InvalidRequest) as raised:
        price_lines(bad, catalog)
    assert [p.location for p in raised.value.problems] == [("items", len(lines), "productId")]


def test_a_product_listed_twice_is_refused_at_its_second_line() -> None:
    catalog = {"a": Product(product_id="a", name="A", price_cents=100, available=1)}
    lines = [CartLine(product_id="a", quantity=1), CartLine(product_id="a", quantity=2)]
    with pytest.raises(InvalidRequest) as raised:
        check_lines(lines, catalog)
    assert [p.location for p in raised.value.problems] == [("items", 1, "productId")]
    assert "twice" in raised.value.problems[0].message

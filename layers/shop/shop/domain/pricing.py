"""Pricing in integer cents: order lines priced from the catalog, never with floats."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shop.domain.errors import FieldProblem, InvalidRequest
from shop.domain.models import CartLine, OrderLine, Product


def check_lines(
    lines: Sequence[CartLine],
    catalog: Mapping[str, Product],
    at: tuple[str | int, ...] = ("items",),
) -> None:
    """Reject duplicate lines and products the catalog does not know, naming each offending line.

    `at` is where the lines sit in the caller's input (e.g. `("body", "items")`), so the problems name the
    same location as the request's schema validation does.
    """
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.product_id in seen:
            problems.append(FieldProblem((*at, index, "productId"), f"product {line.product_id} is listed twice"))
        elif line.product_id not in catalog:
            problems.append(FieldProblem((*at, index, "productId"), f"unknown product {line.product_id}"))
        seen.add(line.product_id)
    if problems:
        raise InvalidRequest(problems)


def price_lines(
    lines: Sequence[CartLine],
    catalog: Mapping[str, Product],
    at: tuple[str | int, ...] = ("items",),
) -> list[OrderLine]:
    """Price each line at the catalog's current unit price (`at` as for `check_lines`)."""
    check_lines(lines, catalog, at)
    priced = []
    for line in lines:
        product = catalog[line.product_id]
        priced.append(
            OrderLine(
                product_id=product.product_id,
                name=product.name,
                quantity=line.quantity,
                unit_price_cents=product.price_cents,
                line_total_cents=product.price_cents * line.quantity,
            )
        )
    return priced


def order_total(lines: Sequence[OrderLine]) -> int:
    """The order's total in cents: the sum of its line totals."""
    return sum(line.line_total_cents for line in lines)

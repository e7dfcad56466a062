"""Domain exceptions. Adapters translate AWS errors into these; the HTTP layer maps them to problems."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class DomainError(Exception):
    """Base class of every error the shop's code raises on purpose."""


class NotFound(DomainError):
    """The thing asked for does not exist (or belongs to someone else, which looks the same)."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key} was not found")
        self.kind = kind
        self.key = key


class Conflict(DomainError):
    """The request cannot be carried out in the current state of the data."""


class InvalidTransition(Conflict):
    """An order cannot move from its current status to the one asked for."""

    def __init__(self, order_id: str, current: str, target: str) -> None:
        super().__init__(f"order {order_id} is {current} and cannot become {target}")
        self.order_id = order_id
        self.current = current
        self.target = target


class ConcurrentUpdate(Conflict):
    """Someone else changed the item between our read and our conditional write."""


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field: where it is (as a path of names and indexes) and what is wrong with it."""

    location: tuple[str | int, ...]
    message: str


class InvalidRequest(DomainError):
    """Well-formed input that breaks a business rule (unknown product, duplicate line...)."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = tuple(problems)


class InvalidPageToken(DomainError):
    """A pagination token that this API did not hand out to this caller."""


class OwnOrder(DomainError):
    """An approver asked to decide an order they placed themselves: someone else must look at it."""


class Throttled(DomainError):
    """The data store asked us to slow down; the caller may retry later."""


class OutOfStock(Conflict):
    """Not enough units of some products to reserve an order's lines."""

    def __init__(self, product_ids: Sequence[str]) -> None:
        super().__init__(f"not enough stock of {', '.join(product_ids)}")
        self.product_ids = tuple(product_ids)


class OrderNoLongerPending(Conflict):
    """The order left the status a workflow step expected (typically: the customer cancelled it)."""

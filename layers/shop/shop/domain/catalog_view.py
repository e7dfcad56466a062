"""What a catalog reader sees of a product, and whether a change to the Catalog table changes it: the stage cache
of the public catalog needs emptying only then (stock moving from reserved to sold, for one, shows nowhere)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shop.domain.models import Product

# The item attributes a catalog answer is made of: the Product model's fields as stored (camelCase).
VISIBLE_ATTRIBUTES = frozenset(field.alias or name for name, field in Product.model_fields.items())


def seen_by_readers(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The part of a Catalog item that a catalog answer shows (None: no such product)."""
    if item is None:
        return None
    return {name: value for name, value in item.items() if name in VISIBLE_ATTRIBUTES}


def changes_what_readers_see(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> bool:
    """Whether a product's change (None before: added; None after: removed) shows in any catalog answer."""
    return seen_by_readers(old) != seen_by_readers(new)

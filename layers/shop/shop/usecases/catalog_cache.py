"""Keep the public catalog's stage cache no staler than the stream: a batch of Catalog changes that shows in some
answer empties the cache once (a flush is for the whole stage, so one per batch is enough and a repeat is harmless)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from shop.domain.catalog_view import changes_what_readers_see

Change = tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]


class Cache(Protocol):
    def flush(self) -> None: ...


def refresh_after(changes: Iterable[Change], cache: Cache | None) -> list[str]:
    """Flush `cache` if any (old, new) product change shows to readers; returns those products' ids (empty: no
    flush). With no cache (the stage's is off), nothing is flushed and the ids are still returned."""
    changed = [str((new or old or {}).get("productId")) for old, new in changes if changes_what_readers_see(old, new)]
    if changed and cache is not None:
        cache.flush()
    return changed

"""API Gateway's stage cache, as the local gateway keeps it: the methods the stage's MethodSettings cache (with the
stage's CacheClusterEnabled), each answer kept for its TTL under a key made of the method, the resource and the
values of the method's cacheKeyParameters (path, query string and header parameters), and FlushStageCache.

What API Gateway caches is a 200 answer of the integration; anything else passes through. Each answer says
`X-Cache: Hit from api-gateway` or `Miss from api-gateway` (a local header: API Gateway says nothing, and the
console's CloudFront says `... from cloudfront`). A client's `Cache-Control: max-age=0` is not honoured, as API
Gateway does not honour it from a caller without execute-api:InvalidateCache (the public catalog's callers).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

DEFAULT_TTL_SECONDS = 300.0  # API Gateway's, when a method caches without CacheTtlInSeconds

Key = tuple[str, str, tuple[tuple[str, str | None], ...]]


@dataclass(frozen=True)
class CachedMethod:
    method: str  # "GET", or "*"
    resource_path: str  # "/products/{productId}", or "/*"
    ttl_seconds: float

    def covers(self, method: str, resource: str) -> bool:
        return self.method in ("*", method) and self.resource_path in ("/*", resource)


def cached_methods(stage: Mapping[str, Any]) -> list[CachedMethod]:
    """The methods a stage's resolved properties cache (none without its cache cluster)."""
    if str(stage.get("CacheClusterEnabled", False)).lower() != "true":
        return []
    found = []
    for setting in stage.get("MethodSettings", []):
        if str(setting.get("CachingEnabled", False)).lower() != "true":
            continue
        found.append(
            CachedMethod(
                method=str(setting.get("HttpMethod", "*")),
                resource_path=_resource_path(str(setting.get("ResourcePath", "/*"))),
                ttl_seconds=float(setting.get("CacheTtlInSeconds", DEFAULT_TTL_SECONDS)),
            )
        )
    return found


def _resource_path(setting: str) -> str:
    """MethodSettings' ResourcePath: "/" then the resource path with each of its "/" written "~1" ("/~1products" is
    /products), or "/*" for every resource."""
    return setting if setting == "/*" else setting.removeprefix("/").replace("~1", "/")


class ApiCache:
    """The stage's cache: thread-safe, each entry dropped at its TTL or by a flush."""

    def __init__(self, methods: Sequence[CachedMethod], clock: Callable[[], float] = time.monotonic) -> None:
        self._methods = list(methods)
        self._clock = clock
        self._entries: dict[Key, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def ttl_of(self, method: str, resource: str) -> float | None:
        """The TTL of a method that is cached, None for one that is not (only GETs are cached)."""
        if method != "GET":
            return None
        found = next((cached for cached in self._methods if cached.covers(method, resource)), None)
        return found.ttl_seconds if found is not None else None

    def get(self, key: Key) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if self._clock() >= expires:
                del self._entries[key]
                return None
            return value

    def put(self, key: Key, value: Any, ttl_seconds: float) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + ttl_seconds, value)

    def flush(self) -> int:
        """FlushStageCache: every entry gone; how many there were."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count


def cache_key(
    method: str,
    resource: str,
    parameters: Iterable[str],  # method.request.{path,querystring,header}.<name>
    *,
    path: Mapping[str, str],
    query: str,
    headers: Sequence[tuple[str, str]],
) -> Key:
    """The key API Gateway files an answer under: the method, its resource, and each cache key parameter's value."""
    queries: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        name, _, value = pair.partition("=")
        queries.setdefault(unquote(name), unquote(value))
    by_header = {name.lower(): value for name, value in headers}
    values: list[tuple[str, str | None]] = []
    for parameter in parameters:
        kind, _, name = parameter.removeprefix("method.request.").partition(".")
        if kind == "path":
            values.append((parameter, path.get(name)))
        elif kind == "querystring":
            values.append((parameter, queries.get(name)))
        elif kind == "header":
            values.append((parameter, by_header.get(name.lower())))
    return method, resource, tuple(values)


_FLUSH_PATH = re.compile(r"/restapis/(?P<api>[^/]+)/stages/(?P<stage>[^/]+)/cache/data")


def flush_answer(
    cache: ApiCache, api_ids: Iterable[str], stage: str, method: str, path: str
) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """API Gateway's FlushStageCache (DELETE /restapis/<id>/stages/<stage>/cache/data) at the local AWS endpoint:
    202 once the cache is empty; None for any other request (moto answers it)."""
    found = _FLUSH_PATH.fullmatch(path)
    if found is None or method != "DELETE":
        return None
    if found["api"] not in set(api_ids) or found["stage"] != stage:
        body = b'{"message": "Invalid stage identifier specified"}'
        return 404, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "NotFoundException")], body
    cache.flush()
    return 202, [], b""

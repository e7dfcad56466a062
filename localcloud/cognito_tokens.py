"""The Cognito user-pool authorizer's token check: an ID token verified against the pool's signing keys, and its
claims rendered as API Gateway passes them to a function.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jwt

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Unauthorized(Exception):
    """The request carries no valid ID token; the message is API Gateway's for the case."""


class JwksUnavailable(RuntimeError):
    """The user pool's keys could not be fetched: a configuration problem, not the caller's fault."""


class TokenVerifier:
    """Verifies Cognito ID tokens like API Gateway's user-pool authorizer: RS256 signature against the pool's
    JWKS (fetched from jwks_url with urllib and cached), exp, iss == issuer, token_use == "id", aud in client_ids.
    Returns the claims as API Gateway passes them (all values as strings; cognito:groups comma-separated).

    jwks_url may be http(s) (moto's server, a test's) or file:// (a key set written to disk).
    """

    def __init__(self, *, jwks_url: str, issuer: str, client_ids: Collection[str]) -> None:
        self._keys = _KeySet(jwks_url)
        self._issuer = issuer
        self._audience = list(client_ids)

    def claims(self, authorization_header: str | None) -> dict[str, str]:
        token = (authorization_header or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            raise Unauthorized("Unauthorized")
        try:
            key = self._keys.get(jwt.get_unverified_header(token).get("kid"))
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iss", "aud", "token_use"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The incoming token has expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Unauthorized") from exc
        if claims.get("token_use") != "id":
            raise Unauthorized("Unauthorized")
        return {name: _claim_string(name, value) for name, value in claims.items()}


class _KeySet:
    """The pool's signing keys by kid, fetched on first use, again after `lifespan`, and when an unknown kid
    shows up (rotation) but not more than once per `cooldown`, so forged kids cannot make it fetch in a loop."""

    def __init__(self, url: str, *, lifespan: float = 3600, cooldown: float = 10) -> None:
        if urlsplit(url).scheme not in ("http", "https", "file"):
            raise ValueError(f"jwks_url must be http, https or file: {url!r}")
        self._url = url
        self._lifespan = lifespan
        self._cooldown = cooldown
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def get(self, kid: Any) -> Any:
        """The public key for kid (a cryptography key object), or jwt.InvalidKeyError."""
        with self._lock:
            now = time.monotonic()
            age = None if self._fetched_at is None else now - self._fetched_at
            if age is None or age > self._lifespan or (kid not in self._keys and age > self._cooldown):
                self._fetch(now)
            key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise jwt.InvalidKeyError("no key of the user pool has this kid")
        return key

    def _fetch(self, now: float) -> None:
        try:
            with urllib.request.urlopen(self._url, timeout=5) as response:  # noqa: S310  (scheme checked above)
                document = json.load(response)
            key_set = jwt.PyJWKSet.from_dict(document)
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise JwksUnavailable(f"cannot read the user pool's keys at {self._url}: {exc}") from exc
        self._keys = {key.key_id: key.key for key in key_set.keys if key.key_id}
        self._fetched_at = now


def _claim_string(name: str, value: Any) -> str:
    """A claim as API Gateway's REST authorizer renders it (exp and iat as Java's Date.toString)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if name in ("exp", "iat") and isinstance(value, int):
        moment = datetime.fromtimestamp(value, UTC)
        day, month = _DAYS[moment.weekday()], _MONTHS[moment.month - 1]
        return f"{day} {month} {moment.day:02d} {moment:%H:%M:%S} UTC {moment.year}"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)

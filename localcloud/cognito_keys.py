"""A signing key made for each user pool of a local cloud, as Cognito makes one per pool.

moto signs every pool's tokens with one RSA key, and the private half of that key ships in the moto package
(moto/cognitoidp/resources/jwks-private.json): anyone on the machine could sign an admin's token that a gateway
trusting moto's key set would accept. Each pool the local cloud creates gets its own 2048-bit key instead, kept in
memory only; the gateway verifies against it, and the AWS endpoint serves its public half where Cognito serves a
pool's key set ({aws}/<pool id>/.well-known/jwks.json). A token signed with moto's bundled key is refused.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from joserfc import jwk
from moto.cognitoidp.models import cognitoidp_backends

# moto writes this key id into every token's header; the pool's own key takes it, so the key set names one key.
MOTO_KEY_ID = "dummy"
KEY_BITS = 2048
_KEY_SET_PATH = re.compile(r"^/(?P<pool>[\w-]+_[0-9A-Za-z]+)/\.well-known/jwks\.json$")

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


class PoolKeys:
    """The public key set of each pool this cloud made, after giving the pool its private key."""

    def __init__(self, account_id: str) -> None:
        self._account_id = account_id
        self._key_sets: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def issue(self, region: str, pool_id: str) -> dict[str, Any]:
        """Make the pool's key, have moto sign its tokens with it, and return the public key set."""
        key = jwk.RSAKey.generate_key(
            KEY_BITS, parameters={"kid": MOTO_KEY_ID, "alg": "RS256", "use": "sig"}, private=True
        )
        cognitoidp_backends[self._account_id][region].user_pools[pool_id].json_web_key = key
        key_set = {"keys": [key.as_dict(private=False)]}
        with self._lock:
            self._key_sets[pool_id] = key_set
        return key_set

    def key_set(self, pool_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._key_sets.get(pool_id)


class PoolKeySets:
    """WSGI middleware: GET /<pool id>/.well-known/jwks.json answers the pool's own key set (moto's would be its
    bundled key's); every other request goes on to moto."""

    def __init__(self, app: Callable[[Environ, StartResponse], Iterable[bytes]], keys: PoolKeys) -> None:
        self.app = app
        self.keys = keys

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        match = _KEY_SET_PATH.match(str(environ.get("PATH_INFO", "")))
        key_set = self.keys.key_set(match["pool"]) if match else None
        if key_set is None:
            return self.app(environ, start_response)
        body = json.dumps(key_set).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

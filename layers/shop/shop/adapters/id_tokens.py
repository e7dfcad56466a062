"""Cognito ID tokens verified as API Gateway's user-pool authorizer verifies them, for the WebSocket API's Lambda
authorizer (a browser cannot set headers on a WebSocket, so the token comes in the query string).

Checked: the RS256 signature against the pool's key set (JWKS), the issuer (this pool), the audience (this app
client), the expiry, and token_use == "id" (an access token carries no e-mail and no audience, and is not what the
REST API accepts either). The key set is fetched once and kept across invocations by PyJWT's PyJWKClient (an
unknown key id fetches it again, at most once per cooldown, so forged key ids cannot make it fetch in a loop).
"""

from __future__ import annotations

from typing import Any

import jwt
from jwt import PyJWKClient, PyJWKClientConnectionError

from shop.domain.live import InvalidIdToken
from shop.domain.models import Caller

KEY_SET_LIFETIME_SECONDS = 3600  # Cognito rotates a pool's keys rarely; an unknown kid fetches again anyway
KEY_SET_TIMEOUT_SECONDS = 3  # the authorizer has 10 s, and API Gateway waits 29 s at most for $connect
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "token_use"]


class KeySetUnavailable(RuntimeError):
    """The pool's key set could not be fetched: a fault of ours (network, configuration), not the caller's."""


def issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def key_set_url(region: str, user_pool_id: str, endpoint_url: str | None = None) -> str:
    """Cognito serves a pool's keys at {issuer}/.well-known/jwks.json. Where the standard SDK variable
    AWS_ENDPOINT_URL points every AWS call at another endpoint, that endpoint serves them at
    {endpoint}/{pool id}/.well-known/jwks.json (the local cloud does: docs/local-cloud.md)."""
    base = endpoint_url.rstrip("/") + f"/{user_pool_id}" if endpoint_url else issuer(region, user_pool_id)
    return f"{base}/.well-known/jwks.json"


class IdTokenVerifier:
    def __init__(
        self,
        *,
        region: str,
        user_pool_id: str,
        client_id: str,
        endpoint_url: str | None = None,
        keys: PyJWKClient | None = None,
    ) -> None:
        self.issuer = issuer(region, user_pool_id)
        self.client_id = client_id
        self.keys = keys or PyJWKClient(
            key_set_url(region, user_pool_id, endpoint_url),
            cache_jwk_set=True,
            lifespan=KEY_SET_LIFETIME_SECONDS,
            timeout=KEY_SET_TIMEOUT_SECONDS,
        )

    def verify(self, token: str | None) -> Caller:
        """The caller the token names, or InvalidIdToken; KeySetUnavailable if the pool's keys cannot be read."""
        if not token:
            raise InvalidIdToken("no token")
        try:
            key = self.keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except PyJWKClientConnectionError as exc:
            raise KeySetUnavailable(str(exc)) from exc
        except jwt.PyJWTError as exc:  # PyJWKClientError (unknown kid) included
            raise InvalidIdToken(f"{type(exc).__name__}: {exc}") from exc
        if claims["token_use"] != "id":  # noqa: S105 (a claim's value, not a secret)
            raise InvalidIdToken(f"token_use is {claims['token_use']!r}, not 'id'")
        groups = claims.get("cognito:groups") or []
        if not isinstance(groups, list) or not claims["sub"]:
            raise InvalidIdToken("malformed sub or cognito:groups claim")
        email = claims.get("email")
        return Caller(
            customer_id=str(claims["sub"]),
            groups=frozenset(str(group) for group in groups),
            email=email if isinstance(email, str) else None,
        )

"""Cognito's Lambda triggers, which moto does not fire: PostConfirmation, run inside the confirmation as Cognito does.

`ConfirmSignUp` and `AdminConfirmSignUp` of a user who signed up (UNCONFIRMED) call the trigger function
synchronously with the PostConfirmation_ConfirmSignUp event, in the shape Cognito sends, before they answer: a token
taken right after the confirmation carries the groups the trigger added. A trigger that fails fails the
confirmation with Cognito's `UserLambdaValidationException` (the user stays confirmed, as in Cognito). Users
created by an administrator never fire it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto.cognitoidp.models import CognitoIdpBackend, UserStatus
from moto.core.exceptions import JsonRESTError

# (function, event) -> (errored, payload): a synchronous invoke in the function's worker.
Invoke = Callable[[str, dict[str, Any]], tuple[bool, bytes]]


@dataclass(frozen=True)
class PostConfirmation:
    """The PostConfirmation trigger of one user pool."""

    user_pool_id: str
    function: str
    region: str

    def event(self, username: str, attributes: dict[str, str], client_id: str) -> dict[str, Any]:
        return {
            "version": "1",
            "region": self.region,
            "userPoolId": self.user_pool_id,
            "userName": username,
            "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id},
            "triggerSource": "PostConfirmation_ConfirmSignUp",
            "request": {"userAttributes": {**attributes, "cognito:user_status": "CONFIRMED"}},
            "response": {},
        }


class UserLambdaValidationError(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("UserLambdaValidationException", message)


@contextmanager
def post_confirmation(triggers: list[PostConfirmation], invoke: Invoke) -> Iterator[None]:
    """While inside: moto's confirmations run the pools' PostConfirmation triggers before they answer."""
    by_pool = {trigger.user_pool_id: trigger for trigger in triggers}
    original_confirm = CognitoIdpBackend.confirm_sign_up
    original_admin_confirm = CognitoIdpBackend.admin_confirm_sign_up

    def confirm(
        backend: CognitoIdpBackend, pool_id: str, username: str, client_id: str, apply: Callable[[], str]
    ) -> str:
        user = backend.admin_get_user(pool_id, username)
        signed_up = user.status == UserStatus.UNCONFIRMED
        answer = apply()
        trigger = by_pool.get(pool_id)
        if trigger is not None and signed_up:
            attributes = {attribute["Name"]: attribute["Value"] for attribute in user.attributes}
            errored, payload = invoke(trigger.function, trigger.event(user.username, attributes, client_id))
            if errored:
                message = json.loads(payload or b"{}").get("errorMessage", "the function failed")
                raise UserLambdaValidationError(f"PostConfirmation failed with error {message}.")
        return answer

    def confirm_sign_up(backend: CognitoIdpBackend, client_id: str, username: str) -> str:
        pool = next((p for p in backend.user_pools.values() if client_id in p.clients), None)
        if pool is None:
            return original_confirm(backend, client_id, username)  # moto's own error for an unknown client
        return confirm(backend, pool.id, username, client_id, lambda: original_confirm(backend, client_id, username))

    def admin_confirm_sign_up(backend: CognitoIdpBackend, user_pool_id: str, username: str) -> str:
        pool = backend.describe_user_pool(user_pool_id)
        client_id = next(iter(pool.clients), "")
        return confirm(
            backend, user_pool_id, username, client_id, lambda: original_admin_confirm(backend, user_pool_id, username)
        )

    CognitoIdpBackend.confirm_sign_up = confirm_sign_up  # type: ignore[method-assign,assignment]
    CognitoIdpBackend.admin_confirm_sign_up = admin_confirm_sign_up  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        CognitoIdpBackend.confirm_sign_up = original_confirm  # type: ignore[method-assign]
        CognitoIdpBackend.admin_confirm_sign_up = original_admin_confirm  # type: ignore[method-assign]

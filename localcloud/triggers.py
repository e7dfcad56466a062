"""Cognito's Lambda triggers, which moto does not fire: PostConfirmation, run inside the confirmation as Cognito does.

`ConfirmSignUp` and `AdminConfirmSignUp` of a user who signed up (UNCONFIRMED) call the trigger function
synchronously with the PostConfirmation_ConfirmSignUp event, in the shape Cognito sends, before they answer: a token
taken right after the confirmation carries the groups the trigger added. A trigger that fails fails the
confirmation with Cognito's `UserLambdaValidationException` (the user stays confirmed, as in Cognito). Users
created by an administrator never fire it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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


class PostConfirmations:
    """One cloud's PostConfirmation triggers, by user pool: localcloud.moto_hooks runs moto's ConfirmSignUp and
    AdminConfirmSignUp of the cloud's account through `confirm`."""

    def __init__(self, triggers: list[PostConfirmation], invoke: Invoke) -> None:
        self._by_pool = {trigger.user_pool_id: trigger for trigger in triggers}
        self._invoke = invoke

    def confirm(
        self, backend: CognitoIdpBackend, pool_id: str, username: str, client_id: str, apply: Callable[[], str]
    ) -> str:
        """Confirm (`apply`, moto's own confirmation), then run the pool's trigger for a user who signed up."""
        user = backend.admin_get_user(pool_id, username)
        signed_up = user.status == UserStatus.UNCONFIRMED
        answer = apply()
        trigger = self._by_pool.get(pool_id)
        if trigger is not None and signed_up:
            attributes = {attribute["Name"]: attribute["Value"] for attribute in user.attributes}
            errored, payload = self._invoke(trigger.function, trigger.event(user.username, attributes, client_id))
            if errored:
                message = json.loads(payload or b"{}").get("errorMessage", "the function failed")
                raise UserLambdaValidationError(f"PostConfirmation failed with error {message}.")
        return answer

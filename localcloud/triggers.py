"""Cognito's Lambda triggers, which moto does not fire: PostConfirmation after a self sign-up is confirmed.

The user pool is watched like an event source: a user seen UNCONFIRMED (signed up) who becomes CONFIRMED gets
the PostConfirmation_ConfirmSignUp event, in the shape Cognito sends, delivered to the trigger function.
Users created by an administrator never fire it, as in Cognito.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Invoke = Callable[[str, dict[str, Any]], Any]


class PostConfirmationTrigger:
    def __init__(self, *, user_pool_id: str, function: str, client_id: str, region: str, cognito: Any, invoke: Invoke):
        self.user_pool_id = user_pool_id
        self.function = function
        self.client_id = client_id
        self.region = region
        self._cognito = cognito
        self._invoke = invoke
        self._unconfirmed: set[str] = set()
        self._fired: set[str] = set()

    def poll_once(self) -> int:
        """Fire the trigger for every sign-up confirmed since the last poll; returns how many fired."""
        fired = 0
        for user in self._users():
            name, status = user["Username"], user["UserStatus"]
            if status == "UNCONFIRMED":
                self._unconfirmed.add(name)
            elif status == "CONFIRMED" and name in self._unconfirmed and name not in self._fired:
                self._fired.add(name)
                self._invoke(self.function, self.event(user))
                fired += 1
        return fired

    def event(self, user: dict[str, Any]) -> dict[str, Any]:
        attributes = {attribute["Name"]: attribute["Value"] for attribute in user.get("Attributes", [])}
        return {
            "version": "1",
            "region": self.region,
            "userPoolId": self.user_pool_id,
            "userName": user["Username"],
            "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": self.client_id},
            "triggerSource": "PostConfirmation_ConfirmSignUp",
            "request": {"userAttributes": {**attributes, "cognito:user_status": "CONFIRMED"}},
            "response": {},
        }

    def _users(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"UserPoolId": self.user_pool_id}
        while True:
            page = self._cognito.list_users(**kwargs)
            users.extend(page.get("Users", []))
            token = page.get("PaginationToken")
            if not token:
                return users
            kwargs["PaginationToken"] = token

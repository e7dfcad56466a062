"""Users of the local user pool: the demo customer and approver, and signing in for an ID token."""

from __future__ import annotations

from typing import Any


def ensure_email_user(cognito: Any, pool_id: str, email: str) -> tuple[str, str]:
    """The pool's user of this e-mail address (verified), made without a message when there is none: its user name
    and its `sub`."""
    try:
        user = cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",
        )["User"]
        attributes = user["Attributes"]
    except cognito.exceptions.UsernameExistsException:
        user = cognito.admin_get_user(UserPoolId=pool_id, Username=email)
        attributes = user["UserAttributes"]
    sub = next(attribute["Value"] for attribute in attributes if attribute["Name"] == "sub")
    return str(user["Username"]), str(sub)


def ensure_user(cognito: Any, pool_id: str, email: str, password: str, group: str) -> str:
    """A confirmed user with a permanent password, in `group`; returns its `sub`."""
    _, sub = ensure_email_user(cognito, pool_id, email)
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password, Permanent=True)
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)
    return sub


def id_token(cognito: Any, client_id: str, email: str, password: str) -> str:
    """Sign in with USER_PASSWORD_AUTH, as the web console does, and return the ID token."""
    result = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )["AuthenticationResult"]
    return str(result["IdToken"])

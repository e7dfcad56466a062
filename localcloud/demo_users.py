"""The demo customer and approver that `make run` puts in the local user pool, and what `make token` signs in as."""

from __future__ import annotations

PASSWORD = "Local-demo-Passw0rd"  # noqa: S105  (a local demo account on a local emulator)
# Role (as `make token ROLE=...` names it) -> the user's e-mail and the Cognito group that gives the role.
USERS = {"customer": ("customer@example.com", "customers"), "approver": ("approver@example.com", "admins")}

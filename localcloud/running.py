"""A local cloud already running (`make run`), found by its AWS endpoint: its stack's outputs and clients of it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config

DEFAULT_AWS_ENDPOINT = "http://127.0.0.1:4566"  # `make run`'s --aws-port
OUTPUTS_PATH = "/_localcloud/outputs"  # served by localcloud.aws_endpoint once the stack is up
# The endpoint takes any credentials, and a key that is no function's stands for an administrator (localcloud.iam).
# (Not localcloud.cloud's: importing it brings moto, seconds that `make token` has no use for.)
ADMINISTRATOR = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


class NotRunningError(Exception):
    """No local cloud answers at the endpoint."""


def outputs(endpoint: str, timeout: float = 5.0) -> dict[str, Any]:
    """The stack's outputs as the running cloud serves them; NotRunningError when nothing (or not a cloud) answers."""
    if urlparse(endpoint).scheme not in ("http", "https"):
        raise NotRunningError(f"{endpoint!r} is not an http(s) URL")
    try:
        with urllib.request.urlopen(endpoint.rstrip("/") + OUTPUTS_PATH, timeout=timeout) as response:  # noqa: S310 (http(s) only)
            found = json.loads(response.read())
    except (OSError, ValueError) as exc:  # refused, timed out, an HTTP error, or not JSON: not a local cloud
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise NotRunningError(f"no local cloud answers at {endpoint} ({reason})") from exc
    if not isinstance(found, dict):
        raise NotRunningError(f"what answers at {endpoint} is not a local cloud")
    return found


def client(endpoint: str, service: str, **config: Any) -> Any:
    """A boto3 client of the running cloud (any credentials do; these stand for an administrator)."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        **ADMINISTRATOR,
        config=Config(**config) if config else None,
    )

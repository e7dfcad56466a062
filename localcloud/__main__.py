"""`make run`: the whole stack on this machine, in the foreground, until Ctrl-C.

python -m localcloud [--api-port 3000] [--aws-port 4566] [--config localcloud.toml] [--parameter Name=Value ...]

Parameters come from the template's defaults, then the config file's [parameters] table, then --parameter.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import tomllib
from pathlib import Path

from localcloud.cloud import LocalCloud
from localcloud.users import ensure_user
from tools.seed import seed

DEMO_PASSWORD = "Local-demo-Passw0rd"  # noqa: S105  (a local demo account on a local emulator)
DEMO_USERS = (("customer@example.com", "customers"), ("approver@example.com", "admins"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run template.yaml on this machine (no Docker, no AWS account)")
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument("--aws-port", type=int, default=4566)
    parser.add_argument("--config", type=Path, default=Path("localcloud.toml"), help="TOML with a [parameters] table")
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent invocations per function")
    args = parser.parse_args(argv)
    parameters = {}
    if args.config.is_file():
        parameters.update({k: str(v) for k, v in tomllib.loads(args.config.read_text()).get("parameters", {}).items()})
    parameters.update(dict(item.split("=", 1) for item in args.parameter))

    started = time.monotonic()
    cloud = LocalCloud(
        parameters=parameters, api_port=args.api_port, aws_port=args.aws_port, max_concurrency=args.concurrency
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        endpoints = cloud.start()
        seed(str(endpoints.outputs["CatalogTableName"]), cloud.client("dynamodb"))
        cognito = cloud.client("cognito-idp")
        for email, group in DEMO_USERS:
            ensure_user(cognito, endpoints.user_pool_id, email, DEMO_PASSWORD, group)
        print(
            f"""
local cloud ready in {time.monotonic() - started:.1f} s
  API              {endpoints.api}   (also under {endpoints.api}/api/)
  AWS endpoint     {endpoints.aws}   (AWS_ENDPOINT_URL for boto3 and the aws CLI; any credentials)
  user pool        {endpoints.user_pool_id}   client {endpoints.user_pool_client_id}
  demo customer    customer@example.com / {DEMO_PASSWORD}
  demo approver    approver@example.com / {DEMO_PASSWORD}
  carrier API key  {endpoints.carrier_api_key}   (header x-api-key)
  an ID token:     curl -s {endpoints.aws}/ -H 'Content-Type: application/x-amz-json-1.1' \\
                     -H 'X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth' \\
                     -d '{{"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": "{endpoints.user_pool_client_id}", \\
                          "AuthParameters": {{"USERNAME": "customer@example.com", "PASSWORD": "{DEMO_PASSWORD}"}}}}'
                   then: curl {endpoints.api}/orders -H "Authorization: Bearer <AuthenticationResult.IdToken>"
Ctrl-C stops everything.
""",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping...", flush=True)
        cloud.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

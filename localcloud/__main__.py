"""`make run`: the whole stack on this machine, in the foreground, until Ctrl-C.

python -m localcloud [--api-port 3000] [--aws-port 4566] [--config localcloud.toml] [--parameter Name=Value ...]
                     [--account-concurrency 50] [--fault fault=...,function=...,probability=0.1 ...] [--fault-seed 7]
                     [--state-dir .localcloud/state] [--fresh]

The data (tables, queues, users, objects) is kept in --state-dir and comes back at the next start (localcloud.state);
--fresh starts empty (and the state kept from then on replaces the old).

Parameters come from the template's defaults, then the config file's [parameters] table, then --parameter.
Fault rules (localcloud/faults.py) come from the config file's [faults] table, then --fault; a running cloud takes
more at its control endpoint ({aws}/_localcloud/faults).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import tomllib
from pathlib import Path

from localcloud.cloud import DEFAULT_ACCOUNT_CONCURRENCY, LocalCloud
from localcloud.faults import FaultPlan, FaultRuleError, parse_rule_text, rules_from_config
from localcloud.state import STATE_FILE
from localcloud.users import ensure_user
from tools.seed import seed

STATE_DIR = Path(".localcloud/state")
DEMO_PASSWORD = "Local-demo-Passw0rd"  # noqa: S105  (a local demo account on a local emulator)
DEMO_USERS = (("customer@example.com", "customers"), ("approver@example.com", "admins"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run template.yaml on this machine (no Docker, no AWS account)")
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument("--aws-port", type=int, default=4566)
    parser.add_argument("--config", type=Path, default=Path("localcloud.toml"), help="TOML with a [parameters] table")
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--account-concurrency",
        type=int,
        default=DEFAULT_ACCOUNT_CONCURRENCY,
        help="Lambda's concurrency limit for the account: beyond it (or a function's reservation) invocations throttle",
    )
    parser.add_argument("--fault", action="append", default=[], metavar="fault=...,KEY=VALUE", help="a fault rule")
    parser.add_argument("--fault-seed", type=int, default=None, help="seed of the fault rules' random draws")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="where the data is kept across restarts")
    parser.add_argument("--fresh", action="store_true", help="start empty: forget the data kept in --state-dir")
    args = parser.parse_args(argv)
    config = tomllib.loads(args.config.read_text()) if args.config.is_file() else {}
    parameters = {k: str(v) for k, v in config.get("parameters", {}).items()}
    parameters.update(dict(item.split("=", 1) for item in args.parameter))
    try:
        fault_seed, rules = rules_from_config(config.get("faults", {}))
        rules += [parse_rule_text(text) for text in args.fault]
    except FaultRuleError as exc:
        parser.error(str(exc))
    faults = FaultPlan(seed=fault_seed if args.fault_seed is None else args.fault_seed)
    faults.add(rules)

    if args.fresh:
        (args.state_dir / STATE_FILE).unlink(missing_ok=True)
    started = time.monotonic()
    cloud = LocalCloud(
        state_dir=args.state_dir,
        parameters=parameters,
        api_port=args.api_port,
        aws_port=args.aws_port,
        account_concurrency=args.account_concurrency,
        faults=faults,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        endpoints = cloud.start()
        if cloud.restored is None:  # a catalog kept from the last run keeps its stock
            seed(str(endpoints.outputs["CatalogTableName"]), cloud.client("dynamodb"))
        cognito = cloud.client("cognito-idp")
        for email, group in DEMO_USERS:
            ensure_user(cognito, endpoints.user_pool_id, email, DEMO_PASSWORD, group)
        # One line of JSON: a line break inside the quotes would reach Cognito as part of the body.
        sign_in = json.dumps(
            {
                "AuthFlow": "USER_PASSWORD_AUTH",
                "ClientId": endpoints.user_pool_client_id,
                "AuthParameters": {"USERNAME": DEMO_USERS[0][0], "PASSWORD": DEMO_PASSWORD},
            }
        )
        print(
            f"""
local cloud ready in {time.monotonic() - started:.1f} s
  console          {endpoints.console}   (the web console; the API is under its /api/, as on CloudFront)
  API              {endpoints.api}
  AWS endpoint     {endpoints.aws}   (AWS_ENDPOINT_URL for boto3 and the aws CLI; any credentials)
  user pool        {endpoints.user_pool_id}   client {endpoints.user_pool_client_id}
  demo customer    customer@example.com / {DEMO_PASSWORD}
  demo approver    approver@example.com / {DEMO_PASSWORD}
  carrier API key  {endpoints.carrier_api_key}   (header x-api-key)
  an ID token:     curl -s {endpoints.aws}/ -H 'Content-Type: application/x-amz-json-1.1' \\
                     -H 'X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth' \\
                     -d '{sign_in}'
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
        print(faults.report(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

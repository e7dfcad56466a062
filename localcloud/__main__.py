"""`make run`: the whole stack on this machine, in the foreground, until Ctrl-C.

python -m localcloud [--api-port 3000] [--aws-port 4566] [--websocket-port 3001] [--config localcloud.toml]
                     [--parameter Name=Value ...]
                     [--account-concurrency 50] [--fault fault=...,function=...,probability=0.1 ...] [--fault-seed 7]
                     [--state-dir .localcloud/state] [--fresh] [--logs FunctionA,FunctionB | --quiet]

The data (tables, queues, users, objects) is kept in --state-dir and comes back at the next start (localcloud.state);
--fresh starts empty (and the state kept from then on replaces the old).

Parameters come from the template's defaults, then the config file's [parameters] table, then --parameter.
Fault rules (localcloud/faults.py) come from the config file's [faults] table, then --fault; a running cloud takes
more at its control endpoint ({aws}/_localcloud/faults).

Every function invocation is a line saying what its caller saw, with what the handler printed under it
(localcloud.function_logs); --logs shows only the functions named (and the others' errors), --quiet errors only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

from localcloud import demo_users
from localcloud.cloud import DEFAULT_ACCOUNT_CONCURRENCY, Endpoints, LocalCloud
from localcloud.faults import FaultPlan, FaultRuleError, parse_rule_text, rules_from_config
from localcloud.function_logs import Console
from localcloud.state import STATE_FILE
from localcloud.users import ensure_user
from tools.seed import seed
from tools.seed_images import upload

STATE_DIR = Path(".localcloud/state")


def main(argv: list[str] | None = None) -> int:
    parser = options()
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
    busy = busy_port(args.api_port, args.aws_port, args.websocket_port)
    if busy:  # said before anything is provisioned: binding later would fail the start half-way, in a traceback
        print(busy, file=sys.stderr)
        return 2

    if args.fresh:
        (args.state_dir / STATE_FILE).unlink(missing_ok=True)
    started = time.monotonic()
    cloud = LocalCloud(
        state_dir=args.state_dir,
        parameters=parameters,
        api_port=args.api_port,
        aws_port=args.aws_port,
        websocket_port=args.websocket_port,
        account_concurrency=args.account_concurrency,
        faults=faults,
    )
    # Colours only on a terminal (and not when NO_COLOR is set, https://no-color.org).
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    functions = [name.strip() for name in args.logs.split(",") if name.strip()] if args.logs else None
    cloud.function_logs.console = Console(colour=colour, functions=() if args.quiet else functions)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        endpoints = cloud.start()
        if cloud.restored is None:  # a catalog kept from the last run keeps its stock
            seed(str(endpoints.outputs["CatalogTableName"]), cloud.client("dynamodb"))
            if "ImagesBucketName" in endpoints.outputs:  # the pictures /images/* is resized from (docs/images.md)
                upload(str(endpoints.outputs["ImagesBucketName"]), cloud.client("s3"))
        cognito = cloud.client("cognito-idp")
        for email, group in demo_users.USERS.values():
            ensure_user(cognito, endpoints.user_pool_id, email, demo_users.PASSWORD, group)
        unknown = sorted(set(functions or ()) - set(cloud.specs) - set(cloud.function_names.values()))
        if unknown:
            print(f"--logs: no function {', '.join(unknown)} (the template's: {', '.join(sorted(cloud.specs))})")
        print(banner(cloud, endpoints, time.monotonic() - started), flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping...", flush=True)
        cloud.stop()
        print(faults.report(), flush=True)
    return 0


def options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run template.yaml on this machine (no Docker, no AWS account)")
    parser.add_argument("--api-port", type=int, default=3000, help="the console and the API (0: any free port)")
    parser.add_argument("--aws-port", type=int, default=4566, help="the AWS endpoint (0: any free port)")
    parser.add_argument("--websocket-port", type=int, default=3001, help="the WebSocket API's stage (0: any free port)")
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
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument(
        "--logs",
        metavar="FUNCTION,...",
        help="show only these functions' invocations and output (logical ids), and the others' errors",
    )
    shown.add_argument("--quiet", action="store_true", help="show only the invocations that fail")
    return parser


def busy_port(api_port: int, aws_port: int, websocket_port: int = 0) -> str | None:
    """What to say when a port this cloud would listen on is in use (None when all are free)."""
    for port, option, serves in (
        (api_port, "--api-port", "the console and API"),
        (aws_port, "--aws-port", "AWS"),
        (websocket_port, "--websocket-port", "the WebSocket API"),
    ):
        if port and in_use(port):
            return (
                f"port {port} ({serves}) is in use: stop what holds it, or choose another port with {option} "
                f'(make run ARGS="{option} {port + 1}")'
            )
    return None


def in_use(port: int) -> bool:
    """Whether a server already listens on the port (binding it as the gateway and the endpoint will)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port left in TIME_WAIT is free to them too
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def banner(cloud: LocalCloud, endpoints: Endpoints, seconds: float) -> str:
    """What `make run` says once the stack is up: where things are, how to sign in, and what runs faster here."""
    email, _ = demo_users.USERS["customer"]
    # One line of JSON: a line break inside the quotes would reach Cognito as part of the body.
    sign_in = json.dumps(
        {
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": endpoints.user_pool_client_id,
            "AuthParameters": {"USERNAME": email, "PASSWORD": demo_users.PASSWORD},
        }
    )
    users = "".join(
        f"\n  demo {role:<12}{user} / {demo_users.PASSWORD}" for role, (user, _) in demo_users.USERS.items()
    )
    ws = websocket_line(endpoints)
    return f"""
local cloud ready in {seconds:.1f} s
  console          {endpoints.console}/   (the web console, at the API's root; the API is under /api/, as on CloudFront)
  API              {endpoints.api}
{ws}  AWS endpoint     {endpoints.aws}   (AWS_ENDPOINT_URL for boto3 and the aws CLI; any credentials){users}
  sign-up          any confirmation code works here (no e-mail is sent); the user joins the customers group
  user pool        {endpoints.user_pool_id}   client {endpoints.user_pool_client_id}
  carrier API key  {endpoints.carrier_api_key}   (header x-api-key)
  make token       prints the demo customer's ID token (ROLE=approver: the approver's)
  an ID token:     curl -s {endpoints.aws}/ -H 'Content-Type: application/x-amz-json-1.1' \\
                     -H 'X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth' \\
                     -d '{sign_in}'
                   then: curl {endpoints.api}/orders -H "Authorization: Bearer <AuthenticationResult.IdToken>"
{local_timings(cloud, endpoints)}
One line per function invocation below: what its caller saw, then its output (--logs A,B: only those; --quiet).
Ctrl-C stops everything.
"""


def websocket_line(endpoints: Endpoints) -> str:
    """The WebSocket API's stage, on a line of its own that starts with "WebSocket" (none without one)."""
    if not endpoints.websocket:
        return ""
    return (
        f"WebSocket        {endpoints.websocket}   (live order updates: connect with ?token=<ID token>; "
        "docs/live-updates.md)\n"
    )


def local_timings(cloud: LocalCloud, endpoints: Endpoints) -> str:
    """The waits that differ from a deploy, read from this cloud's own parameters and queue."""
    if cloud.resolver is None or cloud.stack is None:  # not started
        return ""
    approval = cloud.resolver.parameters.get("ApprovalTimeoutSeconds")
    default = cloud.stack.sam.get("Parameters", {}).get("ApprovalTimeoutSeconds", {}).get("Default")
    lines = ["how long things take here (docs/local-cloud.md):"]
    if approval is not None:
        lines.append(
            f"  approvals        expire after {approval} s (ApprovalTimeoutSeconds; the template's default: {default})"
        )
    queue = endpoints.outputs.get("FulfillmentQueueUrl")
    if queue:
        attributes: dict[str, Any] = cloud.client("sqs").get_queue_attributes(
            QueueUrl=queue, AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
        )["Attributes"]
        visibility = int(attributes["VisibilityTimeout"])
        receives = int(json.loads(attributes.get("RedrivePolicy", "{}")).get("maxReceiveCount", 0))
        if receives:
            lines.append(
                f"  undeliverable    fails after {receives} receives x {visibility} s of visibility = "
                f"{receives * visibility / 60:g} min, as deployed (WarehouseTimeoutSeconds sets the visibility)"
            )
    tables = cloud.stack.resources_of_type("AWS::DynamoDB::Table").values()
    if any(table["Properties"].get("TimeToLiveSpecification", {}).get("Enabled") for table in tables):
        lines.append(
            "  expired items    deleted within seconds of their TTL (expired carts too; DynamoDB may take days)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

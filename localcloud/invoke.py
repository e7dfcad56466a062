"""`make invoke`: one function invoked with an event file, as `sam local invoke` does it (which needs Docker).

python -m localcloud.invoke FUNCTION EVENT [--aws-endpoint URL | --fresh] [--samples] [--parameter Name=Value ...]

    make invoke FUNCTION=CatalogApiFunction EVENT=events/catalog_api.json

FUNCTION is the template's logical id; EVENT a file of JSON, sent as it is. The invocation goes to the local cloud
that `make run` runs when one answers at --aws-endpoint (http://127.0.0.1:4566 by default), through Lambda's Invoke
API; otherwise (or with --fresh) to a fresh local cloud started for it (localcloud.toml's parameters, the catalog
seeded, nothing kept) and stopped after. The function's logs go to stderr, as `make run` shows them, and its answer
to stdout. The exit status is 1 when the invocation is an error (a raised error, an import error, a time-out, a 5xx
answer: localcloud.function_logs), 0 for any other answer, a business outcome included.

The events in events/ name two sample orders; a fresh cloud is given the ones the event names first
(localcloud.samples), and so is a running one with --samples. A Cognito trigger's event names the deployed pool and
a user of it: it is sent as the local pool would send it (its own id, and the user with the event's e-mail, made if
missing), which is also the only pool the function's role may touch here; a Lambda@Edge event's S3 origin is
this stack's images bucket, as CloudFront sends it.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud import running
from localcloud.function_logs import Console, outcome_of
from localcloud.samples import SampleError, Samples, named_by
from localcloud.users import ensure_email_user

CONFIG = Path("localcloud.toml")
# Lambda's longest timeout: a synchronous Invoke may take that long to answer.
INVOKE_READ_TIMEOUT = 900


class InvokeError(Exception):
    """The invocation could not be made (no such function, a refusal): said in one line."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("function", metavar="FUNCTION", help="the function's logical id in template.yaml")
    parser.add_argument("event", metavar="EVENT", type=Path, help="a JSON file: the event (events/<function>.json)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--aws-endpoint", help=f"a running local cloud (default: {running.DEFAULT_AWS_ENDPOINT} if up)")
    where.add_argument("--fresh", action="store_true", help="a fresh local cloud, even when one is running")
    parser.add_argument("--samples", action="store_true", help="give a running cloud the sample orders events name")
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE", help="of a fresh cloud")
    args = parser.parse_args(argv)
    try:
        event = json.loads(args.event.read_text())
    except (OSError, ValueError) as exc:
        parser.error(f"{args.event}: {exc}")
    console = Console(colour=sys.stderr.isatty() and not os.environ.get("NO_COLOR"))
    try:
        if not args.fresh:
            endpoint = args.aws_endpoint or running.DEFAULT_AWS_ENDPOINT
            try:
                outputs = running.outputs(endpoint, timeout=10 if args.aws_endpoint else 1)
            except running.NotRunningError:
                if args.aws_endpoint:  # named: it should be there
                    raise
            else:
                return invoke_running(endpoint, outputs, args.function, event, console, samples=args.samples)
        return invoke_fresh(args.function, event, console, parameters(args.parameter))
    except (running.NotRunningError, InvokeError, SampleError) as exc:
        print(exc, file=sys.stderr)
        return 1


def parameters(overrides: list[str]) -> dict[str, str]:
    """localcloud.toml's [parameters] then the overrides, as `make run` takes them."""
    config = tomllib.loads(CONFIG.read_text()) if CONFIG.is_file() else {}
    values = {name: str(value) for name, value in config.get("parameters", {}).items()}
    values.update(dict(item.split("=", 1) for item in overrides))
    return values


def invoke_fresh(logical_id: str, event: Any, console: Console, parameters: dict[str, str]) -> int:
    """Start a local cloud for this one invocation (its own ports, nothing kept), invoke, stop it."""
    from localcloud.cloud import LocalCloud  # noqa: PLC0415  (moto and the SAM translator: only when one is started)

    def log(line: str) -> None:
        if not line.startswith("not emulated"):  # the cloud's inventory: nothing to do with this invocation
            print(line, file=sys.stderr)

    cloud = LocalCloud(api_port=0, aws_port=0, parameters=parameters, log=log)
    cloud.function_logs.console = Console.silent()  # this invocation is printed below; the samples' are not
    endpoints = cloud.start()
    try:
        if logical_id not in cloud.specs:
            raise InvokeError(
                f"no function {logical_id} in template.yaml (its functions: {', '.join(sorted(cloud.specs))})"
            )

        def answer(function: str, sample: dict[str, Any]) -> dict[str, Any]:
            answered: dict[str, Any] = json.loads(cloud.invoke(function, sample).payload)
            return answered

        samples = Samples(endpoints.outputs, cloud.client, answer)
        samples.prepare(named_by(event))
        samples.export_named_by(event)
        event = as_cognito_sends_it(event, cloud.client("cognito-idp"), endpoints.user_pool_id)
        event = as_cloudfront_sends_it(event, endpoints.outputs, endpoints.region)
        result = cloud.invoke(logical_id, event)
        for line in console.lines(cloud.specs[logical_id], result):
            print(line, file=sys.stderr)
        return answered_with(result.payload, result.errored)
    finally:
        cloud.stop()


def invoke_running(
    endpoint: str, outputs: dict[str, Any], logical_id: str, event: Any, console: Console, *, samples: bool
) -> int:
    """Invoke through the running cloud's Lambda API, with its log tail, as `aws lambda invoke --log-type Tail`."""
    client = running.client(endpoint, "lambda", read_timeout=INVOKE_READ_TIMEOUT, retries={"max_attempts": 0})
    names = function_names(client)
    physical_name(logical_id, names)  # a name that is no function's: said before anything is made

    def call(function: str, payload: Any) -> tuple[bytes, bool, str]:
        try:
            response = client.invoke(
                FunctionName=physical_name(function, names), Payload=json.dumps(payload).encode(), LogType="Tail"
            )
        except (ClientError, BotoCoreError) as exc:  # throttled, or Lambda failed on its side
            raise InvokeError(f"{function} was not invoked: {exc}") from exc
        logs = base64.b64decode(response.get("LogResult", "")).decode("utf-8", errors="replace")
        return response["Payload"].read(), "FunctionError" in response, logs

    def answer(function: str, sample: dict[str, Any]) -> dict[str, Any]:
        answered: dict[str, Any] = json.loads(call(function, sample)[0])
        return answered

    if samples:
        made = Samples(outputs, lambda service: running.client(endpoint, service), answer)
        made.prepare(named_by(event))
        made.export_named_by(event)
    pool_id = str(outputs.get("UserPoolId", ""))
    if pool_id:
        event = as_cognito_sends_it(event, running.client(endpoint, "cognito-idp"), pool_id)
    event = as_cloudfront_sends_it(event, outputs, running.client(endpoint, "s3").meta.region_name)
    started = time.monotonic()
    payload, errored, logs = call(logical_id, event)
    outcome = outcome_of(payload, errored)
    style = "error" if outcome.failed else "warning" if outcome.partial else "ok"
    took = (time.monotonic() - started) * 1000
    print(f"λ {logical_id}  {took:.1f} ms  {console.paint(style, outcome.text)}", file=sys.stderr)
    for line in console.render(logs):
        print(f"    {line}", file=sys.stderr)
    return answered_with(payload, errored)


def answered_with(payload: bytes, errored: bool) -> int:
    """Print the answer (indented when it is JSON) and say whether the invocation failed."""
    try:
        print(json.dumps(json.loads(payload), indent=2))
    except ValueError:
        print(payload.decode("utf-8", errors="replace"))
    return 1 if outcome_of(payload, errored).failed else 0


def function_names(client: Any) -> list[str]:
    return [
        function["FunctionName"]
        for page in client.get_paginator("list_functions").paginate()
        for function in page["Functions"]
    ]


def physical_name(logical_id: str, names: list[str]) -> str:
    """The running cloud's name for a logical id: the local cloud names a function <stack>-<logical id>."""
    found = [name for name in names if name == logical_id or name.endswith(f"-{logical_id}")]
    if len(found) != 1:
        how_many = "more than one" if found else "no"
        listed = ", ".join(sorted(names)) or "none"
        raise InvokeError(f"{how_many} function {logical_id} in the running cloud (its functions: {listed})")
    return found[0]


def as_cloudfront_sends_it(event: Any, outputs: dict[str, Any], region: str) -> Any:
    """A CloudFront (Lambda@Edge) event whose S3 origin is another stack's bucket, sent with this stack's images
    bucket: CloudFront sends a function the origin of its own distribution. Any other event as it is."""
    bucket = str(outputs.get("ImagesBucketName", ""))
    try:
        origin = event["Records"][0]["cf"]["request"]["origin"]["s3"]
    except (KeyError, IndexError, TypeError):
        return event
    domain = f"{bucket}.s3.{region}.amazonaws.com"
    if not bucket or origin.get("domainName") == domain:
        return event
    local = copy.deepcopy(event)
    request = local["Records"][0]["cf"]["request"]
    request["origin"]["s3"].update(domainName=domain, region=region)
    request.get("headers", {})["host"] = [{"key": "Host", "value": domain}]
    print(f"the event's S3 origin {origin.get('domainName')} is this stack's {domain}", file=sys.stderr)
    return local


def as_cognito_sends_it(event: Any, cognito: Any, pool_id: str) -> Any:
    """A Cognito trigger's event with the local pool's id and its user of the event's e-mail (made if missing): Cognito
    sends a trigger the ids of its own pool. Any other event as it is."""
    if not isinstance(event, dict) or "triggerSource" not in event or event.get("userPoolId") in (None, pool_id):
        return event
    attributes = event.get("request", {}).get("userAttributes", {})
    email = attributes.get("email")
    if not email:
        return event
    username, sub = ensure_email_user(cognito, pool_id, email)
    local = copy.deepcopy(event)
    local["userPoolId"], local["userName"] = pool_id, username
    local["request"]["userAttributes"]["sub"] = sub
    print(
        f"the event's user pool {event['userPoolId']} is this cloud's {pool_id}, and its user {email} is "
        f"{username} there",
        file=sys.stderr,
    )
    return local


if __name__ == "__main__":
    sys.exit(main())

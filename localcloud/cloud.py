"""The local cloud: template.yaml brought up on moto, with real function workers, a gateway and pollers.

cloud = LocalCloud(parameters={"ApprovalTimeoutSeconds": "120"})
endpoints = cloud.start()   # moto server, every resource, workers, the API on 127.0.0.1:3000, pollers
...
cloud.stop()                # everything down, no stray processes
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

from localcloud import moto_hooks, state
from localcloud.api_cache import ApiCache, flush_answer
from localcloud.aws_endpoint import FaultInjection, FaultyMotoServer
from localcloud.cognito_keys import PoolKeys
from localcloud.cognito_tokens import TokenVerifier
from localcloud.distribution import Distribution
from localcloud.doorbell import Doorbell, queue_name
from localcloud.edge import default_viewer_response_code, viewer_response_headers
from localcloud.edge_lambda import EdgeFunctions, origin_requests
from localcloud.event_sources import data_streams, post_confirmations, start_event_sources
from localcloud.faults import FaultPlan, Injection
from localcloud.firehose import DeliveryStream
from localcloud.function_logs import FunctionLogs
from localcloud.functions import FAKE_CREDENTIALS, Functions
from localcloud.gateway import Gateway
from localcloud.iam import Policies
from localcloud.kinesis_forwarding import KinesisStreamingDestination
from localcloud.meter import Meter
from localcloud.pollers import Pollers
from localcloud.provisioning import Provisioner
from localcloud.resolve import NO_VALUE, Resolver, Unresolvable, parameter_values
from localcloud.rest_api import routes_from_rest_api
from localcloud.table_exports import TableExports
from localcloud.template import ROOT, TEMPLATE, Stack, read_sam, to_cloudformation
from localcloud.throttling import Throttle, UsagePlan
from localcloud.websocket_api import IDLE_TIMEOUT_SECONDS, MAX_CONNECTION_SECONDS, WebSocketApi
from localcloud.websocket_api import definitions as websocket_definitions
from localcloud.workers import FunctionSpec, InvokeResult, ServiceError, TooManyRequestsError

__all__ = ["DEFAULT_ACCOUNT_CONCURRENCY", "FAKE_CREDENTIALS", "Endpoints", "LocalCloud"]

# Lambda's concurrency limit for the local account: what all functions share, reservations included. (AWS's default
# is 1,000; here every concurrent invocation is a process on one machine.)
DEFAULT_ACCOUNT_CONCURRENCY = 50
# Clients of the endpoint: no account-based DynamoDB endpoints (they would bypass endpoint_url's host).
_CLIENT_CONFIG = Config(account_id_endpoint_mode="disabled")


@dataclass
class Endpoints:
    """What a client of the local cloud needs to know."""

    aws: str
    api: str  # the REST API's stage, as the ApiUrl output names it (http://127.0.0.1:3000/api)
    region: str
    user_pool_id: str = ""
    user_pool_client_id: str = ""
    carrier_api_key: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    console: str = ""  # the console's origin, as the distribution serves it (the API is under its /api/)
    websocket: str = ""  # the WebSocket API's stage (ws://127.0.0.1:<port>/<stage>), when the template has one


class LocalCloud:
    """One stack of the template on the local endpoint, in an account of its own (localcloud.moto_hooks): two clouds
    in one process keep their data, their functions and their event sources apart."""

    def __init__(
        self,
        *,
        template: Path = TEMPLATE,
        parameters: Mapping[str, str] | None = None,
        stack_name: str = "shop",
        region: str = "us-east-1",
        aws_port: int = 0,
        api_port: int = 3000,
        websocket_port: int = 0,  # make run's: 3001
        account_concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY,
        faults: FaultPlan | None = None,
        poll_interval: float = 0.2,
        log: Callable[[str], None] = print,
        state_dir: Path | None = None,
        stage_throttling: bool = True,
    ) -> None:
        self.template = template
        # Where the data is kept across restarts (localcloud.state); None: the cloud starts empty and keeps nothing.
        self.state_dir = state_dir
        # The stage's MethodSettings throttle, as API Gateway's; off only to measure the gateway's own speed (bench).
        self.stage_throttling = stage_throttling
        self.restored: dict[str, int] | None = None  # what came back from state_dir at start (None: nothing kept)
        self.parameter_overrides = dict(parameters or {})
        self.stack_name = stack_name
        self.region = region
        self.aws_port = aws_port
        self.api_port = api_port
        self.websocket_port = websocket_port
        self.account_concurrency = account_concurrency
        # Faults on purpose (localcloud.faults): none unless rules are given here or through the control endpoint.
        self.faults = faults if faults is not None else FaultPlan()
        self.meter = Meter()  # the billable units served (localcloud.meter): what an order costs on AWS
        self.doorbell = Doorbell()  # the AWS endpoint wakes the poller of a queue or stream that has news
        self.poll_interval = poll_interval
        self.log = log
        if self.faults.listener is None:
            self.faults.listener = self._log_injection
        # Set by start(): the account (and its moto hooks), then each part as it starts.
        self._moto_account: moto_hooks.CloudInMoto | None = None
        self.account_id = ""
        self.iam = Policies("")  # the execution roles, and every call their functions made (localcloud.iam)
        self.function_logs = FunctionLogs("", region)
        self.pool_keys = PoolKeys("")
        self.stack: Stack | None = None
        self.resolver: Resolver | None = None
        self.provisioned: Provisioner | None = None
        self.functions: Functions | None = None
        self._moto: FaultyMotoServer | None = None
        self._distribution: Distribution | None = None
        self._pollers: Pollers | None = None
        self.websocket_apis: list[WebSocketApi] = []
        # The order history's streams (docs/data-lake.md): the tables' Kinesis destinations and Firehose deliveries.
        self.table_streams: list[KinesisStreamingDestination] = []
        self.deliveries: list[DeliveryStream] = []
        # API Gateway's WebSocket limits: 10 minutes idle, 2 hours in all (tests shorten them).
        self.websocket_limits = (IDLE_TIMEOUT_SECONDS, MAX_CONNECTION_SECONDS)
        self._state_keeper: state.StateKeeper | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="localcloud-"))  # removed by stop()
        self.endpoints: Endpoints | None = None
        self.aws_url = ""

    # ------------------------------------------------------------------------------------------------------
    # Lifecycle
    # ------------------------------------------------------------------------------------------------------
    def start(self) -> Endpoints:
        moto_account = self._moto_account = moto_hooks.claim()
        self.account_id = account = moto_account.account_id
        moto_hooks.reset_account(account)  # a cloud starts from an empty account, whatever ran in it before
        self.iam = Policies(account)
        self.function_logs = FunctionLogs(account, self.region)  # each invocation's output, as Lambda logs it
        self.pool_keys = PoolKeys(account)  # each user pool signs with a key of its own (localcloud.cognito_keys)
        aws_url = self._start_endpoint()
        moto_account.aws_url = aws_url
        moto_account.queue_has_news = lambda queue: self.doorbell.ring(queue_name(queue))
        self.stack = to_cloudformation(read_sam(self.template), base=self.template.parent, region=self.region)
        template = self.stack.cloudformation
        self.resolver = Resolver(
            parameters=parameter_values(template, self.parameter_overrides),
            mappings=template.get("Mappings", {}),
            condition_definitions=template.get("Conditions", {}),
            pseudo={
                "AWS::Region": self.region,
                "AWS::AccountId": account,
                "AWS::StackName": self.stack_name,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{account}:stack/{self.stack_name}/local",
            },
        )
        provisioned = self.provisioned = Provisioner(
            stack=self.stack,
            resolver=self.resolver,
            client=self.client,
            account_id=account,
            region=self.region,
            stack_name=self.stack_name,
            iam=self.iam,
            pool_keys=self.pool_keys,
            stage_throttling=self.stage_throttling,
            log=self.log,
        )
        provisioned.provision_all()
        kept = state.read(self.state_dir / state.STATE_FILE) if self.state_dir is not None else None
        if kept is not None:
            self.restored = state.restore(self, kept)
            counts = ", ".join(f"{count} {kind}" for kind, count in self.restored.items())
            self.log(f"restored from {self.state_dir}: {counts}")
        functions = self.functions = Functions(
            provisioned,
            aws_url=aws_url,
            account_concurrency=self.account_concurrency,
            faults=self.faults,
            meter=self.meter,
            function_logs=self.function_logs,
            sqs=self.client("sqs"),
            log=self.log,
        )
        functions.hook_into(moto_account)
        self.aws_endpoint.table_exports = TableExports(account, self.region).answer
        websocket_url = self._start_websocket_apis(provisioned, functions)
        console_url = self._start_gateway(provisioned, functions, websocket_url)
        moto_account.confirmations = post_confirmations(provisioned, functions)
        self.table_streams, self.deliveries = data_streams(provisioned, functions, self.aws_endpoint.dynamodb_lock)
        self._pollers = start_event_sources(
            provisioned,
            functions,
            sqs=self.client("sqs"),
            streams=self.client("dynamodbstreams"),
            faults=self.faults,
            doorbell=self.doorbell,
            dynamodb_lock=self.aws_endpoint.dynamodb_lock,
            poll_interval=self.poll_interval,
            also=[*self.table_streams, *self.deliveries],
        )
        self.endpoints = Endpoints(
            aws=aws_url,
            api=f"{console_url}/{provisioned.stage_name()}",
            console=console_url,
            region=self.region,
            user_pool_id=str(self.resolver.refs.get("UserPool", "")),
            user_pool_client_id=str(self.resolver.refs.get("UserPoolClient", "")),
            carrier_api_key=next(iter(provisioned.api_keys), ""),
            outputs=self._outputs(),
            websocket=websocket_url,
        )
        if kept is not None:
            finished = state.finish_open_orders(self)
            self.log(
                f"orders in flight when the cloud stopped: {finished['started']} started again, "
                f"{finished['settled']} settled (their executions did not survive)"
            )
        if self.state_dir is not None:
            self._state_keeper = state.StateKeeper(self, self.state_dir / state.STATE_FILE)
            self._state_keeper.start()
        return self.endpoints

    def stop(self) -> None:
        """Stop everything started, in reverse order; a failure stopping one part does not stop the rest."""
        if self._pollers is not None:  # the event sources stop first: the order history's last changes go to the lake
            self._pollers.stop()
        self.flush_order_history()
        if self._state_keeper is not None:  # while every part still holds its data
            try:
                self._state_keeper.stop()
            except Exception as exc:  # the last snapshot written stands
                self.log(f"while saving the state: {exc!r}")
            self._state_keeper = None
        for part in (self._pollers, self._distribution, *self.websocket_apis, self.functions, self._moto):
            if part is None:
                continue
            try:
                part.stop()
            except Exception as exc:  # shutting down: report it and go on stopping the rest
                self.log(f"while stopping {type(part).__name__}: {exc!r}")
        self._pollers = self._distribution = self.functions = self._moto = None
        self.websocket_apis = []
        self.table_streams, self.deliveries = [], []
        if self._moto_account is not None:  # the account's data goes, and moto's hooks with the last cloud
            moto_hooks.reset_account(self._moto_account.account_id)
            moto_hooks.release(self._moto_account)
            self._moto_account = None
        shutil.rmtree(self.workdir, ignore_errors=True)  # the cloud's own files (the pool's key set) go with it

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------------------
    # What the other parts and the tests read
    # ------------------------------------------------------------------------------------------------------
    @property
    def _provisioned(self) -> Provisioner:
        if self.provisioned is None:
            raise RuntimeError("the local cloud is not started")
        return self.provisioned

    @property
    def specs(self) -> dict[str, FunctionSpec]:
        return self._provisioned.specs

    @property
    def function_names(self) -> dict[str, str]:
        return self._provisioned.function_names

    @property
    def usage_plan(self) -> UsagePlan:
        return self._provisioned.usage_plan

    @property
    def stage_throttle(self) -> Throttle | None:
        return self._provisioned.stage_throttle

    def physical_names(self, resource_type: str) -> dict[str, str]:
        """Logical id -> the name (or id, or URL) its Ref gives, for this cloud's resources of a type."""
        return self.provisioned.physical_names(resource_type) if self.provisioned is not None else {}

    def invoke(self, logical_id: str, event: Any) -> InvokeResult:
        """Call a function by logical id (what the gateway and tests use)."""
        if self.functions is None:
            raise RuntimeError("the local cloud is not started")
        return self.functions.invoke(logical_id, event)

    def flush_order_history(self) -> int:
        """Every change of the tables so far forwarded to Kinesis, read by Firehose, transformed and written to the
        lake, whatever the buffers' age or size (make demo, the invariants, the tests, and the cloud's stop: AWS's
        streams are durable, the local ones live in this process). The other event sources go on as they were.
        Returns the objects written."""
        sources: list[KinesisStreamingDestination | DeliveryStream] = [*self.table_streams, *self.deliveries]
        written = 0
        for source in sources:  # the destinations first: what they forward, the deliveries read
            try:
                while source.poll_once():
                    pass
            except Exception as exc:  # reported, and the rest settled all the same
                self.log(f"while settling {source!r}: {exc!r}")
        for delivery in self.deliveries:
            try:
                written += delivery.flush()
            except Exception as exc:  # reported, and the rest flushed all the same
                self.log(f"while flushing {delivery!r}: {exc!r}")
        return written

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every event source is idle (tests, the demo)."""
        if self._pollers is not None:
            self._pollers.drain(timeout)

    @property
    def aws_endpoint(self) -> FaultInjection:
        """The AWS endpoint's own bookkeeping: its fault plan and its ledger of SQS messages."""
        if self._moto is None:
            raise RuntimeError("the local cloud is not started")
        return self._moto.application

    def client(self, service: str) -> Any:
        return self._session.client(  # type: ignore[call-overload]
            service, endpoint_url=self.aws_url, config=_CLIENT_CONFIG
        )

    # ------------------------------------------------------------------------------------------------------
    # The AWS endpoint: moto's server for this cloud's account, Step Functions really executing
    # ------------------------------------------------------------------------------------------------------
    def _start_endpoint(self) -> str:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call would drown the log
        # moto's interpreter logs every Fail state an execution reaches as an ERROR with its parse tree; an order
        # that ends FAILED is business, and the execution's history (and the cloud's log) says why.
        logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").setLevel(logging.CRITICAL)
        # The SAM translator warns that its feature toggles (read from AppConfig when SAM runs in AWS) have no
        # `normalized_open_api_version` entry: the offline transform runs with none, and nobody here can change that.
        logging.getLogger("samtranslator.feature_toggle.feature_toggle").setLevel(logging.ERROR)
        self._moto = FaultyMotoServer(
            faults=self.faults,
            names=lambda physical: self.provisioned.names_of(physical) if self.provisioned else (physical,),
            account_id=self.account_id,
            region=self.region,
            port=self.aws_port,
            # Served at {aws}/_localcloud/outputs once the stack is up (tools/redrive.py --local reads them).
            outputs=lambda: self.endpoints.outputs if self.endpoints is not None else {},
            policies=self.iam,
            pool_keys=self.pool_keys,
            meter=self.meter,
            doorbell=self.doorbell,
            # Every running function may wait in an Invoke and make a call of its own at once, besides the rest.
            threads=2 * self.account_concurrency + 32,
        )
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        url = self.aws_url = f"http://{host}:{port}"
        # Step Functions executes its state machines (moto's setting, the same for every account).
        requests.post(
            f"{url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=5
        ).raise_for_status()
        self._session = boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=self.region,
        )
        return url

    def _log_injection(self, injection: Injection) -> None:
        self.log(f"⚡ fault {injection.rule.label}  {injection.detail}".rstrip())

    # ------------------------------------------------------------------------------------------------------
    # The API and the console behind the distribution
    # ------------------------------------------------------------------------------------------------------
    def _start_gateway(self, provisioned: Provisioner, functions: Functions, websocket_url: str = "") -> str:
        routes = [route for body in provisioned.rest_apis.values() for route in routes_from_rest_api(body)]
        verifier = None
        pool_id = provisioned.resolver.refs.get("UserPool")
        if pool_id:
            jwks = self.workdir / "jwks.json"
            jwks.write_text(json.dumps(self.pool_keys.key_set(str(pool_id))))
            verifier = TokenVerifier(
                jwks_url=jwks.as_uri(),
                issuer=f"https://cognito-idp.{self.region}.amazonaws.com/{pool_id}",
                client_ids=provisioned.client_ids,
            )

        def invoke(logical_id: str, event: dict[str, Any]) -> tuple[int | None, Any]:
            try:
                result = self.invoke(logical_id, event)
            except (TooManyRequestsError, ServiceError):
                # API Gateway answers 500 when Lambda refuses a proxy integration's invoke, its 429 included.
                return 500, None
            if result.errored:
                return 502, None
            return None, json.loads(result.payload)

        static = ROOT / "web"
        # The console's settings, as a deployment would write them next to it (tools/publish_console.py); Cognito
        # through the distribution's same-origin proxy, so the console's Content-Security-Policy ('self') holds
        # locally too, and the WebSocket API's stage here instead of AWS's wss://<api id>.execute-api.<region>...
        console_config = {
            "apiBase": "/api",
            "region": self.region,
            "userPoolId": str(pool_id or ""),
            "userPoolClientId": str(provisioned.resolver.refs.get("UserPoolClient", "")),
            "cognitoEndpoint": "/cognito",
        }
        if websocket_url:
            console_config["webSocketUrl"] = websocket_url
        api = Gateway(
            routes=routes,
            stage=provisioned.stage_name(),
            invoke=invoke,
            verifier=verifier,
            api_keys=provisioned.api_keys,
            usage_plan=provisioned.usage_plan,
            stage_throttle=provisioned.stage_throttle,
            binary_media_types=provisioned.binary_media_types,
            account_id=self.account_id,
            cache=ApiCache(provisioned.cached_methods) if provisioned.cached_methods else None,
        )
        if api.cache is not None:
            stage_cache, rest_apis = api.cache, list(provisioned.physical_names("AWS::ApiGateway::RestApi").values())
            self.aws_endpoint.stage_cache = partial(flush_answer, stage_cache, rest_apis, provisioned.stage_name())
        code = default_viewer_response_code(provisioned.stack.cloudformation["Resources"], provisioned.edge_functions)
        # The security headers of the distribution's viewer-response function, run once by Node.js.
        headers = viewer_response_headers(code) if code is not None else {}
        if websocket_url:
            # The console's socket is AWS's host (wss://<api id>.execute-api.<region>.amazonaws.com) there and
            # ws://127.0.0.1:<port> here: the policy's connect-src allows the local origin when, and only when, one
            # of its sources allows AWS's (the exact host, or CSP's one leading wildcard), so that a policy which
            # would block the deployed socket blocks the local one too.
            aws_host = f"{self.websocket_apis[0].definition.api_id}.execute-api.{self.region}.amazonaws.com"
            local_origin = "/".join(websocket_url.split("/")[:3])

            def allows_aws(source: str) -> bool:
                scheme, _, host = source.partition("://")
                wildcard = host.startswith("*.") and aws_host.endswith(host[1:])
                return scheme == "wss" and (host == aws_host or wildcard)

            for name, value in headers.items():
                if name.lower() == "content-security-policy":
                    headers[name] = "; ".join(
                        f"{directive} {local_origin}"
                        if directive.split()[:1] == ["connect-src"] and any(map(allows_aws, directive.split()[1:]))
                        else directive
                        for directive in (part.strip() for part in value.split(";"))
                    )
        self._distribution = Distribution(
            api,
            edge=self._edge_functions(provisioned, functions),
            static_dir=static if static.is_dir() else None,
            extra_files={"/config.json": json.dumps(console_config).encode()},
            cognito_url=f"{self.aws_url}/" if pool_id else None,
            viewer_response_headers=headers,
            on_request=lambda record: self.meter.edge_request(reached_the_api=record["function"] is not None),
        )
        port = self._distribution.start("127.0.0.1", self.api_port)
        return f"http://127.0.0.1:{port}"

    def _edge_functions(self, provisioned: Provisioner, functions: Functions) -> EdgeFunctions | None:
        """The distribution's origin-request functions (Lambda@Edge), run in their workers; None without any."""
        behaviours = [
            behaviour
            for config in provisioned.records.get("AWS::CloudFront::Distribution", {}).values()
            for behaviour in origin_requests(config, self.region)
        ]
        if not behaviours:
            return None
        s3 = self.client("s3")

        def fetch_object(bucket: str, key: str) -> tuple[str, bytes] | None:
            try:
                found = s3.get_object(Bucket=bucket, Key=key)
            except s3.exceptions.NoSuchKey:
                return None
            return str(found.get("ContentType", "application/octet-stream")), bytes(found["Body"].read())

        distribution = next(iter(provisioned.physical_names("AWS::CloudFront::Distribution").values()), "")
        return EdgeFunctions(
            behaviours,
            invoke=functions.answer,
            fetch_object=fetch_object,
            distribution_domain=f"{distribution.lower()}.cloudfront.net",
            distribution_id=distribution,
        )

    def _start_websocket_apis(self, provisioned: Provisioner, functions: Functions) -> str:
        """Each WebSocket API's stage on a port of its own; its @connections API at the AWS endpoint. Returns the
        first one's URL ("" when the template has none)."""

        idle, longest = self.websocket_limits
        for definition in websocket_definitions(provisioned.records, provisioned.resolver.refs):
            api = WebSocketApi(
                definition,
                invoke=functions.answer,
                account_id=self.account_id,
                region=self.region,
                idle_timeout_seconds=idle,
                max_connection_seconds=longest,
                meter=self.meter.add,
            )
            api.start("127.0.0.1", self.websocket_port if not self.websocket_apis else 0)
            self.websocket_apis.append(api)
        if self.websocket_apis:
            self.aws_endpoint.connections = self.websocket_apis[0].manage  # the one the functions' SDK is sent to
        return self.websocket_apis[0].url if self.websocket_apis else ""

    def _outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for name, output in self._provisioned.stack.cloudformation.get("Outputs", {}).items():
            try:
                value = self._provisioned.resolver.resolve(output["Value"], f"Outputs/{name}")
            except Unresolvable:
                continue
            if value is not NO_VALUE:
                outputs[name] = value
        return outputs

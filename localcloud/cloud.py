"""The local cloud: template.yaml brought up on moto, with real function workers, a gateway and pollers.

cloud = LocalCloud(parameters={"ApprovalTimeoutSeconds": "120"})
endpoints = cloud.start()   # moto server, every resource, workers, the API on 127.0.0.1:3000, pollers
...
cloud.stop()                # everything down, no stray processes
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import requests
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.core.exceptions import JsonRESTError
from moto.sns.models import Subscription

from localcloud import pollers, state
from localcloud.async_invoke import AsyncInvoker, InvokeConfig
from localcloud.aws_endpoint import FaultInjection, FaultyMotoServer
from localcloud.cognito_keys import PoolKeys
from localcloud.doorbell import Doorbell, queue_name
from localcloud.edge import default_viewer_response_code, viewer_response_headers
from localcloud.faults import Call, FaultPlan, Injection
from localcloud.function_logs import FunctionLogs
from localcloud.gateway import Gateway, Quota, Throttle, TokenVerifier, UsagePlan, routes_from_rest_api
from localcloud.iam import Policies
from localcloud.meter import Meter
from localcloud.moto_fixes import fixed_moto
from localcloud.provision import create_table
from localcloud.resolve import NO_VALUE, Resolver, Unresolvable, parameter_values, references
from localcloud.template import ROOT, TEMPLATE, Stack, read_sam, to_cloudformation
from localcloud.triggers import PostConfirmation, post_confirmation
from localcloud.workers import FunctionSpec, Runtime, ServiceError, TooManyRequestsError, parse_function_name

ACCOUNT_ID = "123456789012"
# API Gateway's throttle for an account's APIs in a region, where nothing in the template sets one.
ACCOUNT_THROTTLE = Throttle(rate=10_000, burst=5_000)
DEFAULT_STAGE = "api"  # a template with no stage, or several: the routes are served under /api
# Lambda's concurrency limit for the local account: what all functions share, reservations included. (AWS's default
# is 1,000; here every concurrent invocation is a process on one machine.)
DEFAULT_ACCOUNT_CONCURRENCY = 50
# moto accepts any credentials; these only keep boto3 from looking for real ones.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}

# Resource types that exist only for AWS's own bookkeeping or monitoring: nothing to emulate, nothing lost.
NOT_EMULATED_QUIETLY = frozenset(
    {
        "AWS::Lambda::Permission",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Account",
        "AWS::ApiGateway::UsagePlanKey",
        "AWS::SQS::QueuePolicy",
        "AWS::S3::BucketPolicy",
    }
)


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


def creation_order(resources: Mapping[str, Any]) -> Iterator[str]:
    """Logical ids so that every resource comes after those it refers to (Ref, GetAtt, Sub, DependsOn)."""
    pending = {
        logical_id: {
            dependency
            for dependency in references(resource.get("Properties", {})) | set(_as_list(resource.get("DependsOn")))
            if dependency in resources and dependency != logical_id
        }
        for logical_id, resource in resources.items()
    }
    done: set[str] = set()
    while pending:
        ready = sorted(logical_id for logical_id, needs in pending.items() if needs <= done)
        if not ready:
            raise Unresolvable(f"Resources: circular references between {', '.join(sorted(pending))}")
        for logical_id in ready:
            del pending[logical_id]
            done.add(logical_id)
            yield logical_id


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class LocalCloud:
    def __init__(
        self,
        *,
        template: Path = TEMPLATE,
        parameters: Mapping[str, str] | None = None,
        stack_name: str = "shop",
        region: str = "us-east-1",
        aws_port: int = 0,
        api_port: int = 3000,
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
        self._state_keeper: state.StateKeeper | None = None
        self._runtimes_missing: set[str] = set()  # runtimes whose interpreter is not installed (said once)
        self.restored: dict[str, int] | None = None  # what came back from state_dir at start (None: nothing kept)
        self.account_id = ACCOUNT_ID
        self.parameter_overrides = dict(parameters or {})
        self.stack_name = stack_name
        self.region = region
        self.aws_port = aws_port
        self.api_port = api_port
        self.account_concurrency = account_concurrency
        # Faults on purpose (localcloud.faults): none unless rules are given here or through the control endpoint.
        self.faults = faults if faults is not None else FaultPlan()
        # The execution roles, and every call their functions made (localcloud.iam).
        self.iam = Policies(ACCOUNT_ID)
        self.function_logs = FunctionLogs(ACCOUNT_ID, region)  # each invocation's output, as Lambda logs it
        self.meter = Meter()  # the billable units served (localcloud.meter): what an order costs on AWS
        self.doorbell = Doorbell()  # the AWS endpoint wakes the poller of a queue or stream that has news
        self.pool_keys = PoolKeys(ACCOUNT_ID)  # each user pool signs with a key of its own (localcloud.cognito_keys)
        self._logical_ids: dict[str, str] = {}  # physical name (table, function, queue) -> logical id
        self.poll_interval = poll_interval
        self.log = log
        if self.faults.listener is None:
            self.faults.listener = self._log_injection
        self.stack: Stack | None = None
        self.resolver: Resolver | None = None
        self.specs: dict[str, Any] = {}  # logical id -> FunctionSpec
        self.function_names: dict[str, str] = {}  # logical id -> physical name
        self.skipped_types: set[str] = set()
        self._moto: FaultyMotoServer | None = None
        self._runtime: Any = None
        self._gateway: Any = None
        self._pollers: Any = None
        self._async_invoker: AsyncInvoker | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="localcloud-"))  # removed by stop()
        self._api_keys: dict[str, str] = {}  # key value -> key id
        self.usage_plan = UsagePlan(ACCOUNT_THROTTLE)  # the template's usage plan replaces it
        self.stage_throttle: Throttle | None = None  # the stage's MethodSettings for /* and *
        self._tables: dict[str, tuple[str, dict[str, Any]]] = {}
        self._client_ids: list[str] = []
        self._layer_dirs: dict[str, Path] = {}
        self._rest_apis: dict[str, Any] = {}
        self._binary_media_types: list[str] = []  # the REST APIs' (none in the shop's template)
        self._records: dict[str, dict[str, Any]] = {}  # type -> logical id -> resolved properties
        self._triggers: list[tuple[str, str, str]] = []  # (Cognito trigger, user pool id, function)
        self._edge_functions: dict[str, str] = {}  # CloudFront Function logical id -> its code
        self._lock = threading.Lock()
        self._patches = contextlib.ExitStack()  # moto's behaviour changed while the cloud runs (memory, triggers)
        self.endpoints: Endpoints | None = None
        self._saved_environment: dict[str, str | None] = {}

    # ------------------------------------------------------------------------------------------------------
    # Lifecycle
    # ------------------------------------------------------------------------------------------------------
    def start(self) -> Endpoints:
        self._patches.enter_context(fixed_moto())  # moto's memory stays flat however long the cloud runs
        aws_url = self._start_moto()
        self.stack = to_cloudformation(read_sam(self.template), base=self.template.parent)
        template = self.stack.cloudformation
        self.resolver = Resolver(
            parameters=parameter_values(template, self.parameter_overrides),
            mappings=template.get("Mappings", {}),
            condition_definitions=template.get("Conditions", {}),
            pseudo={
                "AWS::Region": self.region,
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::StackName": self.stack_name,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{self.stack_name}/local",
            },
        )
        resources = template["Resources"]
        for logical_id in creation_order(resources):
            resource = resources[logical_id]
            condition = resource.get("Condition")
            if condition and not self.resolver.condition(condition):
                continue
            self._provision(logical_id, resource)
        if self.skipped_types:
            self.log(
                "not emulated (they take effect only in a deployed stack: `make deploy`, then `make e2e`): "
                + ", ".join(sorted(self.skipped_types))
            )
        kept = state.read(self.state_dir / state.STATE_FILE) if self.state_dir is not None else None
        if kept is not None:
            self.restored = state.restore(self, kept)
            counts = ", ".join(f"{count} {kind}" for kind, count in self.restored.items())
            self.log(f"restored from {self.state_dir}: {counts}")
        self._start_runtime(aws_url)
        console_url = self._start_gateway()
        self._start_async_invocations()
        self._start_pollers()
        self.endpoints = Endpoints(
            aws=aws_url,
            api=f"{console_url}/{self._stage_name()}",
            console=console_url,
            region=self.region,
            user_pool_id=str(self.resolver.refs.get("UserPool", "")),
            user_pool_client_id=str(self.resolver.refs.get("UserPoolClient", "")),
            carrier_api_key=next(iter(self._api_keys), ""),
            outputs=self._outputs(),
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

    def physical_names(self, resource_type: str) -> dict[str, str]:
        """Logical id -> the name (or id, or URL) its Ref gives, for this cloud's resources of a type."""
        if self.stack is None:
            return {}
        made = self._resolved.refs
        return {lid: str(made[lid]) for lid in self.stack.resources_of_type(resource_type) if lid in made}

    def stop(self) -> None:
        """Stop everything started, in reverse order; a failure stopping one part does not stop the rest."""
        if self._state_keeper is not None:  # first, while every part still holds its data
            try:
                self._state_keeper.stop()
            except Exception as exc:  # the last snapshot written stands
                self.log(f"while saving the state: {exc!r}")
            self._state_keeper = None
        parts = (self._pollers, self._gateway, self._runtime)
        for part in parts:
            if part is None:
                continue
            try:
                part.close() if isinstance(part, Runtime) else part.stop()
            except Exception as exc:  # shutting down: report it and go on stopping the rest
                self.log(f"while stopping {type(part).__name__}: {exc!r}")
        self._patches.close()
        if self._moto is not None:
            self._moto.stop()
        self._pollers = self._gateway = self._runtime = self._moto = None
        shutil.rmtree(self.workdir, ignore_errors=True)  # the cloud's own files (the pool's key set) go with it
        LambdaFunction._invoke_lambda = _MOTO_INVOKE  # type: ignore[method-assign]
        LambdaBackend.send_sns_message = _MOTO_SEND_SNS_MESSAGE  # type: ignore[method-assign]
        LambdaBackend.invoke = _MOTO_LAMBDA_API_INVOKE  # type: ignore[method-assign]
        Subscription.publish = _MOTO_PUBLISH  # type: ignore[method-assign]
        self._async_invoker = None
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    @property
    def _resolved(self) -> Resolver:
        if self.resolver is None:
            raise RuntimeError("the local cloud is not started")
        return self.resolver

    @property
    def _stack(self) -> Stack:
        if self.stack is None:
            raise RuntimeError("the local cloud is not started")
        return self.stack

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------------------
    # The AWS API: moto's server, Step Functions really executing
    # ------------------------------------------------------------------------------------------------------
    def _start_moto(self) -> str:
        self._saved_environment = {
            name: os.environ.get(name) for name in ("AWS_ACCOUNT_ID_ENDPOINT_MODE", "AWS_DEFAULT_REGION", "MOTO_PORT")
        }
        os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
        os.environ.setdefault("AWS_DEFAULT_REGION", self.region)  # the SAM transform reads it
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call would drown the log
        # moto's interpreter logs every Fail state an execution reaches as an ERROR with its parse tree; an order
        # that ends FAILED is business, and the execution's history (and the cloud's log) says why.
        logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").setLevel(logging.CRITICAL)
        # The SAM translator warns that its feature toggles (read from AppConfig when SAM runs in AWS) have no
        # `normalized_open_api_version` entry: the offline transform runs with none, and nobody here can change that.
        logging.getLogger("samtranslator.feature_toggle.feature_toggle").setLevel(logging.ERROR)
        self._moto = FaultyMotoServer(
            faults=self.faults,
            names=self._names_of,
            account_id=ACCOUNT_ID,
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
        url = f"http://{host}:{port}"
        os.environ["MOTO_PORT"] = str(port)  # moto's Step Functions calls back into the server on this port
        # moto keeps its accounts in the process: a cloud starts from an empty account, whatever ran before it.
        requests.post(f"{url}/moto-api/reset", timeout=5).raise_for_status()
        requests.post(
            f"{url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=5
        ).raise_for_status()
        self._session = boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=self.region,
        )
        self.aws_url = url
        return url

    @property
    def aws_endpoint(self) -> FaultInjection:
        """The AWS endpoint's own bookkeeping: its fault plan and its ledger of SQS messages."""
        if self._moto is None:
            raise RuntimeError("the local cloud is not started")
        return self._moto.application

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self.aws_url)  # type: ignore[call-overload]

    # ------------------------------------------------------------------------------------------------------
    # Resources, in dependency order, through the AWS APIs
    # ------------------------------------------------------------------------------------------------------
    def _provision(self, logical_id: str, resource: dict[str, Any]) -> None:
        kind = resource["Type"]
        provision = _PROVISIONERS.get(kind)
        if provision is None:
            if kind not in NOT_EMULATED_QUIETLY:
                self.skipped_types.add(kind)
            self._resolved.refs[logical_id] = f"{self.stack_name}-{logical_id}"
            return
        raw = resource.get("Properties", {})
        properties = self._resolved.resolve(raw, f"Resources/{logical_id}/Properties") if raw else {}
        provision(self, logical_id, properties, raw)

    def _name(self, logical_id: str, explicit: Any = None, limit: int = 64) -> str:
        return str(explicit) if explicit else f"{self.stack_name}-{logical_id}"[:limit]

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{resource}"

    def _table(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("TableName"), 255)
        client = self.client("dynamodb")
        create_table(client, name, props)
        description = client.describe_table(TableName=name)["Table"]
        self._set(logical_id, name, Arn=description["TableArn"], StreamArn=description.get("LatestStreamArn", ""))
        self._tables[logical_id] = (name, props)

    def _queue(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("QueueName"), 80)
        attributes = {
            key: json.dumps(value) if isinstance(value, dict) else str(value)
            for key, value in props.items()
            if key
            in {"VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "RedrivePolicy", "RedriveAllowPolicy"}
        }
        url = self.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self._set(logical_id, url, Arn=self._arn("sqs", name), QueueName=name, QueueUrl=url)

    def _topic(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        arn = self.client("sns").create_topic(Name=self._name(logical_id, props.get("TopicName"), 256))["TopicArn"]
        self._set(logical_id, arn, TopicArn=arn, TopicName=arn.rsplit(":", 1)[1])

    def _subscription(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        attributes = {
            key: json.dumps(props[key]) if isinstance(props[key], dict) else str(props[key])
            for key in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy")
            if key in props
        }
        arn = self.client("sns").subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"], Attributes=attributes
        )["SubscriptionArn"]
        self._set(logical_id, arn)

    def _bucket(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("BucketName"), 63).lower()
        self.client("s3").create_bucket(Bucket=name)
        self._set(logical_id, name, Arn=f"arn:aws:s3:::{name}", DomainName=f"{name}.s3.amazonaws.com")

    def _role(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("RoleName"))
        role = self.client("iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(props.get("AssumeRolePolicyDocument", {}))
        )["Role"]
        self.iam.add_role(role["Arn"], props)  # what the endpoint authorizes its functions' calls against
        self._set(logical_id, name, Arn=role["Arn"], RoleId=role["RoleId"])

    def _user_pool(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        keep = {"Policies", "UsernameAttributes", "AutoVerifiedAttributes", "Schema", "MfaConfiguration"}
        pool = self.client("cognito-idp").create_user_pool(
            PoolName=self._name(logical_id, props.get("UserPoolName"), 128),
            **{key: value for key, value in props.items() if key in keep},
        )["UserPool"]
        self.pool_keys.issue(self.region, pool["Id"])  # its own signing key, not moto's bundled one
        for trigger, function in props.get("LambdaConfig", {}).items():
            self._triggers.append((trigger, pool["Id"], str(function)))
        self._set(
            logical_id,
            pool["Id"],
            Arn=pool["Arn"],
            ProviderName=f"cognito-idp.{self.region}.amazonaws.com/{pool['Id']}",
            UserPoolId=pool["Id"],
        )

    def _user_pool_client(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        client = self.client("cognito-idp").create_user_pool_client(
            UserPoolId=props["UserPoolId"],
            ClientName=props.get("ClientName", logical_id),
            GenerateSecret=bool(props.get("GenerateSecret", False)),
            ExplicitAuthFlows=props.get("ExplicitAuthFlows", []),
        )["UserPoolClient"]
        self._set(logical_id, client["ClientId"], ClientId=client["ClientId"])
        self._client_ids.append(client["ClientId"])

    def _group(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        self.client("cognito-idp").create_group(
            UserPoolId=props["UserPoolId"], GroupName=props["GroupName"], Precedence=int(props.get("Precedence", 0))
        )
        self._set(logical_id, props["GroupName"])

    def _identity_pool(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        pool = self.client("cognito-identity").create_identity_pool(
            IdentityPoolName=self._name(logical_id, props.get("IdentityPoolName"), 128).replace("-", "_"),
            AllowUnauthenticatedIdentities=bool(props.get("AllowUnauthenticatedIdentities", False)),
        )
        self._set(logical_id, pool["IdentityPoolId"], Name=pool["IdentityPoolName"])

    def _layer(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        self._layer_dirs[logical_id] = self._stack.code_paths[logical_id]
        self._set(logical_id, self._arn("lambda", f"layer:{self._name(logical_id)}:1"))

    def _function(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("FunctionName"))
        layer_ids = [ref["Ref"] for ref in _as_list(raw.get("Layers")) if isinstance(ref, dict) and "Ref" in ref]
        variables = {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}
        spec = FunctionSpec(
            logical_id=logical_id,
            name=name,
            code_dir=self._stack.code_paths[logical_id],
            handler=props.get("Handler", "app.lambda_handler"),
            layer_dirs=tuple(self._layer_dirs[layer] for layer in layer_ids if layer in self._layer_dirs),
            environment=variables,
            timeout_seconds=float(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            reserved_concurrency=(
                int(props["ReservedConcurrentExecutions"]) if "ReservedConcurrentExecutions" in props else None
            ),
            log_group=props.get("LoggingConfig", {}).get("LogGroup"),
            credentials=self.iam.credentials_for(str(props["Role"]), name),
            python=self._interpreter(str(props.get("Runtime", ""))),
        )
        self.specs[logical_id] = spec
        self.function_names[logical_id] = name
        # A record in moto's Lambda, so that Step Functions tasks and SNS subscriptions find the function.
        self.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=props["Role"],
            Handler=spec.handler,
            Code={"ZipFile": _EMPTY_ZIP},
            Timeout=int(spec.timeout_seconds),
            MemorySize=spec.memory_mb,
            Environment={"Variables": variables},
        )
        arn = self._arn("lambda", f"function:{name}")
        self._set(logical_id, name, Arn=arn)

    def _log_group(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("LogGroupName"), 512)
        client = self.client("logs")
        client.create_log_group(logGroupName=name)
        if "RetentionInDays" in props:
            client.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        self._set(logical_id, name, Arn=self._arn("logs", f"log-group:{name}:*"))

    def _alarm(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("AlarmName"), 255)
        keep = {
            "AlarmDescription",
            "Namespace",
            "MetricName",
            "Dimensions",
            "Statistic",
            "Period",
            "EvaluationPeriods",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
            "AlarmActions",
            "Metrics",
        }
        arguments = {key: value for key, value in props.items() if key in keep}
        self.client("cloudwatch").put_metric_alarm(AlarmName=name, **arguments)
        self._set(logical_id, name, Arn=self._arn("cloudwatch", f"alarm:{name}"))

    def _dashboard(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("DashboardName"), 255)
        self.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=props["DashboardBody"])
        self._set(logical_id, name)

    def _version(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        published = self.client("lambda").publish_version(FunctionName=str(props["FunctionName"]))
        self._set(logical_id, published["FunctionArn"], Version=published["Version"])

    def _alias(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        alias = self.client("lambda").create_alias(
            FunctionName=str(props["FunctionName"]), Name=props["Name"], FunctionVersion=str(props["FunctionVersion"])
        )
        self._set(logical_id, alias["AliasArn"])

    def _state_machine(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        definition = self._stack.code_paths[logical_id].read_text()
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        arn = self.client("stepfunctions").create_state_machine(
            name=self._name(logical_id, props.get("StateMachineName"), 80),
            definition=definition,
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        self._set(logical_id, arn, Arn=arn, Name=arn.rsplit(":", 1)[1])

    def _api_key(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        value = f"local-{logical_id.lower()}-key"
        self._api_keys[value] = logical_id
        self._set(logical_id, logical_id)

    def _plan(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        throttle, quota = props.get("Throttle", {}), props.get("Quota")
        self.usage_plan = UsagePlan(
            Throttle(
                float(throttle.get("RateLimit", ACCOUNT_THROTTLE.rate)),
                int(throttle.get("BurstLimit", ACCOUNT_THROTTLE.burst)),
            ),
            Quota(int(quota["Limit"]), str(quota["Period"])) if quota else None,
        )
        self._set(logical_id, logical_id)

    def _stage(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        """The stage's default method throttling, from its MethodSettings for every resource and method."""
        for setting in props.get("MethodSettings", []):
            if (setting.get("ResourcePath"), setting.get("HttpMethod")) != ("/*", "*"):
                continue
            if self.stage_throttling and ("ThrottlingRateLimit" in setting or "ThrottlingBurstLimit" in setting):
                self.stage_throttle = Throttle(
                    float(setting.get("ThrottlingRateLimit", ACCOUNT_THROTTLE.rate)),
                    int(setting.get("ThrottlingBurstLimit", ACCOUNT_THROTTLE.burst)),
                )
        self._set(logical_id, str(props.get("StageName", logical_id)))

    def _interpreter(self, runtime: str) -> str:
        """The Python a function runs on: `make install`'s .venv/lambda-<runtime> when it exists (Lambda's version,
        with the layer's dependencies), otherwise this one, said once at start."""
        own = ROOT / ".venv" / f"lambda-{runtime}" / "bin" / "python"
        if own.is_file():
            return str(own)
        if runtime not in self._runtimes_missing:
            self._runtimes_missing.add(runtime)
            here = ".".join(map(str, sys.version_info[:2]))
            self.log(
                f"functions of runtime {runtime} run on Python {here} here (no {own.parent.parent}: make install "
                f"makes it when a {runtime} interpreter is found)"
            )
        return sys.executable

    def _stage_name(self) -> str:
        """The REST API's stage: the only path prefix API Gateway serves the routes under."""
        stages = self._stack.resources_of_type("AWS::ApiGateway::Stage").values()
        names = {str(stage["Properties"]["StageName"]) for stage in stages}
        return names.pop() if len(names) == 1 else DEFAULT_STAGE

    def _rest_api(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        self._rest_apis[logical_id] = raw.get("Body", {})
        self._binary_media_types += [
            *props.get("BinaryMediaTypes", []),
            *raw.get("Body", {}).get("x-amazon-apigateway-binary-media-types", []),
        ]
        self._set(logical_id, "local", RootResourceId="root")

    def _keep(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        """Event source mappings, schedules, invoke configs: read later by the pollers."""
        kind = self._stack.cloudformation["Resources"][logical_id]["Type"]
        self._records.setdefault(kind, {})[logical_id] = props
        self._set(logical_id, f"{self.stack_name}-{logical_id}")

    def _set(self, logical_id: str, ref: Any, **attributes: Any) -> None:
        self._resolved.refs[logical_id] = ref
        self._resolved.attributes[logical_id] = attributes
        for name in (ref, attributes.get("QueueName"), attributes.get("Arn")):
            if isinstance(name, str) and name:
                self._logical_ids[name] = logical_id

    def _names_of(self, physical: str) -> tuple[str, ...]:
        """Every name a fault rule may use for a resource: its physical name (or ARN) and its logical id."""
        logical_id = self._logical_ids.get(physical)
        return (physical, logical_id) if logical_id else (physical,)

    # ------------------------------------------------------------------------------------------------------
    # Functions, the gateway and the event sources
    # ------------------------------------------------------------------------------------------------------
    def _start_runtime(self, aws_url: str) -> None:
        base = {
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            **FAKE_CREDENTIALS,
        }
        self._runtime = Runtime(
            self.specs.values(),
            base_environment=base,
            account_concurrency=self.account_concurrency,
            faults=self.faults,
            on_invocation=self._log_invocation,
        )
        runtime = self._runtime

        def invoke_in_worker(function: Any, event: Any = None) -> tuple[str, bool, str]:
            payload = json.loads(event) if isinstance(event, str | bytes) else (event or {})
            # Refusals become the Invoke API's error responses: boto3 callers get their ClientError, Step Functions
            # its Lambda.TooManyRequestsException / Lambda.ServiceException to retry or catch.
            try:
                result = runtime.invoke(function.function_name, payload)
            except TooManyRequestsError as throttled:
                raise _LambdaTooManyRequests(throttled) from throttled
            except ServiceError as failure:
                raise _LambdaServiceException(failure) from failure
            return result.payload.decode(), result.errored, result.logs

        # moto's Lambda would run the code in Docker: Step Functions tasks and SNS deliveries come here instead.
        LambdaFunction._invoke_lambda = invoke_in_worker  # type: ignore[method-assign,assignment]

    def _log_injection(self, injection: Injection) -> None:
        self.log(f"⚡ fault {injection.rule.label}  {injection.detail}".rstrip())

    def _log_invocation(self, spec: Any, result: Any) -> None:
        self.meter.invocation(spec.memory_mb, result.duration_ms, len(result.logs.encode()))
        try:
            self.function_logs.record(spec.log_group or f"/aws/lambda/{spec.name}", spec, result)
        except Exception as exc:  # the invocation happened all the same; say why its logs are missing
            self.log(f"logs of {spec.logical_id} not written to CloudWatch Logs: {exc!r}")
        # What the caller saw, then what the handler printed under its request id (localcloud.function_logs).
        self.function_logs.console.emit(spec, result, self.log)

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Call a function by logical id (what the gateway and tests use)."""
        return self._runtime.invoke(self.function_names[logical_id], event)

    def _start_gateway(self) -> str:
        routes = [route for body in self._rest_apis.values() for route in routes_from_rest_api(body)]
        verifier = None
        pool_id = self._resolved.refs.get("UserPool")
        if pool_id:
            jwks = self.workdir / "jwks.json"
            jwks.write_text(json.dumps(self.pool_keys.key_set(str(pool_id))))
            verifier = TokenVerifier(
                jwks_url=jwks.as_uri(),
                issuer=f"https://cognito-idp.{self.region}.amazonaws.com/{pool_id}",
                client_ids=self._client_ids,
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
        # The console's settings, as a deployment would write them next to it; Cognito through the gateway's
        # same-origin proxy, so the console's Content-Security-Policy ('self') holds locally too.
        console_config = {
            "apiBase": "/api",
            "region": self.region,
            "userPoolId": str(pool_id or ""),
            "userPoolClientId": str(self._resolved.refs.get("UserPoolClient", "")),
            "cognitoEndpoint": "/cognito",
        }
        self._gateway = Gateway(
            routes=routes,
            stage=self._stage_name(),
            invoke=invoke,
            verifier=verifier,
            api_keys=self._api_keys,
            usage_plan=self.usage_plan,
            stage_throttle=self.stage_throttle,
            static_dir=static if static.is_dir() else None,
            extra_files={"/config.json": json.dumps(console_config).encode()},
            cognito_url=f"{self.aws_url}/" if pool_id else None,
            viewer_response_headers=self._viewer_response_headers(),
            on_request=lambda record: self.meter.edge_request(reached_the_api=record["function"] is not None),
            binary_media_types=self._binary_media_types,
        )
        port = self._gateway.start("127.0.0.1", self.api_port)
        return f"http://127.0.0.1:{port}"

    def _viewer_response_headers(self) -> dict[str, str]:
        """The security headers of the distribution's viewer-response function, run once by Node.js."""
        code = default_viewer_response_code(self._stack.cloudformation["Resources"], self._edge_functions)
        return viewer_response_headers(code) if code is not None else {}

    def _edge_function(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        """A CloudFront Function: not served locally as such, but its code is run for the gateway's headers."""
        self._edge_functions[logical_id] = str(raw.get("FunctionCode", ""))
        arn = f"arn:aws:cloudfront::{ACCOUNT_ID}:function/{self._name(logical_id)}"
        self._set(logical_id, arn, FunctionARN=arn, Stage="LIVE")

    def _start_async_invocations(self) -> None:
        """Lambda's asynchronous invocation (localcloud.async_invoke) with the functions' EventInvokeConfigs, and
        what reaches it besides schedules: SNS's deliveries to subscribed functions, and Invoke with
        InvocationType Event."""
        queues_by_arn = {
            attributes.get("Arn"): self._resolved.refs[logical_id]
            for logical_id, attributes in self._resolved.attributes.items()
            if "QueueUrl" in attributes
        }
        defaults = InvokeConfig()
        configs: dict[tuple[str, str], InvokeConfig] = {}
        for logical_id, props in self._records.get("AWS::Lambda::EventInvokeConfig", {}).items():
            name, _ = parse_function_name(str(props["FunctionName"]))
            destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if destination and destination not in queues_by_arn:
                self.log(f"{logical_id}: on-failure destination {destination} is not emulated (SQS queues only)")
            configs[(name, str(props.get("Qualifier", "$LATEST")))] = InvokeConfig(
                maximum_retry_attempts=int(props.get("MaximumRetryAttempts", defaults.maximum_retry_attempts)),
                maximum_event_age_seconds=float(
                    props.get("MaximumEventAgeInSeconds", defaults.maximum_event_age_seconds)
                ),
                on_failure_queue_url=queues_by_arn.get(destination) if destination else None,
            )
        invoker = self._async_invoker = AsyncInvoker(
            invoke=pollers.invoke_with(self._runtime),
            sqs=self.client("sqs"),
            region=self.region,
            account_id=ACCOUNT_ID,
            configs=configs,
            faults=self.faults,
            function_names=lambda target: (target, *self._names_of(parse_function_name(target)[0])),
        )

        # moto's SNS calls LambdaBackend.send_sns_message synchronously, with a made-up event (topic "EXAMPLE",
        # attributes "Test"), after Subscription.publish has applied the subscription's filter policy. Lambda gets
        # the notification asynchronously and as SNS sent it: publish is wrapped only to note which notification it
        # is delivering (on this thread), and send_sns_message hands the real event to the asynchronous invoker.
        # moto looks both up on its classes, so they are swapped there (process-wide) and restored in stop(), as
        # _invoke_lambda is.
        delivering = threading.local()

        def publish(subscription: Any, *args: Any, **kwargs: Any) -> None:
            delivering.notification = (subscription, _PUBLISH_PARAMETERS.bind(subscription, *args, **kwargs).arguments)
            try:
                _MOTO_PUBLISH(subscription, *args, **kwargs)
            finally:
                delivering.notification = None
            if subscription.protocol == "sqs":  # moto put the message on the queue itself, past the endpoint
                self.doorbell.ring(queue_name(subscription.endpoint))

        def send_sns_message(
            backend: Any, function_name: str, message: str, subject: str | None = None, qualifier: str | None = None
        ) -> None:
            notification = getattr(delivering, "notification", None)
            if notification is None:  # not a topic's delivery: nothing to say about it beyond what moto says
                _MOTO_SEND_SNS_MESSAGE(backend, function_name, message, subject, qualifier)
                return
            subscription, published = notification
            event = pollers.sns_event(
                subscription_arn=subscription.arn,
                topic_arn=subscription.topic.arn,
                message_id=published["message_id"],
                message=message,
                subject=subject,
                attributes=published.get("message_attributes") or {},
            )
            invoker.submit(subscription.endpoint, event, source=self._names_of(subscription.topic.arn))

        # Invoke with InvocationType Event is accepted at once (202) and queued, as Lambda does; moto would run it
        # synchronously. LambdaBackend.invoke is where the qualifier (an alias, whose EventInvokeConfig applies) is
        # still known.
        def invoke_api(  # noqa: PLR0917 (moto's own signature)
            backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
        ) -> Any:
            if headers.get("X-Amz-Invocation-Type") != "Event":
                return _MOTO_LAMBDA_API_INVOKE(backend, function_name, qualifier, body, headers, response_headers)
            backend.get_function(function_name, qualifier)  # moto's ResourceNotFoundException when there is none
            event = json.loads(body) if body else {}
            invoker.submit(function_name if qualifier is None else f"{function_name}:{qualifier}", event)
            response_headers["Content-Length"] = "0"
            return b""

        Subscription.publish = publish  # type: ignore[method-assign,assignment]
        LambdaBackend.send_sns_message = send_sns_message  # type: ignore[method-assign,assignment]
        LambdaBackend.invoke = invoke_api  # type: ignore[method-assign,assignment]

    def _start_pollers(self) -> None:
        if self._async_invoker is None:
            raise RuntimeError("asynchronous invocation must be running before the event sources")
        invoker = self._async_invoker
        invoke = pollers.invoke_with(self._runtime)

        def function_names(target: str) -> tuple[str, ...]:
            return (target, *self._names_of(parse_function_name(target)[0]))

        items: list[Any] = []
        sqs, streams = self.client("sqs"), self.client("dynamodbstreams")
        queues_by_arn = {
            attributes.get("Arn"): self._resolved.refs[logical_id]
            for logical_id, attributes in self._resolved.attributes.items()
            if "QueueUrl" in attributes
        }
        # A stream is known by its table in fault rules: the table's logical id and name.
        tables_by_stream = {
            attributes["StreamArn"]: (logical_id, str(self._resolved.refs[logical_id]))
            for logical_id, attributes in self._resolved.attributes.items()
            if attributes.get("StreamArn")
        }
        for mapping in self._records.get("AWS::Lambda::EventSourceMapping", {}).values():
            source = str(mapping["EventSourceArn"])
            filters = [entry["Pattern"] for entry in mapping.get("FilterCriteria", {}).get("Filters", [])]
            report = "ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", [])
            function = str(mapping["FunctionName"])
            if source.startswith("arn:aws:sqs:"):
                queue_url = queues_by_arn[source]
                queue_names = (*self._names_of(source), queue_url, source.rsplit(":", 1)[1])
                items.append(
                    pollers.SqsPoller(
                        function=function,
                        queue_url=queue_url,
                        queue_arn=source,
                        batch_size=int(mapping.get("BatchSize", 10)),
                        batching_window_seconds=float(mapping.get("MaximumBatchingWindowInSeconds", 0)),
                        report_batch_item_failures=report,
                        invoke=invoke,
                        sqs=sqs,
                        filters=filters,
                        faults=self.faults,
                        known_as=Call(function=function_names(function), source=queue_names),
                    )
                )
            else:
                on_failure = mapping.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                stream_names = (source, *tables_by_stream.get(source, ()))
                items.append(
                    pollers.StreamPoller(
                        function=function,
                        stream_arn=source,
                        starting_position=str(mapping.get("StartingPosition", "LATEST")),
                        batch_size=int(mapping.get("BatchSize", 100)),
                        batching_window_seconds=float(mapping.get("MaximumBatchingWindowInSeconds", 0)),
                        filters=filters,
                        bisect_on_error=bool(mapping.get("BisectBatchOnFunctionError", False)),
                        maximum_retry_attempts=int(mapping.get("MaximumRetryAttempts", -1)),
                        report_batch_item_failures=report,
                        on_failure_queue_url=queues_by_arn.get(on_failure) if on_failure else None,
                        invoke=invoke,
                        streams=streams,
                        sqs=sqs,
                        faults=self.faults,
                        known_as=Call(function=function_names(function), source=stream_names),
                    )
                )
        for logical_id, rule in self._records.get("AWS::Events::Rule", {}).items():
            expression = rule.get("ScheduleExpression")
            rule_arn = self._arn("events", f"rule/{self.stack_name}-{logical_id}")
            for target in rule.get("Targets", []) if expression else []:
                items.append(
                    pollers.Schedule(
                        function=str(target["Arn"]),
                        expression=str(expression),
                        # EventBridge invokes a function asynchronously: Lambda retries it, and reports what fails.
                        invoke=partial(invoker.submit, source=(rule_arn, logical_id)),
                        rule_arn=rule_arn,
                    )
                )
        for name, props in self._tables.values():
            ttl = props.get("TimeToLiveSpecification", {})
            if ttl.get("Enabled"):
                items.append(
                    pollers.TtlReaper(
                        table_name=name,
                        ttl_attribute=ttl["AttributeName"],
                        account_id=ACCOUNT_ID,
                        region=self.region,
                        backend_lock=self.aws_endpoint.dynamodb_lock,
                    )
                )
        confirmations: list[PostConfirmation] = []
        for trigger, pool_id, function in self._triggers:
            if trigger == "PostConfirmation":
                confirmations.append(PostConfirmation(user_pool_id=pool_id, function=function, region=self.region))
            else:
                self.log(f"Cognito trigger {trigger} is not emulated")
        runtime = self._runtime

        def invoke_trigger(function: str, event: dict[str, Any]) -> tuple[bool, bytes]:
            result = runtime.invoke(function, event)  # Cognito calls its triggers synchronously
            return result.errored, result.payload

        self._patches.enter_context(post_confirmation(confirmations, invoke_trigger))
        items.append(invoker)
        self._pollers = pollers.Pollers(items, interval_seconds=self.poll_interval, doorbell=self.doorbell)
        self._pollers.start()

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every event source is idle (tests, the demo)."""
        self._pollers.drain(timeout)

    def _outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for name, output in self._stack.cloudformation.get("Outputs", {}).items():
            try:
                value = self._resolved.resolve(output["Value"], f"Outputs/{name}")
            except Unresolvable:
                continue
            if value is not NO_VALUE:
                outputs[name] = value
        return outputs


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "Code runs in localcloud's workers, not from this archive.\n")
    return buffer.getvalue()


_EMPTY_ZIP = _empty_zip()
_MOTO_INVOKE = LambdaFunction._invoke_lambda
_MOTO_SEND_SNS_MESSAGE = LambdaBackend.send_sns_message
_MOTO_LAMBDA_API_INVOKE = LambdaBackend.invoke
_MOTO_PUBLISH = Subscription.publish
_PUBLISH_PARAMETERS = inspect.signature(Subscription.publish)


class _LambdaTooManyRequests(JsonRESTError):
    """Lambda's Invoke refused for want of concurrency: HTTP 429 with the throttle's Reason, as Lambda sends it."""

    code = 429

    def __init__(self, throttled: TooManyRequestsError) -> None:
        super().__init__("TooManyRequestsException", throttled.message)
        self.description = json.dumps({"Reason": throttled.reason, "Type": "User", "message": throttled.message})


class _LambdaServiceException(JsonRESTError):
    """Lambda's Invoke failed on Lambda's side: HTTP 500 ServiceException."""

    code = 500

    def __init__(self, failure: ServiceError) -> None:
        super().__init__("ServiceException", failure.message)
        self.description = json.dumps({"Type": "Service", "Message": failure.message})


_PROVISIONERS: dict[str, Callable[[LocalCloud, str, dict[str, Any], dict[str, Any]], None]] = {
    "AWS::DynamoDB::Table": LocalCloud._table,
    "AWS::SQS::Queue": LocalCloud._queue,
    "AWS::SNS::Topic": LocalCloud._topic,
    "AWS::SNS::Subscription": LocalCloud._subscription,
    "AWS::S3::Bucket": LocalCloud._bucket,
    "AWS::IAM::Role": LocalCloud._role,
    "AWS::Cognito::UserPool": LocalCloud._user_pool,
    "AWS::Cognito::UserPoolClient": LocalCloud._user_pool_client,
    "AWS::Cognito::UserPoolGroup": LocalCloud._group,
    "AWS::Cognito::IdentityPool": LocalCloud._identity_pool,
    "AWS::Lambda::LayerVersion": LocalCloud._layer,
    "AWS::Lambda::Function": LocalCloud._function,
    "AWS::Lambda::Version": LocalCloud._version,
    "AWS::Logs::LogGroup": LocalCloud._log_group,
    "AWS::CloudWatch::Alarm": LocalCloud._alarm,
    "AWS::CloudWatch::Dashboard": LocalCloud._dashboard,
    "AWS::Lambda::Alias": LocalCloud._alias,
    "AWS::StepFunctions::StateMachine": LocalCloud._state_machine,
    "AWS::ApiGateway::ApiKey": LocalCloud._api_key,
    "AWS::ApiGateway::UsagePlan": LocalCloud._plan,
    "AWS::ApiGateway::Stage": LocalCloud._stage,
    "AWS::ApiGateway::RestApi": LocalCloud._rest_api,
    "AWS::CloudFront::Function": LocalCloud._edge_function,
    "AWS::Lambda::EventSourceMapping": LocalCloud._keep,
    "AWS::Events::Rule": LocalCloud._keep,
    "AWS::Lambda::EventInvokeConfig": LocalCloud._keep,
}

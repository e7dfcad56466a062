"""Provisioning: each resource of the transformed template made, in dependency order, through the AWS APIs of the
local cloud's endpoint (moto), with what the other parts need kept from it.

The functions are recorded as FunctionSpecs for the workers (localcloud.workers) and in moto's Lambda, so that Step
Functions' tasks and SNS subscriptions find them; event source mappings, schedules and invoke configs are kept for
the event sources (localcloud.event_sources); the REST API, its stage, keys and usage plan for the gateway; the roles
for the IAM check (localcloud.iam). Types with nothing to emulate are listed in NOT_EMULATED_QUIETLY; any other
type not provisioned here is named once at start (`skipped_types`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from localcloud.api_cache import CachedMethod, cached_methods
from localcloud.cognito_keys import PoolKeys
from localcloud.iam import Policies
from localcloud.provision import create_table
from localcloud.resolve import Resolver, Unresolvable, references
from localcloud.template import ROOT, Stack
from localcloud.throttling import Quota, Throttle, UsagePlan
from localcloud.workers import FunctionSpec

# API Gateway's throttle for an account's APIs in a region, where nothing in the template sets one.
ACCOUNT_THROTTLE = Throttle(rate=10_000, burst=5_000)
DEFAULT_STAGE = "api"  # a template with no stage, or several: the routes are served under /api

# Resource types that exist only for AWS's own bookkeeping or monitoring: nothing to emulate, nothing lost.
NOT_EMULATED_QUIETLY = frozenset(
    {
        "AWS::Lambda::Permission",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Account",
        "AWS::ApiGateway::UsagePlanKey",
        "AWS::ApiGatewayV2::Deployment",
        "AWS::SQS::QueuePolicy",
        "AWS::S3::BucketPolicy",
    }
)


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


class Provisioner:
    """The stack's resources in one account and region: made by `provision_all`, then read by the other parts."""

    def __init__(
        self,
        *,
        stack: Stack,
        resolver: Resolver,
        client: Callable[[str], Any],  # a boto3 client of the local endpoint, by service
        account_id: str,
        region: str,
        stack_name: str,
        iam: Policies,
        pool_keys: PoolKeys,
        stage_throttling: bool,
        log: Callable[[str], None],
    ) -> None:
        self.stack = stack
        self.resolver = resolver
        self._client = client
        self.account_id = account_id
        self.region = region
        self.stack_name = stack_name
        self.iam = iam
        self.pool_keys = pool_keys
        self.stage_throttling = stage_throttling  # off only to measure the gateway's own speed (bench)
        self.log = log
        self.specs: dict[str, FunctionSpec] = {}  # logical id -> what the workers run
        self.function_names: dict[str, str] = {}  # logical id -> physical name
        self.skipped_types: set[str] = set()
        self.logical_ids: dict[str, str] = {}  # physical name (table, function, queue, ARN) -> logical id
        self.tables: dict[str, tuple[str, dict[str, Any]]] = {}  # logical id -> (name, properties)
        self.client_ids: list[str] = []  # the user pool clients'
        self.layer_dirs: dict[str, Path] = {}
        self.api_keys: dict[str, str] = {}  # key value -> key id
        self.usage_plan = UsagePlan(ACCOUNT_THROTTLE)  # the template's usage plan replaces it
        self.stage_throttle: Throttle | None = None  # the stage's MethodSettings for /* and *
        self.cached_methods: list[CachedMethod] = []  # what the stage's cache keeps (localcloud.api_cache)
        self.rest_apis: dict[str, Any] = {}  # logical id -> its OpenAPI body
        self.binary_media_types: list[str] = []  # the REST APIs' (none in the shop's template)
        self.records: dict[str, dict[str, Any]] = {}  # type -> logical id -> resolved properties (event sources)
        self.triggers: list[tuple[str, str, str]] = []  # (Cognito trigger, user pool id, function)
        self.edge_functions: dict[str, str] = {}  # CloudFront Function logical id -> its code
        self._runtimes_missing: set[str] = set()  # runtimes whose interpreter is not installed (said once)

    def client(self, service: str) -> Any:
        """A boto3 client of this cloud's AWS endpoint (for the event sources that call a service as AWS does)."""
        return self._client(service)

    def provision_all(self) -> None:
        resources = self.stack.cloudformation["Resources"]
        for logical_id in creation_order(resources):
            resource = resources[logical_id]
            condition = resource.get("Condition")
            if condition and not self.resolver.condition(condition):
                continue
            self.provision(logical_id, resource)
        if self.skipped_types:
            self.log(
                "not emulated (they take effect only in a deployed stack: `make deploy`, then `make e2e`): "
                + ", ".join(sorted(self.skipped_types))
            )

    def physical_names(self, resource_type: str) -> dict[str, str]:
        """Logical id -> the name (or id, or URL) its Ref gives, for the resources of a type."""
        made = self.resolver.refs
        return {lid: str(made[lid]) for lid in self.stack.resources_of_type(resource_type) if lid in made}

    def queue_urls_by_arn(self) -> dict[str, str]:
        return {
            str(attributes.get("Arn")): str(self.resolver.refs[logical_id])
            for logical_id, attributes in self.resolver.attributes.items()
            if "QueueUrl" in attributes
        }

    def provision(self, logical_id: str, resource: dict[str, Any]) -> None:
        kind = resource["Type"]
        provision = _PROVISIONERS.get(kind)
        if provision is None:
            if kind not in NOT_EMULATED_QUIETLY:
                self.skipped_types.add(kind)
            self.resolver.refs[logical_id] = f"{self.stack_name}-{logical_id}"
            return
        raw = resource.get("Properties", {})
        # A distribution resolves only what the local one serves (its other properties name resources not emulated).
        whole = raw and kind not in _RESOLVED_IN_PART
        properties = self.resolver.resolve(raw, f"Resources/{logical_id}/Properties") if whole else {}
        provision(self, logical_id, properties, raw)

    def _name(self, logical_id: str, explicit: Any = None, limit: int = 64) -> str:
        return str(explicit) if explicit else f"{self.stack_name}-{logical_id}"[:limit]

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    def _table(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("TableName"), 255)
        client = self._client("dynamodb")
        create_table(client, name, props)
        description = client.describe_table(TableName=name)["Table"]
        self._set(logical_id, name, Arn=description["TableArn"], StreamArn=description.get("LatestStreamArn", ""))
        self.tables[logical_id] = (name, props)

    def _queue(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("QueueName"), 80)
        attributes = {
            key: json.dumps(value) if isinstance(value, dict) else str(value)
            for key, value in props.items()
            if key
            in {"VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "RedrivePolicy", "RedriveAllowPolicy"}
        }
        url = self._client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self._set(logical_id, url, Arn=self._arn("sqs", name), QueueName=name, QueueUrl=url)

    def _topic(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        arn = self._client("sns").create_topic(Name=self._name(logical_id, props.get("TopicName"), 256))["TopicArn"]
        self._set(logical_id, arn, TopicArn=arn, TopicName=arn.rsplit(":", 1)[1])

    def _subscription(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        attributes = {
            key: json.dumps(props[key]) if isinstance(props[key], dict) else str(props[key])
            for key in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy")
            if key in props
        }
        arn = self._client("sns").subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"], Attributes=attributes
        )["SubscriptionArn"]
        self._set(logical_id, arn)

    def _bucket(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("BucketName"), 63).lower()
        self._client("s3").create_bucket(Bucket=name)
        self._set(
            logical_id,
            name,
            Arn=f"arn:aws:s3:::{name}",
            DomainName=f"{name}.s3.amazonaws.com",
            RegionalDomainName=f"{name}.s3.{self.region}.amazonaws.com",
        )

    def _role(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("RoleName"))
        role = self._client("iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(props.get("AssumeRolePolicyDocument", {}))
        )["Role"]
        self.iam.add_role(role["Arn"], props)  # what the endpoint authorizes its functions' calls against
        self._set(logical_id, name, Arn=role["Arn"], RoleId=role["RoleId"])

    def _user_pool(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        keep = {"Policies", "UsernameAttributes", "AutoVerifiedAttributes", "Schema", "MfaConfiguration"}
        pool = self._client("cognito-idp").create_user_pool(
            PoolName=self._name(logical_id, props.get("UserPoolName"), 128),
            **{key: value for key, value in props.items() if key in keep},
        )["UserPool"]
        self.pool_keys.issue(self.region, pool["Id"])  # its own signing key, not moto's bundled one
        for trigger, function in props.get("LambdaConfig", {}).items():
            self.triggers.append((trigger, pool["Id"], str(function)))
        self._set(
            logical_id,
            pool["Id"],
            Arn=pool["Arn"],
            ProviderName=f"cognito-idp.{self.region}.amazonaws.com/{pool['Id']}",
            UserPoolId=pool["Id"],
        )

    def _user_pool_client(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        client = self._client("cognito-idp").create_user_pool_client(
            UserPoolId=props["UserPoolId"],
            ClientName=props.get("ClientName", logical_id),
            GenerateSecret=bool(props.get("GenerateSecret", False)),
            ExplicitAuthFlows=props.get("ExplicitAuthFlows", []),
        )["UserPoolClient"]
        self._set(logical_id, client["ClientId"], ClientId=client["ClientId"])
        self.client_ids.append(client["ClientId"])

    def _group(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        self._client("cognito-idp").create_group(
            UserPoolId=props["UserPoolId"], GroupName=props["GroupName"], Precedence=int(props.get("Precedence", 0))
        )
        self._set(logical_id, props["GroupName"])

    def _identity_pool(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        pool = self._client("cognito-identity").create_identity_pool(
            IdentityPoolName=self._name(logical_id, props.get("IdentityPoolName"), 128).replace("-", "_"),
            AllowUnauthenticatedIdentities=bool(props.get("AllowUnauthenticatedIdentities", False)),
        )
        self._set(logical_id, pool["IdentityPoolId"], Name=pool["IdentityPoolName"])

    def _layer(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        self.layer_dirs[logical_id] = self.stack.code_paths[logical_id]
        self._set(logical_id, self._arn("lambda", f"layer:{self._name(logical_id)}:1"))

    def _function(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("FunctionName"))
        layer_ids = [ref["Ref"] for ref in _as_list(raw.get("Layers")) if isinstance(ref, dict) and "Ref" in ref]
        variables = {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}
        spec = FunctionSpec(
            logical_id=logical_id,
            name=name,
            code_dir=self.stack.code_paths[logical_id],
            handler=props.get("Handler", "app.lambda_handler"),
            layer_dirs=tuple(self.layer_dirs[layer] for layer in layer_ids if layer in self.layer_dirs),
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
        self._client("lambda").create_function(
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
        client = self._client("logs")
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
        self._client("cloudwatch").put_metric_alarm(AlarmName=name, **arguments)
        self._set(logical_id, name, Arn=self._arn("cloudwatch", f"alarm:{name}"))

    def _dashboard(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        name = self._name(logical_id, props.get("DashboardName"), 255)
        self._client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=props["DashboardBody"])
        self._set(logical_id, name)

    def _version(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        published = self._client("lambda").publish_version(FunctionName=str(props["FunctionName"]))
        self._set(logical_id, published["FunctionArn"], Version=published["Version"])

    def _alias(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        alias = self._client("lambda").create_alias(
            FunctionName=str(props["FunctionName"]), Name=props["Name"], FunctionVersion=str(props["FunctionVersion"])
        )
        self._set(logical_id, alias["AliasArn"])

    def _state_machine(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        definition = self.stack.code_paths[logical_id].read_text()
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        arn = self._client("stepfunctions").create_state_machine(
            name=self._name(logical_id, props.get("StateMachineName"), 80),
            definition=definition,
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        self._set(logical_id, arn, Arn=arn, Name=arn.rsplit(":", 1)[1])

    def _api_key(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        value = f"local-{logical_id.lower()}-key"
        self.api_keys[value] = logical_id
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
        self.cached_methods = cached_methods(props)
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

    def stage_name(self) -> str:
        """The REST API's stage: the only path prefix API Gateway serves the routes under."""
        stages = self.stack.resources_of_type("AWS::ApiGateway::Stage").values()
        names = {str(stage["Properties"]["StageName"]) for stage in stages}
        return names.pop() if len(names) == 1 else DEFAULT_STAGE

    def _rest_api(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        self.rest_apis[logical_id] = raw.get("Body", {})
        self.binary_media_types += [
            *props.get("BinaryMediaTypes", []),
            *raw.get("Body", {}).get("x-amazon-apigateway-binary-media-types", []),
        ]
        self._set(logical_id, "local", RootResourceId="root")

    def _kinesis_stream(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        """A Kinesis data stream in moto (on-demand, as the template's is; the retention is kept, not enforced). A
        table's KinesisStreamSpecification names it: localcloud.kinesis_forwarding forwards the table's changes."""
        name = self._name(logical_id, props.get("Name"), 128)
        mode = props.get("StreamModeDetails", {"StreamMode": "PROVISIONED"})
        request: dict[str, Any] = {"StreamName": name, "StreamModeDetails": mode}
        if mode.get("StreamMode") != "ON_DEMAND":
            request["ShardCount"] = int(props.get("ShardCount", 1))
        kinesis = self._client("kinesis")
        kinesis.create_stream(**request)
        arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        self._set(logical_id, name, Arn=arn)

    def _delivery_stream(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        """A Firehose delivery stream: kept for localcloud.firehose, which delivers it from the event sources."""
        name = self._name(logical_id, props.get("DeliveryStreamName"), 64)
        self.records.setdefault("AWS::KinesisFirehose::DeliveryStream", {})[logical_id] = props
        self._set(logical_id, name, Arn=self._arn("firehose", f"deliverystream/{name}"))

    def _keep(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        """Event source mappings, schedules, invoke configs, a WebSocket API's routes, integrations and authorizers:
        read later by the parts that serve them."""
        kind = self.stack.cloudformation["Resources"][logical_id]["Type"]
        self.records.setdefault(kind, {})[logical_id] = props
        self._set(logical_id, f"{self.stack_name}-{logical_id}")

    def _distribution(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        """A CloudFront distribution: served by the local distribution (localcloud.distribution), which reads the
        origins and the cache behaviours' origin-request functions (localcloud.edge_lambda). Only those parts are
        resolved: the rest (certificates, logging, the web ACL) take effect in a deployed stack."""
        config = raw.get("DistributionConfig", {})
        where = f"Resources/{logical_id}/Properties/DistributionConfig"
        kept: dict[str, Any] = {"Origins": [], "CacheBehaviors": []}
        for origin in config.get("Origins", []):
            with contextlib.suppress(Unresolvable):  # an origin on a resource not emulated (the API's host)
                kept["Origins"].append(
                    {
                        "Id": origin.get("Id"),
                        "DomainName": self.resolver.resolve(origin.get("DomainName"), f"{where}/Origins"),
                        **({"S3OriginConfig": {}} if "S3OriginConfig" in origin else {}),
                    }
                )
        behaviours = self.resolver.resolve(config.get("CacheBehaviors", []), f"{where}/CacheBehaviors")
        kept["CacheBehaviors"] = [behaviour for behaviour in behaviours if isinstance(behaviour, dict)]
        self.records.setdefault("AWS::CloudFront::Distribution", {})[logical_id] = kept
        self.skipped_types.add("AWS::CloudFront::Distribution (certificates, logging, WAF)")
        distribution_id = "E" + hashlib.sha256(f"{self.stack_name}/{logical_id}".encode()).hexdigest()[:13].upper()
        self._set(
            logical_id, distribution_id, DomainName=f"{distribution_id.lower()}.cloudfront.net", Id=distribution_id
        )

    def _api_v2(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        """A WebSocket API (localcloud.websocket_api); an HTTP API is not emulated."""
        if props.get("ProtocolType") != "WEBSOCKET":
            self.skipped_types.add("AWS::ApiGatewayV2::Api (HTTP)")
            self._set(logical_id, f"{self.stack_name}-{logical_id}")
            return
        self.records.setdefault("AWS::ApiGatewayV2::Api", {})[logical_id] = props
        api_id = hashlib.sha256(f"{self.account_id}/{self.stack_name}/{logical_id}".encode()).hexdigest()[:10]
        endpoint = f"wss://{api_id}.execute-api.{self.region}.amazonaws.com"
        self._set(logical_id, api_id, ApiId=api_id, ApiEndpoint=endpoint)

    def _api_v2_stage(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        self.records.setdefault("AWS::ApiGatewayV2::Stage", {})[logical_id] = props
        self._set(logical_id, str(props["StageName"]))

    def _set(self, logical_id: str, ref: Any, **attributes: Any) -> None:
        self.resolver.refs[logical_id] = ref
        self.resolver.attributes[logical_id] = attributes
        for name in (ref, attributes.get("QueueName"), attributes.get("Arn")):
            if isinstance(name, str) and name:
                self.logical_ids[name] = logical_id

    def names_of(self, physical: str) -> tuple[str, ...]:
        """Every name a fault rule may use for a resource: its physical name (or ARN) and its logical id."""
        logical_id = self.logical_ids.get(physical)
        return (physical, logical_id) if logical_id else (physical,)

    def _edge_function(self, logical_id: str, props: dict[str, Any], raw: dict[str, Any]) -> None:
        """A CloudFront Function: not served locally as such, but its code is run for the gateway's headers."""
        self.edge_functions[logical_id] = str(raw.get("FunctionCode", ""))
        arn = f"arn:aws:cloudfront::{self.account_id}:function/{self._name(logical_id)}"
        self._set(logical_id, arn, FunctionARN=arn, Stage="LIVE")


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "Code runs in localcloud's workers, not from this archive.\n")
    return buffer.getvalue()


_EMPTY_ZIP = _empty_zip()

_RESOLVED_IN_PART = frozenset({"AWS::CloudFront::Distribution"})
_PROVISIONERS: dict[str, Callable[[Provisioner, str, dict[str, Any], dict[str, Any]], None]] = {
    "AWS::DynamoDB::Table": Provisioner._table,
    "AWS::SQS::Queue": Provisioner._queue,
    "AWS::SNS::Topic": Provisioner._topic,
    "AWS::SNS::Subscription": Provisioner._subscription,
    "AWS::S3::Bucket": Provisioner._bucket,
    "AWS::IAM::Role": Provisioner._role,
    "AWS::Cognito::UserPool": Provisioner._user_pool,
    "AWS::Cognito::UserPoolClient": Provisioner._user_pool_client,
    "AWS::Cognito::UserPoolGroup": Provisioner._group,
    "AWS::Cognito::IdentityPool": Provisioner._identity_pool,
    "AWS::Lambda::LayerVersion": Provisioner._layer,
    "AWS::Lambda::Function": Provisioner._function,
    "AWS::Lambda::Version": Provisioner._version,
    "AWS::Logs::LogGroup": Provisioner._log_group,
    "AWS::CloudWatch::Alarm": Provisioner._alarm,
    "AWS::CloudWatch::Dashboard": Provisioner._dashboard,
    "AWS::Lambda::Alias": Provisioner._alias,
    "AWS::StepFunctions::StateMachine": Provisioner._state_machine,
    "AWS::ApiGateway::ApiKey": Provisioner._api_key,
    "AWS::ApiGateway::UsagePlan": Provisioner._plan,
    "AWS::ApiGateway::Stage": Provisioner._stage,
    "AWS::ApiGateway::RestApi": Provisioner._rest_api,
    "AWS::CloudFront::Function": Provisioner._edge_function,
    "AWS::CloudFront::Distribution": Provisioner._distribution,
    "AWS::ApiGatewayV2::Api": Provisioner._api_v2,
    "AWS::ApiGatewayV2::Stage": Provisioner._api_v2_stage,
    "AWS::ApiGatewayV2::Route": Provisioner._keep,
    "AWS::ApiGatewayV2::RouteResponse": Provisioner._keep,
    "AWS::ApiGatewayV2::Integration": Provisioner._keep,
    "AWS::ApiGatewayV2::Authorizer": Provisioner._keep,
    "AWS::Lambda::EventSourceMapping": Provisioner._keep,
    "AWS::Events::Rule": Provisioner._keep,
    "AWS::Kinesis::Stream": Provisioner._kinesis_stream,
    "AWS::KinesisFirehose::DeliveryStream": Provisioner._delivery_stream,
    "AWS::Lambda::EventInvokeConfig": Provisioner._keep,
}

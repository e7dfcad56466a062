"""Lambda in the local cloud: the provisioned functions run in their workers (localcloud.workers), synchronously for
the gateway, Step Functions' tasks and Invoke, and asynchronously (localcloud.async_invoke) for Invoke with
InvocationType Event, SNS's deliveries and schedules, with the functions' EventInvokeConfigs. Each invocation is
metered, written to its CloudWatch Logs group and shown on the console (localcloud.function_logs).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.sns.models import Subscription

from localcloud import pollers
from localcloud.async_invoke import AsyncInvoker, InvokeConfig
from localcloud.faults import FaultPlan
from localcloud.function_logs import FunctionLogs
from localcloud.meter import Meter
from localcloud.moto_hooks import CloudInMoto
from localcloud.provisioning import Provisioner
from localcloud.websocket_api import definitions
from localcloud.workers import (
    FunctionSpec,
    InvokeResult,
    Runtime,
    ServiceError,
    TooManyRequestsError,
    parse_function_name,
)

# moto accepts any credentials; these only keep boto3 from looking for real ones.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


class Functions:
    """The functions of one cloud: started with `start`, stopped with `stop`."""

    def __init__(
        self,
        provisioned: Provisioner,
        *,
        aws_url: str,
        account_concurrency: int,
        faults: FaultPlan,
        meter: Meter,
        function_logs: FunctionLogs,
        sqs: Any,  # the on-failure destinations' client
        log: Callable[[str], None],
    ) -> None:
        self._provisioned = provisioned
        self._meter = meter
        self._function_logs = function_logs
        self._log = log
        self._faults = faults
        region = provisioned.region
        environment = {
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            **FAKE_CREDENTIALS,
        }
        websocket_apis = definitions(provisioned.records, provisioned.resolver.refs)
        if websocket_apis:
            # The SDK's own variable for the @connections API's endpoint (the stage's URL in AWS): served at the local
            # endpoint (localcloud.websocket_api). One variable, so one WebSocket API's stage: the template's first.
            environment["AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"] = aws_url + websocket_apis[0].management_prefix
        self.runtime = Runtime(
            provisioned.specs.values(),
            base_environment=environment,
            account_concurrency=account_concurrency,
            faults=faults,
            on_invocation=self._log_invocation,
            account_id=provisioned.account_id,
        )
        self.asynchronous = AsyncInvoker(
            invoke=pollers.invoke_with(self.runtime),
            sqs=sqs,
            region=region,
            account_id=provisioned.account_id,
            configs=self._invoke_configs(),
            faults=faults,
            function_names=self.names_of,
        )

    def invoke(self, logical_id: str, event: Any) -> InvokeResult:
        """Call a function by logical id (what the gateway and tests use)."""
        return self.runtime.invoke(self._provisioned.function_names[logical_id], event)

    def answer(self, function: str, event: dict[str, Any]) -> tuple[bool, Any]:
        """Invoke a function by name or ARN: whether it failed, and its answer's JSON. Lambda's refusals raise, for the
        caller to answer as its service does (API Gateway's 500, CloudFront's 503)."""
        result = self.runtime.invoke(function, event)
        return result.errored, json.loads(result.payload) if result.payload else None

    def names_of(self, target: str) -> tuple[str, ...]:
        """Every name a fault rule may use for a function: as invoked, its physical name, its logical id."""
        return (target, *self._provisioned.names_of(parse_function_name(target)[0]))

    def hook_into(self, moto: CloudInMoto) -> None:
        """What moto's Lambda and SNS do for this cloud's account (localcloud.moto_hooks)."""
        moto.invoke = self._invoke_for_moto
        moto.invoke_async = self.asynchronous.submit
        moto.deliver = self._deliver

    def stop(self) -> None:
        self.runtime.close()

    # --- moto's callers ----------------------------------------------------------------------------------

    def _invoke_for_moto(self, function_name: str, event: Any) -> tuple[str, bool, str]:
        """Step Functions' tasks and the Invoke API: Lambda's refusals become the Invoke API's error responses, so
        boto3 callers get their ClientError and Step Functions its Lambda.TooManyRequestsException or
        Lambda.ServiceException to retry or catch."""
        payload = json.loads(event) if isinstance(event, str | bytes) else (event or {})
        try:
            result = self.runtime.invoke(function_name, payload)
        except TooManyRequestsError as throttled:
            raise _LambdaTooManyRequests(throttled) from throttled
        except ServiceError as failure:
            raise _LambdaServiceException(failure) from failure
        return result.payload.decode(), result.errored, result.logs

    def _deliver(self, subscription: Subscription, published: Mapping[str, Any], message: str, subject: Any) -> None:
        """A topic's notification, as SNS sends it to a subscribed function: asynchronously."""
        event = pollers.sns_event(
            subscription_arn=subscription.arn,
            topic_arn=subscription.topic.arn,
            message_id=published["message_id"],
            message=message,
            subject=subject,
            attributes=published.get("message_attributes") or {},
        )
        self.asynchronous.submit(
            subscription.endpoint, event, source=self._provisioned.names_of(subscription.topic.arn)
        )

    # --- set-up ------------------------------------------------------------------------------------------

    def _invoke_configs(self) -> dict[tuple[str, str], InvokeConfig]:
        queues_by_arn = self._provisioned.queue_urls_by_arn()
        defaults = InvokeConfig()
        configs: dict[tuple[str, str], InvokeConfig] = {}
        for logical_id, props in self._provisioned.records.get("AWS::Lambda::EventInvokeConfig", {}).items():
            name, _ = parse_function_name(str(props["FunctionName"]))
            destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if destination and destination not in queues_by_arn:
                self._log(f"{logical_id}: on-failure destination {destination} is not emulated (SQS queues only)")
            configs[(name, str(props.get("Qualifier", "$LATEST")))] = InvokeConfig(
                maximum_retry_attempts=int(props.get("MaximumRetryAttempts", defaults.maximum_retry_attempts)),
                maximum_event_age_seconds=float(
                    props.get("MaximumEventAgeInSeconds", defaults.maximum_event_age_seconds)
                ),
                on_failure_queue_url=queues_by_arn.get(destination) if destination else None,
            )
        return configs

    def _log_invocation(self, spec: FunctionSpec, result: InvokeResult) -> None:
        self._meter.invocation(spec.memory_mb, result.duration_ms, len(result.logs.encode()))
        try:
            self._function_logs.record(spec.log_group or f"/aws/lambda/{spec.name}", spec, result)
        except Exception as exc:  # the invocation happened all the same; say why its logs are missing
            self._log(f"logs of {spec.logical_id} not written to CloudWatch Logs: {exc!r}")
        # What the caller saw, then what the handler printed under its request id (localcloud.function_logs).
        self._function_logs.console.emit(spec, result, self._log)


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

"""The one place where the local cloud changes moto's classes, for every cloud in the process at once.

moto keeps its backends in the process, one set per account, and looks its hooks up on its classes: whatever a cloud
changed there, a second cloud in the same process would change again, and the first to stop would take both
clouds' changes away. So each cloud owns an account of its own (`claim`), every request to its AWS endpoint is
served from that account (localcloud.aws_endpoint), and the changes are made once, by the first cloud to claim an
account, and undone when the last one releases its own. Each change looks at the account of the moto object it is
called on and does what that account's cloud asks for; an account no cloud owns (moto used as a library, in tests)
gets moto's own behaviour.

What a cloud asks for (`CloudInMoto`):

- `invoke`: a function run in the cloud's workers, for Step Functions' tasks and Invoke (moto would run it in
  Docker);
- `invoke_async`: Invoke with InvocationType Event, queued as Lambda queues it (moto runs it at once);
- `deliver`: a topic's notification to a subscribed function, as SNS sends it (moto sends a made-up one);
- `queue_has_news`: a topic delivered to a queue inside moto, past the endpoint (the queue's poller is woken);
- `confirmations`: the user pools' PostConfirmation triggers, run inside the confirmation (localcloud.triggers);
- `aws_url`: where its state machines' tasks call AWS (moto's own calls go to one port, MOTO_PORT).

`fixed_moto` (localcloud.moto_fixes), which changes moto alike for every account, is entered and left with them.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import json
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import boto3
from botocore.config import Config
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.cognitoidp.models import CognitoIdpBackend
from moto.core.base_backend import BackendDict
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import FakeKey, FakeMultipart
from moto.sns.models import Subscription
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
from moto.stepfunctions.parser.asl.utils import boto_client

from localcloud.moto_fixes import fixed_moto
from localcloud.triggers import PostConfirmations

# A function's synchronous invoke in the cloud's worker: (function name, event) -> (payload, errored, logs).
Invoke = Callable[[str, Any], tuple[str, bool, str]]
# A topic's notification for a subscribed function: (subscription, publish's arguments, message, subject).
Deliver = Callable[[Subscription, Mapping[str, Any], str, "str | None"], None]


@dataclass
class CloudInMoto:
    """What one local cloud does where moto would do otherwise, for the account it owns (None: moto's way)."""

    account_id: str
    aws_url: str = ""
    invoke: Invoke | None = None
    invoke_async: Callable[[str, dict[str, Any]], object] | None = None  # (function[:qualifier], event)
    deliver: Deliver | None = None
    queue_has_news: Callable[[str], None] | None = None  # the queue's URL or ARN
    confirmations: PostConfirmations | None = None


_lock = threading.Lock()
_clouds: dict[str, CloudInMoto] = {}
_changes: ExitStack | None = None  # open while any cloud holds an account


def claim(account_id: str | None = None) -> CloudInMoto:
    """An account for a cloud: the one asked for, or the first free one from moto's default account upwards."""
    global _changes  # noqa: PLW0603  (the process's one set of changes to moto, made once for every cloud)
    with _lock:
        if account_id is None:
            account_id = next(
                str(number) for number in itertools.count(int(DEFAULT_ACCOUNT_ID)) if str(number) not in _clouds
            )
        elif account_id in _clouds:
            raise ValueError(f"account {account_id} already belongs to a local cloud in this process")
        cloud = _clouds[account_id] = CloudInMoto(account_id)
        if _changes is None:
            _changes = _change_moto()
        return cloud


def release(cloud: CloudInMoto) -> None:
    """Give the account back; the last cloud to go takes moto's changes away."""
    global _changes  # noqa: PLW0603  (see claim)
    with _lock:
        if _clouds.get(cloud.account_id) is cloud:
            del _clouds[cloud.account_id]
        if not _clouds and _changes is not None:
            _changes.close()
            _changes = None


@contextmanager
def claimed(account_id: str | None = None) -> Iterator[CloudInMoto]:
    cloud = claim(account_id)
    try:
        yield cloud
    finally:
        release(cloud)


def clouds() -> list[str]:
    """The accounts local clouds hold in this process."""
    with _lock:
        return sorted(_clouds)


def reset_account(account_id: str) -> None:
    """Forget everything moto holds for one account, as moto's reset does for all of them: the other clouds' data
    stays, and the temporary files of this account's S3 objects are closed."""
    with _lock:
        for backends in list(BackendDict._instances):  # type: ignore[misc]  # moto's registry of its backends
            account = backends.pop(account_id, None)
            if account is None:
                continue
            for regional in list(account.values()):
                with _disposing_only(account_id):
                    regional.reset()


@contextmanager
def _disposing_only(account_id: str) -> Iterator[None]:
    """moto's S3 reset disposes of every recorded key and upload in the process: only this account's, here."""
    recorded: list[list[Any]] = [FakeKey.instances_tracked, FakeMultipart.instances_tracked]  # type: ignore[attr-defined]
    kept = [list(instances) for instances in recorded]
    for instances, before in zip(recorded, kept, strict=True):
        instances[:] = [one for one in before if getattr(one, "account_id", None) == account_id]
    try:
        yield
    finally:
        for instances, before in zip(recorded, kept, strict=True):
            instances[:] = [one for one in before if getattr(one, "account_id", None) != account_id]


def _cloud(account_id: str) -> CloudInMoto | None:
    return _clouds.get(account_id)


# ----------------------------------------------------------------------------------------------------------------
# The changes, each dispatching by the account of the object moto calls it on
# ----------------------------------------------------------------------------------------------------------------
_MOTO_INVOKE = LambdaFunction._invoke_lambda
_MOTO_LAMBDA_API_INVOKE = LambdaBackend.invoke
_MOTO_SEND_SNS_MESSAGE = LambdaBackend.send_sns_message
_MOTO_PUBLISH = Subscription.publish
_PUBLISH_PARAMETERS = inspect.signature(Subscription.publish)
_MOTO_CONFIRM = CognitoIdpBackend.confirm_sign_up
_MOTO_ADMIN_CONFIRM = CognitoIdpBackend.admin_confirm_sign_up
_MOTO_TASK_CLIENT = boto_client.boto_client_for

_delivering = threading.local()  # the notification moto's SNS is handing to a function, on this thread


def _invoke_lambda(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    cloud = _cloud(function.account_id)
    if cloud is None or cloud.invoke is None:
        return _MOTO_INVOKE(function, event)
    return cloud.invoke(function.function_name, event)


def _lambda_api_invoke(  # noqa: PLR0917 (moto's own signature)
    backend: LambdaBackend, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
) -> Any:
    """Invoke with InvocationType Event is accepted at once (202) and queued, as Lambda does; moto would run it
    synchronously. Here the qualifier (an alias, whose EventInvokeConfig applies) is still known."""
    cloud = _cloud(backend.account_id)
    if headers.get("X-Amz-Invocation-Type") != "Event" or cloud is None or cloud.invoke_async is None:
        return _MOTO_LAMBDA_API_INVOKE(backend, function_name, qualifier, body, headers, response_headers)
    backend.get_function(function_name, qualifier)  # moto's ResourceNotFoundException when there is none
    cloud.invoke_async(function_name if qualifier is None else f"{function_name}:{qualifier}", json.loads(body or "{}"))
    response_headers["Content-Length"] = "0"
    return b""


# moto's SNS calls LambdaBackend.send_sns_message synchronously, with a made-up event (topic "EXAMPLE", attributes
# "Test"), after Subscription.publish has applied the subscription's filter policy. publish is wrapped only to note
# which notification it is delivering (on this thread); send_sns_message hands it to the cloud as SNS sent it.
def _publish(subscription: Subscription, *args: Any, **kwargs: Any) -> None:
    _delivering.notification = (subscription, _PUBLISH_PARAMETERS.bind(subscription, *args, **kwargs).arguments)
    try:
        _MOTO_PUBLISH(subscription, *args, **kwargs)
    finally:
        _delivering.notification = None
    cloud = _cloud(subscription.account_id)
    if subscription.protocol == "sqs" and cloud is not None and cloud.queue_has_news is not None:
        cloud.queue_has_news(subscription.endpoint)  # moto put the message on the queue itself, past the endpoint


def _send_sns_message(
    backend: LambdaBackend, function_name: str, message: str, subject: str | None = None, qualifier: str | None = None
) -> None:
    notification = getattr(_delivering, "notification", None)
    cloud = _cloud(backend.account_id)
    if notification is None or cloud is None or cloud.deliver is None:
        _MOTO_SEND_SNS_MESSAGE(backend, function_name, message, subject, qualifier)
        return
    subscription, published = notification
    cloud.deliver(subscription, published, message, subject)


def _confirm_sign_up(backend: CognitoIdpBackend, client_id: str, username: str) -> str:
    cloud = _cloud(backend.account_id)
    pool = next((p for p in backend.user_pools.values() if client_id in p.clients), None)
    if cloud is None or cloud.confirmations is None or pool is None:  # pool None: moto's error for an unknown client
        return _MOTO_CONFIRM(backend, client_id, username)
    return cloud.confirmations.confirm(
        backend, pool.id, username, client_id, lambda: _MOTO_CONFIRM(backend, client_id, username)
    )


def _admin_confirm_sign_up(backend: CognitoIdpBackend, user_pool_id: str, username: str) -> str:
    cloud = _cloud(backend.account_id)
    if cloud is None or cloud.confirmations is None:
        return _MOTO_ADMIN_CONFIRM(backend, user_pool_id, username)
    client_id = next(iter(backend.describe_user_pool(user_pool_id).clients), "")
    return cloud.confirmations.confirm(
        backend, user_pool_id, username, client_id, lambda: _MOTO_ADMIN_CONFIRM(backend, user_pool_id, username)
    )


def _task_client(region: str, service: str, state_credentials: Any = None) -> Any:
    """A Step Functions task's client, at the endpoint of the cloud whose account runs the execution (the task's
    role is in it); moto's own for any other. One is kept per region, service and endpoint: moto made a new one,
    and a new connection, for every task (a fifth of a Lambda task's cost). boto3's clients are thread-safe."""
    role_arn = str(getattr(state_credentials, "role_arn", "") or "")
    parts = role_arn.split(":")
    cloud = _cloud(parts[4]) if len(parts) > 4 else None
    if cloud is None or not cloud.aws_url:
        return _MOTO_TASK_CLIENT(region, service, state_credentials)
    return _kept_task_client(region, service, cloud.aws_url)


@functools.lru_cache(maxsize=64)
def _kept_task_client(region: str, service: str, aws_url: str) -> Any:
    """moto's task client (its credentials, no retries, its timeouts) at this cloud's endpoint."""
    return boto3.session.Session().client(  # type: ignore[call-overload]
        service,
        region_name=region,
        endpoint_url=aws_url,
        aws_access_key_id="ak",
        aws_secret_access_key="sk",  # noqa: S106  (moto's own placeholder: the endpoint holds no secrets)
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
        ),
    )


def _modules_calling_boto_client_for() -> Iterator[Any]:
    """moto's Step Functions modules that imported boto_client_for by name (each task kind has its own)."""
    prefix = "moto.stepfunctions.parser."
    for name, module in list(sys.modules.items()):
        if name.startswith(prefix) and getattr(module, "boto_client_for", None) is _MOTO_TASK_CLIENT:
            yield module


def _change_moto() -> ExitStack:
    changes = ExitStack()
    changes.enter_context(fixed_moto())
    for cls, name, change in (
        (LambdaFunction, "_invoke_lambda", _invoke_lambda),
        (LambdaBackend, "invoke", _lambda_api_invoke),
        (LambdaBackend, "send_sns_message", _send_sns_message),
        (Subscription, "publish", _publish),
        (CognitoIdpBackend, "confirm_sign_up", _confirm_sign_up),
        (CognitoIdpBackend, "admin_confirm_sign_up", _admin_confirm_sign_up),
    ):
        changes.enter_context(mock.patch.object(cls, name, change))
    for module in _modules_calling_boto_client_for():
        changes.enter_context(mock.patch.object(module, "boto_client_for", _task_client))
    return changes

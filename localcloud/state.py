"""State that survives a restart: `make run` keeps the cloud's data in .localcloud/state/ (ignored by git) and brings
it back at its next start (`make run ARGS=--fresh` starts empty).

What is kept, by the logical id of its resource (a restart provisions every resource again from the template: a user
pool gets a new id, while tables, queues and buckets keep the stack's names): every DynamoDB table's items, every
SQS queue's messages (with their receive counts, so a job keeps its way to the dead-letter queue), every user pool's
users (their sub, password, status, attributes and groups: the orders keyed by a customer's sub stay theirs) and
every bucket's objects. Items come back without stream records: nothing that already happened happens again.

What is not kept: Step Functions executions (moto's interpreter runs them on threads), stream records not read yet,
asynchronous invocations in flight, tokens (the pool's signing key is new). So a restart finishes every order that
is not final: a PLACED order's workflow is started as its stream record would have started it; an order that had
gone further (awaiting approval, paid) lost the execution that owned it and is settled by the workflow's own Settle
step as a technical failure — refunded, its stock released, its approval withdrawn — as tools/redrive.py settles an
order whose execution was lost in AWS.

The state is written every SNAPSHOT_SECONDS and at a clean stop, to a temporary file then renamed over the last
snapshot: a process killed at any moment leaves the last complete snapshot, and the restart loses at most the
seconds since.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from moto.cognitoidp.models import CognitoIdpUser, cognitoidp_backends
from moto.dynamodb.models import dynamodb_backends
from moto.s3.models import s3_backends
from moto.sqs.models import Message, sqs_backends

from shop.adapters.orders_table import OrdersTable
from shop.adapters.workflow import OrderWorkflow
from shop.domain.models import OrderStatus
from tools.redrive import OPEN_STATUSES

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

logger = logging.getLogger(__name__)
T = TypeVar("T")

VERSION = 1
STATE_FILE = "state.json"
SNAPSHOT_SECONDS = 5.0
# What the Settle step is told ended an order that was in flight when the cloud stopped.
RESTARTED = {"Error": "LocalCloudRestarted", "Cause": "the workflow's execution did not survive the restart"}


class StateError(Exception):
    """A state file this cloud cannot read (another version, or not ours)."""


def _copied(collection: Iterable[T], attempts: int = 5) -> list[T]:
    """A copy of one of moto's collections, which another thread may change while a request is served: copied
    again until a copy goes through ("dictionary changed size during iteration")."""
    for attempt in range(attempts):
        try:
            return list(collection)
        except RuntimeError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


# -- Reading the cloud's data ---------------------------------------------------------------------------------------


def _user_record(user: CognitoIdpUser) -> dict[str, Any]:
    return {
        "username": user.username,
        "sub": user.id,
        "password": user.password,
        "status": user.status,
        "enabled": user.enabled,
        "attributes": [a for a in user.attributes if a["Name"] != "sub"],
        "groups": sorted(group.group_name for group in user.groups),
    }


def _message_record(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "body": message.body,
        "attributes": message.message_attributes,
        "system": message.system_attributes,
        "receives": message.approximate_receive_count,
        "sent": message.sent_timestamp,
        "group": message.group_id,
        "deduplication": message.deduplication_id,
    }


def snapshot(cloud: LocalCloud) -> dict[str, Any]:
    """Everything the cloud keeps across a restart (see the module's docstring), as JSON-ready data."""
    account, region = cloud.account_id, cloud.region
    state: dict[str, Any] = {"version": VERSION, "tables": {}, "queues": {}, "users": {}, "objects": {}}
    tables = dynamodb_backends[account][region].tables
    with cloud.aws_endpoint.dynamodb_lock:  # every DynamoDB request waits: the items are one moment's
        for logical_id, name in cloud.physical_names("AWS::DynamoDB::Table").items():
            items = tables[name].all_items() if name in tables else []
            state["tables"][logical_id] = [item.to_json()["Attributes"] for item in items]
    queues = sqs_backends[account][region].queues
    for logical_id, url in cloud.physical_names("AWS::SQS::Queue").items():
        queue = queues.get(url.rsplit("/", 1)[-1])
        messages = _copied(queue._messages) if queue is not None else []  # moto keeps them there
        state["queues"][logical_id] = [_message_record(message) for message in messages]
    pools = cognitoidp_backends[account][region].user_pools
    for logical_id, pool_id in cloud.physical_names("AWS::Cognito::UserPool").items():
        users = _copied(pools[pool_id].users.values()) if pool_id in pools else []
        state["users"][logical_id] = [_user_record(user) for user in users]
    buckets = s3_backends[account]["aws"].buckets
    for logical_id, name in cloud.physical_names("AWS::S3::Bucket").items():
        keys = _copied(buckets[name].keys.items()) if name in buckets else []
        state["objects"][logical_id] = {key: base64.b64encode(obj.value).decode() for key, obj in keys}
    return state


# -- Putting it back ------------------------------------------------------------------------------------------------


@contextmanager
def _without_stream(table: Any) -> Iterator[None]:
    shard, table.stream_shard = table.stream_shard, None
    try:
        yield
    finally:
        table.stream_shard = shard


def restore(cloud: LocalCloud, state: dict[str, Any]) -> dict[str, int]:
    """Put a snapshot's data into the freshly provisioned resources; returns how much of each kind came back."""
    if state.get("version") != VERSION:
        raise StateError(f"state version {state.get('version')!r}, this cloud reads {VERSION}")
    account, region = cloud.account_id, cloud.region
    restored = {"items": 0, "messages": 0, "users": 0, "objects": 0}
    tables = dynamodb_backends[account][region].tables
    for logical_id, name in cloud.physical_names("AWS::DynamoDB::Table").items():
        table = tables[name]
        with _without_stream(table):
            for item in state["tables"].get(logical_id, []):
                table.put_item(item)
                restored["items"] += 1
    queues = sqs_backends[account][region].queues
    for logical_id, url in cloud.physical_names("AWS::SQS::Queue").items():
        queue = queues[url.rsplit("/", 1)[-1]]
        for record in state["queues"].get(logical_id, []):
            message = Message(record["id"], record["body"], record["system"])
            message.message_attributes = record["attributes"]
            message.approximate_receive_count = record["receives"]
            message.sent_timestamp = record["sent"]
            message.group_id, message.deduplication_id = record["group"], record["deduplication"]
            queue._messages.append(message)
            restored["messages"] += 1
    pools = cognitoidp_backends[account][region].user_pools
    for logical_id, pool_id in cloud.physical_names("AWS::Cognito::UserPool").items():
        pool = pools[pool_id]
        for record in state["users"].get(logical_id, []):
            user = CognitoIdpUser(pool_id, record["username"], record["password"], record["status"], [])
            user.id = record["sub"]
            user.enabled = record["enabled"]
            user.update_attributes([*record["attributes"], {"Name": "sub", "Value": record["sub"]}])
            pool.users[user.username] = user
            for name in record["groups"]:
                if name in pool.groups:
                    pool.groups[name].users.add(user)
                    user.groups.add(pool.groups[name])
            restored["users"] += 1
    s3 = cloud.client("s3")
    for logical_id, name in cloud.physical_names("AWS::S3::Bucket").items():
        for key, body in state["objects"].get(logical_id, {}).items():
            s3.put_object(Bucket=name, Key=key, Body=base64.b64decode(body))
            restored["objects"] += 1
    return restored


def finish_open_orders(cloud: LocalCloud) -> dict[str, int]:
    """After a restart: start the workflow of every PLACED order and settle the others that are not final (their
    executions were lost). Returns how many of each."""
    outputs = cloud.endpoints.outputs if cloud.endpoints is not None else {}
    orders = OrdersTable(str(outputs["OrdersTableName"]), cloud.client("dynamodb"))
    workflow = OrderWorkflow(str(outputs["OrderStateMachineArn"]), cloud.client("stepfunctions"))
    finished = {"started": 0, "settled": 0}
    for status in OPEN_STATUSES:
        for order in orders.with_status(status):
            if status is OrderStatus.PLACED:
                workflow.start(order.order_id, order.customer_id)
                finished["started"] += 1
                continue
            event = {"orderId": order.order_id, "customerId": order.customer_id, "last": RESTARTED}
            result = cloud.invoke("SettleOrderFunction", event)
            if result.errored:
                logger.error("settling an order after the restart failed", extra={"order_id": order.order_id})
            else:
                finished["settled"] += 1
    return finished


# -- Keeping it -----------------------------------------------------------------------------------------------------


def write(path: Path, state: dict[str, Any]) -> None:
    """Write the snapshot whole or not at all: a temporary file, flushed to disk, renamed over the last one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with temporary.open("w") as file:
        json.dump(state, file)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)


def read(path: Path) -> dict[str, Any] | None:
    """The last complete snapshot, or None when there is none (a temporary file left by a kill is ignored)."""
    if not path.is_file():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state


class StateKeeper:
    """Writes the cloud's snapshot every `interval` seconds, and once more when stopped."""

    def __init__(self, cloud: LocalCloud, path: Path, interval: float = SNAPSHOT_SECONDS) -> None:
        self._cloud = cloud
        self.path = path
        self._interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="state-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def save(self) -> None:
        write(self.path, snapshot(self._cloud))

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self.save()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.save()
            except Exception:  # a snapshot that failed is tried again at the next tick; the last one stands
                logger.exception("writing the local cloud's state failed")

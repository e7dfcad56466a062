"""The local AWS endpoint: moto's server, with the faults AWS's own APIs produce under stress, and the control
endpoint that switches fault rules on and off while the cloud runs.

DynamoDB is where a busy shop meets contention: a transaction is cancelled with `TransactionConflict` (another
transaction holds the item) or `ThrottlingError` on exactly the items involved, and single-item calls are refused
with `ProvisionedThroughputExceededException` or `ThrottlingException`. The answers are DynamoDB's own (status,
`__type`, `CancellationReasons`), so the SDK parses them as it would in AWS, retries included.

    GET    {aws}/_localcloud/faults    the rules in force, their counters, and every fault injected so far
    POST   {aws}/_localcloud/faults    add rules: {"rules": [{"fault": "...", ...}, ...]} (or a list of rules)
    DELETE {aws}/_localcloud/faults    switch every rule off (the counts stay)
    GET    {aws}/_localcloud/outputs   the stack's outputs, as CloudFormation lists them (tools/redrive.py --local)
    GET    {aws}/_localcloud/iam       per function role: calls allowed, refused, and grants unused (localcloud.iam)

A request carrying `X-Localcloud-Observer: true` is never faulted: it is how a test harness reads the state of a
run without disturbing it (see `observer`). The endpoint also keeps a ledger of SQS messages (sent, deleted, by
message id), so that a run can count every message as processed, dead-lettered, still queued, or lost.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from cheroot.wsgi import Server as CherootServer
from moto.backends import get_backend
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from localcloud import moto_hooks
from localcloud.cognito_keys import PoolKeys, PoolKeySets
from localcloud.doorbell import Doorbell, queue_name
from localcloud.dynamodb_direct import DirectDynamoDB, stream_answer
from localcloud.faults import Call, Fault, FaultPlan, FaultRuleError, Rule
from localcloud.iam import IamEnforcement, Policies, json_object, read_body
from localcloud.meter import Meter
from localcloud.table_exports import OPERATIONS as EXPORT_OPERATIONS

CONTROL_PATH = "/_localcloud/faults"
OUTPUTS_PATH = "/_localcloud/outputs"
RESET_PATH = "/moto-api/reset"
STAGE_CACHE_PATH = "/cache/data"  # API Gateway's FlushStageCache: /restapis/<id>/stages/<stage>/cache/data
CONNECTIONS_PATH = "/@connections/"  # the WebSocket API's management API: /<api id>/<stage>/@connections/<id>
OBSERVER_HEADER = "X-Localcloud-Observer"
_SQS_TARGET = "AmazonSQS."
_DYNAMODB_TARGET = "DynamoDB_20120810."
_DYNAMODB_TARGETS = (_DYNAMODB_TARGET, "DynamoDBStreams_20120810.")
_TRANSACTIONS = frozenset({"TransactWriteItems", "TransactGetItems"})
# Calls that may give a table's stream new records, or a queue a message to receive: their resource's doorbell rings.
_DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
_SQS_ARRIVALS = frozenset(
    {"SendMessage", "SendMessageBatch", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"}
)
_THROTTLING_MESSAGE = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table "
    "or index so please try again shortly. If exceptions persist, check if you have a hot key: "
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
)
# What DynamoDB says for each fault: its error code (a transaction's per-item cancellation code) and message.
_ANSWERS: dict[Fault, tuple[str, str]] = {
    Fault.TRANSACTION_CONFLICT: ("TransactionConflict", "Transaction is ongoing for the item"),
    Fault.TRANSACTION_THROTTLED: ("ThrottlingError", _THROTTLING_MESSAGE),
    Fault.THROUGHPUT_EXCEEDED: (
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API.",
    ),
    Fault.THROTTLING: ("ThrottlingException", _THROTTLING_MESSAGE),
}

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
# Connections the endpoint's socket queues before they are accepted (the functions' pools open them in bursts).
LISTEN_BACKLOG = 512
# Idle keep-alive connections the endpoint keeps open (a few per worker process and per poller).
KEEP_ALIVE_CONNECTIONS = 1024


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, which lists moto's package directory on every request to find the service a host name
    belongs to: the answer for each host name is kept (it never changes while the process runs)."""

    def __init__(self, create_app: Callable[..., Any]) -> None:
        super().__init__(create_app)
        self._backends: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._backends:
            self._backends[host] = super().get_backend_for_host(host)
        return self._backends[host]


class FaultyMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose WSGI application answers with faults when the plan says so."""

    def __init__(
        self,
        *,
        faults: FaultPlan,
        names: Callable[[str], Iterable[str]],
        account_id: str,
        region: str,
        ip_address: str = "127.0.0.1",
        port: int = 0,
        outputs: Callable[[], Mapping[str, Any]] | None = None,
        policies: Policies | None = None,
        pool_keys: PoolKeys | None = None,
        meter: Meter | None = None,
        doorbell: Doorbell | None = None,
        threads: int = 64,
    ) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.threads = threads
        self._server: CherootServer | None = None  # type: ignore[assignment]  # moto's is werkzeug's
        self.policies = policies or Policies(account_id)
        direct = DirectDynamoDB(account_id)
        self.pool_keys = pool_keys or PoolKeys(account_id)
        self.region = region
        self.account_id = account_id
        self.application = FaultInjection(
            _Dispatcher(create_backend_app),
            faults=faults,
            names=names,
            key_names=lambda table: _key_names(account_id, region, table),
            outputs=outputs,
            meter=meter,
            doorbell=doorbell,
            direct=direct,
        )

    def _server_entry(self) -> None:
        # IAM first, as in AWS: a refused call is never throttled or conflicted, and never reaches the backend.
        application = InAccount(
            IamEnforcement(PoolKeySets(self.application, self.pool_keys), self.policies, self.region), self.account_id
        )
        # Cheroot rather than moto's werkzeug development server, which closes the connection after every answer (a
        # new TCP connection and a new thread for every AWS call) and then waits up to 10 ms for more input.
        # Cheroot keeps connections alive between calls and serves them from a pool of threads; the pool is sized so
        # that calls which wait on a function (Invoke, a task's callback) never hold every thread.
        server = self._server = CherootServer(
            (self._ip_address, self._port),
            application,
            numthreads=self.threads,
            request_queue_size=LISTEN_BACKLOG,
            shutdown_timeout=1,
        )
        # Every function's worker keeps its own connections: cheroot's default (10 waiting keep-alive connections)
        # would close the rest after each answer, and idle ones still expire after the server's timeout (10 s).
        server.keep_alive_conn_limit = KEEP_ALIVE_CONNECTIONS
        server.prepare()
        self._server_ready_event.set()
        server.serve()

    def get_host_and_port(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the AWS endpoint is not started")
        host, port = self._server.bind_addr[:2]
        return str(host), int(port)

    def stop(self) -> None:
        self._server_ready_event.clear()
        if self._server is not None:
            self._server.stop()
        if self._thread is not None:
            self._thread.join()


class InAccount:
    """WSGI middleware: every request is served from the endpoint's account (moto's `x-moto-account-id`), whatever
    credentials sign it, and moto's reset forgets that account only (localcloud.moto_hooks): other clouds in the
    process keep theirs."""

    def __init__(self, app: Callable[[Environ, StartResponse], Iterable[bytes]], account_id: str) -> None:
        self.app = app
        self.account_id = account_id

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == RESET_PATH and environ.get("REQUEST_METHOD") == "POST":
            moto_hooks.reset_account(self.account_id)
            return _respond(start_response, 200, {"status": "ok"})
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = self.account_id
        return self.app(environ, start_response)


class FaultInjection:
    """WSGI middleware: the control endpoint, and DynamoDB's answers under contention when a rule fires."""

    def __init__(
        self,
        app: Callable[[Environ, StartResponse], Iterable[bytes]],
        *,
        faults: FaultPlan,
        names: Callable[[str], Iterable[str]],
        key_names: Callable[[str], list[str]],
        outputs: Callable[[], Mapping[str, Any]] | None = None,
        meter: Meter | None = None,
        doorbell: Doorbell | None = None,
        direct: DirectDynamoDB | None = None,
    ) -> None:
        self.app = app
        self._direct = direct  # DynamoDB's item calls straight to moto's handler (None: all through moto's server)
        self.doorbell = doorbell or Doorbell()  # rung for the event sources when a queue or a stream has news
        self._outputs = outputs or dict  # the stack's outputs once it is up (none before)
        self.meter = meter or Meter()  # the billable units served (localcloud.meter)
        self.faults = faults
        self._names = names  # a physical name -> every name a rule may use for it (its logical id too)
        self._key_names = key_names
        self.messages = MessageLedger()
        # The WebSocket API's @connections API (localcloud.websocket_api): (method, path, body) -> its answer, or None
        # for a request that is not its. Set once the API is served.
        self.connections: Callable[[str, str, bytes], tuple[int, list[tuple[str, str]], bytes] | None] | None = None
        # API Gateway's FlushStageCache for the local gateway's stage cache (localcloud.api_cache): (method, path) ->
        # its answer, or None for a request that is not its. Set when the stage caches.
        self.stage_cache: Callable[[str, str], tuple[int, list[tuple[str, str]], bytes] | None] | None = None
        # DynamoDB's exports to S3 (localcloud.table_exports): (operation, body) -> its answer. Set once the stack is
        # up; moto's own export writes no manifest and ignores the export's time.
        self.table_exports: Callable[[str, bytes], tuple[int, list[tuple[str, str]], bytes]] | None = None
        # Held by every DynamoDB (and DynamoDB Streams) request, and by anything in this process that changes
        # moto's tables directly (the TTL reaper).
        self.dynamodb_lock = threading.RLock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        local = self._local(environ, start_response)
        if local is not None:
            return local
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        observed = environ.get("HTTP_" + OBSERVER_HEADER.upper().replace("-", "_")) == "true"
        if target.startswith(_SQS_TARGET):
            return self._sqs(target.removeprefix(_SQS_TARGET), observed, environ, start_response)
        if not target and not observed and _is_sns_publish(environ):
            self.meter.add("sns.publishes")
        if target.startswith(_DYNAMODB_TARGET):
            return self._dynamodb(target.removeprefix(_DYNAMODB_TARGET), observed, environ, start_response)
        if target.startswith(_DYNAMODB_TARGETS):  # the streams' reads
            return self._streams(target.rsplit(".", 1)[-1], environ, start_response)
        return self.app(environ, start_response)

    def _streams(self, operation: str, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        body = read_body(environ)
        request = _json_request(body)
        with self.dynamodb_lock:
            direct = None
            if self._direct is not None and request is not None:
                authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
                direct = stream_answer(self._direct.account_id, operation, request, authorization)
            if direct is None:
                return list(self.app(environ, start_response))
        start_response(
            f"{direct.status} {HTTPStatus(direct.status).phrase}",
            [*direct.headers, ("Content-Length", str(len(direct.body)))],
        )
        return [direct.body]

    def _sqs(self, operation: str, observed: bool, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if not observed:
            self.meter.add("sqs.requests")
        request = json_object(read_body(environ))
        served = self.messages.track(operation, request, environ, start_response, self.app)
        if operation in _SQS_ARRIVALS:
            self.doorbell.ring(queue_name(str(request.get("QueueUrl", ""))))
        return served

    def _dynamodb(self, operation: str, observed: bool, environ: Environ, start_response: StartResponse) -> list[bytes]:
        """The shop's table calls (not an observer's) may meet a fault and are metered, both from the body as sent."""
        body = read_body(environ)
        if self.table_exports is not None and operation in EXPORT_OPERATIONS:
            with self.dynamodb_lock:  # the export reads the table and its change log as of one moment
                return _sent(self.table_exports(operation, body), start_response) or []
        request = _json_request(body)  # None: malformed, which moto answers itself
        answer = self._dynamodb_fault(operation, request) if request is not None and not observed else None
        if answer is not None:
            return _respond(start_response, 400, answer, "application/x-amz-json-1.0")
        # moto applies a transaction item by item (and puts the items back when one fails): concurrent requests
        # would see half a transaction. DynamoDB isolates transactions; one request at a time is how the emulator
        # does too.
        with self.dynamodb_lock:
            served, answered = self._serve_dynamodb(operation, body, request, environ, start_response)
        if request is not None and not observed:
            self.meter.dynamodb(operation, request, answered if answered is not None else _json_answer(served))
        if request is not None and operation in _DYNAMODB_WRITES:
            for table in _tables_written(request):
                self.doorbell.ring(table)
        return served

    # -- DynamoDB ------------------------------------------------------------------------------------------------

    def _serve_dynamodb(
        self,
        operation: str,
        body: bytes,
        request: dict[str, Any] | None,
        environ: Environ,
        start_response: StartResponse,
    ) -> tuple[list[bytes], dict[str, Any] | None]:
        """The answer's body, and its JSON when it was made here (None: moto's server made it)."""
        direct = None
        if self._direct is not None and request is not None:
            direct = self._direct.answer(operation, body, request, str(environ.get("HTTP_AUTHORIZATION", "")))
        if direct is None:
            return list(self.app(environ, start_response)), None
        start_response(
            f"{direct.status} {HTTPStatus(direct.status).phrase}",
            [*direct.headers, ("Content-Length", str(len(direct.body)))],
        )
        return [direct.body], direct.answered

    def _dynamodb_fault(self, operation: str, request: dict[str, Any]) -> dict[str, Any] | None:
        if operation in _TRANSACTIONS:
            if not self.faults.has_any((Fault.TRANSACTION_CONFLICT, Fault.TRANSACTION_THROTTLED)):
                return None
            return self._cancelled_transaction(operation, request)
        if not self.faults.has_any((Fault.THROUGHPUT_EXCEEDED, Fault.THROTTLING)):
            return None
        involved = list(self._items_of(operation, request))
        call = Call(
            table=self._all_names(table for table, _ in involved),
            items=[value for _, values in involved for value in values],
            operation=operation,
        )
        rule = self.faults.decide((Fault.THROUGHPUT_EXCEEDED, Fault.THROTTLING), call, f"DynamoDB {operation}")
        if rule is None:
            return None
        code, message = _ANSWERS[rule.fault]
        return {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}

    def _cancelled_transaction(self, operation: str, request: dict[str, Any]) -> dict[str, Any] | None:
        entries = [_transaction_entry(item) for item in request.get("TransactItems", [])]
        per_item = [(table, self._key_values(table, key)) for table, key in entries]
        call = Call(
            table=self._all_names(table for table, _ in per_item),
            items=[value for _, values in per_item for value in values],
            operation=operation,
        )
        rule = self.faults.decide((Fault.TRANSACTION_CONFLICT, Fault.TRANSACTION_THROTTLED), call, operation)
        if rule is None:
            return None
        code, message = _ANSWERS[rule.fault]
        # The items the rule names are the contended ones; a rule naming no table or item contends them all.
        reasons = [
            {"Code": code, "Message": message}
            if _item_matches(rule, set(self._names(table)), values)
            else {"Code": "None"}
            for table, values in per_item
        ]
        listed = ", ".join(reason["Code"] for reason in reasons)
        return {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{listed}]",
            "CancellationReasons": reasons,
        }

    def _items_of(self, operation: str, request: dict[str, Any]) -> Iterator[tuple[str, list[str]]]:
        """(table, key values) of every item a single-item or batch call touches ([] for queries and scans)."""
        if "TableName" in request:
            key = request.get("Key") or request.get("Item") or {}
            yield request["TableName"], self._key_values(request["TableName"], key)
        for table, requests in request.get("RequestItems", {}).items():
            if isinstance(requests, dict):  # BatchGetItem: {"Keys": [...]}
                for key in requests.get("Keys", []):
                    yield table, self._key_values(table, key)
            else:  # BatchWriteItem: [{"PutRequest": {"Item"}} | {"DeleteRequest": {"Key"}}]
                for write in requests:
                    inner = write.get("PutRequest") or write.get("DeleteRequest") or {}
                    yield table, self._key_values(table, inner.get("Item") or inner.get("Key") or {})

    def _key_values(self, table: str, attributes: dict[str, Any]) -> list[str]:
        """The values of the item's key attributes (a Put carries the whole item: only its key counts)."""
        try:
            names = self._key_names(table)
        except LookupError:
            names = list(attributes)
        values: list[str] = []
        for name in names:
            typed = attributes.get(name, {})
            values.extend(str(value) for kind, value in typed.items() if kind in ("S", "N"))
        return values

    def _all_names(self, tables: Iterable[str]) -> list[str]:
        return [name for table in tables for name in self._names(table)]

    # -- The control endpoint ------------------------------------------------------------------------------------

    def _local(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes] | None:
        """What the local cloud itself answers: its control endpoint, its outputs, the @connections API."""
        path = str(environ.get("PATH_INFO", ""))
        if path == CONTROL_PATH:
            return self._control(environ, start_response)
        if path == OUTPUTS_PATH:
            return self._serve_outputs(environ, start_response)
        method = str(environ.get("REQUEST_METHOD", "GET"))
        if self.connections is not None and CONNECTIONS_PATH in path:
            return _sent(self.connections(method, path, read_body(environ)), start_response)
        if self.stage_cache is not None and path.endswith(STAGE_CACHE_PATH):
            return _sent(self.stage_cache(method, path), start_response)
        return None

    def _serve_outputs(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") != "GET":
            return _respond(start_response, 405, {"message": "GET only"})
        return _respond(start_response, 200, dict(self._outputs()))

    def _control(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "GET":
            return _respond(start_response, 200, self.faults.describe())
        if method == "DELETE":
            self.faults.clear()
            return _respond(start_response, 200, self.faults.describe())
        if method != "POST":
            return _respond(start_response, 405, {"message": "GET, POST or DELETE"})
        try:
            payload = json.loads(read_body(environ) or b"null")
            raw_rules = payload.get("rules") if isinstance(payload, dict) else payload
            if not isinstance(raw_rules, list) or not all(isinstance(raw, dict) for raw in raw_rules):
                raise FaultRuleError('send {"rules": [{"fault": ...}, ...]}')
            rules = [Rule.parse(raw) for raw in raw_rules]
        except (ValueError, FaultRuleError) as exc:
            return _respond(start_response, 400, {"message": str(exc)})
        self.faults.add(rules)
        return _respond(start_response, 201, self.faults.describe())


class MessageLedger:
    """Every SQS message sent and deleted through the endpoint, by message id (moto keeps a message's id when its
    redrive policy moves it to a dead-letter queue, so an id is one message wherever it goes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: dict[str, set[str]] = {}  # queue URL -> message ids
        self.deleted: dict[str, set[str]] = {}  # queue URL -> message ids
        self._handles: dict[str, str] = {}  # receipt handle -> message id

    def track(
        self,
        operation: str,
        request: dict[str, Any],
        environ: Environ,
        start_response: StartResponse,
        app: Callable[[Environ, StartResponse], Iterable[bytes]],
    ) -> Iterable[bytes]:
        """Serve the call (`request` is its body, parsed) and record the messages it sent, received or deleted."""
        status: list[str] = []

        def remember_status(code: str, headers: Any, *rest: Any) -> Any:
            status.append(code)
            return start_response(code, headers, *rest)

        body = b"".join(app(environ, remember_status))
        if status and status[0].startswith("200"):
            self._record(operation, request, json_object(body))
        return [body]

    def _record(self, operation: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        queue = str(request.get("QueueUrl", ""))
        with self._lock:
            if operation == "SendMessage":
                self.sent.setdefault(queue, set()).add(str(response.get("MessageId")))
            elif operation == "SendMessageBatch":
                self.sent.setdefault(queue, set()).update(
                    str(entry["MessageId"]) for entry in response.get("Successful", [])
                )
            elif operation == "ReceiveMessage":
                for message in response.get("Messages", []):
                    self._handles[message["ReceiptHandle"]] = message["MessageId"]
            elif operation == "DeleteMessage":
                self._delete(queue, [request.get("ReceiptHandle", "")])
            elif operation == "DeleteMessageBatch":
                handles = {entry["Id"]: entry["ReceiptHandle"] for entry in request.get("Entries", [])}
                self._delete(
                    queue, [handles[entry["Id"]] for entry in response.get("Successful", []) if entry["Id"] in handles]
                )

    def _delete(self, queue: str, handles: list[str]) -> None:
        ids = {self._handles[handle] for handle in handles if handle in self._handles}
        self.deleted.setdefault(queue, set()).update(ids)

    def snapshot(self) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        with self._lock:
            return (
                {queue: set(ids) for queue, ids in self.sent.items()},
                {queue: set(ids) for queue, ids in self.deleted.items()},
            )


def observer(client: Any) -> Any:
    """Mark every request of a boto3 client as the observer's: the fault rules leave it alone."""
    client.meta.events.register("before-sign.*.*", _mark_observer)
    return client


def _mark_observer(request: Any, **_: Any) -> None:
    request.headers[OBSERVER_HEADER] = "true"


def _is_sns_publish(environ: Environ) -> bool:
    """SNS speaks the query protocol: the action is a form field of the body."""
    if "application/x-www-form-urlencoded" not in str(environ.get("CONTENT_TYPE", "")):
        return False
    if "/sns/" not in str(environ.get("HTTP_AUTHORIZATION", "")):
        return False
    fields = parse_qs(read_body(environ).decode(errors="replace"))
    return fields.get("Action", [""])[0] in ("Publish", "PublishBatch")


def _json_request(body: bytes) -> dict[str, Any] | None:
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return None
    return request if isinstance(request, dict) else None


def _json_answer(served: Iterable[bytes]) -> dict[str, Any]:
    try:
        answered = json.loads(b"".join(served) or b"{}")
    except ValueError:
        return {}
    return answered if isinstance(answered, dict) else {}


def _tables_written(request: dict[str, Any]) -> set[str]:
    """The tables a write request names (one, a batch's, or a transaction's)."""
    tables = {str(request["TableName"])} if "TableName" in request else set()
    tables.update(str(table) for table in request.get("RequestItems", {}))
    tables.update(table for table, _ in map(_transaction_entry, request.get("TransactItems", [])) if table)
    return tables


def _transaction_entry(item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    operation: dict[str, Any] = next(iter(item.values()), {})  # {"Put" | "Update" | "Delete" | ...: {...}}
    return str(operation.get("TableName", "")), operation.get("Key") or operation.get("Item") or {}


def _item_matches(rule: Rule, table_names: set[str], values: list[str]) -> bool:
    return (rule.table is None or rule.table in table_names) and (rule.item is None or rule.item in values)


def _key_names(account_id: str, region: str, table_name: str) -> list[str]:
    """The table's key attributes, from moto's backend in this process (LookupError for an unknown table)."""
    backend = get_backend("dynamodb")[account_id][region]
    table = backend.tables.get(table_name)
    if table is None:
        raise LookupError(table_name)
    return [name for name in (table.hash_key_attr, table.range_key_attr) if name]


def _sent(answer: tuple[int, list[tuple[str, str]], bytes] | None, start_response: StartResponse) -> list[bytes] | None:
    """A local API's answer (status, headers, body) sent as it is; None when the request was not that API's."""
    if answer is None:
        return None
    status, headers, body = answer
    start_response(f"{status} {HTTPStatus(status).phrase}", [*headers, ("Content-Length", str(len(body)))])
    return [body]


def _respond(
    start_response: StartResponse, status: int, payload: Any, content_type: str = "application/json"
) -> list[bytes]:
    body = json.dumps(payload).encode()
    reasons = {200: "OK", 201: "Created", 400: "Bad Request", 405: "Method Not Allowed"}
    start_response(
        f"{status} {reasons.get(status, 'Error')}",
        [("Content-Type", content_type), ("Content-Length", str(len(body))), ("x-amzn-RequestId", str(uuid.uuid4()))],
    )
    return [body]

"""What the local cloud changes in moto while a cloud runs, and why: each change is one that a long or busy run
found, where moto's behaviour was not AWS's.

Memory (a 1000-order fault run, `make chaos ORDERS=1000`, grew past 23 GB and was killed by the kernel):

- moto records every model object it ever creates (every DynamoDB item version, SQS message, stream record,
  execution...) in a list on its class, for its dashboard. Nothing is ever freed. While a cloud runs, only the
  objects moto's own reset must dispose of (S3 keys and multipart uploads, which hold temporary files) are recorded.
- moto's TransactWriteItems deep-copies every table the transaction names before applying it (to put the copies
  back if an item fails): O(table) time and memory per transaction, items and stream history included, and with the
  recording above every copy was kept for good. `transact_write_items` here checks each item and applies it as
  moto does, but remembers only the items the transaction names and how long each table's stream was; a
  transaction that fails puts those items back and cuts the streams back, so that nothing of it is seen, as in
  DynamoDB. The cloud runs one DynamoDB request at a time (localcloud.aws_endpoint), as moto's own version assumes.

Step Functions callbacks (the same run): SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat look for the task
among all running executions, and one whose interpreter was still starting (its environment not made yet) made the
call fail with a 500 for every task at that moment. An execution without a live interpreter holds no waiting task:
it is passed over, and the call answers for its own task as AWS does. And a task's token is valid from the moment
its message is sent, but moto only begins to take heartbeats once its interpreter begins to wait: a worker that
received the message first and sent SendTaskHeartbeat got InvalidToken, concluded that nothing waited for the job
and dropped it, and the order waited for its heartbeat timeout (a day). Found when the pollers began to wake at
once (decision 8): a heartbeat, or the task's result, that comes before the wait now counts when the wait begins,
and a task without HeartbeatSeconds takes heartbeats as AWS does.

Speed (`make bench`, 50 orders from 5 clients): moto parses a state machine's definition with its ANTLR grammar, in
pure Python, again for every execution it starts: a tenth of the local cloud's CPU. The parse tree depends on the
definition's text alone, so it is kept per text; every execution still builds its own evaluation components from
it, as before. Likewise moto's parser of DynamoDB update expressions (a third of the time of a transaction that
updates an order): its tree is kept per expression text (moto's validator works on a deep copy of it, so it is never
changed). (Step Functions' task clients are kept too, per cloud: localcloud.moto_hooks.)

These changes are the same for every account: localcloud.moto_hooks makes them once for all the clouds in a process.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, cast
from unittest import mock

from moto.core.common_models import BaseModel
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing import expressions as update_expressions
from moto.s3.models import FakeKey, FakeMultipart
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, HeartbeatEndpoint
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

# What moto's S3 reset disposes of through the recorded objects: their temporary files must not leak either.
_DISPOSED_ON_RESET = (FakeKey, FakeMultipart)
_OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})
_NO_REASON: tuple[None, None, None] = (None, None, None)
CONDITION_FAILED = "The conditional request failed"


def _recorded_only_if_disposable(cls: type[BaseModel], *args: Any, **kwargs: Any) -> BaseModel:
    instance: BaseModel = object.__new__(cls)
    if issubclass(cls, _DISPOSED_ON_RESET):
        cls.instances_tracked.append(instance)  # type: ignore[union-attr]  # moto adds it to each model class
    return instance


@dataclass
class _Before:
    """What one transaction item's table and item were before the transaction."""

    table: Table
    hash_value: DynamoType
    range_value: DynamoType | None
    item: Item | None


def _key_of(table: Table, op_type: str, op: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    attributes = op["Item"] if op_type == "Put" else op["Key"]
    hash_value = DynamoType(attributes[table.hash_key_attr])
    range_attribute = table.range_key_attr
    return hash_value, DynamoType(attributes[range_attribute]) if range_attribute else None


def _put_back(before: list[_Before], stream_lengths: dict[str, int], backend: DynamoDBBackend) -> None:
    for entry in reversed(before):
        table, hash_value, range_value = entry.table, entry.hash_value, entry.range_value
        if entry.item is None:
            table.delete_item(hash_value, range_value)
        elif range_value is not None:
            table.items[hash_value][range_value] = entry.item
        else:
            table.items[hash_value] = entry.item  # type: ignore[assignment]
    for name, length in stream_lengths.items():
        shard = backend.tables[name].stream_shard
        if shard is not None:
            del shard.items[length:]


def _condition_holds(op: dict[str, Any], current: Item | None) -> bool:
    """The item's condition against its current value, as moto evaluates it."""
    condition = op.get("ConditionExpression")
    if condition is None:
        return True
    names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    return bool(get_filter_expression(condition, names, values).expr(current))


def _apply(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> None:
    table, names, values = op["TableName"], op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    condition = op.get("ConditionExpression")
    if op_type == "Put":
        backend.put_item(
            table,
            op["Item"],
            condition_expression=condition,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )
    elif op_type == "Delete":
        backend.delete_item(
            table,
            op["Key"],
            condition_expression=condition,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )
    elif op_type == "Update":
        backend.update_item(
            table,
            op["Key"],
            update_expression=op["UpdateExpression"],
            condition_expression=condition,
            expression_attribute_names=names or {},
            expression_attribute_values=values or {},
        )


def transact_write_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """All of the items or none, remembering only what the transaction touches (see the module's docstring)."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    before: list[_Before] = []
    stream_lengths: dict[str, int] = {}
    targets: set[tuple[str, str]] = set()
    reasons: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    for entry in transact_items:
        if len(entry) != 1:
            raise TransactWriteSingleOpException
        ((op_type, op),) = entry.items()
        try:
            if op_type not in _OPERATIONS:
                raise ValueError("Unsupported transaction operation")
            table = backend.get_table(op["TableName"])
            hash_value, range_value = _key_of(table, op_type, op)
            target = (table.name, f"{hash_value}/{range_value}")
            if target in targets:
                raise MultipleTransactionsException()
            targets.add(target)
            if table.stream_shard is not None:
                stream_lengths.setdefault(table.name, len(table.stream_shard.items))
            current = table.get_item(hash_value, range_value)
            before.append(_Before(table, hash_value, range_value, copy.deepcopy(current)))
            if not _condition_holds(op, current):
                wanted = op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None
                old_image = current.to_json()["Attributes"] if wanted and current is not None else None
                reasons.append(("ConditionalCheckFailed", CONDITION_FAILED, old_image))
                continue
            _apply(backend, op_type, op)
            reasons.append(_NO_REASON)
        except (MultipleTransactionsException, MockValidationException):
            _put_back(before, stream_lengths, backend)
            raise
        except ConditionalCheckFailed:
            reasons.append(("ConditionalCheckFailed", CONDITION_FAILED, None))
        except Exception as failed:  # moto's own rule: any other failure is that item's cancellation reason
            reasons.append((type(failed).__name__, str(failed), None))
    if any(code is not None for code, _, _ in reasons):
        _put_back(before, stream_lengths, backend)
        raise TransactionCanceledException(reasons)


_all_executions = StepFunctionsParserBackend._get_executions


def _executions(backend: StepFunctionsParserBackend, execution_status: ExecutionStatus | None = None) -> list[Any]:
    """moto's executions in that status; the running ones only while their interpreter is alive."""
    executions: list[Any] = _all_executions(backend, execution_status)
    if execution_status != ExecutionStatus.RUNNING:
        return executions
    return [e for e in executions if e.exec_worker is not None and e.exec_worker.env is not None]


_MOTO_SETUP_HEARTBEAT = CallbackEndpoint.setup_heartbeat_endpoint
_EARLY_HEARTBEAT = "_localcloud_early_heartbeat"


def _notify_heartbeat(endpoint: CallbackEndpoint) -> bool:
    """A heartbeat for a task whose token is out: taken (and remembered when the interpreter is not waiting yet)."""
    heartbeat: Any = endpoint._heartbeat_endpoint  # moto's HeartbeatEndpoint.notify is untyped
    if heartbeat is None:
        setattr(endpoint, _EARLY_HEARTBEAT, True)
    else:
        heartbeat.notify()
    return True


def _setup_heartbeat_endpoint(endpoint: CallbackEndpoint, heartbeat_seconds: int) -> HeartbeatEndpoint:
    """moto's, then a heartbeat or a result that came before it counts as the first heartbeat of the wait."""
    heartbeat: Any = _MOTO_SETUP_HEARTBEAT(endpoint, heartbeat_seconds)  # moto's notify is untyped
    if getattr(endpoint, _EARLY_HEARTBEAT, False) or endpoint.get_outcome() is not None:
        heartbeat.notify()
    return cast(HeartbeatEndpoint, heartbeat)


@functools.lru_cache(maxsize=64)
def _parse_tree(definition: str) -> Any:  # antlr4's ParserRuleContext (antlr4 has no type hints)
    """The definition's parse tree (moto's parser raises for a definition with syntax errors, and nothing is kept)."""
    _, tree = AmazonStateLanguageParser.parse(definition)
    return tree


# moto marks the module `type: ignore`, so its names are untyped here.
_UPDATE_EXPRESSION_PARSER: Any = cast(Any, update_expressions).UpdateExpressionParser
_MOTO_UPDATE_EXPRESSION = _UPDATE_EXPRESSION_PARSER.make


@functools.lru_cache(maxsize=1024)
def _update_expression(expression: str) -> Any:  # moto's UpdateExpression node
    """UpdateExpressionParser.make, once per expression text (moto raises for a malformed one: nothing is kept)."""
    return _MOTO_UPDATE_EXPRESSION(expression)


def _evaluation_entrypoint(worker: ExecutionWorker) -> EvalComponent:
    """ExecutionWorker._get_evaluation_entrypoint from a kept parse tree: fresh components for each execution."""
    program: EvalComponent = Preprocessor().visit(
        _parse_tree(worker._evaluation_details.state_machine_details.definition)
    )
    return program


@contextmanager
def fixed_moto() -> Iterator[None]:
    """While inside: moto records only the objects its reset disposes of, transactions copy no tables, task
    callbacks pass over executions whose interpreter is still starting, and parse trees are shared."""
    with ExitStack() as patches:
        patches.enter_context(mock.patch.object(BaseModel, "__new__", _recorded_only_if_disposable))
        patches.enter_context(mock.patch.object(DynamoDBBackend, "transact_write_items", transact_write_items))
        patches.enter_context(mock.patch.object(StepFunctionsParserBackend, "_get_executions", _executions))
        patches.enter_context(mock.patch.object(CallbackEndpoint, "notify_heartbeat", _notify_heartbeat))
        patches.enter_context(
            mock.patch.object(CallbackEndpoint, "setup_heartbeat_endpoint", _setup_heartbeat_endpoint)
        )
        patches.enter_context(mock.patch.object(ExecutionWorker, "_get_evaluation_entrypoint", _evaluation_entrypoint))
        patches.enter_context(mock.patch.object(_UPDATE_EXPRESSION_PARSER, "make", _update_expression))
        yield

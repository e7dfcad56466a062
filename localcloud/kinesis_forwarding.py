"""DynamoDB's Kinesis Data Streams destination: every change of one table, put into a Kinesis stream as DynamoDB
writes it there (JSON, both images, epoch-millisecond times), read from moto's change log of the table."""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import logging
import threading
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

from moto.backends import get_backend

logger = logging.getLogger(__name__)

# Changes read from the table's log, and put into the stream, per poll (the DynamoDB lock is held while reading).
_PAGE = 500
# What DynamoDB writes in `userIdentity` of a change its TTL process made (localcloud.pollers marks those records
# in moto's log with DynamoDB Streams' spelling, {"Type", "PrincipalId"}); any other change has null.
_SERVICE = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


class KinesisStreamingDestination:
    """One table's Kinesis data stream destination, as `EnableKinesisStreamingDestination` sets it up.

    DynamoDB's destination is its own change capture; locally the table's changes are read from moto's DynamoDB
    Streams log (its one shard, straight from the backend in this process), so the table needs a stream with
    NEW_AND_OLD_IMAGES in moto (the template's OrdersTable has one). Forwarding starts with the changes made after
    the destination was created, as DynamoDB starts when the destination becomes ACTIVE. Each change goes to the
    stream with a partition key made from the item's key, so one item's changes stay in order on one shard.
    """

    def __init__(
        self,
        *,
        account_id: str,
        region: str,
        table_name: str,
        stream_name: str,
        dynamodb_lock: AbstractContextManager[Any],
        kinesis_lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        """`dynamodb_lock` is the one the local cloud holds around moto's DynamoDB (its transactions are applied
        item by item and rolled back by replacing the table, so its log is read only while no request runs).
        `kinesis_lock`, when given, is held around every put into moto's Kinesis stream: moto's shards are not safe
        for concurrent writers and readers, so give it the lock the stream's reader (localcloud.firehose) holds."""
        self.account_id = account_id
        self.region = region
        self.table_name = table_name
        self.stream_name = stream_name
        self._dynamodb_lock = dynamodb_lock
        self._kinesis_lock = kinesis_lock or nullcontext()
        self._forwarded = 0
        self._polling = threading.Lock()
        self.rung_by = (table_name,)  # polled when the table is written (localcloud.doorbell), and when idle
        with self._kinesis_lock:
            self._kinesis().describe_stream(stream_arn=None, stream_name=stream_name)  # the stream must exist
        with self._dynamodb_lock:
            table = self._table()
            self._label = table.latest_stream_label
            self._next = len(table.stream_shard.items)  # the index in moto's log of the next change to forward

    def __repr__(self) -> str:
        return f"KinesisStreamingDestination({self.table_name} -> {self.stream_name})"

    @property
    def forwarded(self) -> int:
        """How many changes were put into the stream so far."""
        return self._forwarded

    def poll_once(self) -> int:
        """Put the table's next changes into the stream, oldest first; returns how many. One poll at a time (the
        pollers' thread, and a flush on demand), so no change is put twice."""
        with self._polling:
            return self._forward()

    def _forward(self) -> int:
        with self._dynamodb_lock:
            table = self._table()
            if table.latest_stream_label != self._label:
                # The table's stream was switched off and on again: a new log, every change in it is newer.
                self._label, self._next = table.latest_stream_label, 0
            items = table.stream_shard.items
            if len(items) < self._next:
                raise RuntimeError(
                    f"moto's change log of table {self.table_name} lost records (now {len(items)}, "
                    f"{self._next} read): is a moto Lambda event source mapping consuming it?"
                )
            changes = [self._kinesis_record(item.to_json()) for item in items[self._next : self._next + _PAGE]]
        for partition_key, data in changes:
            with self._kinesis_lock:
                self._kinesis().put_record(
                    stream_arn=None,
                    stream_name=self.stream_name,
                    partition_key=partition_key,
                    explicit_hash_key="",
                    data=base64.b64encode(data).decode(),
                )
            self._next += 1
            self._forwarded += 1
        return len(changes)

    def _table(self) -> Any:
        table = get_backend("dynamodb")[self.account_id][self.region].get_table(self.table_name)
        specification = table.stream_specification or {}
        if table.stream_shard is None or specification.get("StreamViewType") != "NEW_AND_OLD_IMAGES":
            raise ValueError(
                f"table {self.table_name} needs a NEW_AND_OLD_IMAGES stream in moto: the local Kinesis destination "
                "reads its changes, with both images, from that stream's log"
            )
        return table

    def _kinesis(self) -> Any:
        return get_backend("kinesis")[self.account_id][self.region]

    def _kinesis_record(self, change: dict[str, Any]) -> tuple[str, bytes]:
        """A change from moto's log as DynamoDB writes it to Kinesis, and its partition key (made JSON now, while
        the DynamoDB lock is held)."""
        stream_record = change["dynamodb"]
        dynamodb: dict[str, Any] = {
            "ApproximateCreationDateTime": _epoch_millis(stream_record["ApproximateCreationDateTime"]),
            "Keys": stream_record["Keys"],
        }
        # DynamoDB's Kinesis destination sends both images whatever the table's StreamViewType.
        for image in ("NewImage", "OldImage"):
            if image in stream_record:
                dynamodb[image] = stream_record[image]
        dynamodb["SizeBytes"] = stream_record["SizeBytes"]
        dynamodb["ApproximateCreationDateTimePrecision"] = "MILLISECOND"
        identity = change.get("userIdentity")
        record = {
            "awsRegion": self.region,
            "eventID": change["eventID"],
            "eventName": change["eventName"],
            "userIdentity": dict(_SERVICE) if identity else None,
            "recordFormat": "application/json",
            "tableName": self.table_name,
            "dynamodb": dynamodb,
            "eventSource": "aws:dynamodb",
        }
        data = json.dumps(record, default=_base64).encode()
        keys = json.dumps(stream_record["Keys"], sort_keys=True, default=_base64).encode()
        # Not for security: a hash of the key spreads items over the shards and keeps each item on one.
        return hashlib.md5(keys, usedforsecurity=False).hexdigest().upper(), data


def _epoch_millis(moment: datetime) -> int:
    """moto keeps a record's creation time as a naive UTC datetime."""
    return calendar.timegm(moment.timetuple()) * 1000 + moment.microsecond // 1000


def _base64(value: Any) -> str:
    """A binary attribute (moto keeps a top-level one as bytes), as DynamoDB's JSON carries it."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON")

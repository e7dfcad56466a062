"""DynamoDB's export to S3 (ExportTableToPointInTime, DescribeExport, ListExports) for the local cloud.

moto's own export writes one file of the table as it is now, with no manifest, and ignores ExportTime and
incremental exports. This one writes what DynamoDB writes (docs/reports.md): `_started`, the data files (gzip
DynamoDB JSON lines), `manifest-files.json` and `manifest-summary.json` under `<prefix>/AWSDynamoDB/<export id>/`,
for a full export at any moment of the recovery window and for an incremental export of a window.

A moment in the past is rebuilt from the table's change log, which is its DynamoDB stream as moto keeps it (every
record, with its time): the items now, with the changes made since that moment undone from their old images. So a
table without a stream, or whose stream does not keep old images, can be exported only as it is now; an export of
another moment is refused with a ValidationException that says so (stricter than DynamoDB, which reads its own
backups). The recovery window starts when the table was created. An export is written when it is asked for and is
IN_PROGRESS in that answer, as in DynamoDB; it is COMPLETED (or FAILED) from the first DescribeExport on.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.s3.models import s3_backends

from localcloud.iam import json_object

OPERATIONS = frozenset({"ExportTableToPointInTime", "DescribeExport", "ListExports"})
CONTENT_TYPE = "application/x-amz-json-1.0"
_SHORTEST_WINDOW = timedelta(minutes=15)
_LONGEST_WINDOW = timedelta(hours=24)
# DynamoDB keeps a client token's request for 8 hours: the same token and request within them is the same export.
_TOKEN_LIFETIME = timedelta(hours=8)

Answer = tuple[int, list[tuple[str, str]], bytes]
Image = dict[str, Any]


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Export:
    arn: str
    request: dict[str, Any]
    started: datetime
    token: str | None
    status: str = "IN_PROGRESS"
    described: bool = False
    ended: datetime | None = None
    manifest: str | None = None
    item_count: int = 0
    billed_bytes: int = 0
    failure: tuple[str, str] | None = None
    export_time: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class TableExports:
    """One account's exports. `answer` serves a DynamoDB request of one of OPERATIONS, with its JSON body."""

    def __init__(self, account_id: str, region: str, clock: Any = None) -> None:
        self.account_id = account_id
        self.region = region
        self._now = clock or (lambda: datetime.now(UTC))
        self._exports: dict[str, _Export] = {}
        self._lock = threading.Lock()

    def answer(self, operation: str, body: bytes) -> Answer:
        request = json_object(body)
        try:
            with self._lock:
                if operation == "ExportTableToPointInTime":
                    return _ok({"ExportDescription": self._start(request)})
                if operation == "DescribeExport":
                    return _ok({"ExportDescription": self._describe(str(request.get("ExportArn", "")))})
                return _ok(self._list(request))
        except _Refused as refused:
            return (
                400,
                [("Content-Type", CONTENT_TYPE)],
                json.dumps(
                    {"__type": f"com.amazonaws.dynamodb.v20120810#{refused.code}", "message": refused.message}
                ).encode(),
            )

    # -- the operations -------------------------------------------------------------------------------------------

    def _start(self, request: dict[str, Any]) -> dict[str, Any]:
        for required in ("TableArn", "S3Bucket"):
            if not isinstance(request.get(required), str) or not request[required]:
                raise _Refused("ValidationException", f"{required} is required")
        if request.get("ExportFormat", "DYNAMODB_JSON") != "DYNAMODB_JSON":
            raise _Refused("ValidationException", "only ExportFormat DYNAMODB_JSON is emulated (ION is not)")
        token = request.get("ClientToken")
        now = self._now()
        if token:
            same = [e for e in self._exports.values() if e.token == token and now - e.started < _TOKEN_LIFETIME]
            if same:
                if same[0].request != request:
                    raise _Refused(
                        "IdempotentParameterMismatchException",
                        "ClientToken was used before with a different request",
                    )
                return self._description(same[0])
        table = self._table(request["TableArn"])
        if table.continuous_backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] != "ENABLED":
            raise _Refused(
                "PointInTimeRecoveryUnavailableException", f"Point in time recovery is not enabled for {table.name}"
            )
        export_id = f"{int(now.timestamp() * 1000):014d}-{uuid.uuid4().hex[:8]}"
        export = _Export(arn=f"{table.table_arn}/export/{export_id}", request=request, started=now, token=token)
        export_type = request.get("ExportType", "FULL_EXPORT")
        if export_type == "INCREMENTAL_EXPORT":
            lines, export.extra = self._incremental(table, request.get("IncrementalExportSpecification") or {}, now)
        elif export_type == "FULL_EXPORT":
            moment = _time(request["ExportTime"]) if "ExportTime" in request else now
            self._check_restorable(table, moment, now, "ExportTime")
            export.export_time = moment
            lines = [{"Item": image} for image in _images_at(table, moment, _changes(table)).values()]
        else:
            raise _Refused("ValidationException", f"unknown ExportType {export_type!r}")
        self._write(export, export_id, table, lines)
        self._exports[export.arn] = export
        return self._description(export)

    def _describe(self, arn: str) -> dict[str, Any]:
        export = self._exports.get(arn)
        if export is None:
            raise _Refused("ExportNotFoundException", f"Export not found: {arn}")
        export.described = True
        return self._description(export)

    def _list(self, request: Mapping[str, Any]) -> dict[str, Any]:
        table_arn = request.get("TableArn")
        return {
            "ExportSummaries": [
                {
                    "ExportArn": export.arn,
                    "ExportStatus": self._status(export),
                    "ExportType": export.request.get("ExportType", "FULL_EXPORT"),
                }
                for export in self._exports.values()
                if table_arn in (None, export.request["TableArn"])
            ]
        }

    # -- the export's contents ------------------------------------------------------------------------------------

    def _incremental(
        self, table: Table, specification: Mapping[str, Any], now: datetime
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        if "ExportFromTime" not in specification:
            raise _Refused("ValidationException", "IncrementalExportSpecification.ExportFromTime is required")
        start = _time(specification["ExportFromTime"])
        end = _time(specification["ExportToTime"]) if "ExportToTime" in specification else now
        view = specification.get("ExportViewType", "NEW_AND_OLD_IMAGES")
        if view not in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
            raise _Refused("ValidationException", f"unknown ExportViewType {view!r}")
        if not _SHORTEST_WINDOW <= end - start <= _LONGEST_WINDOW:
            raise _Refused(
                "ValidationException", "an incremental export's window must be between 15 minutes and 24 hours"
            )
        self._check_restorable(table, start, now, "ExportFromTime")
        self._check_restorable(table, end, now, "ExportToTime")
        written: dict[str, datetime] = {}  # key -> its last write in the window
        changes = _changes(table)  # read once: the window's writes, and both ends of it, come from it
        for record in changes:
            moment = _record_time(record)
            if start <= moment < end:
                written[_key_of(record["dynamodb"]["Keys"])] = moment
        before, after = _images_at(table, start, changes), _images_at(table, end, changes)
        lines = []
        for key, moment in written.items():
            line: dict[str, Any] = {
                "Metadata": {"WriteTimestampMicros": {"N": str(int(moment.timestamp() * 1_000_000))}},
                "Keys": _keys_of(table, json.loads(key)),
            }
            if key in after:
                line["NewImage"] = after[key]
            if view == "NEW_AND_OLD_IMAGES" and key in before:
                line["OldImage"] = before[key]
            lines.append(line)
        spec = {"ExportFromTime": start.timestamp(), "ExportToTime": end.timestamp(), "ExportViewType": view}
        return lines, {"IncrementalExportSpecification": spec}

    def _write(self, export: _Export, export_id: str, table: Table, lines: list[dict[str, Any]]) -> None:
        request = export.request
        bucket_name = request["S3Bucket"]
        prefix = str(request.get("S3Prefix") or "").strip("/")
        base = f"{prefix}/AWSDynamoDB/{export_id}" if prefix else f"AWSDynamoDB/{export_id}"
        s3 = s3_backends[self.account_id]["aws"]
        if bucket_name not in s3.buckets:
            export.status, export.failure = "FAILED", ("S3NoSuchBucket", "The specified bucket does not exist")
            export.ended = self._now()
            return
        s3.put_object(bucket_name, f"{base}/_started", b"")
        data = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
        data_key = f"{base}/data/{uuid.uuid4().hex[:26]}.json.gz"
        body = gzip.compress(data)
        checksum = hashlib.md5(body, usedforsecurity=False).hexdigest()  # the object's ETag is its MD5 too
        s3.put_object(bucket_name, data_key, body)
        files = json.dumps(
            {
                "itemCount": len(lines),
                "md5Checksum": checksum,
                "etag": checksum,
                "dataFileS3Key": data_key,
            }
        )
        files_key = f"{base}/manifest-files.json"
        s3.put_object(bucket_name, files_key, (files + "\n").encode())
        export.ended = self._now()
        export.item_count, export.billed_bytes = len(lines), len(data)
        summary = {
            "version": "2023-08-01" if request.get("ExportType") == "INCREMENTAL_EXPORT" else "2020-06-30",
            "exportArn": export.arn,
            "startTime": _iso(export.started),
            "endTime": _iso(export.ended),
            "tableArn": table.table_arn,
            "tableId": str(uuid.uuid5(uuid.NAMESPACE_URL, table.table_arn)),
            "exportTime": _iso(export.export_time or export.started),
            "s3Bucket": bucket_name,
            "s3Prefix": prefix or None,
            "s3SseAlgorithm": request.get("S3SseAlgorithm", "AES256"),
            "s3SseKmsKeyId": request.get("S3SseKmsKeyId"),
            "manifestFilesS3Key": files_key,
            "billedSizeBytes": export.billed_bytes,
            "itemCount": export.item_count,
            "outputFormat": "DYNAMODB_JSON",
            "outputView": export.extra.get("IncrementalExportSpecification", {}).get("ExportViewType"),
            "exportType": request.get("ExportType", "FULL_EXPORT"),
        }
        summary_key = f"{base}/manifest-summary.json"
        s3.put_object(bucket_name, summary_key, json.dumps(summary).encode())
        export.manifest = summary_key
        export.status = "COMPLETED"

    # -- helpers --------------------------------------------------------------------------------------------------

    def _table(self, table_arn: str) -> Table:
        backend = dynamodb_backends[self.account_id][self.region]
        for table in backend.tables.values():
            if table.table_arn == table_arn:
                return table
        raise _Refused("TableNotFoundException", f"Table not found: {table_arn}")

    def _check_restorable(self, table: Table, moment: datetime, now: datetime, name: str) -> None:
        created = _aware(table.created_at)
        if moment < created or moment > now:
            raise _Refused(
                "InvalidExportTimeException",
                f"{name} {_iso(moment)} is outside the recovery window [{_iso(created)}, {_iso(now)}]",
            )

    def _status(self, export: _Export) -> str:
        return export.status if export.described else "IN_PROGRESS"

    def _description(self, export: _Export) -> dict[str, Any]:
        request = export.request
        described: dict[str, Any] = {
            "ExportArn": export.arn,
            "ExportStatus": self._status(export),
            "StartTime": export.started.timestamp(),
            "TableArn": request["TableArn"],
            "S3Bucket": request["S3Bucket"],
            "S3BucketOwner": request.get("S3BucketOwner", self.account_id),
            "S3SseAlgorithm": request.get("S3SseAlgorithm", "AES256"),
            "ExportFormat": "DYNAMODB_JSON",
            "ExportType": request.get("ExportType", "FULL_EXPORT"),
            **export.extra,
        }
        for key in ("S3Prefix", "ClientToken"):
            if request.get(key):
                described[key] = request[key]
        if export.export_time is not None:
            described["ExportTime"] = export.export_time.timestamp()
        if export.described:
            described["EndTime"] = (export.ended or export.started).timestamp()
            if export.status == "COMPLETED":
                described.update(
                    ExportManifest=export.manifest, ItemCount=export.item_count, BilledSizeBytes=export.billed_bytes
                )
            elif export.failure is not None:
                described.update(FailureCode=export.failure[0], FailureMessage=export.failure[1])
        return described


def _changes(table: Table) -> list[dict[str, Any]]:
    """The table's change log, oldest first (its stream's records, with their times)."""
    shard = table.stream_shard
    return [record.to_json() for record in shard.items] if shard is not None else []


def _images_at(table: Table, moment: datetime, changes: list[dict[str, Any]]) -> dict[str, Image]:
    """The table's items as they stood at `moment` (key -> item in DynamoDB JSON), from its items now and its change
    log (`_changes`)."""
    items = (item.to_json()["Attributes"] for item in table.all_items())
    images = {_key_of(_keys_of(table, attributes)): attributes for attributes in items}
    later = [record for record in changes if _record_time(record) >= moment]
    if not later:
        return images
    view = (table.stream_specification or {}).get("StreamViewType")
    if view not in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        raise _Refused(
            "ValidationException",
            f"the local cloud rebuilds a past moment of {table.name} from its stream's old images, which it does not "
            "keep: export it as it is now (no ExportTime)",
        )
    for record in reversed(later):
        key = _key_of(record["dynamodb"]["Keys"])
        old = record["dynamodb"].get("OldImage")
        if old is None:
            images.pop(key, None)
        else:
            images[key] = old
    return images


def _keys_of(table: Table, attributes: Mapping[str, Any]) -> dict[str, Any]:
    names = [name for name in (table.hash_key_attr, table.range_key_attr) if name]
    return {name: attributes[name] for name in names if name in attributes}


def _key_of(keys: Mapping[str, Any]) -> str:
    return json.dumps(keys, sort_keys=True)


def _record_time(record: Mapping[str, Any]) -> datetime:
    return _aware(record["dynamodb"]["ApproximateCreationDateTime"])


def _aware(moment: datetime) -> datetime:
    """moto stamps times as naive UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _time(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Refused("ValidationException", f"a time is epoch seconds, not {value!r}")
    return datetime.fromtimestamp(value, tz=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ok(payload: Mapping[str, Any]) -> Answer:
    return 200, [("Content-Type", CONTENT_TYPE)], json.dumps(payload).encode()

"""The Orders table's exports to S3 (DynamoDB's ExportTableToPointInTime), and the orders an export holds.

An export reads the table's point-in-time recovery data, not the table: it uses none of the table's capacity. The
nightly job asks for an incremental export of the day (only the items written that day, billed by their size) and
falls back to a full export when the day is not inside the recovery window (a table younger than the day).

An export's objects (docs/reports.md): `<prefix>/AWSDynamoDB/<export id>/manifest-summary.json` names
`manifest-files.json`, one JSON line per data file (`dataFileS3Key`, `itemCount`); each data file is gzip JSON lines,
`{"Item": {...}}` for a full export, `{"Keys": ..., "NewImage": ..., "OldImage": ...}` for an incremental one (no
NewImage when the item was deleted).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from shop.adapters.dynamodb import default_client, translated_errors
from shop.adapters.orders_table import ORDER_PREFIX, order_of_item
from shop.domain.errors import DomainError
from shop.domain.models import Order

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

INCREMENTAL = "INCREMENTAL_EXPORT"
FULL = "FULL_EXPORT"
# DynamoDB refuses an incremental export whose window is not inside the table's point-in-time recovery window.
_OUTSIDE_RECOVERY_WINDOW = "InvalidExportTimeException"


class ExportIncomplete(DomainError):
    """An export's objects do not hold what its manifests say: a data file missing, or with fewer or more items."""


@dataclass(frozen=True)
class StartedExport:
    export_arn: str
    export_type: str


@cache
def default_s3() -> S3Client:
    return boto3.client("s3")


class OrdersExports:
    def __init__(
        self,
        table_arn: str,
        bucket: str,
        client: DynamoDBClient | None = None,
        s3: S3Client | None = None,
    ) -> None:
        self.table_arn = table_arn
        self.bucket = bucket
        self._client = client or default_client()
        self._s3 = s3 or default_s3()

    def start(self, prefix: str, start: datetime, end: datetime) -> StartedExport:
        """Export the items written in [start, end) under `prefix`: incrementally, or the whole table as it is now
        when [start, end) is outside the recovery window. Asking again for the same prefix and window (a retry) gets
        the same export back: the request carries a client token made of them."""
        try:
            return self._export(
                prefix,
                INCREMENTAL,
                IncrementalExportSpecification={
                    "ExportFromTime": start,
                    "ExportToTime": end,
                    "ExportViewType": "NEW_IMAGE",
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _OUTSIDE_RECOVERY_WINDOW:
                raise
        return self._export(prefix, FULL)

    def _export(self, prefix: str, export_type: str, **extra: Any) -> StartedExport:
        with translated_errors():
            response = self._client.export_table_to_point_in_time(
                TableArn=self.table_arn,
                S3Bucket=self.bucket,
                S3Prefix=prefix,
                S3SseAlgorithm="AES256",
                ExportFormat="DYNAMODB_JSON",
                ExportType=export_type,  # type: ignore[arg-type]
                # At most 64 characters; the same token with a different request is refused, hence the type in it.
                ClientToken=f"{export_type}-{prefix}"[-64:],
                **extra,
            )
        return StartedExport(response["ExportDescription"]["ExportArn"], export_type)

    def orders_in(self, manifest_key: str) -> Iterator[Order]:
        """Every order the export whose manifest-summary.json is `manifest_key` holds (other items of the single
        table are skipped, and so are deleted items of an incremental export). Each data file's count is checked
        against the manifest, so a file lost or cut short fails the read instead of shrinking a report."""
        summary = json.loads(self._read(manifest_key))
        for line in self._read(summary["manifestFilesS3Key"]).splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            items = [json.loads(row) for row in gzip.decompress(self._read(entry["dataFileS3Key"])).splitlines() if row]
            if len(items) != int(entry["itemCount"]):
                raise ExportIncomplete(
                    f"{entry['dataFileS3Key']} holds {len(items)} items, its manifest says {entry['itemCount']}"
                )
            for item in items:
                image = item.get("Item", item.get("NewImage"))
                if image is not None and image.get("sk", {}).get("S", "").startswith(ORDER_PREFIX):
                    yield order_of_item(image)

    def _read(self, key: str) -> bytes:
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ExportIncomplete(f"the export's object {key} is missing") from exc
            raise

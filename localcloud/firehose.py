"""Amazon Data Firehose for a delivery stream that reads a Kinesis stream and writes to S3: the Lambda
transformation with its retries and record results, buffering by size and age, GZIP, and the object keys made from
the Prefix and ErrorOutputPrefix expressions. A configuration it does not emulate is refused, never ignored."""

from __future__ import annotations

import base64
import binascii
import calendar
import gzip
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from moto.backends import get_backend

from localcloud.pollers import Invoke, InvokeOutcome

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
PROCESSING_FAILED = "processing-failed"  # the error-output-type of records the transformation did not turn out

# (the Lambda event Firehose sends) -> the invocation's outcome: its decoded JSON answer, or `errored` when the
# invocation failed (a function error, or Lambda refused to run it). An exception is the emulator's own failure:
# nothing read since the last batch is consumed, and the next poll reads it again.
Transform = Callable[[dict[str, Any]], InvokeOutcome]
PutObject = Callable[[str, str, bytes], None]  # (bucket, key, body)
Clock = Callable[[], float]  # epoch seconds

# GetRecords' most records per call; a poll reads at most this many from each shard.
_READ_LIMIT = 10_000
_DEFAULT_TIME_PREFIX = "!{timestamp:yyyy/MM/dd/HH/}"
_MAX_EVALUATED_PREFIX = 512
_EXPRESSION = re.compile(r"!\{([^}]*)\}")
_DESTINATION_KEYS = frozenset(
    {
        "BucketARN",
        "RoleARN",
        "Prefix",
        "ErrorOutputPrefix",
        "BufferingHints",
        "CompressionFormat",
        "CloudWatchLoggingOptions",
        "ProcessingConfiguration",
        "EncryptionConfiguration",
        "S3BackupMode",
        "S3BackupConfiguration",
        "DataFormatConversionConfiguration",
        "DynamicPartitioningConfiguration",
        "FileExtension",
        "CustomTimeZone",
    }
)
_PROCESSOR_PARAMETERS = frozenset(
    {"LambdaArn", "NumberOfRetries", "BufferSizeInMBs", "BufferIntervalInSeconds", "RoleArn"}
)
_EXTENSIONS = {"GZIP": ".gz", "UNCOMPRESSED": ""}

# What Firehose writes in an error record's errorCode and errorMessage.
_FUNCTION_ERROR = (
    "Lambda.FunctionError",
    "The Lambda function was successfully invoked but it returned an error result.",
)
_PROCESSING_FAILED_STATUS = ("Lambda.ProcessingFailedStatus", "ProcessingFailed status set for record")
_MISSING_RECORD_ID = (
    "Lambda.MissingRecordId",
    "One or more record Ids were not returned. Ensure that the Lambda function returns all received record Ids.",
)
_DUPLICATED_RECORD_ID = ("Lambda.DuplicatedRecordId", "The same record Id was returned more than once.")
_BAD_ANSWER = "Lambda.JsonProcessingException"


class UnsupportedConfiguration(ValueError):
    """A delivery stream setting the local Firehose does not emulate (or one Firehose itself would refuse)."""


@dataclass(frozen=True)
class DeliveryCounts:
    """What the delivery stream did so far. Every record read is in exactly one of the other counts:
    records_read == delivered + dropped + processing_failed + buffered."""

    records_read: int  # records consumed from the Kinesis stream
    delivered: int  # records written to objects under Prefix (the transformation's Ok ones)
    dropped: int  # records the transformation answered Dropped
    processing_failed: int  # records written to objects under ErrorOutputPrefix (processing-failed)
    buffered: int  # records waiting in a buffer or in an object not written yet
    objects_written: int  # objects put, under both prefixes


@dataclass(frozen=True)
class _Arrival:
    """A Kinesis record as Firehose read it."""

    record_id: str
    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    kinesis_arrival_ms: int  # when Kinesis received it
    arrival_ms: int  # when Firehose read it: the record's approximate arrival time at Firehose


@dataclass(frozen=True)
class _Ok:
    data: bytes


@dataclass(frozen=True)
class _Dropped:
    pass


@dataclass(frozen=True)
class _Failed:
    code: str
    message: str


_Verdict = _Ok | _Dropped | _Failed


@dataclass
class _Buffer:
    """Records waiting for one output: the delivery prefix (error_output_type None) or an error output."""

    error_output_type: str | None
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    oldest_ms: int | None = None

    @property
    def records(self) -> int:
        return len(self.chunks)


@dataclass(frozen=True)
class _Object:
    """A buffer's content made into an S3 object, waiting to be put."""

    key: str
    body: bytes
    records: int
    error_output_type: str | None


@dataclass(frozen=True)
class _Transformation:
    lambda_arn: str
    number_of_retries: int
    batch_bytes: int


class DeliveryStream:
    """One Kinesis-sourced delivery stream to S3 (ExtendedS3DestinationConfiguration), polled like an event source.

    Each poll reads every shard of the source stream after where it got to (TRIM_HORIZON at first), hands the
    records to the transformation (when ProcessingConfiguration enables one) in batches of at most the processor's
    BufferSizeInMBs, adds what comes back to the buffers, and writes every buffer that reached BufferingHints'
    SizeInMBs or whose oldest record is older than IntervalInSeconds. `flush()` writes whatever is buffered now.
    """

    def __init__(
        self,
        *,
        name: str,
        source_stream_arn: str,
        destination: Mapping[str, Any],
        put_object: PutObject,
        transform: Transform | None = None,
        clock: Clock = time.time,
        kinesis_lock: AbstractContextManager[Any] | None = None,
        version: int = 1,
    ) -> None:
        """`destination` is the resolved ExtendedS3DestinationConfiguration. `transform` invokes the processor's
        LambdaArn (required when the configuration enables processing; see `transform_with`). `kinesis_lock`, when
        given, is held around every read of moto's Kinesis backend: give it the lock its writer holds
        (localcloud.kinesis_forwarding), as moto's shards are not safe for a concurrent writer and reader."""
        _refuse_unsupported(destination)
        self.name = name
        self.version = version
        self.source_stream_arn = source_stream_arn
        self.region, self.account_id = _arn_part(source_stream_arn, 3), _arn_part(source_stream_arn, 4)
        self.arn = f"arn:aws:firehose:{self.region}:{self.account_id}:deliverystream/{name}"
        self.bucket = _bucket_of(str(destination["BucketARN"]))
        self.prefix, self.error_prefix = _prefixes(destination.get("Prefix"), destination.get("ErrorOutputPrefix"))
        hints = destination.get("BufferingHints") or {}
        self.buffer_bytes = int(hints.get("SizeInMBs", 5)) * MIB
        self.buffer_seconds = float(hints.get("IntervalInSeconds", 300))
        compression = str(destination.get("CompressionFormat", "UNCOMPRESSED"))
        if compression not in _EXTENSIONS:
            raise UnsupportedConfiguration(f"CompressionFormat {compression} is not emulated (GZIP, UNCOMPRESSED)")
        self.compression = compression
        self.extension = str(destination.get("FileExtension") or _EXTENSIONS[compression])
        self._transformation = _transformation(destination.get("ProcessingConfiguration"))
        if self._transformation is not None and transform is None:
            raise ValueError(f"delivery stream {name} transforms its records with a Lambda function: give a transform")
        if self._transformation is None and transform is not None:
            raise ValueError(f"delivery stream {name} has no enabled Lambda processor to use the transform given")
        self._transform = transform
        self._put_object = put_object
        self._clock = clock
        self._kinesis_lock = kinesis_lock or nullcontext()
        # Polled when idle (localcloud.pollers' IDLE_POLL_SECONDS), not at every interval: its buffers wait for a
        # minute anyway, and nothing rings for a Kinesis stream.
        self.rung_by = (f"kinesis:{source_stream_arn}",)
        self._lock = threading.RLock()  # a poll (on a Pollers thread) and a flush (on demand) take turns
        self._positions: dict[str, str] = {}  # shard id -> the last sequence number consumed
        self._delivery = _Buffer(None)
        self._errors: dict[str, _Buffer] = {}
        self._sealed: deque[_Object] = deque()
        self._read = self._delivered = self._dropped = self._failed = self._objects = 0

    @classmethod
    def from_properties(
        cls,
        name: str,
        properties: Mapping[str, Any],
        *,
        put_object: PutObject,
        transform: Transform | None = None,
        clock: Clock = time.time,
        kinesis_lock: AbstractContextManager[Any] | None = None,
    ) -> DeliveryStream:
        """From an AWS::KinesisFirehose::DeliveryStream's resolved properties (`name`: its physical name)."""
        unexpected = set(properties) - {
            "DeliveryStreamName",
            "DeliveryStreamType",
            "KinesisStreamSourceConfiguration",
            "ExtendedS3DestinationConfiguration",
            "Tags",
        }
        if unexpected:
            raise UnsupportedConfiguration(f"delivery stream {name}: {sorted(unexpected)} are not emulated")
        if properties.get("DeliveryStreamType") != "KinesisStreamAsSource":
            raise UnsupportedConfiguration(f"delivery stream {name}: only a KinesisStreamAsSource stream is emulated")
        if "ExtendedS3DestinationConfiguration" not in properties:
            raise UnsupportedConfiguration(f"delivery stream {name}: only an ExtendedS3 destination is emulated")
        return cls(
            name=name,
            source_stream_arn=str(properties["KinesisStreamSourceConfiguration"]["KinesisStreamARN"]),
            destination=properties["ExtendedS3DestinationConfiguration"],
            put_object=put_object,
            transform=transform,
            clock=clock,
            kinesis_lock=kinesis_lock,
        )

    def __repr__(self) -> str:
        return f"DeliveryStream({self.name} <- {self.source_stream_arn})"

    @property
    def lambda_arn(self) -> str | None:
        """The transformation's function (the processor's LambdaArn), or None without one."""
        return self._transformation.lambda_arn if self._transformation is not None else None

    def counts(self) -> DeliveryCounts:
        with self._lock:
            buffered = sum(buffer.records for buffer in (self._delivery, *self._errors.values()))
            buffered += sum(sealed.records for sealed in self._sealed)
            return DeliveryCounts(
                records_read=self._read,
                delivered=self._delivered,
                dropped=self._dropped,
                processing_failed=self._failed,
                buffered=buffered,
                objects_written=self._objects,
            )

    def poll_once(self) -> int:
        """Read and transform what the shards hold, then write the buffers that are full or old enough; returns how
        many records were consumed plus how many objects were written."""
        with self._lock:
            consumed = sum(self._consume(shard_id, arrivals) for shard_id, arrivals in self._read_shards())
            now_ms = self._now_ms()
            for buffer in (self._delivery, *self._errors.values()):
                if buffer.oldest_ms is not None and now_ms - buffer.oldest_ms >= self.buffer_seconds * 1000:
                    self._seal(buffer)
            return consumed + self._write_sealed()

    def flush(self) -> int:
        """Write whatever is buffered now (records still in the Kinesis stream are not read); returns how many
        objects were written."""
        with self._lock:
            for buffer in (self._delivery, *self._errors.values()):
                self._seal(buffer)
            return self._write_sealed()

    # -- reading ---------------------------------------------------------------------------------------------

    def _read_shards(self) -> list[tuple[str, list[_Arrival]]]:
        backend = get_backend("kinesis")[self.account_id][self.region]
        read: list[tuple[str, list[_Arrival]]] = []
        with self._kinesis_lock:
            stream = backend.describe_stream(stream_arn=self.source_stream_arn, stream_name=None)
            for number, shard_id in enumerate(sorted(stream.shards)):
                position = self._positions.get(shard_id)
                iterator = backend.get_shard_iterator(
                    self.source_stream_arn,
                    stream.stream_name,
                    shard_id,
                    "TRIM_HORIZON" if position is None else "AFTER_SEQUENCE_NUMBER",
                    cast(Any, position),
                    cast(Any, None),
                )
                _, records, _ = backend.get_records(self.source_stream_arn, iterator, _READ_LIMIT)
                arrived = self._now_ms()
                read.append((shard_id, [_arrival(record, shard_id, number, arrived) for record in records]))
        return read

    def _consume(self, shard_id: str, arrivals: list[_Arrival]) -> int:
        for batch in self._batches(arrivals):
            verdicts = self._verdicts(batch)
            # The batch is done with once its results are known: nothing below reads the stream or calls Lambda.
            self._positions[shard_id] = batch[-1].sequence_number
            self._read += len(batch)
            for arrival, (verdict, attempts) in zip(batch, verdicts, strict=True):
                self._keep(arrival, verdict, attempts)
        return len(arrivals)

    def _batches(self, arrivals: list[_Arrival]) -> list[list[_Arrival]]:
        if self._transformation is None:
            return [[arrival] for arrival in arrivals]
        batches: list[list[_Arrival]] = []
        size = 0
        for arrival in arrivals:
            if not batches or size + len(arrival.data) > self._transformation.batch_bytes:
                batches.append([])
                size = 0
            batches[-1].append(arrival)
            size += len(arrival.data)
        return batches

    # -- transforming ----------------------------------------------------------------------------------------

    def _verdicts(self, batch: list[_Arrival]) -> list[tuple[_Verdict, int]]:
        """Each record's result, with how many invocations were made for its batch."""
        transformation, transform = self._transformation, self._transform
        if transformation is None or transform is None:
            return [(_Ok(arrival.data), 0) for arrival in batch]
        attempts = 0
        while True:
            attempts += 1
            outcome = transform(self._event(batch))
            if not outcome.errored:
                return [(verdict, attempts) for verdict in _answered(outcome.payload, batch)]
            logger.warning(
                "transformation invocation failed",
                extra={"delivery_stream": self.name, "attempt": attempts, "records": len(batch)},
            )
            if attempts > transformation.number_of_retries:
                failed = _Failed(*_invocation_error(outcome))
                return [(failed, attempts) for _ in batch]

    def _event(self, batch: list[_Arrival]) -> dict[str, Any]:
        """Firehose's event for a Kinesis-sourced stream (events/order_history.json), a new invocationId a try."""
        return {
            "invocationId": str(uuid.uuid4()),
            "deliveryStreamArn": self.arn,
            "sourceKinesisStreamArn": self.source_stream_arn,
            "region": self.region,
            "records": [
                {
                    "recordId": arrival.record_id,
                    "approximateArrivalTimestamp": arrival.arrival_ms,
                    "data": base64.b64encode(arrival.data).decode(),
                    "kinesisRecordMetadata": {
                        "shardId": arrival.shard_id,
                        "partitionKey": arrival.partition_key,
                        "approximateArrivalTimestamp": arrival.kinesis_arrival_ms,
                        "sequenceNumber": arrival.sequence_number,
                        "subsequenceNumber": 0,
                    },
                }
                for arrival in batch
            ],
        }

    # -- buffering and writing -------------------------------------------------------------------------------

    def _keep(self, arrival: _Arrival, verdict: _Verdict, attempts: int) -> None:
        if isinstance(verdict, _Dropped):
            self._dropped += 1
            return
        if isinstance(verdict, _Ok):
            self._add(self._delivery, verdict.data, arrival.arrival_ms)
            return
        error = {
            "attemptsMade": attempts,
            "arrivalTimestamp": arrival.arrival_ms,
            "errorCode": verdict.code,
            "errorMessage": verdict.message,
            "attemptEndingTimestamp": self._now_ms(),
            "rawData": base64.b64encode(arrival.data).decode(),
            "lambdaArn": self.lambda_arn,
        }
        buffer = self._errors.setdefault(PROCESSING_FAILED, _Buffer(PROCESSING_FAILED))
        self._add(buffer, (json.dumps(error, separators=(",", ":")) + "\n").encode(), arrival.arrival_ms)

    def _add(self, buffer: _Buffer, chunk: bytes, arrival_ms: int) -> None:
        buffer.chunks.append(chunk)
        buffer.size += len(chunk)
        buffer.oldest_ms = arrival_ms if buffer.oldest_ms is None else min(buffer.oldest_ms, arrival_ms)
        if buffer.size >= self.buffer_bytes:
            self._seal(buffer)

    def _seal(self, buffer: _Buffer) -> None:
        """Make the buffer's records an object (written by _write_sealed) and empty the buffer."""
        if buffer.oldest_ms is None:
            return
        oldest = datetime.fromtimestamp(buffer.oldest_ms / 1000, tz=UTC)
        prefix = self.prefix if buffer.error_output_type is None else self.error_prefix
        key = (
            f"{evaluate_prefix(prefix, oldest, buffer.error_output_type)}{self.name}-{self.version}-"
            f"{oldest:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{self.extension}"
        )
        body = b"".join(buffer.chunks)
        if self.compression == "GZIP":
            body = gzip.compress(body)
        self._sealed.append(_Object(key, body, buffer.records, buffer.error_output_type))
        buffer.chunks, buffer.size, buffer.oldest_ms = [], 0, None

    def _write_sealed(self) -> int:
        """Put the objects made so far, oldest first (one that fails stays, with those after it, for the next try)."""
        written = 0
        while self._sealed:
            sealed = self._sealed[0]
            self._put_object(self.bucket, sealed.key, sealed.body)
            self._sealed.popleft()
            written += 1
            self._objects += 1
            if sealed.error_output_type is None:
                self._delivered += sealed.records
            else:
                self._failed += sealed.records
        return written

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def transform_with(invoke: Invoke, function: str) -> Transform:
    """The transformation as the local cloud's event sources invoke functions (localcloud.pollers.invoke_with)."""

    def transform(event: dict[str, Any]) -> InvokeOutcome:
        return invoke(function, event)

    return transform


# -- the transformation's answer ---------------------------------------------------------------------------------


def _answered(payload: Any, batch: Sequence[_Arrival]) -> list[_Verdict]:
    """Each record's result in the function's answer, matched by recordId. A record the answer leaves out, names
    twice, or gives an unknown result or undecodable data is a processing failure, as Firehose treats it."""
    answers = payload.get("records") if isinstance(payload, dict) else None
    if not isinstance(answers, list):
        bad = _Failed(_BAD_ANSWER, "The Lambda function's answer is not an object with a records list.")
        return [bad for _ in batch]
    by_id: dict[str, list[Any]] = {}
    for answer in answers:
        record_id = answer.get("recordId") if isinstance(answer, dict) else None
        if isinstance(record_id, str):
            by_id.setdefault(record_id, []).append(answer)
    return [_verdict(by_id.get(arrival.record_id, [])) for arrival in batch]


def _verdict(answers: list[dict[str, Any]]) -> _Verdict:
    if len(answers) != 1:
        return _Failed(*(_DUPLICATED_RECORD_ID if answers else _MISSING_RECORD_ID))
    result = answers[0].get("result")
    if result == "Dropped":
        return _Dropped()
    if result == "ProcessingFailed":
        return _Failed(*_PROCESSING_FAILED_STATUS)
    if result != "Ok":
        return _Failed(_BAD_ANSWER, f"Unknown result {result!r}: expected Ok, Dropped or ProcessingFailed.")
    data = answers[0].get("data")
    try:
        return _Ok(base64.b64decode(data, validate=True)) if isinstance(data, str) else _Failed(*_no_data())
    except binascii.Error:
        return _Failed(*_no_data())


def _no_data() -> tuple[str, str]:
    return _BAD_ANSWER, "An Ok record's data is not base64."


def _invocation_error(outcome: InvokeOutcome) -> tuple[str, str]:
    if outcome.refused is None:
        return _FUNCTION_ERROR
    payload = outcome.payload if isinstance(outcome.payload, dict) else {}
    return f"Lambda.{outcome.refused.value}", str(payload.get("errorMessage", outcome.refused.value))


# -- configuration -----------------------------------------------------------------------------------------------


def _refuse_unsupported(destination: Mapping[str, Any]) -> None:
    unknown = set(destination) - _DESTINATION_KEYS
    if unknown:
        raise UnsupportedConfiguration(f"ExtendedS3DestinationConfiguration: {sorted(unknown)} are not emulated")
    refused = {
        "DataFormatConversionConfiguration": _enabled(destination.get("DataFormatConversionConfiguration"), True),
        "DynamicPartitioningConfiguration": _enabled(destination.get("DynamicPartitioningConfiguration"), False),
        "S3BackupMode Enabled": destination.get("S3BackupMode", "Disabled") != "Disabled",
        "S3BackupConfiguration": "S3BackupConfiguration" in destination,
        "KMSEncryptionConfig": "KMSEncryptionConfig" in (destination.get("EncryptionConfiguration") or {}),
        "CustomTimeZone other than UTC": destination.get("CustomTimeZone", "UTC") != "UTC",
    }
    named = [setting for setting, present in refused.items() if present]
    if named:
        raise UnsupportedConfiguration(f"the local Firehose does not emulate {', '.join(named)}")


def _enabled(setting: Any, default: bool) -> bool:
    if setting is None:
        return False
    value = setting.get("Enabled", default) if isinstance(setting, Mapping) else default
    return value is True or str(value).lower() == "true"


def _transformation(processing: Any) -> _Transformation | None:
    if not _enabled(processing, True):
        return None
    processors = processing.get("Processors") or []
    if len(processors) != 1 or processors[0].get("Type") != "Lambda":
        raise UnsupportedConfiguration("only one processor, of Type Lambda, is emulated")
    parameters = {str(p["ParameterName"]): str(p["ParameterValue"]) for p in processors[0].get("Parameters", [])}
    unknown = set(parameters) - _PROCESSOR_PARAMETERS
    if unknown or "LambdaArn" not in parameters:
        raise UnsupportedConfiguration(f"a Lambda processor takes a LambdaArn and {sorted(_PROCESSOR_PARAMETERS)}")
    retries = int(parameters.get("NumberOfRetries", "3"))
    size_mb = float(parameters.get("BufferSizeInMBs", "1"))
    if not 0 <= retries <= 300 or not 0.2 <= size_mb <= 3:
        raise UnsupportedConfiguration("NumberOfRetries is 0 to 300, the processor's BufferSizeInMBs 0.2 to 3")
    # The processor's BufferIntervalInSeconds is not waited for: a batch goes as soon as its records are read.
    return _Transformation(parameters["LambdaArn"], retries, int(size_mb * MIB))


def _bucket_of(arn: str) -> str:
    if not arn.startswith("arn:") or ":s3:::" not in arn:
        raise ValueError(f"{arn!r} is not a bucket ARN")
    return arn.split(":::", 1)[1]


def _arn_part(arn: str, index: int) -> str:
    parts = arn.split(":")
    if len(parts) < 6 or not parts[index]:
        raise ValueError(f"{arn!r} is not an ARN with a region and an account")
    return parts[index]


# -- prefixes ----------------------------------------------------------------------------------------------------


def _prefixes(prefix: Any, error_prefix: Any) -> tuple[str, str]:
    """Prefix and ErrorOutputPrefix after Firehose's rules: a Prefix without a timestamp expression gets
    `!{timestamp:yyyy/MM/dd/HH/}` appended; ErrorOutputPrefix may be left out only when Prefix has no expression;
    an ErrorOutputPrefix with expressions names the error-output-type; Prefix never does."""
    prefix, error_prefix = str(prefix or ""), str(error_prefix or "")
    if "!{firehose:error-output-type}" in prefix:
        raise UnsupportedConfiguration("Prefix can't contain !{firehose:error-output-type}")
    if not error_prefix:
        if _EXPRESSION.search(prefix):
            raise UnsupportedConfiguration("ErrorOutputPrefix can't be null when Prefix contains expressions")
        error_prefix = f"{prefix}!{{firehose:error-output-type}}/{_DEFAULT_TIME_PREFIX}"
    elif _EXPRESSION.search(error_prefix) and "!{firehose:error-output-type}" not in error_prefix:
        raise UnsupportedConfiguration("an ErrorOutputPrefix with expressions needs !{firehose:error-output-type}")
    if "!{timestamp:" not in prefix:
        prefix += _DEFAULT_TIME_PREFIX
    sample = datetime(2018, 8, 27, 10, 30, 5, tzinfo=UTC)
    for text, error_output_type in ((prefix, None), (error_prefix, PROCESSING_FAILED)):
        if len(evaluate_prefix(text, sample, error_output_type)) > _MAX_EVALUATED_PREFIX:
            raise UnsupportedConfiguration(f"{text!r} is over {_MAX_EVALUATED_PREFIX} characters once evaluated")
    return prefix, error_prefix


def evaluate_prefix(prefix: str, at: datetime, error_output_type: str | None = None) -> str:
    """The prefix with its `!{namespace:value}` expressions evaluated for an object whose oldest record arrived
    `at`: timestamp (a Java DateTimeFormatter pattern, UTC) and firehose (error-output-type, random-string)."""
    if "!{" in _EXPRESSION.sub("", prefix):
        raise UnsupportedConfiguration(f"{prefix!r}: '!{{' only starts a !{{namespace:value}} expression")

    def evaluate(match: re.Match[str]) -> str:
        namespace, _, value = match.group(1).partition(":")
        if namespace == "timestamp":
            return java_date(value, at)
        if namespace == "firehose" and value == "random-string":
            return str(uuid.uuid4())[:11]
        if namespace == "firehose" and value == "error-output-type":
            if error_output_type is None:
                raise UnsupportedConfiguration("!{firehose:error-output-type} is only for ErrorOutputPrefix")
            return error_output_type
        if namespace in ("partitionKeyFromQuery", "partitionKeyFromLambda"):
            raise UnsupportedConfiguration(f"!{{{namespace}:...}} needs dynamic partitioning, which is not emulated")
        raise UnsupportedConfiguration(f"{match.group(0)} is not a prefix expression Firehose knows")

    return _EXPRESSION.sub(evaluate, prefix)


def java_date(pattern: str, at: datetime) -> str:
    """`at` formatted with a Java DateTimeFormatter pattern: the letters y, M, d, D, H, m, s and S, text in single
    quotes taken literally ('' is a quote); any other letter is refused."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            literal, i = _quoted(pattern, i)
            out.append(literal)
        elif char.isascii() and char.isalpha():
            end = i
            while end < len(pattern) and pattern[end] == char:
                end += 1
            out.append(_date_field(char, end - i, at))
            i = end
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _quoted(pattern: str, start: int) -> tuple[str, int]:
    """The literal text of the quoted section at `start`, and the index after it."""
    if pattern.startswith("''", start):
        return "'", start + 2
    text: list[str] = []
    i = start + 1
    while i < len(pattern):
        if pattern.startswith("''", i):
            text.append("'")
            i += 2
        elif pattern[i] == "'":
            return "".join(text), i + 1
        else:
            text.append(pattern[i])
            i += 1
    raise UnsupportedConfiguration(f"{pattern!r}: a quote is not closed")


def _date_field(letter: str, count: int, at: datetime) -> str:
    numbers = {"d": at.day, "H": at.hour, "m": at.minute, "s": at.second}
    if letter in numbers and count <= 2:
        return f"{numbers[letter]:0{count}d}"
    if letter == "y":
        return f"{at.year % 100:02d}" if count == 2 else f"{at.year:0{count}d}"
    if letter == "M" and count <= 4:
        if count == 3:
            return calendar.month_abbr[at.month]
        return calendar.month_name[at.month] if count == 4 else f"{at.month:0{count}d}"
    if letter == "D" and count <= 3:
        return f"{at.timetuple().tm_yday:0{count}d}"
    if letter == "S" and count <= 9:
        return f"{at.microsecond:06d}000"[:count]
    raise UnsupportedConfiguration(f"the date pattern {letter * count!r} is not emulated (y, M, d, D, H, m, s, S)")


def _arrival(record: Any, shard_id: str, shard_number: int, arrival_ms: int) -> _Arrival:
    """A record of moto's Kinesis backend (its data kept base64, its arrival a naive UTC datetime)."""
    arrived: datetime = record.created_at_datetime
    sequence_number = str(record.sequence_number)
    return _Arrival(
        # Unique across the stream's shards (moto numbers each shard's records from 1).
        record_id=f"{int(sequence_number):048d}{shard_number:012d}",
        shard_id=shard_id,
        sequence_number=sequence_number,
        partition_key=str(record.partition_key),
        data=base64.b64decode(record.data),
        kinesis_arrival_ms=calendar.timegm(arrived.timetuple()) * 1000 + arrived.microsecond // 1000,
        arrival_ms=arrival_ms,
    )

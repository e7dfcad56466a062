"""The order history's Athena named queries, run locally: the Glue table's rows read from the lake's objects as
Athena's OpenX JSON SerDe reads them, and each query's text, unchanged (Trino's dialect), run in DuckDB.

DuckDB runs in memory, one connection per call, with TimeZone 'UTC' (Athena's default session zone). Where Trino
and DuckDB differ, a macro on that connection gives DuckDB Trino's meaning; the query text is never rewritten.

Trino -> DuckDB, as registered by `answers`:

- ``from_iso8601_timestamp(s)``: a macro, ``date_trunc('millisecond', CAST(s AS TIMESTAMPTZ))``. Trino's result is a
  ``timestamp(3) with time zone``: digits past the millisecond are dropped. A string that is not
  ``yyyy-MM-dd[THH:mm[:ss[.f...]][Z|+hh[[:]mm]]]`` fails the query: Trino also takes other ISO 8601 forms (an hour
  alone, week and ordinal dates), DuckDB's cast other strings (a space for the ``T``, a zone name, ``infinity``),
  all refused here.
- ``date_diff(unit, a, b)``: a macro over DuckDB's ``date_sub``. Trino counts whole units elapsed (59.2 s is 59
  seconds); DuckDB's own ``date_diff`` counts unit boundaries crossed (10:00:00.900 to 10:00:01.100 is 1 second).
- ``approx_percentile(x, p)``: a macro, the value at rank ``min(floor(p * n), n - 1)`` of the n non-null values,
  sorted, of x's own type (NULL when there are none). Trino keeps every value as its own t-digest centroid up to
  about 75 values and then answers exactly that value (rounded to bigint for a bigint x); above that its digest
  merges centroids and interpolates, so it can differ slightly from this exact rank. DuckDB's ``quantile_disc``
  (rank ``ceil(p * n) - 1``: the median of 4 values is the 2nd, Trino's the 3rd), ``quantile_cont`` (interpolates,
  always DOUBLE) and ``approx_quantile`` (its own t-digest) each answer differently for small groups.
- ``max_by(x, y)``: a macro over ``arg_max_null``: Trino returns x of the row with the greatest y even when that x
  is NULL; DuckDB's ``max_by`` skips rows whose x is NULL. Both skip rows whose y is NULL.
- Unchanged, the same in both: ``date(t)`` (DuckDB casts to DATE, in the session zone; Trino takes the date in t's
  own zone, the same for the UTC times the lake holds), ``nullif``, ``coalesce``, ``count(DISTINCT ...)``,
  ``current_timestamp - INTERVAL '1' DAY``, ``round(x, 1)``, ``min``/``max``/``sum``/``count``, ``GROUP BY 1``.

Where the answers still differ from Athena's:

- Decimal arithmetic: Trino reads ``100.0`` as DECIMAL(4,1), and a decimal quotient keeps the larger scale of its
  operands, rounded half up: ``sum(totalcents) / 100.0`` would be 123.5 in Athena for 12345 cents, 123.45 here
  (which is why the template's queries divide by ``100.00``). ``round(100.0 * a / b, 1)`` is the same number in
  both, a DECIMAL in Athena, a DOUBLE here.
- Ties: which row ``max_by`` picks among equal y, and the order of rows equal on every ORDER BY key, are arbitrary
  in both engines, and may differ.

How the objects are read (the table as the template declares it; a declaration read differently is refused):

- Only the OpenX JSON SerDe with ``case.insensitive`` true and ``ignore.malformed.json`` false (their defaults).
- Rows are the objects under the table's Location prefix whose key continues with one ``name=value`` segment per
  partition key, in order (what partition projection's locations are); other keys are not the table's. The
  projection's date range is not checked.
- A key ending in ``.gz`` is gunzipped (Hive picks the codec by extension, as Firehose names GZIP objects); other
  codecs' extensions are refused; anything else is read as text. Lines end at \\n, \\r or \\r\\n.
- Each line is one JSON object; its keys match the columns case-insensitively (two keys equal but for case fail,
  as the SerDe's "Duplicate key"); other keys are ignored; a missing key or JSON null is NULL. A line that is not a
  JSON object, or a value that is not of its column's type, fails with the object's key and line (Athena fails
  the query: HIVE_CURSOR_ERROR / HIVE_BAD_DATA).
- Glue types: string, bigint, int, double, boolean, timestamp; any other type is refused.
"""

from __future__ import annotations

import gzip
import json
import numbers
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

OPENX_JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
GLUE_TO_DUCKDB = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
}
_INT_RANGES = {"bigint": (-(2**63), 2**63 - 1), "int": (-(2**31), 2**31 - 1)}
# Codecs Hive would pick by extension that this reader does not decode: refused rather than read as text.
_OTHER_CODECS = (".bz2", ".deflate", ".zst", ".lz4", ".snappy", ".lzo")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_INTEGER = re.compile(r"[+-]?\d+")
_SUB_BUCKET = re.compile(r"^s3://\$\{[^}!][^}]*\}(/.*)?$")

# Trino's functions that DuckDB lacks or means differently (the module docstring says how each differs).
_TRINO_MACROS = (
    r"""CREATE TEMP MACRO from_iso8601_timestamp(text) AS CASE
        WHEN NOT regexp_full_match(
            text, '\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?'
        ) THEN error('from_iso8601_timestamp: not an ISO 8601 timestamp: ' || text)
        ELSE date_trunc('millisecond', CAST(text AS TIMESTAMPTZ))
    END""",
    "CREATE TEMP MACRO date_diff(unit, a, b) AS date_sub(unit, a, b)",
    """CREATE TEMP MACRO approx_percentile(value, percentage) AS CASE
        WHEN percentage < 0 OR percentage > 1 THEN error('approx_percentile: percentage must be between 0 and 1')
        WHEN count(value) = 0 THEN NULL
        ELSE list_sort(list(value) FILTER (WHERE value IS NOT NULL))[
            least(floor(percentage * count(value)), count(value) - 1)::BIGINT + 1
        ]
    END""",
    "CREATE TEMP MACRO max_by(value, ordering) AS arg_max_null(value, ordering)",
)


class LakeError(Exception):
    """The lake's queries cannot be answered as Athena would answer them."""


class UnsupportedGlueType(LakeError):
    """A column's Glue type has no DuckDB type here."""


class UnsupportedTable(LakeError):
    """The Glue table is declared in a way this reader does not emulate."""


class MalformedObject(LakeError):
    """An object under the table's location that Athena could not read: the query fails."""

    def __init__(self, key: str, reason: str, line: int | None = None) -> None:
        where = key if line is None else f"{key}, line {line}"
        super().__init__(f"{where}: {reason}")
        self.key = key
        self.line = line


class QueryFailed(LakeError):
    """DuckDB refused or failed a named query."""


@dataclass(frozen=True)
class GlueColumn:
    name: str
    type: str

    def __post_init__(self) -> None:
        if self.type.lower() not in GLUE_TO_DUCKDB:
            raise UnsupportedGlueType(
                f"column {self.name!r} has Glue type {self.type!r}; supported: {', '.join(GLUE_TO_DUCKDB)}"
            )

    @property
    def glue_type(self) -> str:
        return self.type.lower()

    @property
    def duckdb_type(self) -> str:
        return GLUE_TO_DUCKDB[self.glue_type]


@dataclass(frozen=True)
class GlueTable:
    """A Glue table's name, columns, partition keys, and its Location's key prefix in the lake bucket."""

    name: str
    columns: tuple[GlueColumn, ...]
    partition_keys: tuple[GlueColumn, ...]
    prefix: str

    def __post_init__(self) -> None:
        names = [column.name.lower() for column in (*self.columns, *self.partition_keys)]
        if len(set(names)) != len(names):
            raise UnsupportedTable(f"table {self.name!r} repeats a column name: {names}")

    @classmethod
    def from_table_input(cls, table_input: Mapping[str, Any]) -> GlueTable:
        """From AWS::Glue::Table's TableInput. A Location given as ``{"Fn::Sub": "s3://${Bucket}/path/"}`` is taken
        to name the bucket by its first ``${...}`` alone: the key prefix is the path after it, which must hold no
        ``${...}`` of its own."""
        descriptor = table_input.get("StorageDescriptor", {})
        serde = descriptor.get("SerdeInfo", {})
        parameters = serde.get("Parameters", {})
        if serde.get("SerializationLibrary") != OPENX_JSON_SERDE:
            raise UnsupportedTable(f"only {OPENX_JSON_SERDE} tables are read, not {serde.get('SerializationLibrary')}")
        if str(parameters.get("case.insensitive", "true")).lower() != "true":
            raise UnsupportedTable("only case.insensitive JSON keys are read")
        if str(parameters.get("ignore.malformed.json", "false")).lower() != "false":
            raise UnsupportedTable("ignore.malformed.json is not emulated: a malformed line fails the query")
        return cls(
            name=_literal(table_input.get("Name"), "TableInput.Name"),
            columns=tuple(_column(column) for column in descriptor.get("Columns", [])),
            partition_keys=tuple(_column(column) for column in table_input.get("PartitionKeys", [])),
            prefix=_key_prefix(descriptor.get("Location")),
        )


@dataclass(frozen=True)
class NamedQuery:
    name: str
    query_string: str


@dataclass(frozen=True)
class Answer:
    """A named query's result: its column names and rows, values as DuckDB returns them to Python."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]

    def records(self) -> list[dict[str, object]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def from_resources(resources: Mapping[str, Any]) -> tuple[GlueTable, list[NamedQuery]]:
    """The one AWS::Glue::Table and every AWS::Athena::NamedQuery of a template's Resources, the queries in the
    order of `resources` (the SAM transform reorders resources: `Stack.sam["Resources"]` keeps the template's)."""
    typed = [r for r in resources.values() if isinstance(r, Mapping)]
    tables = [r for r in typed if r.get("Type") == "AWS::Glue::Table"]
    if len(tables) != 1:
        raise UnsupportedTable(f"expected one AWS::Glue::Table, found {len(tables)}")
    queries = [
        NamedQuery(
            name=_literal(r["Properties"].get("Name"), "NamedQuery Name"),
            query_string=_literal(r["Properties"].get("QueryString"), "NamedQuery QueryString"),
        )
        for r in typed
        if r.get("Type") == "AWS::Athena::NamedQuery"
    ]
    return GlueTable.from_table_input(tables[0]["Properties"]["TableInput"]), queries


def answers(table: GlueTable, queries: Sequence[NamedQuery], objects: Iterable[tuple[str, bytes]]) -> list[Answer]:
    """Each query's answer over the table's rows in `objects` ((key, body) pairs of the lake bucket)."""
    columns = (*table.columns, *table.partition_keys)
    values: list[list[object]] = [[] for _ in columns]
    for key, body in objects:
        partition = _partition_values(table, key)
        if partition is None:
            continue
        for line_number, row in _json_rows(key, body):
            for index, column in enumerate(table.columns):
                values[index].append(_cell(key, line_number, column, row.get(column.name.lower())))
            for offset, value in enumerate(partition, start=len(table.columns)):
                values[offset].append(value)
    with duckdb.connect(":memory:", config={"autoinstall_known_extensions": False}) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        for macro in _TRINO_MACROS:
            connection.execute(macro)
        definitions = ", ".join(f"{_quoted(column.name)} {column.duckdb_type}" for column in columns)
        connection.execute(f"CREATE TABLE {_quoted(table.name)} ({definitions})")
        if values and values[0]:
            # One list a column, unnested side by side: far faster than a parameterised INSERT a row.
            unnested = ", ".join(f"unnest(?::{column.duckdb_type}[])" for column in columns)
            connection.execute(f"INSERT INTO {_quoted(table.name)} SELECT {unnested}", values)
        return [_answer(connection, query) for query in queries]


def format_answers(found: Sequence[Answer]) -> str:
    """Each answer as a small aligned text table under its name (numbers right-aligned, NULL blank)."""
    return "\n\n".join(_table_text(answer) for answer in found)


def _answer(connection: duckdb.DuckDBPyConnection, query: NamedQuery) -> Answer:
    try:
        cursor = connection.execute(query.query_string)
        columns = tuple(description[0] for description in cursor.description or ())
        rows = tuple(tuple(row) for row in cursor.fetchall())
    except duckdb.Error as exc:
        raise QueryFailed(f"{query.name}: {exc}") from exc
    return Answer(name=query.name, columns=columns, rows=rows)


def _literal(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise UnsupportedTable(f"{what} must be a literal string, not {value!r}")
    return value


def _column(definition: Mapping[str, Any]) -> GlueColumn:
    return GlueColumn(
        name=_literal(definition.get("Name"), "a column's Name"),
        type=_literal(definition.get("Type"), f"column {definition.get('Name')!r}'s Type"),
    )


def _key_prefix(location: object) -> str:
    if isinstance(location, str):
        match = re.fullmatch(r"s3://[^/$]+(/.*)?", location)
    elif isinstance(location, Mapping) and set(location) == {"Fn::Sub"}:
        template = location["Fn::Sub"]
        template = template[0] if isinstance(template, list) and template else template
        match = _SUB_BUCKET.match(template) if isinstance(template, str) else None
    else:
        match = None
    path = match.group(1) if match else None
    if match is None or (path is not None and "${" in path.replace("${!", "")):
        raise UnsupportedTable(f"Location {location!r} is not s3://<bucket>/<literal path>")
    path = (path or "").strip("/")
    return f"{path}/" if path else ""


def _partition_values(table: GlueTable, key: str) -> list[object] | None:
    if not key.startswith(table.prefix):
        return None
    segments = key[len(table.prefix) :].split("/")
    if len(segments) <= len(table.partition_keys) or not segments[-1]:
        return None
    values: list[object] = []
    for column, segment in zip(table.partition_keys, segments, strict=False):
        name, equals, value = segment.partition("=")
        if not equals or name.lower() != column.name.lower():
            return None
        values.append(_cell(key, None, column, value))
    return values


def _json_rows(key: str, body: bytes) -> Iterable[tuple[int, dict[str, Any]]]:
    if key.endswith(".gz"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise MalformedObject(key, f"not gzip: {exc}") from exc
    elif key.endswith(_OTHER_CODECS):
        raise MalformedObject(key, "compressed with a codec the local lake does not read")
    lines = _LINE_BREAK.split(body)
    if lines and not lines[-1]:
        lines.pop()  # the final line's own terminator
    for number, line in enumerate(lines, start=1):
        yield number, _json_object(key, number, line)


def _json_object(key: str, line_number: int, line: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(line.decode(), object_pairs_hook=_without_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedObject(key, f"not a valid JSON object: {exc}", line_number) from exc
    if not isinstance(parsed, dict):
        raise MalformedObject(key, "not a valid JSON object", line_number)
    row: dict[str, Any] = {}
    for name, value in parsed.items():
        if name.lower() in row:
            raise MalformedObject(key, f"duplicate key {name.lower()!r} (keys are case-insensitive)", line_number)
        row[name.lower()] = value
    return row


def _without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("duplicate key")
    return found


def _cell(key: str, line: int | None, column: GlueColumn, value: object) -> object:
    try:
        return _typed(column.glue_type, value)
    except (TypeError, ValueError) as exc:
        raise MalformedObject(key, f"column {column.name} ({column.type}): {exc}", line) from exc


def _typed(glue_type: str, value: object) -> object:  # noqa: PLR0911  (one return a Glue type)
    if value is None:
        return None
    if glue_type == "string":
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if glue_type in _INT_RANGES:
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            number = int(value)
        low, high = _INT_RANGES[glue_type]
        if number is None or not low <= number <= high:
            raise ValueError(f"{value!r} is not a {glue_type}")
        return number
    if glue_type == "double":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError(f"{value!r} is not a double")
        return float(value)
    if glue_type == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise TypeError(f"{value!r} is not a boolean")
        return value
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a timestamp string")
    moment = datetime.fromisoformat(value)
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _table_text(answer: Answer) -> str:
    cells = [[_shown(value) for value in row] for row in answer.rows]
    numeric = [
        all(_is_number(row[index]) for row in answer.rows if row[index] is not None) and bool(answer.rows)
        for index in range(len(answer.columns))
    ]
    widths = [max([len(name), *(len(row[index]) for row in cells)]) for index, name in enumerate(answer.columns)]

    def line(texts: Sequence[str]) -> str:
        aligned = [
            text.rjust(width) if right else text.ljust(width)
            for text, width, right in zip(texts, widths, numeric, strict=True)
        ]
        return "  ".join(aligned).rstrip()

    lines = [answer.name, line(answer.columns), line(["-" * width for width in widths])]
    lines += [line(row) for row in cells] if cells else ["(no rows)"]
    return "\n".join(lines)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _shown(value: object) -> str:
    return "" if value is None else str(value)

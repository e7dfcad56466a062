"""The order history's named queries, as template.yaml writes them, answered locally over lake objects made of the
rows the Firehose transformation writes (shop.usecases.order_history), against figures computed here from the
order histories themselves."""

from __future__ import annotations

import copy
import gzip
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from localcloud.lake_queries import (
    Answer,
    GlueColumn,
    GlueTable,
    MalformedObject,
    NamedQuery,
    QueryFailed,
    UnsupportedGlueType,
    UnsupportedTable,
    answers,
    format_answers,
    from_resources,
)
from localcloud.template import TEMPLATE, load_stack
from shop.usecases.order_history import order_event_row

NOW = datetime.now(UTC)
# Firehose dates an object by its arrival: rows written near midnight land in the next day's partition.
DELIVERY_LAG = timedelta(minutes=30)
_serializer = TypeSerializer()


@dataclass(frozen=True)
class Step:
    status: str
    at: datetime
    failure_reason: str | None = None


@dataclass(frozen=True)
class History:
    order_id: str
    total_cents: int
    steps: tuple[Step, ...]

    def first(self, status: str) -> datetime | None:
        return next((step.at for step in self.steps if step.status == status), None)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def placed(at: str, *later: Step) -> tuple[Step, ...]:
    return (Step("PLACED", utc(at)), *later)


HISTORIES = (
    # Shipped: 59 s, 90 s, 119.2 s (119 whole seconds, shipped after midnight UTC) and 3600.5 s after being placed.
    History("o-01", 2500, placed("2026-11-02T09:00:00", Step("SHIPPED", utc("2026-11-02T09:00:59")))),
    History(
        "o-02",
        4999,
        placed(
            "2026-11-02T23:43:30",
            Step("PAID", utc("2026-11-02T23:44:00")),
            Step("SHIPPED", utc("2026-11-02T23:45:00")),
        ),
    ),
    History(
        "o-03",
        12345,
        placed(
            "2026-11-02T23:58:59.900",
            Step("AWAITING_APPROVAL", utc("2026-11-02T23:59:00")),
            Step("PAID", utc("2026-11-03T00:00:30")),
            Step("SHIPPED", utc("2026-11-03T00:00:59.100")),
        ),
    ),
    History(
        "o-04",
        700,
        placed(
            "2026-11-03T08:00:00",
            Step("PAID", utc("2026-11-03T08:10:00")),
            Step("SHIPPED", utc("2026-11-03T09:00:00.500")),
            Step("DELIVERED", utc("2026-11-05T16:00:00")),
        ),
    ),
    History("o-05", 1500, placed("2026-11-04T10:00:00", Step("FAILED", utc("2026-11-04T10:00:05"), "OUT_OF_STOCK"))),
    History(
        "o-06",
        90000,
        placed(
            "2026-11-04T11:00:00",
            Step("AWAITING_APPROVAL", utc("2026-11-04T11:00:01")),
            Step("FAILED", utc("2026-11-04T15:00:00"), "PAYMENT_DECLINED"),
        ),
    ),
    History(
        "o-07", 3000, placed("2026-11-04T12:00:00", Step("FAILED", utc("2026-11-04T12:00:03"), "PAYMENT_DECLINED"))
    ),
    History(
        "o-08",
        75000,
        placed(
            "2026-11-04T13:00:00",
            Step("AWAITING_APPROVAL", utc("2026-11-04T13:00:01")),
            Step("REJECTED", utc("2026-11-04T17:00:00")),
        ),
    ),
    # Abandoned: cancelled from PLACED, cancelled while awaiting approval, and left unpaid for days.
    History("o-09", 1999, placed("2026-11-05T12:00:00", Step("CANCELLED", utc("2026-11-05T12:30:00")))),
    History(
        "o-10",
        60000,
        placed(
            "2026-11-06T07:00:00",
            Step("AWAITING_APPROVAL", utc("2026-11-06T07:00:01")),
            Step("CANCELLED", utc("2026-11-06T09:00:00")),
        ),
    ),
    History("o-11", 4250, placed("2026-11-06T08:00:00")),
    History("o-12", 55500, placed("2026-11-07T10:00:00", Step("AWAITING_APPROVAL", utc("2026-11-07T10:00:01")))),
    # Placed an hour ago: not abandoned yet.
    History("o-13", 880, (Step("PLACED", NOW - timedelta(hours=1)),)),
)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def order_image(history: History, step: Step) -> dict[str, Any]:
    image: dict[str, Any] = {
        "pk": f"ORDER#{history.order_id}",
        "sk": "ORDER",
        "kind": "ORDER",
        "orderId": history.order_id,
        "customerId": f"customer-of-{history.order_id}",
        "status": step.status,
        "totalCents": history.total_cents,
        "updatedAt": iso(step.at),
    }
    if step.failure_reason:
        image["failureReason"] = step.failure_reason
    return image


def rows_of(history: History) -> list[dict[str, Any]]:
    """The rows the Firehose transformation writes for the history's changes, as DynamoDB streams them."""
    rows = []
    for index, step in enumerate(history.steps):
        old = order_image(history, history.steps[index - 1]) if index else None
        dynamodb: dict[str, Any] = {
            "NewImage": {k: _serializer.serialize(v) for k, v in order_image(history, step).items()},
            "ApproximateCreationDateTime": round(step.at.timestamp() * 1000),
        }
        if old is not None:
            dynamodb["OldImage"] = {k: _serializer.serialize(v) for k, v in old.items()}
        row = order_event_row({"eventName": "MODIFY" if index else "INSERT", "dynamodb": dynamodb})
        assert row is not None
        rows.append(row)
    return rows


def gzip_lines(rows: Sequence[dict[str, Any]]) -> bytes:
    return gzip.compress("".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows).encode())


def lake(histories: Sequence[History] = HISTORIES) -> list[tuple[str, bytes]]:
    """One gzip object a delivery day, under orders/dt=<day>/, named as Firehose names them."""
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for history in histories:
        for row in rows_of(history):
            arrival = datetime.fromisoformat(row["at"]) + DELIVERY_LAG
            by_day[arrival.date().isoformat()].append(row)
    return [
        (f"orders/dt={day}/shop-order-history-1-{day}-00-00-00-{index:04d}.gz", gzip_lines(rows))
        for index, (day, rows) in enumerate(sorted(by_day.items()))
    ]


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    found: dict[str, Any] = load_stack().cloudformation["Resources"]
    return found


@pytest.fixture(scope="module")
def table(resources: dict[str, Any]) -> GlueTable:
    return from_resources(resources)[0]


@pytest.fixture(scope="module")
def queries(resources: dict[str, Any]) -> list[NamedQuery]:
    return from_resources(resources)[1]


def answered(table: GlueTable, queries: list[NamedQuery], objects: list[tuple[str, bytes]]) -> dict[str, Answer]:
    return {answer.name: answer for answer in answers(table, queries, objects)}


# The figures, computed from the histories.


def expected_sales_per_day(histories: Sequence[History] = HISTORIES) -> list[tuple[date, int, float]]:
    by_day: dict[date, list[int]] = defaultdict(list)
    for history in histories:
        shipped_at = history.first("SHIPPED")
        if shipped_at is not None:
            by_day[shipped_at.date()].append(history.total_cents)
    return [(day, len(cents), sum(cents) / 100) for day, cents in sorted(by_day.items())]


def trino_percentile(values: Sequence[int], percentage: float) -> int:
    """What Trino's approx_percentile answers for a few values (each its own t-digest centroid): the value at rank
    floor(p * n) of the sorted values, the last one at most."""
    ranked = sorted(values)
    return ranked[min(int(percentage * len(ranked)), len(ranked) - 1)]


def expected_shipped_share(histories: Sequence[History] = HISTORIES) -> dict[str, object]:
    placed_orders = [h for h in histories if h.first("PLACED") is not None]
    seconds = []
    for history in placed_orders:
        placed_at, shipped_at = history.first("PLACED"), history.first("SHIPPED")
        if placed_at is not None and shipped_at is not None:
            seconds.append((shipped_at - placed_at) // timedelta(seconds=1))  # whole seconds elapsed
    return {
        "placed": len(placed_orders),
        "shipped": len(seconds),
        "shipped_percent": round(100 * len(seconds) / len(placed_orders), 1),
        "median_seconds_to_ship": trino_percentile(seconds, 0.5),
        "p95_seconds_to_ship": trino_percentile(seconds, 0.95),
    }


def expected_failure_reasons(histories: Sequence[History] = HISTORIES) -> list[tuple[str, str, int]]:
    orders: dict[tuple[str, str], set[str]] = defaultdict(set)
    for history in histories:
        for step in history.steps:
            if step.status in ("FAILED", "REJECTED", "CANCELLED"):
                orders[(step.status, step.failure_reason or step.status)].add(history.order_id)
    return sorted((status, reason, len(ids)) for (status, reason), ids in orders.items())


def expected_abandoned(histories: Sequence[History] = HISTORIES) -> list[tuple[date, int, float]]:
    by_day: dict[date, list[int]] = defaultdict(list)
    for history in histories:
        *earlier, last = history.steps
        previous = earlier[-1].status if earlier else None
        cancelled_unpaid = last.status == "CANCELLED" and previous in ("PLACED", "AWAITING_APPROVAL")
        left_unpaid = last.status in ("PLACED", "AWAITING_APPROVAL") and last.at < NOW - timedelta(days=1)
        if cancelled_unpaid or left_unpaid:
            by_day[last.at.date()].append(history.total_cents)
    return [(day, len(cents), sum(cents) / 100) for day, cents in sorted(by_day.items())]


def assert_the_figures_of(found: dict[str, Answer], histories: Sequence[History] = HISTORIES) -> None:
    assert list(found["Sales per day"].rows) == expected_sales_per_day(histories)
    [share] = found["Share of orders shipped and time to ship"].records()
    assert share == expected_shipped_share(histories)
    reasons = found["Failure reasons"].rows
    assert sorted(reasons) == expected_failure_reasons(histories)
    assert [row[2] for row in reasons] == sorted((n for *_, n in expected_failure_reasons(histories)), reverse=True)
    assert list(found["Abandoned carts (orders abandoned before payment)"].rows) == expected_abandoned(histories)


# The template's queries over the lake.


def test_the_histories_cover_what_each_query_counts() -> None:
    # The figures below would prove little over an empty day or a single value.
    assert len(expected_sales_per_day()) == 2
    assert expected_shipped_share()["shipped"] == 4
    assert len(expected_failure_reasons()) == 4
    assert len(expected_abandoned()) == 3


def test_the_template_names_four_queries_over_the_order_events_table(
    table: GlueTable, queries: list[NamedQuery]
) -> None:
    assert (table.name, table.prefix) == ("order_events", "orders/")
    assert [column.name for column in table.partition_keys] == ["dt"]
    assert len(queries) == 4
    assert all("order_events" in query.query_string for query in queries)


def test_the_queries_keep_the_order_of_the_resources_given() -> None:
    template_text = TEMPLATE.read_text()
    _, queries = from_resources(load_stack().sam["Resources"])

    positions = [template_text.index(f"Name: {query.name}\n") for query in queries]
    assert positions == sorted(positions)


def test_the_four_queries_answer_the_histories_figures(table: GlueTable, queries: list[NamedQuery]) -> None:
    assert_the_figures_of(answered(table, queries, lake()))


def test_the_figures_for_the_histories_are_these(table: GlueTable, queries: list[NamedQuery]) -> None:
    # The same figures written out, for a reader (and against a helper above going wrong with the query).
    found = answered(table, queries, lake())

    assert found["Sales per day"].rows == ((date(2026, 11, 2), 2, 74.99), (date(2026, 11, 3), 2, 130.45))
    assert found["Share of orders shipped and time to ship"].rows == ((13, 4, 30.8, 119, 3600),)
    assert found["Abandoned carts (orders abandoned before payment)"].rows == (
        (date(2026, 11, 5), 1, 19.99),
        (date(2026, 11, 6), 2, 642.5),
        (date(2026, 11, 7), 1, 555.0),
    )


def test_rows_delivered_twice_change_no_figure(table: GlueTable, queries: list[NamedQuery]) -> None:
    # Firehose delivers at least once: a batch retried whole lands in a second object, and a record retried by the
    # stream repeats a line inside an object.
    objects = lake()
    again = [(key.replace(".gz", "-retry.gz"), body) for key, body in objects]
    repeated = [(key.replace(".gz", "-repeated.gz"), gzip.compress(gzip.decompress(body) * 2)) for key, body in objects]

    found = answered(table, queries, objects + again + repeated)

    assert_the_figures_of(found)


def test_a_row_under_errors_is_not_read(table: GlueTable, queries: list[NamedQuery]) -> None:
    shipped_elsewhere = History(
        "o-99", 100000, placed("2026-11-02T10:00:00", Step("SHIPPED", utc("2026-11-02T10:05:00")))
    )
    errors = [
        (f"errors/processing-failed/dt=2026-11-02/{key.rsplit('/', 1)[1]}", body)
        for key, body in lake([shipped_elsewhere])
    ]

    found = answered(table, queries, lake() + errors)

    assert_the_figures_of(found)


def test_the_same_row_under_orders_is_read(table: GlueTable, queries: list[NamedQuery]) -> None:
    # The counterpart of the test above: what errors/ holds would have changed the figures.
    shipped_elsewhere = History(
        "o-99", 100000, placed("2026-11-02T10:00:00", Step("SHIPPED", utc("2026-11-02T10:05:00")))
    )

    found = answered(table, queries, lake((*HISTORIES, shipped_elsewhere)))

    assert found["Sales per day"].rows[0] == (date(2026, 11, 2), 3, 1074.99)


# How rows are read.


def read_back(table: GlueTable, objects: list[tuple[str, bytes]]) -> list[dict[str, object]]:
    [everything] = answers(table, [NamedQuery("rows", "SELECT * FROM order_events ORDER BY orderid")], objects)
    return everything.records()


def test_camel_case_keys_fill_the_lowercase_columns_and_dt_comes_from_the_key(table: GlueTable) -> None:
    [row] = rows_of(HISTORIES[0])[:1]

    [read] = read_back(table, [("orders/dt=2026-11-02/one.gz", gzip_lines([row]))])

    assert {"orderId", "customerId", "totalCents", "previousStatus"} <= row.keys()
    assert read == {
        "orderid": "o-01",
        "customerid": "customer-of-o-01",
        "status": "PLACED",
        "previousstatus": None,
        "eventname": "INSERT",
        "totalcents": 2500,
        "at": "2026-11-02T09:00:00.000Z",
        "failurereason": None,
        "approximatecreationdatetime": "2026-11-02T09:00:00.000Z",
        "dt": "2026-11-02",
    }


def test_an_extra_key_is_ignored_and_a_missing_key_is_null(table: GlueTable) -> None:
    line = {"ORDERID": "o-1", "Status": "PLACED", "totalCents": 5, "couponCode": "WINTER"}

    [read] = read_back(table, [("orders/dt=2026-11-02/one.gz", gzip_lines([line]))])

    assert read["orderid"] == "o-1"
    assert read["status"] == "PLACED"
    assert read["totalcents"] == 5
    assert read["customerid"] is None
    assert "couponcode" not in read


def test_only_keys_under_the_location_in_a_partition_are_rows(table: GlueTable) -> None:
    body = gzip_lines([{"orderId": "o-1"}])
    objects = [
        ("orders/dt=2026-11-02/in.gz", body),
        ("orders/stray.gz", body),
        ("orders/day=2026-11-02/wrong-partition.gz", body),
        ("athena-results/dt=2026-11-02/other.gz", body),
    ]

    assert [row["dt"] for row in read_back(table, objects)] == ["2026-11-02"]


def test_a_malformed_line_fails_the_query_naming_its_object(table: GlueTable, queries: list[NamedQuery]) -> None:
    key = "orders/dt=2026-11-03/shop-order-history-1-2026-11-03-broken.gz"
    broken = gzip.compress(b'{"orderId":"o-1","status":"PLACED"}\n{"orderId":"o-2","status":\n')

    with pytest.raises(MalformedObject, match=r"broken\.gz, line 2") as raised:
        answers(table, queries, [*lake(), (key, broken)])

    assert (raised.value.key, raised.value.line) == (key, 2)


def test_a_value_not_of_its_column_type_fails_the_query_naming_its_object(table: GlueTable) -> None:
    key = "orders/dt=2026-11-03/bad-total.gz"

    with pytest.raises(MalformedObject, match="totalcents") as raised:
        read_back(table, [(key, gzip_lines([{"orderId": "o-1", "totalCents": "lots"}]))])

    assert raised.value.key == key


def test_keys_equal_but_for_case_are_a_duplicate_key(table: GlueTable) -> None:
    with pytest.raises(MalformedObject, match="duplicate key 'orderid'"):
        read_back(table, [("orders/dt=2026-11-03/twice.gz", gzip_lines([{"orderId": "a", "orderid": "b"}]))])


def test_an_unknown_glue_type_is_refused(resources: dict[str, Any]) -> None:
    changed = copy.deepcopy(resources)
    columns = changed["OrderHistoryTable"]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]
    next(column for column in columns if column["Name"] == "totalcents")["Type"] = "decimal(12,2)"

    with pytest.raises(UnsupportedGlueType, match=r"totalcents.*decimal\(12,2\)"):
        from_resources(changed)


def test_glue_types_become_duckdb_types() -> None:
    table = GlueTable(
        name="typed",
        columns=tuple(GlueColumn(name, name) for name in ("string", "bigint", "int", "double", "boolean", "timestamp")),
        partition_keys=(),
        prefix="typed/",
    )
    line = {
        "String": 1,
        "BIGINT": "9007199254740993",
        "int": -7,
        "double": 2,
        "boolean": "TRUE",
        "timestamp": "2026-11-02T09:00:00.123Z",
    }
    query = NamedQuery("types", "SELECT typeof(COLUMNS(*)), * FROM typed")

    [answer] = answers(table, [query], [("typed/a.gz", gzip_lines([line]))])

    assert answer.rows == (
        (
            *("VARCHAR", "BIGINT", "INTEGER", "DOUBLE", "BOOLEAN", "TIMESTAMP"),
            *("1", 9007199254740993, -7, 2.0, True, datetime(2026, 11, 2, 9, 0, 0, 123000)),
        ),
    )


@pytest.mark.parametrize(
    ("location", "prefix"),
    [
        ({"Fn::Sub": "s3://${OrderHistoryBucket}/orders/"}, "orders/"),
        ({"Fn::Sub": ["s3://${Lake}/order/events", {"Lake": "x"}]}, "order/events/"),
        ("s3://literal-bucket/orders", "orders/"),
        ("s3://literal-bucket/", ""),
    ],
)
def test_the_location_key_prefix_is_the_path_after_the_bucket(location: object, prefix: str) -> None:
    assert GlueTable.from_table_input(table_input(location)).prefix == prefix


def test_a_location_whose_path_needs_resolving_is_refused() -> None:
    with pytest.raises(UnsupportedTable, match="Location"):
        GlueTable.from_table_input(table_input({"Fn::Sub": "s3://${Bucket}/${Stage}/orders/"}))


def table_input(location: object) -> dict[str, Any]:
    return {
        "Name": "t",
        "StorageDescriptor": {
            "Location": location,
            "Columns": [{"Name": "a", "Type": "string"}],
            "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
        },
    }


# Trino's functions, in Trino's words, as the queries use them.


def probe(table: GlueTable, sql: str) -> tuple[object, ...]:
    [answer] = answers(table, [NamedQuery("probe", sql)], [])
    [row] = answer.rows
    return row


def test_date_diff_counts_whole_seconds_elapsed_as_trino_does(table: GlueTable) -> None:
    row = probe(
        table,
        "SELECT date_diff('second', from_iso8601_timestamp('2026-11-02T09:00:00.900Z'),"
        " from_iso8601_timestamp('2026-11-02T09:00:01.100Z')),"
        " date_diff('second', from_iso8601_timestamp('2026-11-02T09:00:01.100Z'),"
        " from_iso8601_timestamp('2026-11-02T09:00:00.000Z'))",
    )

    assert row == (0, -1)


def test_approx_percentile_answers_the_value_at_rank_floor_p_n(table: GlueTable) -> None:
    # Not 90 (DuckDB's quantile_disc) nor 105 (an interpolated median).
    row = probe(
        table,
        "SELECT approx_percentile(x, 0.5), approx_percentile(x, 0.95), approx_percentile(x, 0.25)"
        " FROM (VALUES (BIGINT '3600'), (BIGINT '60'), (NULL), (BIGINT '120'), (BIGINT '90')) AS t(x)",
    )

    assert row == (120, 3600, 90)


def test_max_by_keeps_a_null_value_of_the_greatest_row(table: GlueTable) -> None:
    row = probe(table, "SELECT max_by(x, y) FROM (VALUES ('PLACED', 1), (NULL, 2), ('PAID', NULL)) AS t(x, y)")

    assert row == (None,)


def test_from_iso8601_timestamp_keeps_milliseconds_and_date_is_the_utc_day(table: GlueTable) -> None:
    row = probe(
        table,
        "SELECT from_iso8601_timestamp('2026-11-02T23:59:59.999999Z'),"
        " date(from_iso8601_timestamp('2026-11-02T23:59:59.999Z')),"
        " date(from_iso8601_timestamp('2026-11-03T00:00:00.000Z'))",
    )

    assert row == (datetime(2026, 11, 2, 23, 59, 59, 999000, tzinfo=UTC), date(2026, 11, 2), date(2026, 11, 3))


def test_from_iso8601_timestamp_refuses_a_time_that_is_not_iso_8601(table: GlueTable) -> None:
    with pytest.raises(QueryFailed, match="not an ISO 8601 timestamp"):
        probe(table, "SELECT from_iso8601_timestamp('2026-11-02 09:00:00')")


# What make demo prints.


def test_each_answer_prints_as_an_aligned_table_under_its_name() -> None:
    found = [
        Answer(
            "Sales per day", ("day", "orders", "revenue"), ((date(2026, 11, 2), 2, 74.99), (date(2026, 11, 3), 12, 0.5))
        ),
        Answer("Failure reasons", ("status", "reason", "orders"), ()),
        Answer("Nulls", ("status", "reason"), (("FAILED", None),)),
    ]

    assert format_answers(found).splitlines() == [
        "Sales per day",
        "day         orders  revenue",
        "----------  ------  -------",
        "2026-11-02       2    74.99",
        "2026-11-03      12      0.5",
        "",
        "Failure reasons",
        "status  reason  orders",
        "------  ------  ------",
        "(no rows)",
        "",
        "Nulls",
        "status  reason",
        "------  ------",
        "FAILED",
    ]

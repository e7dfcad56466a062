"""`make seed` fills the Catalog through the normal DynamoDB API, by table name or by stack output, with the demo
products or those of a DynamoDB JSON or CSV file (`--from`)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from shop.adapters.catalog_table import CatalogTable
from tests.support.cloud import TABLE_NAMES
from tools.seed import DEMO_CATALOG, catalog_table_of_stack, load_demo_catalog, main, seed


def scan_all(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.scan(TableName=TABLE_NAMES["CatalogTable"])["Items"]
    return items


def test_seeding_writes_every_demo_product_with_its_stock(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--table", TABLE_NAMES["CatalogTable"]]) == 0

    table = CatalogTable(TABLE_NAMES["CatalogTable"], dynamodb)
    demo = load_demo_catalog()
    assert len(scan_all(dynamodb)) == len(demo)
    for product in demo:
        assert table.get(product.product_id) == product
    assert f"seeded {len(demo)} products" in capsys.readouterr().out


def test_seeding_twice_leaves_one_item_per_product(dynamodb: Any) -> None:
    main(["--table", TABLE_NAMES["CatalogTable"]])
    main(["--table", TABLE_NAMES["CatalogTable"]])
    assert len(scan_all(dynamodb)) == len(load_demo_catalog())


def test_seeded_products_start_with_nothing_reserved_or_sold(dynamodb: Any) -> None:
    main(["--table", TABLE_NAMES["CatalogTable"]])
    for item in scan_all(dynamodb):
        assert item["reserved"] == {"N": "0"}
        assert item["sold"] == {"N": "0"}


def test_the_catalog_table_is_found_from_a_stack_output(dynamodb: Any) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"CatalogTableName": {"Value": TABLE_NAMES["CatalogTable"]}},
    }
    boto3.client("cloudformation").create_stack(StackName="shop-dev", TemplateBody=json.dumps(template))
    assert catalog_table_of_stack("shop-dev") == TABLE_NAMES["CatalogTable"]


def test_a_stack_without_the_output_is_a_clear_error(dynamodb: Any) -> None:
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    boto3.client("cloudformation").create_stack(StackName="other", TemplateBody=json.dumps(template))
    with pytest.raises(SystemExit, match="no CatalogTableName output"):
        catalog_table_of_stack("other")


# Loading the catalog from a file (`--from`): DynamoDB JSON or CSV, from S3 or a local path.

BUCKET = "catalog-imports"
# A CSV file's header: the product's fields as the catalog's JSON (demo_catalog.json, the API) names them.
CSV_COLUMNS = ("productId", "name", "priceCents", "currency", "available")
NEW_PRODUCTS = [
    {"productId": "tea-sencha", "name": "Sencha, 100 g", "priceCents": 900, "available": 30},
    {"productId": "tea-kettle", "name": "Tea kettle", "priceCents": 3900, "available": 8},
]


class RecordingClient:
    """Stands in for DynamoDB and keeps every item the Catalog adapter puts, in its stored (typed) form."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, **request: Any) -> dict[str, Any]:
        self.items.append(request["Item"])
        return {}


def demo_items_as_the_adapter_stores_them() -> list[dict[str, Any]]:
    recorder = RecordingClient()
    table = CatalogTable("catalog", cast(Any, recorder))
    for product in load_demo_catalog():
        table.put(product)
    return recorder.items


def dynamodb_json(items: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps({"Item": item}) + "\n" for item in items).encode()


def typed(entry: dict[str, Any]) -> dict[str, Any]:
    return {name: TypeSerializer().serialize(value) for name, value in entry.items()}


def csv_file(entries: list[dict[str, Any]], columns: tuple[str, ...] = CSV_COLUMNS) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, restval="", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(entries)
    return text.getvalue().encode()


def demo_entries() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(DEMO_CATALOG.read_text())
    return entries


def assert_the_catalog_is_the_demo_set(dynamodb: Any) -> None:
    table = CatalogTable(TABLE_NAMES["CatalogTable"], dynamodb)
    demo = load_demo_catalog()
    assert len(scan_all(dynamodb)) == len(demo)
    for product in demo:
        assert table.get(product.product_id) == product


# One boto3 session for these tests, as the shared fixtures keep: mock_aws() discards boto3's default session each
# time it starts, and the fresh one that main() would build parses botocore's S3 and DynamoDB models again.
_session = boto3.session.Session()


@pytest.fixture
def bucket(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", _session)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


def load(key: str, body: bytes, *options: str) -> int:
    """Upload `body` to the bucket under `key`, then run the seed tool on it."""
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    return main(["--table", TABLE_NAMES["CatalogTable"], "--from", f"s3://{BUCKET}/{key}", *options])


@pytest.mark.usefixtures("bucket")
@pytest.mark.parametrize(
    ("key", "compress"),
    [("catalog.json", False), ("catalog.json.gz", True), ("AWSDynamoDB/01234/data/abc.json", True)],
    ids=["plain", "gzip-by-suffix", "gzip-by-magic-bytes"],
)
def test_a_dynamodb_json_file_of_the_demo_catalog_loads_the_demo_catalog(
    dynamodb: Any, key: str, compress: bool
) -> None:
    body = dynamodb_json(demo_items_as_the_adapter_stores_them())

    assert load(key, gzip.compress(body) if compress else body) == 0

    assert_the_catalog_is_the_demo_set(dynamodb)


@pytest.mark.usefixtures("bucket")
@pytest.mark.parametrize(("key", "compress"), [("catalog.csv", False), ("catalog.csv.gz", True)], ids=["plain", "gzip"])
def test_a_csv_file_of_the_demo_catalog_loads_the_demo_catalog(dynamodb: Any, key: str, compress: bool) -> None:
    # The demo entries have no currency: its column stays empty and the default applies.
    body = csv_file(demo_entries())

    assert load(key, gzip.compress(body) if compress else body) == 0

    assert_the_catalog_is_the_demo_set(dynamodb)


@pytest.mark.usefixtures("bucket")
def test_a_load_says_how_many_products_came_from_where(capsys: pytest.CaptureFixture[str]) -> None:
    load("catalog.csv", csv_file(NEW_PRODUCTS))

    assert f"seeded 2 products from s3://{BUCKET}/catalog.csv into {TABLE_NAMES['CatalogTable']}" in (
        capsys.readouterr().out
    )


@pytest.mark.usefixtures("bucket")
def test_format_overrides_the_suffix(dynamodb: Any) -> None:
    assert load("catalog.json", csv_file(demo_entries()), "--format", "csv") == 0

    assert_the_catalog_is_the_demo_set(dynamodb)


def test_a_local_file_loads_like_an_s3_object(dynamodb: Any, tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes(csv_file(demo_entries()))

    assert main(["--table", TABLE_NAMES["CatalogTable"], "--from", str(path)]) == 0

    assert_the_catalog_is_the_demo_set(dynamodb)


GOOD_LINES = [json.dumps({"Item": typed(entry)}) for entry in NEW_PRODUCTS]
SENCHA = NEW_PRODUCTS[0]
OOLONG = {**SENCHA, "productId": "tea-oolong", "name": "Oolong, 100 g"}


@pytest.mark.usefixtures("bucket")
@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ('{"Item": {"productId": {"S": "tea-oolong"}', "not JSON"),
        (json.dumps(OOLONG), 'not a DynamoDB JSON item: expected {"Item"'),
        (json.dumps({"Item": OOLONG}), 'not a DynamoDB JSON item: expected {"Item"'),
        (json.dumps({"Item": typed(OOLONG) | {"priceCents": {"Q": "1"}}}), "not a DynamoDB JSON item (Dynamodb type Q"),
        (json.dumps({"Item": typed(OOLONG) | {"priceCents": {"N": "twelve"}}}), "priceCents: Input should be a finite"),
        (json.dumps({"Item": typed({**OOLONG, "priceCents": -1})}), "priceCents: Input should be greater than or"),
        (json.dumps({"Item": typed(OOLONG) | {"priceCents": {"N": "9.5"}}}), "priceCents: Input should be a valid int"),
        (json.dumps({"Item": typed({**OOLONG, "available": -1})}), "available: Input should be greater than or"),
        (
            json.dumps({"Item": typed({"productId": "tea-oolong", "name": "Oolong", "available": 3})}),
            "priceCents: Field",
        ),
        (json.dumps({"Item": typed(SENCHA)}), "productId tea-sencha is already on line 1"),
    ],
    ids=[
        "not-json",
        "plain-json",
        "untyped-attributes",
        "unknown-type",
        "not-a-number",
        "negative-price",
        "fractional-price",
        "negative-stock",
        "missing-price",
        "duplicate",
    ],
)
def test_a_bad_dynamodb_json_line_writes_nothing_and_is_named(
    dynamodb: Any, capsys: pytest.CaptureFixture[str], bad_line: str, reason: str
) -> None:
    # Given a seeded catalog, and a file whose first two lines are new products and whose third is bad
    seed(TABLE_NAMES["CatalogTable"], dynamodb)
    before = len(scan_all(dynamodb))
    body = "\n".join([*GOOD_LINES, bad_line]).encode()

    # When it is loaded
    code = load("catalog.json", body)

    # Then nothing is written, and the error names the line and why
    assert code == 2
    assert len(scan_all(dynamodb)) == before
    assert CatalogTable(TABLE_NAMES["CatalogTable"], dynamodb).get("tea-sencha") is None
    assert f"line 3: {reason}" in capsys.readouterr().err


@pytest.mark.usefixtures("bucket")
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (csv_file([*NEW_PRODUCTS, {**OOLONG, "name": ""}]), "line 4: name: Field required"),
        (csv_file([*NEW_PRODUCTS, {**OOLONG, "priceCents": -5}]), "line 4: priceCents: Input should be greater"),
        (csv_file([*NEW_PRODUCTS, {**OOLONG, "priceCents": "12.x"}]), "line 4: priceCents: Input should be a valid"),
        (csv_file([*NEW_PRODUCTS, {**OOLONG, "currency": "EUR"}]), "line 4: currency: Input should be 'USD'"),
        (csv_file([*NEW_PRODUCTS, SENCHA]), "line 4: productId tea-sencha is already on line 2"),
        (csv_file(NEW_PRODUCTS) + b"tea-oolong,Oolong,1200,USD,3,extra\r\n", "line 4: more values than the 5 columns"),
        (csv_file(NEW_PRODUCTS) + b"tea-oolong,Oolong,1200\r\n", "line 4: fewer values than the 5 columns"),
        (csv_file(NEW_PRODUCTS, ("productId", "name", "price", "available")), "line 1: unknown column price"),
        (csv_file(NEW_PRODUCTS, ("productId", "name", "name", "available")), "line 1: column name twice"),
    ],
    ids=[
        "empty-name",
        "negative-price",
        "not-a-number",
        "unknown-currency",
        "duplicate",
        "too-many-values",
        "too-few-values",
        "unknown-column",
        "repeated-column",
    ],
)
def test_a_bad_csv_row_writes_nothing_and_is_named(
    dynamodb: Any, capsys: pytest.CaptureFixture[str], body: bytes, error: str
) -> None:
    seed(TABLE_NAMES["CatalogTable"], dynamodb)
    before = len(scan_all(dynamodb))

    code = load("catalog.csv", body)

    assert code == 2
    assert len(scan_all(dynamodb)) == before
    assert CatalogTable(TABLE_NAMES["CatalogTable"], dynamodb).get("tea-sencha") is None
    assert error in capsys.readouterr().err


@pytest.mark.usefixtures("bucket")
@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        ("catalog.json", b"", "holds no products"),
        ("catalog.json.gz", b"not gzip at all", "not a valid gzip file"),
        (
            "catalog.csv",
            csv_file(NEW_PRODUCTS) + b"tea-\xff,Oolong,1200,USD,3\r\n",
            "line 4: not UTF-8",
        ),
        ("catalog.txt", csv_file(NEW_PRODUCTS), "pass --format"),
    ],
    ids=["empty", "corrupt-gzip", "not-utf8", "unknown-suffix"],
)
def test_a_file_that_cannot_be_read_writes_nothing_and_says_why(
    dynamodb: Any, capsys: pytest.CaptureFixture[str], key: str, body: bytes, reason: str
) -> None:
    code = load(key, body)

    assert code == 2
    assert scan_all(dynamodb) == []
    assert reason in capsys.readouterr().err


@pytest.mark.usefixtures("bucket")
@pytest.mark.parametrize("source", [f"s3://{BUCKET}/missing.json", "s3://no-such-bucket/catalog.json"])
def test_a_missing_s3_object_is_a_clear_error(capsys: pytest.CaptureFixture[str], source: str) -> None:
    code = main(["--table", TABLE_NAMES["CatalogTable"], "--from", source])

    assert code == 2
    assert f"seed: {source}: no such S3 object" in capsys.readouterr().err

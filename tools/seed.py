"""Fill the Catalog table with products through the normal DynamoDB API: the demo set, or a file from S3.

Works against any endpoint boto3 can reach: a deployed stack (`--stack`), a table by name (`--table`),
and a local cloud when AWS_ENDPOINT_URL points at it.

    python -m tools.seed --stack order-fulfillment-dev
    python -m tools.seed --stack order-fulfillment-dev --from s3://my-bucket/catalog.csv.gz
    AWS_ENDPOINT_URL=http://127.0.0.1:4566 python -m tools.seed --table Catalog --from ./catalog.json

`--from` takes one S3 object (or, for convenience, a local file) in one of two formats, told by its name's suffix
or by `--format`; a name ending in .gz, or a body that starts as gzip does, is decompressed first:

- DynamoDB JSON (.json, .json.gz): one `{"Item": {"productId": {"S": "..."}, "priceCents": {"N": "1999"}, ...}}`
  per line, the format of the data files of DynamoDB's full export to S3 and of ImportTable. An item becomes a
  Product exactly as the Catalog adapter reads a stored one, so a data file of an exported Catalog table loads
  back (attributes a Product does not have, such as the reserved and sold counts, are not taken: those start at 0).
- CSV (.csv, .csv.gz): a header row of the catalog's JSON names (productId, name, priceCents, currency, available),
  then one product a row; an empty cell is an absent optional field.

Every line is validated before anything is written: a bad one (not JSON or not CSV, not an item, a missing field,
a negative price, a productId already in the file) stops the load with its line number on stderr and exit code 2,
and nothing is written. Products are then put one by one, replacing those with the same productId; a write that
fails part-way (an outage) can leave some written, and running the load again is safe.

DynamoDB's ImportTable reads these formats without consuming write capacity, but it only ever creates a NEW table;
the stack's Catalog table exists and is the stack's, so products go in through PutItem, with the same
CatalogTable.put as the demo set.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import sys
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError
from pydantic import ValidationError

from shop.adapters.catalog_table import CatalogTable
from shop.adapters.dynamodb import from_attributes
from shop.domain.models import Product

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEMO_CATALOG = Path(__file__).with_name("demo_catalog.json")

DYNAMODB_JSON = "dynamodb-json"
CSV = "csv"
FORMATS = (DYNAMODB_JSON, CSV)
_FORMAT_OF_SUFFIX = {".json": DYNAMODB_JSON, ".csv": CSV}
_GZIP_MAGIC = b"\x1f\x8b"
# A CSV file's columns: the product's fields as the catalog's JSON names them.
CSV_COLUMNS = tuple(field.alias or name for name, field in Product.model_fields.items())
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "404"})


class CatalogFileError(Exception):
    """A catalog file that cannot be loaded, with the line to blame when there is one."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason if line is None else f"line {line}: {reason}")
        self.line = line


def load_demo_catalog() -> list[Product]:
    return [Product.model_validate(entry) for entry in json.loads(DEMO_CATALOG.read_text())]


def load_catalog_file(source: str, file_format: str | None = None, s3: S3Client | None = None) -> list[Product]:
    """Every product of `source` (s3://bucket/key or a local path), all validated; CatalogFileError at a bad line."""
    file_format = file_format or format_of(source)
    text = _text_of(source, read_source(source, s3))
    entries = _csv_entries(text) if file_format == CSV else _dynamodb_json_entries(text)
    products: list[Product] = []
    line_of_product: dict[str, int] = {}
    for line, entry in entries:
        try:
            product = Product.model_validate(entry)
        except ValidationError as exc:
            raise CatalogFileError(_reasons(exc), line) from exc
        if product.product_id in line_of_product:
            raise CatalogFileError(
                f"productId {product.product_id} is already on line {line_of_product[product.product_id]}", line
            )
        line_of_product[product.product_id] = line
        products.append(product)
    if not products:
        raise CatalogFileError("the file holds no products")
    return products


def format_of(source: str) -> str:
    name = source.lower().removesuffix(".gz")
    for suffix, file_format in _FORMAT_OF_SUFFIX.items():
        if name.endswith(suffix):
            return file_format
    raise CatalogFileError(
        "cannot tell the format from the name (.json, .json.gz, .csv or .csv.gz): "
        f"pass --format {' or --format '.join(FORMATS)}"
    )


def read_source(source: str, s3: S3Client | None = None) -> bytes:
    if not source.startswith("s3://"):
        try:
            return Path(source).read_bytes()
        except OSError as exc:
            raise CatalogFileError(f"cannot read the file ({exc.strerror})") from exc
    bucket, _, key = source.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise CatalogFileError("an S3 object is named s3://bucket/key")
    try:
        response = (s3 or boto3.client("s3")).get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in _NOT_FOUND_CODES:
            raise CatalogFileError(f"no such S3 object ({code})") from exc
        raise CatalogFileError(f"cannot read the S3 object ({code})") from exc
    return response["Body"].read()


def _text_of(source: str, body: bytes) -> str:
    if source.lower().endswith(".gz") or body.startswith(_GZIP_MAGIC):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise CatalogFileError(f"not a valid gzip file ({exc})") from exc
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogFileError("not UTF-8 text", body[: exc.start].count(b"\n") + 1) from exc


def _dynamodb_json_entries(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    # Only "\n" ends an item: str.splitlines would also split at characters a JSON string may hold unescaped.
    for line, record_text in enumerate(text.split("\n"), start=1):
        if not record_text.strip():
            continue
        try:
            record = json.loads(record_text)
        except json.JSONDecodeError as exc:
            raise CatalogFileError(f"not JSON ({exc.msg})", line) from exc
        attributes = record.get("Item") if isinstance(record, dict) else None
        if not isinstance(attributes, dict) or not all(
            isinstance(value, dict) and len(value) == 1 for value in attributes.values()
        ):
            raise CatalogFileError(
                'not a DynamoDB JSON item: expected {"Item": {"productId": {"S": "..."}, ...}}', line
            )
        try:
            entry = from_attributes(attributes)
        except (TypeError, AttributeError, ArithmeticError) as exc:
            raise CatalogFileError(f"not a DynamoDB JSON item ({exc})", line) from exc
        yield line, entry


def _csv_entries(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = _csv_header(reader)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CatalogFileError(f"not CSV ({exc})", reader.line_num) from exc
        if None in row:
            raise CatalogFileError(f"more values than the {len(columns)} columns of the header", reader.line_num)
        if any(value is None for value in row.values()):
            raise CatalogFileError(f"fewer values than the {len(columns)} columns of the header", reader.line_num)
        # An empty cell is an absent field: the model's default applies, or a required field is reported missing.
        yield reader.line_num, {column: value for column, value in row.items() if value.strip()}


def _csv_header(reader: csv.DictReader[str]) -> list[str]:
    try:
        columns = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise CatalogFileError(f"not CSV ({exc})", 1) from exc
    if not columns:
        raise CatalogFileError("the file holds no products")
    unknown = [column for column in columns if column not in CSV_COLUMNS]
    if unknown:
        raise CatalogFileError(
            f"unknown column {', '.join(unknown)} in the header; the columns are {', '.join(CSV_COLUMNS)}",
            reader.line_num,
        )
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        raise CatalogFileError(f"column {', '.join(repeated)} twice in the header", reader.line_num)
    return columns


def _reasons(error: ValidationError) -> str:
    reasons = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        got = "" if problem["type"] == "missing" else f" (got {problem['input']!r})"
        reasons.append(f"{where}: {problem['msg']}{got}" if where else f"{problem['msg']}{got}")
    return "; ".join(reasons)


def catalog_table_of_stack(stack_name: str) -> str:
    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "CatalogTableName":
            return str(output["OutputValue"])
    raise SystemExit(f"stack {stack_name} has no CatalogTableName output")


def seed(table_name: str, client: Any = None, products: Sequence[Product] | None = None) -> int:
    """Put every product (the demo set unless given) into the table, through `client` or a default one."""
    table = CatalogTable(table_name, client or boto3.client("dynamodb"))
    products = load_demo_catalog() if products is None else products
    for product in products:
        table.put(product)
    return len(products)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="a deployed stack; its CatalogTableName output is seeded")
    target.add_argument("--table", help="the Catalog table's name")
    parser.add_argument(
        "--from",
        dest="source",
        metavar="s3://BUCKET/KEY",
        help="load the products from this S3 object (or local file) instead of the demo set",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="the file's format, when its name does not say it (.json[.gz]: dynamodb-json, .csv[.gz]: csv)",
    )
    args = parser.parse_args(argv)
    if args.format and not args.source:
        parser.error("--format goes with --from")
    products = None
    if args.source:
        try:
            products = load_catalog_file(args.source, args.format)
        except CatalogFileError as exc:
            print(f"seed: {args.source}: {exc}; nothing was written", file=sys.stderr)
            return 2
    table_name = args.table or catalog_table_of_stack(args.stack)
    count = seed(table_name, products=products)
    origin = f" from {args.source}" if args.source else ""
    print(f"seeded {count} products{origin} into {table_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

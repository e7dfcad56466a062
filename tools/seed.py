"""Fill the Catalog table with the demo product set, through the normal DynamoDB API.

Works against any endpoint boto3 can reach: a deployed stack (`--stack`), a table by name (`--table`),
and a local cloud when AWS_ENDPOINT_URL points at it.

    python -m tools.seed --stack order-fulfillment-dev
    AWS_ENDPOINT_URL=http://127.0.0.1:4566 python -m tools.seed --table Catalog
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import boto3

from shop.adapters.catalog_table import CatalogTable
from shop.domain.models import Product

DEMO_CATALOG = Path(__file__).with_name("demo_catalog.json")


def load_demo_catalog() -> list[Product]:
    return [Product.model_validate(entry) for entry in json.loads(DEMO_CATALOG.read_text())]


def catalog_table_of_stack(stack_name: str) -> str:
    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "CatalogTableName":
            return str(output["OutputValue"])
    raise SystemExit(f"stack {stack_name} has no CatalogTableName output")


def seed(table_name: str, client: Any = None) -> int:
    """Put every demo product into the table (through `client`, or a default DynamoDB client)."""
    table = CatalogTable(table_name, client or boto3.client("dynamodb"))
    products = load_demo_catalog()
    for product in products:
        table.put(product)
    return len(products)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="a deployed stack; its CatalogTableName output is seeded")
    target.add_argument("--table", help="the Catalog table's name")
    args = parser.parse_args(argv)
    table_name = args.table or catalog_table_of_stack(args.stack)
    count = seed(table_name)
    print(f"seeded {count} products into {table_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

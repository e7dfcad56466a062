"""`make seed` fills the Catalog through the normal DynamoDB API, by table name or by stack output."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from shop.adapters.catalog_table import CatalogTable
from tests.support.cloud import TABLE_NAMES
from tools.seed import catalog_table_of_stack, load_demo_catalog, main


def scan_all(client: Any) -> list[dict[str, Any]]:
    return client.scan(TableName=TABLE_NAMES["CatalogTable"])["Items"]


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

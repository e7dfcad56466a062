"""The Catalog table: products with their price and stock counters (available, reserved, sold)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from shop.adapters.dynamodb import (
    decode_page_token,
    default_client,
    encode_page_token,
    from_attributes,
    to_attributes,
    translated_errors,
)
from shop.domain.models import Product

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# The catalog listing's key, as a page token carries it.
_KEY_FORMATS = {"productId": re.compile(r"[A-Za-z0-9_-]{1,64}")}
_PRODUCT_FIELDS = "productId, #name, priceCents, currency, available"
_NAMES = {"#name": "name"}


class CatalogTable:
    """Reads and seeds products. Stock changes belong to the order workflow, not to this adapter."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client or default_client()

    def get(self, product_id: str) -> Product | None:
        with translated_errors():
            response = self._client.get_item(
                TableName=self.table_name,
                Key={"productId": {"S": product_id}},
                ProjectionExpression=_PRODUCT_FIELDS,
                ExpressionAttributeNames=_NAMES,
            )
        item = response.get("Item")
        return Product.model_validate(from_attributes(item)) if item else None

    def get_many(self, product_ids: Iterable[str]) -> dict[str, Product]:
        """The products among `product_ids` that exist, keyed by id (at most 100 ids, one BatchGetItem)."""
        pending: list[dict[str, Any]] = [{"productId": {"S": pid}} for pid in dict.fromkeys(product_ids)]
        found: dict[str, Product] = {}
        while pending:
            with translated_errors():
                response = self._client.batch_get_item(
                    RequestItems={
                        self.table_name: {
                            "Keys": pending,
                            "ProjectionExpression": _PRODUCT_FIELDS,
                            "ExpressionAttributeNames": _NAMES,
                        }
                    }
                )
            for item in response["Responses"].get(self.table_name, []):
                product = Product.model_validate(from_attributes(item))
                found[product.product_id] = product
            # DynamoDB may hand back part of a batch under load; ask again for the rest.
            unprocessed = response.get("UnprocessedKeys", {}).get(self.table_name)
            pending = list(unprocessed["Keys"]) if unprocessed else []
        return found

    def page(self, limit: int, page_token: str | None) -> tuple[list[Product], str | None]:
        start_key = decode_page_token(page_token, _KEY_FORMATS)
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Limit": limit,
            "ProjectionExpression": _PRODUCT_FIELDS,
            "ExpressionAttributeNames": _NAMES,
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        with translated_errors():
            response = self._client.scan(**request)
        products = [Product.model_validate(from_attributes(item)) for item in response.get("Items", [])]
        return products, encode_page_token(response.get("LastEvaluatedKey"))

    def put(self, product: Product) -> None:
        """Create or replace a product with `available` units in stock and nothing reserved or sold."""
        item = product.model_dump(mode="json") | {"reserved": 0, "sold": 0}
        with translated_errors():
            self._client.put_item(TableName=self.table_name, Item=to_attributes(item))

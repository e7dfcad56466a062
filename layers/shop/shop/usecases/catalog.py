"""Browsing the catalog."""

from __future__ import annotations

from shop.adapters.catalog_table import CatalogTable
from shop.domain.errors import NotFound
from shop.domain.models import Product, ProductPage


def list_products(catalog: CatalogTable, limit: int, page_token: str | None) -> ProductPage:
    products, next_token = catalog.page(limit, page_token)
    return ProductPage(items=products, next_token=next_token)


def get_product(catalog: CatalogTable, product_id: str) -> Product:
    product = catalog.get(product_id)
    if product is None:
        raise NotFound("product", product_id)
    return product

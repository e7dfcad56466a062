"""Shared pytest fixtures: moto with the template's tables, the seeded catalog, handlers and API calls."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws  # imported before any handler, so every boto3 client is routed to moto

from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable
from shop.adapters.sessions_table import SessionsTable
from tests.support.api import ApiCaller
from tests.support.cloud import TABLE_NAMES, create_tables
from tests.support.context import FakeLambdaContext
from tools.seed import seed

ROOT = Path(__file__).resolve().parents[2]
_loaded: dict[str, ModuleType] = {}
# One session for the whole run. mock_aws() discards boto3's default session each time it starts, and a fresh
# session parses botocore's service models again: a tenth of a second for every test.
_session = boto3.session.Session()


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py once per test session, like one warm Lambda instance."""
    if name not in _loaded:
        path = ROOT / "functions" / name / "app.py"
        spec = importlib.util.spec_from_file_location(f"functions_{name}_app", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _loaded[name] = module
    return _loaded[name]


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """A fresh moto account with every table of template.yaml."""
    with mock_aws():
        client = _session.client("dynamodb")
        create_tables(client)
        yield client


@pytest.fixture
def catalog_table(dynamodb: Any) -> CatalogTable:
    """The Catalog table holding the demo product set (the one `make seed` loads)."""
    seed(TABLE_NAMES["CatalogTable"], dynamodb)
    return CatalogTable(TABLE_NAMES["CatalogTable"], dynamodb)


@pytest.fixture
def orders_table(dynamodb: Any) -> OrdersTable:
    return OrdersTable(TABLE_NAMES["OrdersTable"], dynamodb)


@pytest.fixture
def sessions_table(dynamodb: Any) -> SessionsTable:
    return SessionsTable(TABLE_NAMES["SessionsTable"], dynamodb)


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def catalog_api(catalog_table: CatalogTable) -> ApiCaller:
    return ApiCaller(load_function("catalog_api"), "catalog_api")


@pytest.fixture
def cart_api(catalog_table: CatalogTable) -> ApiCaller:
    return ApiCaller(load_function("cart_api"), "cart_api")


@pytest.fixture
def orders_api(catalog_table: CatalogTable) -> ApiCaller:
    return ApiCaller(load_function("orders_api"), "orders_api")


def read_event(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / f"{name}.json").read_text())

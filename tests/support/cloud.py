"""The AWS side of unit tests: tables created from template.yaml's own properties, inside moto."""

from __future__ import annotations

from typing import Any

from localcloud.provision import create_table
from localcloud.template import load_stack

TABLE_NAMES = {
    "CatalogTable": "test-catalog",
    "OrdersTable": "test-orders",
    "SessionsTable": "test-sessions",
    "IdempotencyTable": "test-idempotency",
    "PaymentProviderTable": "test-payment-provider",
    "ConnectionsTable": "test-connections",
}
TABLE_ENV = {
    "CatalogTable": "CATALOG_TABLE_NAME",
    "OrdersTable": "ORDERS_TABLE_NAME",
    "SessionsTable": "SESSIONS_TABLE_NAME",
    "IdempotencyTable": "IDEMPOTENCY_TABLE_NAME",
    "PaymentProviderTable": "PAYMENT_PROVIDER_TABLE_NAME",
    "ConnectionsTable": "CONNECTIONS_TABLE_NAME",
}


def create_tables(client: Any) -> dict[str, str]:
    """Every AWS::DynamoDB::Table of the template, named as the tests' environment says."""
    tables = load_stack().resources_of_type("AWS::DynamoDB::Table")
    assert set(tables) == set(TABLE_NAMES), f"template tables changed: {sorted(tables)}"
    for logical_id, resource in tables.items():
        create_table(client, TABLE_NAMES[logical_id], resource["Properties"])
    return dict(TABLE_NAMES)

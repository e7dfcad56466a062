"""Typed configuration read from the function's environment once per cold start.

Each function declares the variables it needs as a model; a missing or malformed one stops the cold start
with an error that names it, instead of running with a silent default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class EnvSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CatalogSettings(EnvSettings):
    catalog_table_name: str = Field(alias="CATALOG_TABLE_NAME", min_length=3)


class CartSettings(CatalogSettings):
    sessions_table_name: str = Field(alias="SESSIONS_TABLE_NAME", min_length=3)
    cart_ttl_seconds: int = Field(alias="CART_TTL_SECONDS", ge=60, le=7 * 24 * 3600)

    @property
    def cart_ttl(self) -> timedelta:
        return timedelta(seconds=self.cart_ttl_seconds)


class OrdersSettings(CartSettings):
    orders_table_name: str = Field(alias="ORDERS_TABLE_NAME", min_length=3)
    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=3)
    idempotency_ttl_seconds: int = Field(alias="IDEMPOTENCY_TTL_SECONDS", ge=60)


class OrderTaskSettings(EnvSettings):
    """Workflow tasks that work on the order alone (payment, approval, final status)."""

    orders_table_name: str = Field(alias="ORDERS_TABLE_NAME", min_length=3)


class StockTaskSettings(OrderTaskSettings):
    """Workflow tasks that also read or move stock in the Catalog."""

    catalog_table_name: str = Field(alias="CATALOG_TABLE_NAME", min_length=3)


class PaymentTaskSettings(OrderTaskSettings):
    """The task that charges: the order, and the payment provider it calls."""

    payment_provider_function_name: str = Field(alias="PAYMENT_PROVIDER_FUNCTION_NAME", min_length=1)


class SettlementSettings(StockTaskSettings):
    """The compensating task: refunds through the provider, releases stock, closes the approval, ends the order."""

    payment_provider_function_name: str = Field(alias="PAYMENT_PROVIDER_FUNCTION_NAME", min_length=1)


class PaymentProviderSettings(EnvSettings):
    """The simulated payment provider: its own ledger."""

    payment_provider_table_name: str = Field(alias="PAYMENT_PROVIDER_TABLE_NAME", min_length=3)


class ValidationSettings(StockTaskSettings):
    approval_threshold_cents: int = Field(alias="APPROVAL_THRESHOLD_CENTS", ge=0)


class ApprovalSettings(OrderTaskSettings):
    approval_timeout_seconds: int = Field(alias="APPROVAL_TIMEOUT_SECONDS", ge=10)

    @property
    def approval_timeout(self) -> timedelta:
        return timedelta(seconds=self.approval_timeout_seconds)


class OrderEventsSettings(EnvSettings):
    state_machine_arn: str = Field(alias="STATE_MACHINE_ARN", min_length=20)
    notifications_topic_arn: str = Field(alias="NOTIFICATIONS_TOPIC_ARN", min_length=20)
    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=3)


class CallbackSettings(EnvSettings):
    """Functions that only answer waiting workflow tasks (the warehouse, its DLQ handler)."""


class CartEventsSettings(EnvSettings):
    notifications_topic_arn: str = Field(alias="NOTIFICATIONS_TOPIC_ARN", min_length=20)
    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=3)


class ApprovalsApiSettings(EnvSettings):
    orders_table_name: str = Field(alias="ORDERS_TABLE_NAME", min_length=3)


class CarrierApiSettings(EnvSettings):
    orders_table_name: str = Field(alias="ORDERS_TABLE_NAME", min_length=3)


class ReportSettings(EnvSettings):
    """The nightly job's first step: the export of the Orders table, and the SLA sweep."""

    orders_table_name: str = Field(alias="ORDERS_TABLE_NAME", min_length=3)
    orders_table_arn: str = Field(alias="ORDERS_TABLE_ARN", pattern=r"^arn:aws[a-z-]*:dynamodb:.+:table/.+$")
    reports_bucket_name: str = Field(alias="REPORTS_BUCKET_NAME", min_length=3)
    order_sla_hours: int = Field(alias="ORDER_SLA_HOURS", ge=1)


class SalesReportSettings(EnvSettings):
    """The nightly job's last step: the sales report, read from the export."""

    orders_table_arn: str = Field(alias="ORDERS_TABLE_ARN", pattern=r"^arn:aws[a-z-]*:dynamodb:.+:table/.+$")
    reports_bucket_name: str = Field(alias="REPORTS_BUCKET_NAME", min_length=3)


class NotificationSettings(EnvSettings):
    sender_email: str = Field(alias="SENDER_EMAIL", default="")


class LiveAuthorizerSettings(EnvSettings):
    """The WebSocket API's authorizer: whose ID tokens it accepts. AWS_REGION is Lambda's own variable; the
    standard SDK variable AWS_ENDPOINT_URL, when set, is where the pool's key set is served
    (shop.adapters.id_tokens)."""

    region: str = Field(alias="AWS_REGION", min_length=1)
    user_pool_id: str = Field(alias="USER_POOL_ID", pattern=r"^[\w-]+_[0-9A-Za-z]+$")
    user_pool_client_id: str = Field(alias="USER_POOL_CLIENT_ID", min_length=1)
    endpoint_url: str | None = Field(alias="AWS_ENDPOINT_URL", default=None)


class LiveConnectionsSettings(EnvSettings):
    """The WebSocket routes: where connections are kept, and which group's members are approvers."""

    connections_table_name: str = Field(alias="CONNECTIONS_TABLE_NAME", min_length=3)
    approvers_group: str = Field(alias="APPROVERS_GROUP", min_length=1)


class LivePushSettings(LiveConnectionsSettings):
    """The Orders stream's pusher: the connections, the stage's @connections endpoint, and where each delivery to
    a connection is claimed (the Idempotency table)."""

    connections_endpoint_url: str = Field(alias="CONNECTIONS_ENDPOINT_URL", pattern=r"^https?://\S+$")
    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=3)
    # The SDK's own variable for this service's endpoint. Lambda never sets it; where it is set (an emulator serving
    # the @connections API: the local cloud does), it wins over the stage's URL, as it does for every other client.
    sdk_endpoint_url: str | None = Field(alias="AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", default=None)

    @property
    def management_endpoint_url(self) -> str:
        """Where the @connections API is called: the stage's URL, unless the SDK is configured otherwise."""
        return self.sdk_endpoint_url or self.connections_endpoint_url


class CatalogCacheFlushSettings(EnvSettings):
    """The Catalog stream's consumer: the REST API stage whose cache it empties, and whether that stage has one
    (EnableApiCache; without it there is nothing to flush, and the role has no grant to)."""

    rest_api_id: str = Field(alias="REST_API_ID", min_length=1)
    api_stage_name: str = Field(alias="API_STAGE_NAME", min_length=1)
    cache_enabled: bool = Field(alias="CATALOG_CACHE_ENABLED")


class ConfigurationError(RuntimeError):
    """The function's environment does not match what its code needs."""


S = TypeVar("S", bound=EnvSettings)


def load_settings(model: type[S], environ: Mapping[str, str] | None = None) -> S:
    try:
        return model.model_validate(dict(os.environ if environ is None else environ))
    except ValidationError as exc:
        problems = ", ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"{model.__name__} cannot start: {problems}") from exc

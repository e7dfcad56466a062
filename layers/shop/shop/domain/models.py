"""The shop's data as pydantic models, in the API's shape (camelCase on the wire, money in integer cents)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from pydantic.alias_generators import to_camel

CURRENCY = "USD"
MAX_CART_LINES = 50
MAX_LINE_QUANTITY = 100

ProductId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Quantity = Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY)]
Cents = Annotated[int, Field(ge=0)]
Currency = Literal["USD"]


def iso(moment: datetime) -> str:
    """A timestamp as stored and sent: UTC, ISO 8601, milliseconds, a Z (so text order is time order)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Timestamps are UTC and travel as ISO 8601 with milliseconds and a Z, e.g. 2026-11-25T09:30:00.123Z.
Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(lambda moment: moment.astimezone(UTC)),
    PlainSerializer(
        iso,
        return_type=str,
        when_used="json",
    ),
]


class ShopModel(BaseModel):
    """Base of every model: camelCase aliases on the wire, snake_case in Python, absent optionals omitted."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        frozen=True,
    )

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> Any:
        # The contract marks optional fields with "?": they are left out rather than sent as null.
        data = handler(self)
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class RequestModel(ShopModel):
    """A request body: unknown fields are an error, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class OrderStatus(StrEnum):
    PLACED = "PLACED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    PAID = "PAID"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"


class FailureReason(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    SHIPPING_FAILED = "SHIPPING_FAILED"
    # Something broke that retries could not mend (an outage past every retry, a bug): money and stock were
    # compensated and the order is closed rather than left open.
    TECHNICAL_FAILURE = "TECHNICAL_FAILURE"


class Product(ShopModel):
    product_id: ProductId
    name: str = Field(min_length=1, max_length=200)
    price_cents: Cents
    currency: Currency = "USD"
    available: int = Field(ge=0, description="Units in stock that are not reserved by an order")


class ProductPage(ShopModel):
    items: list[Product]
    next_token: str | None = None


class CartLine(RequestModel):
    product_id: ProductId
    quantity: Quantity


class CartUpdate(RequestModel):
    items: list[CartLine] = Field(max_length=MAX_CART_LINES)


class Cart(ShopModel):
    items: list[CartLine]
    expires_at: Timestamp | None = Field(default=None, description="When the cart expires unless it is used again")


class ShippingAddress(RequestModel):
    name: str = Field(min_length=1, max_length=100)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code")


class PlaceOrderRequest(RequestModel):
    items: list[CartLine] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CART_LINES,
        description="Lines to order; when absent, the customer's cart is ordered and then cleared",
    )
    payment_token: str = Field(default="tok_ok", pattern=r"^tok_[a-z0-9_]{1,40}$")
    shipping_address: ShippingAddress


class OrderLine(ShopModel):
    product_id: ProductId
    name: str
    quantity: Quantity
    unit_price_cents: Cents
    line_total_cents: Cents


class StatusChange(ShopModel):
    status: OrderStatus
    at: Timestamp


class Order(ShopModel):
    order_id: str
    customer_id: str
    status: OrderStatus
    failure_reason: FailureReason | None = None
    items: list[OrderLine]
    total_cents: Cents
    currency: Currency = "USD"
    shipping_address: ShippingAddress
    tracking_number: str | None = None
    created_at: Timestamp
    updated_at: Timestamp
    history: list[StatusChange]


class OrderPage(ShopModel):
    items: list[Order]
    next_token: str | None = None


ADMINS_GROUP = "admins"
CUSTOMERS_GROUP = "customers"


class Caller(ShopModel):
    """Who is calling, from the verified token's claims: the user pool `sub` and the user's groups."""

    customer_id: str = Field(min_length=1)
    groups: frozenset[str] = frozenset()
    email: str | None = None

    @property
    def is_admin(self) -> bool:
        return ADMINS_GROUP in self.groups

    @property
    def is_customer(self) -> bool:
        return CUSTOMERS_GROUP in self.groups

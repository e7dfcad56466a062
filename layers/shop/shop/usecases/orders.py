"""Placing, reading and cancelling orders."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from shop.adapters.approvals_table import AlreadyDecided, ApprovalsTable
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable
from shop.adapters.sessions_table import SessionsTable
from shop.adapters.workflow import OrderWorkflow
from shop.domain.approval import ApprovalState
from shop.domain.errors import FieldProblem, InvalidRequest, InvalidTransition, NotFound
from shop.domain.models import Caller, Order, OrderPage, OrderStatus, PlaceOrderRequest, ShopModel
from shop.domain.ordering import Clock, new_order
from shop.domain.pricing import price_lines
from shop.domain.settlement import ORDER_CANCELLED
from shop.domain.status import can_transition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class PlaceOrder(ShopModel):
    """Everything that identifies one attempt to place an order: who, under which key, asking what."""

    customer_id: str
    idempotency_key: str = Field(min_length=1, max_length=64)
    request: PlaceOrderRequest
    customer_email: str | None = None


def place_order(
    *,
    command: PlaceOrder,
    orders: OrdersTable,
    catalog: CatalogTable,
    sessions: SessionsTable,
    clock: Clock,
) -> Order:
    """Price the lines (from the request, or else the cart) and write the order as PLACED.

    When the lines came from the cart, the cart is deleted in the same transaction as the order is written.
    """
    now = clock()
    request = command.request
    also: list[TransactWriteItemTypeDef] = []
    # Where the lines came from, so that a refused line is named where the caller can fix it.
    source: tuple[str, ...] = ("body", "items")
    if request.items is not None:
        lines = list(request.items)
    else:
        cart = sessions.read_cart(command.customer_id, now)
        if cart is None or not cart.items:
            raise InvalidRequest([FieldProblem(("body", "items"), "no items given and the cart is empty")])
        lines = list(cart.items)
        source = ("cart", "items")
        also.append(sessions.delete_cart_operation(command.customer_id, cart))
    priced = price_lines(lines, catalog.get_many(line.product_id for line in lines), at=source)
    order = new_order(
        customer_id=command.customer_id,
        idempotency_key=command.idempotency_key,
        lines=priced,
        shipping_address=request.shipping_address,
        now=now,
    )
    orders.create(order, request.payment_token, also, customer_email=command.customer_email)
    return order


def list_orders(orders: OrdersTable, caller: Caller, limit: int, page_token: str | None) -> OrderPage:
    items, next_token = orders.list_for(caller.customer_id, limit, page_token)
    return OrderPage(items=items, next_token=next_token)


def get_order(orders: OrdersTable, caller: Caller, order_id: str) -> Order:
    """A customer sees only their own orders (anyone else's is simply not found); an admin sees any."""
    order = orders.find(order_id) if caller.is_admin else orders.get(caller.customer_id, order_id)
    if order is None:
        raise NotFound("order", order_id)
    return order


def cancel_order(
    orders: OrdersTable,
    approvals: ApprovalsTable,
    workflow: OrderWorkflow,
    *,
    caller: Caller,
    order_id: str,
    clock: Clock,
) -> Order:
    """Cancel the caller's own order, which is possible only before payment.

    The status the cancel overwrites may not be the one it read: an order read PLACED may be AWAITING_APPROVAL by
    the time the conditional write lands, with a workflow task waiting for an approver. So a pending approval is
    always closed and its task failed with OrderCancelled, whatever was read, and the workflow compensates at once
    instead of at the approval's time-out. (The step that stores an approval also gives up by itself when it finds
    the order cancelled, so a cancel that lands between the two is covered from that side.)
    """
    order = orders.get(caller.customer_id, order_id)
    if order is None:
        raise NotFound("order", order_id)
    if not can_transition(order.status, OrderStatus.CANCELLED):
        raise InvalidTransition(order.order_id, order.status, OrderStatus.CANCELLED)
    now = clock()
    cancelled = orders.transition(order, OrderStatus.CANCELLED, now)
    try:
        token = approvals.close(order, ApprovalState.WITHDRAWN, now)
    except (NotFound, AlreadyDecided):
        return cancelled  # it never waited for an approver, or the approval closed first (the workflow settles it)
    workflow.fail(token, ORDER_CANCELLED, "cancelled by the customer")
    return cancelled

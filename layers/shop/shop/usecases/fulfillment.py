"""The order workflow's steps (each a Step Functions task) and the decisions that resume it.

Every step is safe to run twice: Step Functions retries tasks, and stream records are redelivered.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from enum import StrEnum

from shop.adapters.approvals_table import AlreadyDecided, ApprovalsTable
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable
from shop.adapters.payments_table import Payment, PaymentsLedger
from shop.adapters.stock import StockLedger
from shop.adapters.workflow import OrderWorkflow
from shop.domain.approval import ApprovalDecision, ApprovalState, PendingApproval, needs_approval
from shop.domain.errors import (
    Conflict,
    FieldProblem,
    InvalidRequest,
    InvalidTransition,
    NotFound,
    OrderNoLongerPending,
    OutOfStock,
)
from shop.domain.models import (
    FailureReason,
    Order,
    OrderLine,
    OrderStatus,
    ShippingAddress,
    ShopModel,
)
from shop.domain.status import can_transition

# Error names the state machine catches (SendTaskFailure errors and Lambda error types).
ORDER_REJECTED = "OrderRejected"
ORDER_CANCELLED = "OrderCancelled"
SHIPPING_FAILED = "ShippingFailed"


class ApprovalClosed(Conflict):
    """The decision came too late: the workflow no longer waits for it."""


class OrderRef(ShopModel):
    """What every workflow task receives: which order, in which customer's partition."""

    order_id: str
    customer_id: str


class Validation(ShopModel):
    total_cents: int
    needs_approval: bool
    items: list[OrderLine]
    shipping_address: ShippingAddress


class Outcome(StrEnum):
    """How an order that will not ship ends."""

    REJECTED = "REJECTED"
    APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    SHIPPING_FAILED = "SHIPPING_FAILED"


_OUTCOME_STATUS = {
    Outcome.REJECTED: (OrderStatus.REJECTED, None),
    Outcome.APPROVAL_EXPIRED: (OrderStatus.REJECTED, None),
    Outcome.OUT_OF_STOCK: (OrderStatus.FAILED, FailureReason.OUT_OF_STOCK),
    Outcome.PAYMENT_DECLINED: (OrderStatus.FAILED, FailureReason.PAYMENT_DECLINED),
    Outcome.SHIPPING_FAILED: (OrderStatus.FAILED, FailureReason.SHIPPING_FAILED),
}


def load(orders: OrdersTable, ref: OrderRef) -> Order:
    order = orders.get(ref.customer_id, ref.order_id)
    if order is None:
        raise NotFound("order", ref.order_id)
    return order


def validate_order(orders: OrdersTable, catalog: CatalogTable, ref: OrderRef, threshold_cents: int) -> Validation:
    """Check the order is still PLACED and every product still sold; decide whether it needs approval."""
    order = load(orders, ref)
    if order.status is not OrderStatus.PLACED:
        raise OrderNoLongerPending(f"order {order.order_id} is {order.status}")
    known = catalog.get_many(line.product_id for line in order.items)
    missing = [line.product_id for line in order.items if line.product_id not in known]
    if missing:
        raise OutOfStock(missing)
    return Validation(
        total_cents=order.total_cents,
        needs_approval=needs_approval(order, threshold_cents),
        items=order.items,
        shipping_address=order.shipping_address,
    )


def reserve_stock(orders: OrdersTable, stock: StockLedger, ref: OrderRef) -> None:
    stock.reserve(load(orders, ref))


def release_stock(orders: OrdersTable, stock: StockLedger, ref: OrderRef) -> bool:
    return stock.release(load(orders, ref))


def request_approval(
    orders: OrdersTable,
    approvals: ApprovalsTable,
    ref: OrderRef,
    *,
    task_token: str,
    now: datetime,
    timeout: timedelta,
) -> None:
    """Park the order in AWAITING_APPROVAL with the token an approver's decision will resume."""
    order = load(orders, ref)
    if order.status not in (OrderStatus.PLACED, OrderStatus.AWAITING_APPROVAL):
        raise OrderNoLongerPending(f"order {order.order_id} is {order.status}")
    approvals.request(order, task_token, now, now + timeout)
    if order.status is OrderStatus.PLACED:
        try:
            orders.transition(order, OrderStatus.AWAITING_APPROVAL, now)
        except InvalidTransition as exc:
            if exc.current != OrderStatus.AWAITING_APPROVAL:
                approvals.close(order, ApprovalState.WITHDRAWN, now)
                raise OrderNoLongerPending(f"order {order.order_id} is {exc.current}") from exc


def charge_payment(orders: OrdersTable, payments: PaymentsLedger, ref: OrderRef, now: datetime) -> Payment:
    """Capture the order's total and mark it PAID; refund at once if the order was cancelled meanwhile."""
    order = load(orders, ref)
    if order.status is OrderStatus.PAID:
        captured = payments.get(order)
        if captured is not None:
            return captured
    if order.status not in (OrderStatus.PLACED, OrderStatus.AWAITING_APPROVAL):
        raise OrderNoLongerPending(f"order {order.order_id} is {order.status}")
    payment = payments.capture(order, now)
    try:
        orders.transition(order, OrderStatus.PAID, now)
    except InvalidTransition as exc:
        if exc.current != OrderStatus.PAID:
            payments.refund(order, now)
            raise OrderNoLongerPending(f"order {order.order_id} is {exc.current}") from exc
    return payment


def refund_payment(orders: OrdersTable, payments: PaymentsLedger, ref: OrderRef, now: datetime) -> bool:
    return payments.refund(load(orders, ref), now)


def complete_shipment(
    orders: OrdersTable, stock: StockLedger, ref: OrderRef, tracking_number: str, now: datetime
) -> Order:
    """The warehouse shipped: reserved units become sold and the order is SHIPPED with its tracking number."""
    order = load(orders, ref)
    if order.status is OrderStatus.SHIPPED:
        stock.commit(order)  # a retry after the status write: make sure the units were sold too
        return order
    if not can_transition(order.status, OrderStatus.SHIPPED):
        raise InvalidTransition(order.order_id, order.status, OrderStatus.SHIPPED)
    stock.commit(order)
    return orders.transition(order, OrderStatus.SHIPPED, now, tracking_number=tracking_number)


def settle_order(
    orders: OrdersTable, approvals: ApprovalsTable, ref: OrderRef, outcome: Outcome, now: datetime
) -> Order:
    """Give an order that will not ship its final status (compensation has already run)."""
    order = load(orders, ref)
    if outcome is Outcome.APPROVAL_EXPIRED:
        # Already closed (an approver answered as the timeout fired) or never opened: nothing to expire.
        with suppress(NotFound, AlreadyDecided):
            approvals.close(order, ApprovalState.EXPIRED, now)
    status, reason = _OUTCOME_STATUS[outcome]
    if order.status is status and order.failure_reason == reason:
        return order
    return orders.transition(order, status, now, reason)


def deliver(orders: OrdersTable, order_id: str, tracking_number: str, now: datetime) -> Order:
    """The carrier delivered a shipped order."""
    order = orders.find(order_id)
    if order is None:
        raise NotFound("order", order_id)
    if order.status is OrderStatus.SHIPPED and order.tracking_number != tracking_number:
        raise InvalidRequest([FieldProblem(("body", "trackingNumber"), "does not match the order's shipment")])
    # History stays in order even when the carrier's clock says it delivered before we recorded the shipment.
    return orders.transition(order, OrderStatus.DELIVERED, max(now, order.updated_at))


def pending_approvals(orders: OrdersTable, approvals: ApprovalsTable) -> list[PendingApproval]:
    waiting = orders.with_status(OrderStatus.AWAITING_APPROVAL)
    return [pending for order in waiting if (pending := approvals.pending(order)) is not None]


def decide_approval(
    orders: OrdersTable,
    approvals: ApprovalsTable,
    workflow: OrderWorkflow,
    *,
    order_id: str,
    decision: ApprovalDecision,
    comment: str | None,
    now: datetime,
) -> Order:
    """An approver's decision resumes the waiting workflow (approve) or fails its task (reject)."""
    order = orders.find(order_id)
    if order is None:
        raise NotFound("pending approval", order_id)
    outcome = ApprovalState.APPROVED if decision is ApprovalDecision.APPROVE else ApprovalState.REJECTED
    token = approvals.close(order, outcome, now, comment)
    if decision is ApprovalDecision.APPROVE:
        answered = workflow.succeed(token, {"decision": decision.value})
    else:
        answered = workflow.fail(token, ORDER_REJECTED, comment or "rejected by an approver")
    if not answered:
        # The workflow stopped waiting (the approval timed out as the decision arrived): it rejects the order.
        raise ApprovalClosed(f"the approval of order {order_id} expired before the decision arrived")
    return order

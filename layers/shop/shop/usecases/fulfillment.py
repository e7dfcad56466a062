"""The order workflow's steps (each a Step Functions task) and the decisions that resume it.

Every step is safe to run twice: Step Functions retries tasks (a time-out after the step's side effects included),
and stream records and queue messages are delivered at least once. Business outcomes (out of stock, a declined
card, an order the customer cancelled) are results the workflow branches on, not errors; errors are for what a
retry may mend.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from shop.adapters.approvals_table import AlreadyDecided, ApprovalsTable
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable
from shop.adapters.payment_provider import PaymentProvider
from shop.adapters.payments_table import PaymentsLedger
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
    OwnOrder,
)
from shop.domain.models import FailureReason, Order, OrderLine, OrderStatus, ShippingAddress, ShopModel
from shop.domain.payments import (
    ChargeStatus,
    PaymentProviderUnavailable,
    PaymentState,
    RefundStatus,
    provider_retry_after,
)
from shop.domain.settlement import (
    ORDER_REJECTED,
    SHIPPED_STATUSES,
    Outcome,
    StepOutcome,
    agreeing_approval,
    final_status,
    outcome_of,
)
from shop.domain.status import TERMINAL, can_transition

# Orders a charge may still be taken for (PAID: a retry of a charge that went through).
_CHARGEABLE = frozenset({OrderStatus.PLACED, OrderStatus.AWAITING_APPROVAL, OrderStatus.PAID})


class ApprovalClosed(Conflict):
    """The decision came too late: the workflow no longer waits for it."""


class OrderRef(ShopModel):
    """What every workflow task receives: which order, in which customer's partition."""

    order_id: str
    customer_id: str


class Validation(ShopModel):
    """Every field is always there: the workflow selects them by path, and a missing path is not catchable."""

    outcome: StepOutcome
    total_cents: int
    needs_approval: bool
    items: list[OrderLine]
    shipping_address: ShippingAddress


class StepResult(ShopModel):
    outcome: StepOutcome
    detail: str | None = None


class ChargeResult(StepResult):
    amount_cents: int = 0
    charge_id: str | None = None
    # With PROVIDER_UNAVAILABLE: how long the workflow waits before charging again (0: the retries are spent).
    # Always present, as the workflow selects it by path.
    retry_after_seconds: int = 0


class Settlement(ShopModel):
    outcome: Outcome
    status: OrderStatus
    failure_reason: FailureReason | None = None
    technical_failure: bool
    refund: RefundStatus | None = None
    released: bool = False


def load(orders: OrdersTable, ref: OrderRef) -> Order:
    order = orders.get(ref.customer_id, ref.order_id)
    if order is None:
        raise NotFound("order", ref.order_id)
    return order


def validate_order(orders: OrdersTable, catalog: CatalogTable, ref: OrderRef, threshold_cents: int) -> Validation:
    """Check the order is still PLACED and every product still sold; decide whether it needs approval."""
    order = load(orders, ref)
    outcome = StepOutcome.VALID
    if order.status is not OrderStatus.PLACED:
        outcome = StepOutcome.ORDER_GONE
    else:
        known = catalog.get_many(line.product_id for line in order.items)
        if any(line.product_id not in known for line in order.items):
            outcome = StepOutcome.OUT_OF_STOCK
    return Validation(
        outcome=outcome,
        total_cents=order.total_cents,
        needs_approval=needs_approval(order, threshold_cents),
        items=order.items,
        shipping_address=order.shipping_address,
    )


def reserve_stock(orders: OrdersTable, stock: StockLedger, ref: OrderRef) -> StepResult:
    """Hold the order's units (once). Short products and a cancelled order are outcomes; contention is retried."""
    try:
        stock.reserve(load(orders, ref))
    except OutOfStock as short:
        return StepResult(outcome=StepOutcome.OUT_OF_STOCK, detail=", ".join(short.product_ids))
    except OrderNoLongerPending:
        return StepResult(outcome=StepOutcome.ORDER_GONE)
    return StepResult(outcome=StepOutcome.RESERVED)


def request_approval(
    orders: OrdersTable,
    approvals: ApprovalsTable,
    workflow: OrderWorkflow,
    ref: OrderRef,
    *,
    task_token: str,
    now: datetime,
    timeout: timedelta,
) -> None:
    """Park the order in AWAITING_APPROVAL with the token an approver's decision will resume.

    Step Functions retries this task after a time-out with a new token. An approver may have decided in between,
    answering the old token of the attempt that then failed: the retry finds the decision recorded and answers
    its own token with it, so the decision stands as the approver saw it accepted.
    """
    order = load(orders, ref)
    if order.status not in (OrderStatus.PLACED, OrderStatus.AWAITING_APPROVAL):
        raise OrderNoLongerPending(f"order {order.order_id} is {order.status}")
    try:
        approvals.request(order, task_token, now, now + timeout)
    except AlreadyDecided:
        recorded = approvals.decision(order)
        if recorded is None or recorded[0] not in (ApprovalState.APPROVED, ApprovalState.REJECTED):
            raise
        state, comment = recorded
        _resume(workflow, task_token, state, comment)
        return
    if order.status is OrderStatus.PLACED:
        try:
            orders.transition(order, OrderStatus.AWAITING_APPROVAL, now)
        except InvalidTransition as exc:
            if exc.current != OrderStatus.AWAITING_APPROVAL:
                # Cancelled as the approval was being requested: nobody will decide, the workflow compensates.
                # (The cancel may have withdrawn the approval itself already.)
                with suppress(AlreadyDecided):
                    approvals.close(order, ApprovalState.WITHDRAWN, now)
                raise OrderNoLongerPending(f"order {order.order_id} is {exc.current}") from exc


def _resume(workflow: OrderWorkflow, task_token: str, decision: ApprovalState, comment: str | None) -> bool:
    """Answer the waiting approval task with an approver's decision. False when the task no longer waits."""
    if decision is ApprovalState.APPROVED:
        return workflow.succeed(task_token, {"decision": ApprovalDecision.APPROVE.value})
    return workflow.fail(task_token, ORDER_REJECTED, comment or "rejected by an approver")


def charge_payment(
    orders: OrdersTable,
    payments: PaymentsLedger,
    provider: PaymentProvider,
    ref: OrderRef,
    now: datetime,
    *,
    draw: Callable[[], float] = random.random,
) -> ChargeResult:
    """Take the order's total once, and mark it PAID.

    The payment is recorded PENDING before the provider is called, with an idempotency key derived from the order:
    a retry after a time-out asks the provider again under the same key and gets the charge it made, never a
    second one. An order that moved on meanwhile is ORDER_GONE; the compensating step refunds what was taken.
    A provider that does not answer is PROVIDER_UNAVAILABLE, a result rather than an error (the function's error
    alarm is for faults of its own): the workflow waits the time returned and charges again, under the same key.
    """
    order = load(orders, ref)
    if order.status not in _CHARGEABLE:
        return ChargeResult(outcome=StepOutcome.ORDER_GONE)
    payment = payments.begin(order, now)
    if payment.payment_state is PaymentState.PENDING:
        try:
            charge = provider.charge(
                payment.idempotency_key, order.total_cents, payments.payment_token(order), reference=order.order_id
            )
        except PaymentProviderUnavailable as silence:
            unanswered = payments.note_unanswered(order)
            wait = provider_retry_after(unanswered, draw())
            return ChargeResult(outcome=StepOutcome.PROVIDER_UNAVAILABLE, detail=str(silence), retry_after_seconds=wait)
        if charge.status is ChargeStatus.DECLINED:
            payment = payments.close(order, PaymentState.DECLINED, now, sources=(PaymentState.PENDING,))
        elif charge.status is ChargeStatus.VOIDED:
            payment = payments.close(order, PaymentState.VOIDED, now, sources=(PaymentState.PENDING,))
        else:
            # A duplicate of this step that wrote first leaves the same capture: the loser takes it as it is.
            payment = payments.capture(order, charge.charge_id or "", now)
    if payment.payment_state is PaymentState.DECLINED:
        return ChargeResult(outcome=StepOutcome.DECLINED)
    if payment.payment_state is not PaymentState.CAPTURED:
        return ChargeResult(outcome=StepOutcome.ORDER_GONE)
    try:
        orders.transition(order, OrderStatus.PAID, now)
    except InvalidTransition as exc:
        if exc.current != OrderStatus.PAID:
            return ChargeResult(outcome=StepOutcome.ORDER_GONE, detail=f"order is {exc.current}")
    return ChargeResult(outcome=StepOutcome.CAPTURED, amount_cents=payment.amount_cents, charge_id=payment.charge_id)


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
    ref: OrderRef,
    last_step: Mapping[str, Any] | None,
    now: datetime,
    *,
    orders: OrdersTable,
    approvals: ApprovalsTable,
    payments: PaymentsLedger,
    provider: PaymentProvider,
    stock: StockLedger,
) -> Settlement:
    """End an order that will not ship: refund what was charged, give its stock back, bring its approval in line,
    and give it its final status — in that order, so that a final status always means the rest is done.

    Idempotent, and correct against an order that ended already (a customer's cancel that won a race is not an
    error: the order keeps its status and is compensated all the same). A shipped order is never touched.
    """
    order = load(orders, ref)
    outcome = outcome_of(last_step, order.status)
    if order.status in SHIPPED_STATUSES:
        return Settlement(outcome=outcome, status=order.status, technical_failure=False)
    refund = _compensate_payment(order, payments, provider, now)
    released = stock.release(order)
    while True:
        target = final_status(outcome, order.status)
        ended = (order.status, order.failure_reason) if target is None else target
        _align_approval(order, approvals, ended[0], outcome, now)
        if target is None:
            break
        try:
            order = orders.transition(order, target[0], now, target[1])
            break
        except InvalidTransition:
            order = load(orders, ref)  # it ended meanwhile (a cancel): align the approval with that end instead
    return Settlement(
        outcome=outcome,
        status=order.status,
        failure_reason=order.failure_reason,
        technical_failure=order.failure_reason is FailureReason.TECHNICAL_FAILURE,
        refund=refund,
        released=released,
    )


def _compensate_payment(
    order: Order, payments: PaymentsLedger, provider: PaymentProvider, now: datetime
) -> RefundStatus | None:
    """Give back what was charged; when a charge may still be on its way (PENDING), void its key at the provider."""
    payment = payments.get(order)
    if payment is None or payment.payment_state not in (PaymentState.PENDING, PaymentState.CAPTURED):
        return None
    refund = provider.refund(payment.idempotency_key)
    closing = {
        RefundStatus.REFUNDED: PaymentState.REFUNDED,
        RefundStatus.VOIDED: PaymentState.VOIDED,
        RefundStatus.DECLINED: PaymentState.DECLINED,
    }[refund]
    payments.close(order, closing, now, sources=(PaymentState.PENDING, PaymentState.CAPTURED))
    return refund


def _align_approval(
    order: Order, approvals: ApprovalsTable, final: OrderStatus, outcome: Outcome, now: datetime
) -> None:
    current = approvals.state(order)
    if current is None:
        return
    agreeing = agreeing_approval(final, outcome, current)
    if agreeing is not None:
        approvals.settle(order, agreeing, now, sources=(current,))


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
    """Every approval still waiting, with the e-mail address the customer placed the order with (an approver
    knows people by their address, not by their user pool id)."""
    waiting = orders.with_status_and_email(OrderStatus.AWAITING_APPROVAL)
    return [
        pending.model_copy(update={"customer_email": email})
        for order, email in waiting
        if (pending := approvals.pending(order)) is not None
    ]


def decide_approval(
    orders: OrdersTable,
    approvals: ApprovalsTable,
    workflow: OrderWorkflow,
    *,
    order_id: str,
    decision: ApprovalDecision,
    comment: str | None,
    now: datetime,
    approver_id: str,
) -> Order:
    """An approver's decision resumes the waiting workflow (approve) or fails its task (reject).

    Nobody decides an order they placed: an approver who is also a customer leaves their own to another approver.

    A decision that arrives as the approval times out finds the task gone: it is a conflict, and the workflow's
    compensating step records the approval as EXPIRED, in line with the order's REJECTED status.
    """
    order = orders.find(order_id)
    if order is None:
        raise NotFound("pending approval", order_id)
    if order.customer_id == approver_id:
        raise OwnOrder(f"order {order_id} was placed by you: another approver must decide it")
    if order.status in TERMINAL:
        raise AlreadyDecided(f"order {order_id} is {order.status}")
    outcome = ApprovalState.APPROVED if decision is ApprovalDecision.APPROVE else ApprovalState.REJECTED
    token = approvals.close(order, outcome, now, comment)
    if not _resume(workflow, token, outcome, comment):
        raise ApprovalClosed(f"the approval of order {order_id} expired before the decision arrived")
    return order

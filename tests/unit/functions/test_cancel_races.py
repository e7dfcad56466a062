"""A customer's cancel racing the workflow: whatever the cancel read, what it overwrote decides, and an order that
waits for an approver never keeps waiting (or holding stock) after its customer cancelled it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from shop.adapters.approvals_table import ApprovalsTable
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable
from shop.adapters.workflow import OrderWorkflow
from shop.domain.approval import ApprovalDecision
from shop.domain.errors import OrderNoLongerPending
from shop.domain.models import Caller, Order, OrderStatus
from shop.domain.ordering import utc_now
from shop.domain.settlement import ORDER_CANCELLED, ORDER_REJECTED
from shop.usecases.fulfillment import OrderRef, decide_approval, request_approval
from shop.usecases.orders import cancel_order
from tests.support.cloud import TABLE_NAMES
from tests.unit.functions.fakes import StepFunctionsStub
from tests.unit.functions.given import an_order, plain_item

S = OrderStatus
CUSTOMER = "c-cancel"
ORDER_ID = "ord_cancel_race"
TOKEN = "token-of-ord_cancel_race"
RETRIED_TOKEN = "token-of-the-retried-request"


class ReadThenRace(OrdersTable):
    """The Orders table, where something happens right after the cancel has read the order (once)."""

    def __init__(self, table_name: str, client: Any, meanwhile: Callable[[], None]) -> None:
        super().__init__(table_name, client)
        self._meanwhile: Callable[[], None] | None = meanwhile

    def get(self, customer_id: str, order_id: str) -> Order | None:
        order = super().get(customer_id, order_id)
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
        return order


@pytest.fixture
def large_order(orders_table: OrdersTable, catalog_table: CatalogTable) -> Order:
    return an_order(
        orders_table, catalog_table, customer_id=CUSTOMER, order_id=ORDER_ID, lines=[("espresso-machine", 1)]
    )


def ask_for_approval(
    orders: OrdersTable, approvals: ApprovalsTable, sfn: StepFunctionsStub | None = None, token: str = TOKEN
) -> None:
    request_approval(
        orders,
        approvals,
        OrderWorkflow(client=sfn or StepFunctionsStub()),  # type: ignore[arg-type]
        OrderRef(order_id=ORDER_ID, customer_id=CUSTOMER),
        task_token=token,
        now=utc_now(),
        timeout=timedelta(hours=1),
    )


def cancel(orders: OrdersTable, approvals: ApprovalsTable, sfn: StepFunctionsStub) -> Order:
    workflow = OrderWorkflow(client=sfn)  # type: ignore[arg-type]
    caller = Caller(customer_id=CUSTOMER, groups=frozenset({"customers"}))
    return cancel_order(orders, approvals, workflow, caller=caller, order_id=ORDER_ID, clock=utc_now)


def approval_state(dynamodb: Any) -> str | None:
    approval = plain_item(dynamodb, CUSTOMER, ORDER_ID, prefix="APPROVAL#")
    return None if approval is None else str(approval["approvalState"])


def test_cancelling_an_order_awaiting_approval_withdraws_the_approval_and_fails_the_waiting_task(
    large_order: Order, orders_table: OrdersTable, approvals_table: ApprovalsTable, dynamodb: Any
) -> None:
    ask_for_approval(orders_table, approvals_table)
    sfn = StepFunctionsStub()

    cancelled = cancel(orders_table, approvals_table, sfn)

    assert cancelled.status is S.CANCELLED
    assert approval_state(dynamodb) == "WITHDRAWN"
    assert [(call["taskToken"], call["error"]) for call in sfn.calls_to("SendTaskFailure")] == [
        (TOKEN, ORDER_CANCELLED)
    ]


def test_a_cancel_that_read_placed_but_overwrote_awaiting_approval_still_closes_the_waiting_task(
    large_order: Order, approvals_table: ApprovalsTable, dynamodb: Any
) -> None:
    orders = ReadThenRace(TABLE_NAMES["OrdersTable"], dynamodb, lambda: ask_for_approval(plain_orders, approvals_table))
    plain_orders = OrdersTable(TABLE_NAMES["OrdersTable"], dynamodb)
    sfn = StepFunctionsStub()

    cancelled = cancel(orders, approvals_table, sfn)

    assert [change.status for change in cancelled.history] == [S.PLACED, S.AWAITING_APPROVAL, S.CANCELLED]
    assert approval_state(dynamodb) == "WITHDRAWN"
    assert len(sfn.calls_to("SendTaskFailure")) == 1


def test_cancelling_a_placed_order_that_never_waited_answers_no_task(
    large_order: Order, orders_table: OrdersTable, approvals_table: ApprovalsTable
) -> None:
    sfn = StepFunctionsStub()

    assert cancel(orders_table, approvals_table, sfn).status is S.CANCELLED
    assert sfn.calls == []


def test_a_cancel_landing_while_the_approval_is_being_stored_makes_the_step_give_up_and_withdraw_it(
    large_order: Order, orders_table: OrdersTable, approvals_table: ApprovalsTable, dynamodb: Any
) -> None:
    sfn = StepFunctionsStub()

    class CancelledAfterStoring(ApprovalsTable):
        def request(self, order: Order, task_token: str, requested_at: Any, expires_at: Any) -> None:
            super().request(order, task_token, requested_at, expires_at)
            cancel(orders_table, approvals_table, sfn)  # the customer cancels between the two writes

    with pytest.raises(OrderNoLongerPending):
        ask_for_approval(orders_table, CancelledAfterStoring(TABLE_NAMES["OrdersTable"], dynamodb))

    assert approval_state(dynamodb) == "WITHDRAWN"
    order = orders_table.get(CUSTOMER, ORDER_ID)
    assert order is not None
    assert order.status is S.CANCELLED


# --- A decision given while its request timed out after storing the token (Step Functions retries the request) --


@pytest.mark.parametrize(
    ("decision", "comment", "answer"),
    [
        (ApprovalDecision.APPROVE, None, ("SendTaskSuccess", {"decision": "approve"})),
        (ApprovalDecision.REJECT, "not for resale", ("SendTaskFailure", ORDER_REJECTED)),
    ],
)
def test_a_retried_approval_request_answers_its_new_token_with_the_decision_already_given(
    *,
    large_order: Order,
    orders_table: OrdersTable,
    approvals_table: ApprovalsTable,
    dynamodb: Any,
    decision: ApprovalDecision,
    comment: str | None,
    answer: tuple[str, Any],
) -> None:
    # Given an approval requested with a first token, decided by an approver (the first attempt then timed out)
    ask_for_approval(orders_table, approvals_table)
    decide_approval(
        orders_table,
        approvals_table,
        OrderWorkflow(client=StepFunctionsStub()),  # type: ignore[arg-type]
        order_id=ORDER_ID,
        decision=decision,
        comment=comment,
        now=utc_now(),
        approver_id="an-approver",
    )
    sfn = StepFunctionsStub()

    # When Step Functions retries the request with a new token
    ask_for_approval(orders_table, approvals_table, sfn, token=RETRIED_TOKEN)

    # Then the new token is answered with the recorded decision, and the decision is not overwritten
    operation, expected = answer
    [call] = sfn.calls
    assert (call.operation, call.params["taskToken"]) == (operation, RETRIED_TOKEN)
    if operation == "SendTaskSuccess":
        assert json.loads(call.params["output"]) == expected
    else:
        assert (call.params["error"], call.params.get("cause")) == (expected, comment)
    assert approval_state(dynamodb) == ("APPROVED" if decision is ApprovalDecision.APPROVE else "REJECTED")
    assert orders_table.get(CUSTOMER, ORDER_ID).status is S.AWAITING_APPROVAL  # type: ignore[union-attr]


def test_a_retried_approval_request_after_a_withdrawal_is_no_longer_pending_and_answers_nothing(
    large_order: Order, orders_table: OrdersTable, approvals_table: ApprovalsTable, dynamodb: Any
) -> None:
    ask_for_approval(orders_table, approvals_table)
    cancel(orders_table, approvals_table, StepFunctionsStub())
    sfn = StepFunctionsStub()

    with pytest.raises(OrderNoLongerPending):
        ask_for_approval(orders_table, approvals_table, sfn, token=RETRIED_TOKEN)

    assert sfn.calls == []
    assert approval_state(dynamodb) == "WITHDRAWN"

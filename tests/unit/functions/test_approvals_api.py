"""The approvals API: admins list the orders waiting for a decision and decide them, which answers the
workflow's waiting task (SendTaskSuccess to approve, SendTaskFailure "OrderRejected" to reject)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from shop.adapters.approvals_table import ApprovalsTable
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable
from shop.domain.models import Order, OrderStatus
from shop.domain.ordering import utc_now
from tests.support.api import ApiCaller, ApiResponse, admin, assert_problem, claims_for, customer
from tests.support.fixtures import load_function, read_event
from tests.unit.functions.fakes import StepFunctionsStub
from tests.unit.functions.given import a_pending_approval, an_order, plain_item

PROBLEM_JSON = "application/problem+json"
# The order the event file decides, with the token request_approval.json stored for it.
WAITING = read_event("request_approval")
EVENT_ORDER_ID = read_event("approvals_api")["pathParameters"]["orderId"]
ADMIN = admin("admin-1")


@pytest.fixture
def approvals_api(dynamodb: Any) -> ApiCaller:
    return ApiCaller(load_function("approvals_api"), "approvals_api")


@pytest.fixture
def sfn(approvals_api: ApiCaller, step_functions: Callable[[ModuleType], StepFunctionsStub]) -> StepFunctionsStub:
    return step_functions(approvals_api.module)


@pytest.fixture
def waiting_order(orders_table: OrdersTable, catalog_table: CatalogTable, approvals_table: ApprovalsTable) -> Order:
    """The order of the event file, AWAITING_APPROVAL with its pending approval and task token."""
    order = an_order(
        orders_table,
        catalog_table,
        customer_id=WAITING["customerId"],
        order_id=WAITING["orderId"],
        lines=[("espresso-machine", 1)],
        status=OrderStatus.AWAITING_APPROVAL,
    )
    a_pending_approval(approvals_table, order, WAITING["taskToken"], utc_now())
    return order


def decide(
    api: ApiCaller, order_id: str, decision: Any, comment: str | None = None, claims: dict[str, Any] | None = ADMIN
) -> ApiResponse:
    body = {"decision": decision} | ({"comment": comment} if comment else {})
    return api.call(
        "POST",
        f"/approvals/{order_id}",
        resource="/approvals/{orderId}",
        path_parameters={"orderId": order_id},
        body=body,
        claims=claims,
    )


def pending(api: ApiCaller, claims: dict[str, Any] | None = ADMIN) -> ApiResponse:
    return api.call("GET", "/approvals", claims=claims)


def test_the_event_file_approves_its_order_and_resumes_the_workflow_with_the_stored_token(
    approvals_api: ApiCaller, sfn: StepFunctionsStub, waiting_order: Order
) -> None:
    assert waiting_order.order_id == EVENT_ORDER_ID

    response = approvals_api.invoke(read_event("approvals_api"))

    assert response.status == 200, response.body
    assert response.json()["orderId"] == waiting_order.order_id
    assert sfn.calls_to("SendTaskSuccess") == [
        {"taskToken": WAITING["taskToken"], "output": json.dumps({"decision": "approve"})}
    ]
    assert sfn.calls_to("SendTaskFailure") == []


def test_pending_approvals_are_listed_without_their_task_tokens(
    approvals_api: ApiCaller,
    orders_table: OrdersTable,
    catalog_table: CatalogTable,
    approvals_table: ApprovalsTable,
    waiting_order: Order,
) -> None:
    requested = utc_now() - timedelta(minutes=5)
    other = an_order(
        orders_table,
        catalog_table,
        customer_id="customer-b",
        order_id="ord_bulkorderofbeans00000000",
        lines=[("espresso-beans-1kg", 30)],
        status=OrderStatus.AWAITING_APPROVAL,
    )
    a_pending_approval(approvals_table, other, "token-of-the-bulk-order", requested)
    # Placed but not waiting for anyone: not listed.
    an_order(orders_table, catalog_table, customer_id="customer-c", order_id="ord_placed", status=OrderStatus.PLACED)

    response = pending(approvals_api)

    assert response.status == 200, response.body
    items = sorted(response.json()["items"], key=lambda item: item["totalCents"])
    assert [(item["orderId"], item["customerId"], item["totalCents"]) for item in items] == [
        (other.order_id, "customer-b", 30 * 2400),
        (waiting_order.order_id, waiting_order.customer_id, 149000),
    ]
    assert set(items[0]) == {"orderId", "customerId", "totalCents", "requestedAt", "expiresAt"}
    assert items[0]["requestedAt"] < items[0]["expiresAt"]
    assert "token" not in response.body.lower()
    assert WAITING["taskToken"] not in response.body


def test_a_pending_approval_names_the_customer_by_the_email_they_placed_the_order_with(
    approvals_api: ApiCaller, orders_table: OrdersTable, catalog_table: CatalogTable, approvals_table: ApprovalsTable
) -> None:
    # Given an order placed with a token that carried the customer's e-mail address, waiting for an approver
    order = an_order(
        orders_table,
        catalog_table,
        customer_id="customer-d",
        order_id="ord_fromacustomerwithemail0",
        lines=[("espresso-machine", 1)],
        status=OrderStatus.AWAITING_APPROVAL,
        email="dana@example.com",
    )
    a_pending_approval(approvals_table, order, "token-of-danas-order", utc_now())

    # When an approver lists the pending approvals
    response = pending(approvals_api)

    # Then the approval says who placed it in words a person knows
    assert response.status == 200, response.body
    assert [(item["orderId"], item.get("customerEmail")) for item in response.json()["items"]] == [
        (order.order_id, "dana@example.com")
    ]


def test_a_decided_approval_is_no_longer_listed(
    approvals_api: ApiCaller, sfn: StepFunctionsStub, waiting_order: Order
) -> None:
    assert decide(approvals_api, waiting_order.order_id, "approve").status == 200

    assert pending(approvals_api).json() == {"items": []}


def test_rejecting_fails_the_waiting_task_with_order_rejected_and_the_approvers_comment(
    approvals_api: ApiCaller, sfn: StepFunctionsStub, waiting_order: Order, dynamodb: Any
) -> None:
    response = decide(approvals_api, waiting_order.order_id, "reject", comment="Address does not match the card")

    assert response.status == 200, response.body
    assert sfn.calls_to("SendTaskFailure") == [
        {"taskToken": WAITING["taskToken"], "error": "OrderRejected", "cause": "Address does not match the card"}
    ]
    assert sfn.calls_to("SendTaskSuccess") == []
    approval = plain_item(dynamodb, waiting_order.customer_id, waiting_order.order_id, prefix="APPROVAL#")
    assert approval is not None
    assert approval["approvalState"] == "REJECTED"
    assert approval["approverComment"] == "Address does not match the card"


def test_a_second_decision_is_a_conflict_and_answers_the_workflow_only_once(
    approvals_api: ApiCaller, sfn: StepFunctionsStub, waiting_order: Order
) -> None:
    assert decide(approvals_api, waiting_order.order_id, "approve").status == 200

    response = decide(approvals_api, waiting_order.order_id, "reject")

    assert_problem(response, 409)
    assert len(sfn.calls) == 1


def test_deciding_an_order_that_waits_for_no_approval_is_not_found(
    approvals_api: ApiCaller, sfn: StepFunctionsStub, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    placed = an_order(orders_table, catalog_table, customer_id="customer-a", order_id="ord_notwaiting")

    assert_problem(decide(approvals_api, placed.order_id, "approve"), 404)
    assert_problem(decide(approvals_api, "ord_unknown", "approve"), 404)
    assert sfn.calls == []


def test_a_decision_other_than_approve_or_reject_is_refused(
    approvals_api: ApiCaller, sfn: StepFunctionsStub, waiting_order: Order, dynamodb: Any
) -> None:
    response = decide(approvals_api, waiting_order.order_id, "maybe")

    assert_problem(response, 422)
    assert [error["location"] for error in response.json()["errors"]] == [["body", "decision"]]
    assert sfn.calls == []
    approval = plain_item(dynamodb, waiting_order.customer_id, waiting_order.order_id, prefix="APPROVAL#")
    assert approval is not None
    assert approval["approvalState"] == "PENDING"


def test_customers_may_neither_list_nor_decide_approvals(
    approvals_api: ApiCaller, sfn: StepFunctionsStub, waiting_order: Order
) -> None:
    shopper = customer(waiting_order.customer_id)

    assert_problem(pending(approvals_api, claims=shopper), 403)
    assert_problem(decide(approvals_api, waiting_order.order_id, "approve", claims=shopper), 403)
    assert sfn.calls == []


def test_a_call_without_token_claims_is_unauthorized(
    approvals_api: ApiCaller, sfn: StepFunctionsStub, waiting_order: Order
) -> None:
    assert_problem(pending(approvals_api, claims=None), 401)
    assert_problem(decide(approvals_api, waiting_order.order_id, "approve", claims=None), 401)
    assert sfn.calls == []


def test_a_decision_arriving_after_the_workflow_stopped_waiting_is_a_conflict(
    approvals_api: ApiCaller, sfn: StepFunctionsStub, waiting_order: Order
) -> None:
    # Given the approval timed out in the workflow just as the approver clicked
    sfn.answer_with_error(WAITING["taskToken"], "TaskTimedOut")

    response = decide(approvals_api, waiting_order.order_id, "approve")

    assert_problem(response, 409)
    assert "expired" in response.json()["detail"]


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_an_approver_cannot_decide_an_order_they_placed(
    approvals_api: ApiCaller, sfn: StepFunctionsStub, waiting_order: Order, dynamodb: Any, decision: str
) -> None:
    # Given an approver who is also the customer who placed the waiting order
    own = claims_for(waiting_order.customer_id, "admins", "customers")

    response = decide(approvals_api, waiting_order.order_id, decision, claims=own)

    # Then it is refused with its own problem type, the approval still waits and the workflow was not answered
    problem = assert_problem(response, 403)
    assert problem["type"].endswith(":own-order")
    approval = plain_item(dynamodb, waiting_order.customer_id, waiting_order.order_id, prefix="APPROVAL#")
    assert approval is not None
    assert approval["approvalState"] == "PENDING"
    assert sfn.calls == []
    # and another approver may still decide it
    assert decide(approvals_api, waiting_order.order_id, decision).status == 200

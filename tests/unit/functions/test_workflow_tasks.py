"""The workflow's task functions, each invoked with its events/ file (the Payload its state passes) against the
template's tables: what each one does, that a retry (after a time-out that came after the step's side effects
too) does it only once, the business outcomes the state machine branches on, and the errors it retries."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from shop.adapters.approvals_table import ApprovalsTable
from shop.adapters.catalog_table import CatalogTable
from shop.adapters.orders_table import OrdersTable
from shop.adapters.stock import StockLedger
from shop.domain.approval import ApprovalState
from shop.domain.errors import InvalidTransition, OrderNoLongerPending, Throttled
from shop.domain.models import Order, OrderStatus
from shop.domain.ordering import utc_now
from shop.domain.payments import (
    PROVIDER_MAX_WAIT_SECONDS,
    PROVIDER_RETRIES,
    PaymentProviderUnavailable,
    idempotency_key,
)
from shop.simulated.payment_provider import LedgerEntry
from shop.usecases.fulfillment import OrderRef, complete_shipment
from tests.support.cloud import TABLE_NAMES
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event
from tests.unit.api.given import ADDRESS
from tests.unit.functions.contention import ContendedClient
from tests.unit.functions.fakes import InProcessProvider
from tests.unit.functions.given import Lines, a_pending_approval, an_order, plain_item, stock_of

S = OrderStatus
# Every task file but request_approval.json names the order that orders_api.json places.
ORDER = read_event("validate_order")
APPROVAL = read_event("request_approval")
BEANS = "espresso-beans-1kg"


def invoke(function: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
    """The task function, invoked as Step Functions' lambda:invoke does (its events/ file by default)."""
    result: dict[str, Any] = load_function(function).lambda_handler(
        event if event is not None else read_event(function), FakeLambdaContext()
    )
    return result


GivenOrder = Callable[..., Order]


@pytest.fixture
def given(orders_table: OrdersTable, catalog_table: CatalogTable) -> GivenOrder:
    """Write the task files' order (two bags of espresso beans by default) in `status`."""

    def order(
        status: OrderStatus = S.PLACED,
        *,
        lines: Lines = ((BEANS, 2),),
        payment_token: str = "tok_ok",  # noqa: S107 (the simulated provider's test token)
        ref: dict[str, Any] = ORDER,
    ) -> Order:
        return an_order(
            orders_table,
            catalog_table,
            customer_id=ref["customerId"],
            order_id=ref["orderId"],
            lines=lines,
            status=status,
            payment_token=payment_token,
        )

    return order


def status_of(orders: OrdersTable, ref: dict[str, Any] = ORDER) -> OrderStatus:
    order = orders.get(ref["customerId"], ref["orderId"])
    assert order is not None
    return order.status


def payment_of(client: Any) -> dict[str, Any] | None:
    return plain_item(client, ORDER["customerId"], ORDER["orderId"], prefix="PAYMENT#")


def approval_of(client: Any) -> str | None:
    approval = plain_item(client, ORDER["customerId"], ORDER["orderId"], prefix="APPROVAL#")
    return None if approval is None else str(approval["approvalState"])


@pytest.fixture
def provider(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> InProcessProvider:
    """The payment provider the charge and settle functions call, in this process, on the test's table."""
    fake = InProcessProvider(TABLE_NAMES["PaymentProviderTable"], dynamodb)
    for function in ("charge_payment", "settle_order"):
        monkeypatch.setattr(load_function(function), "provider", fake)
    return fake


def ledger(provider: InProcessProvider) -> list[LedgerEntry]:
    """The provider's own record of the keys it saw."""
    return provider.provider.ledger()


def charged_cents(provider: InProcessProvider) -> int:
    """What the provider holds: charged minus refunded."""
    return sum(entry.amount_cents - entry.refunded_cents for entry in ledger(provider) if entry.status == "succeeded")


def settle(last: dict[str, Any] | None, event: dict[str, Any] = ORDER) -> dict[str, Any]:
    """The compensating task, with what the workflow's last step left in $.last."""
    state = {"orderId": event["orderId"], "customerId": event["customerId"], "approvalTimeoutSeconds": 3600}
    return invoke("settle_order", state | ({"last": last} if last is not None else {}))


# --- validate_order ---------------------------------------------------------------------------------------------


def test_validate_order_returns_the_lines_total_and_address_the_workflow_carries(given: GivenOrder) -> None:
    given()

    assert invoke("validate_order") == {
        "outcome": "VALID",
        "totalCents": 4800,
        "needsApproval": False,
        "items": [
            {
                "productId": BEANS,
                "name": "Espresso beans, 1 kg",
                "quantity": 2,
                "unitPriceCents": 2400,
                "lineTotalCents": 4800,
            }
        ],
        "shippingAddress": ADDRESS,
    }


@pytest.mark.parametrize(
    ("lines", "needs_approval"),
    [
        ([("espresso-machine", 1)], True),  # 149000 cents: over the threshold
        ([("descaler", 50)], True),  # 49500 cents, but a bulk line
        ([("descaler", 24)], False),
    ],
)
def test_validate_order_asks_for_an_approver_at_the_threshold_or_for_bulk_lines(
    given: GivenOrder, lines: Lines, needs_approval: bool
) -> None:
    given(lines=lines)

    assert invoke("validate_order")["needsApproval"] is needs_approval


def test_validate_order_of_a_withdrawn_product_is_the_out_of_stock_outcome_not_an_error(
    given: GivenOrder, dynamodb: Any
) -> None:
    given(lines=[(BEANS, 2), ("scale", 1)])
    dynamodb.delete_item(TableName=TABLE_NAMES["CatalogTable"], Key={"productId": {"S": "scale"}})

    validation = invoke("validate_order")

    assert validation["outcome"] == "OUT_OF_STOCK"
    # Every field the workflow selects by path is there whatever the outcome (a missing path is not catchable).
    assert set(validation) == {"outcome", "totalCents", "needsApproval", "items", "shippingAddress"}


def test_validate_order_of_a_cancelled_order_is_the_order_gone_outcome(given: GivenOrder) -> None:
    given(S.CANCELLED)

    assert invoke("validate_order")["outcome"] == "ORDER_GONE"


# --- reserve_stock ----------------------------------------------------------------------------------------------


def test_reserve_stock_moves_the_units_from_available_to_reserved_once(given: GivenOrder, dynamodb: Any) -> None:
    given()

    assert invoke("reserve_stock") == {"outcome": "RESERVED"}
    assert invoke("reserve_stock") == {"outcome": "RESERVED"}  # a retried task

    assert stock_of(dynamodb, BEANS) == {"available": 118, "reserved": 2, "sold": 0}


def test_reserve_stock_beyond_what_is_available_is_the_out_of_stock_outcome_and_moves_nothing(
    given: GivenOrder, dynamodb: Any
) -> None:
    given(lines=[(BEANS, 2), ("espresso-machine", 6)])  # five machines in stock

    assert invoke("reserve_stock") == {"outcome": "OUT_OF_STOCK", "detail": "espresso-machine"}

    assert stock_of(dynamodb, BEANS) == {"available": 120, "reserved": 0, "sold": 0}
    assert stock_of(dynamodb, "espresso-machine") == {"available": 5, "reserved": 0, "sold": 0}
    order = plain_item(dynamodb, ORDER["customerId"], ORDER["orderId"])
    assert order is not None
    assert "stockState" not in order


def test_reserve_stock_of_an_order_cancelled_meanwhile_is_the_order_gone_outcome(
    given: GivenOrder, dynamodb: Any
) -> None:
    given(S.CANCELLED)

    assert invoke("reserve_stock") == {"outcome": "ORDER_GONE"}
    assert stock_of(dynamodb, BEANS) == {"available": 120, "reserved": 0, "sold": 0}


def test_transaction_conflict_on_reserve_is_retried_not_out_of_stock(
    given: GivenOrder, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    given(lines=[(BEANS, 2), ("espresso-machine", 1)])
    contended = ContendedClient(
        dynamodb, reasons=[["None", "None", "TransactionConflict"], ["None", "ThrottlingError", "None"]]
    )
    module = load_function("reserve_stock")
    monkeypatch.setattr(
        module, "stock", StockLedger(TABLE_NAMES["CatalogTable"], TABLE_NAMES["OrdersTable"], contended)
    )

    assert invoke("reserve_stock") == {"outcome": "RESERVED"}

    assert contended.refused == 2
    assert stock_of(dynamodb, "espresso-machine") == {"available": 4, "reserved": 1, "sold": 0}


def test_contention_that_outlasts_the_retries_is_throttled_for_the_workflow_to_retry_never_out_of_stock(
    given: GivenOrder, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    given()
    contended = ContendedClient(dynamodb, reasons=[["None", "TransactionConflict"]] * 20)
    module = load_function("reserve_stock")
    monkeypatch.setattr(
        module, "stock", StockLedger(TABLE_NAMES["CatalogTable"], TABLE_NAMES["OrdersTable"], contended)
    )

    with pytest.raises(Throttled):
        invoke("reserve_stock")

    assert stock_of(dynamodb, BEANS) == {"available": 120, "reserved": 0, "sold": 0}


# --- request_approval -------------------------------------------------------------------------------------------


def test_request_approval_parks_the_order_with_the_task_token(
    given: GivenOrder, orders_table: OrdersTable, dynamodb: Any
) -> None:
    given(lines=[("espresso-machine", 1)], ref=APPROVAL)

    assert invoke("request_approval") == {"requested": True}

    assert status_of(orders_table, APPROVAL) is S.AWAITING_APPROVAL
    approval = plain_item(dynamodb, APPROVAL["customerId"], APPROVAL["orderId"], prefix="APPROVAL#")
    assert approval is not None
    assert approval["approvalState"] == "PENDING"
    assert approval["taskToken"] == APPROVAL["taskToken"]
    waited = datetime.fromisoformat(approval["expiresAt"]) - datetime.fromisoformat(approval["requestedAt"])
    assert waited == timedelta(seconds=int(os.environ["APPROVAL_TIMEOUT_SECONDS"]))


def test_request_approval_of_a_cancelled_order_is_no_longer_pending_and_stores_no_token(
    given: GivenOrder, dynamodb: Any
) -> None:
    given(S.CANCELLED, lines=[("espresso-machine", 1)], ref=APPROVAL)

    with pytest.raises(OrderNoLongerPending):
        invoke("request_approval")

    assert plain_item(dynamodb, APPROVAL["customerId"], APPROVAL["orderId"], prefix="APPROVAL#") is None


# --- charge_payment ---------------------------------------------------------------------------------------------


def test_charge_payment_charges_the_total_once_and_marks_the_order_paid(
    given: GivenOrder, orders_table: OrdersTable, dynamodb: Any, provider: InProcessProvider
) -> None:
    given()

    first = invoke("charge_payment")
    again = invoke("charge_payment")  # a retried task

    assert first == again
    assert (first["outcome"], first["amountCents"]) == ("CAPTURED", 4800)
    assert first["chargeId"].startswith("ch_")
    assert status_of(orders_table) is S.PAID
    payment = payment_of(dynamodb)
    assert payment is not None
    assert (payment["paymentState"], payment["idempotencyKey"]) == ("CAPTURED", idempotency_key(ORDER["orderId"]))
    assert provider.calls == ["charge"]  # the retry found the capture recorded and did not call again
    assert [(entry.status, entry.amount_cents) for entry in ledger(provider)] == [("succeeded", 4800)]


def test_a_payment_record_never_shows_up_in_the_customers_list_of_orders(
    given: GivenOrder, orders_table: OrdersTable, provider: InProcessProvider
) -> None:
    given()
    invoke("charge_payment")

    listed, _ = orders_table.list_for(ORDER["customerId"], 20, None)

    assert [order.order_id for order in listed] == [ORDER["orderId"]]


def test_charge_payment_with_a_declined_card_is_the_declined_outcome_and_the_order_stays_unpaid(
    given: GivenOrder, orders_table: OrdersTable, dynamodb: Any, provider: InProcessProvider
) -> None:
    given(payment_token="tok_decline")  # noqa: S106

    assert invoke("charge_payment")["outcome"] == "DECLINED"
    assert invoke("charge_payment")["outcome"] == "DECLINED"

    assert status_of(orders_table) is S.PLACED
    payment = payment_of(dynamodb)
    assert payment is not None
    assert payment["paymentState"] == "DECLINED"
    assert charged_cents(provider) == 0


def test_charge_payment_with_a_flaky_card_waits_and_is_charged_once_on_the_third_attempt(
    given: GivenOrder, orders_table: OrdersTable, provider: InProcessProvider
) -> None:
    given(payment_token="tok_flaky")  # noqa: S106

    silences = [invoke("charge_payment") for _ in range(2)]  # results, not errors: the error alarm stays quiet
    charged = invoke("charge_payment")

    assert [silence["outcome"] for silence in silences] == ["PROVIDER_UNAVAILABLE"] * 2
    assert all(1 <= silence["retryAfterSeconds"] <= PROVIDER_MAX_WAIT_SECONDS for silence in silences)
    assert (charged["outcome"], charged["retryAfterSeconds"]) == ("CAPTURED", 0)
    assert status_of(orders_table) is S.PAID
    assert [(entry.attempts, entry.status) for entry in ledger(provider)] == [(3, "succeeded")]


def test_charge_payment_gives_up_waiting_after_the_providers_sixth_retry_goes_unanswered(
    given: GivenOrder, orders_table: OrdersTable, dynamodb: Any, provider: InProcessProvider
) -> None:
    given()
    provider.outages = 10

    waits = [invoke("charge_payment")["retryAfterSeconds"] for _ in range(PROVIDER_RETRIES + 1)]

    assert all(wait > 0 for wait in waits[:PROVIDER_RETRIES])
    assert waits[PROVIDER_RETRIES] == 0  # the workflow settles the order instead of waiting again
    payment = payment_of(dynamodb)
    assert payment is not None
    assert (payment["paymentState"], payment["providerUnanswered"]) == ("PENDING", PROVIDER_RETRIES + 1)
    assert status_of(orders_table) is S.PLACED


def test_a_retry_after_the_provider_charged_but_its_answer_was_lost_reconciles_instead_of_charging_again(
    given: GivenOrder, orders_table: OrdersTable, dynamodb: Any, provider: InProcessProvider
) -> None:
    given()
    provider.lost_answers = 1  # the provider charged; the step timed out before hearing so

    assert invoke("charge_payment")["outcome"] == "PROVIDER_UNAVAILABLE"
    payment = payment_of(dynamodb)
    assert payment is not None
    assert payment["paymentState"] == "PENDING"  # written before the call: the charge is never untracked
    retried = invoke("charge_payment")

    assert retried["outcome"] == "CAPTURED"
    assert status_of(orders_table) is S.PAID
    assert [(entry.attempts, entry.status) for entry in ledger(provider)] == [(2, "succeeded")]
    assert charged_cents(provider) == 4800


def test_the_loser_of_two_concurrent_charges_returns_the_existing_capture_and_refunds_nothing(
    given: GivenOrder, orders_table: OrdersTable, dynamodb: Any, provider: InProcessProvider
) -> None:
    given()
    duplicate: dict[str, Any] = {}
    # A duplicate invocation of the step runs to its end while the first waits for the provider's answer.
    provider.during_charge = lambda: duplicate.update(invoke("charge_payment"))

    first = invoke("charge_payment")

    assert first["outcome"] == duplicate["outcome"] == "CAPTURED"
    assert first["chargeId"] == duplicate["chargeId"]
    assert status_of(orders_table) is S.PAID
    assert charged_cents(provider) == 4800
    assert [entry.refunded_cents for entry in ledger(provider)] == [0]


def test_an_order_cancelled_while_it_was_being_charged_is_the_order_gone_outcome_and_its_settlement_refunds(
    given: GivenOrder, orders_table: OrdersTable, dynamodb: Any, provider: InProcessProvider
) -> None:
    order = given()
    provider.during_charge = lambda: orders_table.transition(order, S.CANCELLED, utc_now())

    charged = invoke("charge_payment")
    settled = settle(charged)

    assert charged["outcome"] == "ORDER_GONE"
    assert (settled["status"], settled["outcome"], settled["refund"]) == ("CANCELLED", "CANCELLED", "refunded")
    assert charged_cents(provider) == 0
    payment = payment_of(dynamodb)
    assert payment is not None
    assert payment["paymentState"] == "REFUNDED"


def test_charge_payment_for_an_order_already_cancelled_never_calls_the_provider(
    given: GivenOrder, provider: InProcessProvider
) -> None:
    given(S.CANCELLED)

    assert invoke("charge_payment")["outcome"] == "ORDER_GONE"
    assert provider.calls == []


# --- complete_shipment ------------------------------------------------------------------------------------------


def test_complete_shipment_sells_the_reserved_units_and_marks_the_order_shipped_once(
    given: GivenOrder, orders_table: OrdersTable, dynamodb: Any, provider: InProcessProvider
) -> None:
    given()
    invoke("reserve_stock")
    invoke("charge_payment")
    tracking_number = read_event("complete_shipment")["trackingNumber"]

    assert invoke("complete_shipment") == {"status": "SHIPPED", "trackingNumber": tracking_number}
    assert invoke("complete_shipment") == {"status": "SHIPPED", "trackingNumber": tracking_number}

    assert stock_of(dynamodb, BEANS) == {"available": 118, "reserved": 0, "sold": 2}
    order = orders_table.get(ORDER["customerId"], ORDER["orderId"])
    assert order is not None
    assert [change.status for change in order.history] == [S.PLACED, S.PAID, S.SHIPPED]


def test_complete_shipment_of_an_unpaid_order_is_refused_and_sells_nothing(
    given: GivenOrder, orders_table: OrdersTable, dynamodb: Any
) -> None:
    given()

    with pytest.raises(InvalidTransition):
        invoke("complete_shipment")

    assert status_of(orders_table) is S.PLACED
    assert stock_of(dynamodb, BEANS) == {"available": 120, "reserved": 0, "sold": 0}


# --- settle_order -----------------------------------------------------------------------------------------------


def test_settle_order_after_out_of_stock_fails_the_order_once(
    given: GivenOrder, orders_table: OrdersTable, provider: InProcessProvider
) -> None:
    given()

    first = settle({"outcome": "OUT_OF_STOCK"})
    again = settle({"outcome": "OUT_OF_STOCK"})  # a retried task

    assert first == again
    assert (first["status"], first["failureReason"], first["technicalFailure"]) == ("FAILED", "OUT_OF_STOCK", False)
    order = orders_table.get(ORDER["customerId"], ORDER["orderId"])
    assert order is not None
    assert [change.status for change in order.history] == [S.PLACED, S.FAILED]
    assert provider.calls == []  # nothing was ever charged: the provider is not bothered


def test_settle_order_after_a_decline_gives_the_stock_back(
    given: GivenOrder, dynamodb: Any, provider: InProcessProvider
) -> None:
    given(payment_token="tok_decline")  # noqa: S106
    invoke("reserve_stock")
    declined = invoke("charge_payment")

    settled = settle(declined)

    assert (settled["status"], settled["failureReason"]) == ("FAILED", "PAYMENT_DECLINED")
    assert stock_of(dynamodb, BEANS) == {"available": 120, "reserved": 0, "sold": 0}
    payment = payment_of(dynamodb)
    assert payment is not None
    assert payment["paymentState"] == "DECLINED"


def test_settle_order_after_an_approver_rejected_rejects_and_releases(
    given: GivenOrder, approvals_table: ApprovalsTable, dynamodb: Any, provider: InProcessProvider
) -> None:
    order = given(S.AWAITING_APPROVAL, lines=[("espresso-machine", 1)])
    invoke("reserve_stock", ORDER)  # the workflow reserved before it asked
    a_pending_approval(approvals_table, order, "token", utc_now())
    approvals_table.close(order, ApprovalState.REJECTED, utc_now(), "not for resale")

    settled = settle({"Error": "OrderRejected", "Cause": "not for resale"})

    assert (settled["status"], settled["outcome"]) == ("REJECTED", "REJECTED")
    assert approval_of(dynamodb) == "REJECTED"


def test_a_decision_that_lost_the_race_with_the_time_out_leaves_no_approved_record_on_a_rejected_order(
    given: GivenOrder, approvals_table: ApprovalsTable, dynamodb: Any, provider: InProcessProvider
) -> None:
    order = given(S.AWAITING_APPROVAL, lines=[("espresso-machine", 1)])
    a_pending_approval(approvals_table, order, "token", utc_now() - timedelta(days=1))
    # The approver's decision closed the record, but the task had already timed out.
    approvals_table.close(order, ApprovalState.APPROVED, utc_now())

    settled = settle({"Error": "States.Timeout", "Cause": ""})

    assert (settled["status"], settled["outcome"]) == ("REJECTED", "APPROVAL_EXPIRED")
    assert approval_of(dynamodb) == "EXPIRED"


def test_settling_an_order_the_customer_cancelled_first_is_not_an_error_and_still_compensates(
    given: GivenOrder,
    orders_table: OrdersTable,
    approvals_table: ApprovalsTable,
    dynamodb: Any,
    provider: InProcessProvider,
) -> None:
    order = given(S.AWAITING_APPROVAL, lines=[("espresso-machine", 1)])
    invoke("reserve_stock")
    a_pending_approval(approvals_table, order, "token", utc_now())
    orders_table.transition(order, S.CANCELLED, utc_now())  # the cancel won the race with the time-out

    settled = settle({"Error": "States.Timeout", "Cause": ""})

    assert settled["status"] == "CANCELLED"
    assert settled["technicalFailure"] is False
    assert stock_of(dynamodb, "espresso-machine") == {"available": 5, "reserved": 0, "sold": 0}
    assert approval_of(dynamodb) == "WITHDRAWN"


def test_settle_order_after_shipping_failed_refunds_at_the_provider_and_releases(
    given: GivenOrder, dynamodb: Any, provider: InProcessProvider
) -> None:
    given()
    invoke("reserve_stock")
    invoke("charge_payment")

    settled = settle({"Error": "ShippingFailed", "Cause": "undeliverable"})
    again = settle({"Error": "ShippingFailed", "Cause": "undeliverable"})

    assert (settled["status"], settled["failureReason"], settled["refund"]) == ("FAILED", "SHIPPING_FAILED", "refunded")
    assert again["status"] == "FAILED"
    assert charged_cents(provider) == 0
    assert [entry.refunded_cents for entry in ledger(provider)] == [4800]
    assert stock_of(dynamodb, BEANS) == {"available": 120, "reserved": 0, "sold": 0}


def test_a_technical_failure_voids_a_charge_still_on_its_way_so_it_can_never_land(
    given: GivenOrder, orders_table: OrdersTable, dynamodb: Any, provider: InProcessProvider
) -> None:
    given()
    invoke("reserve_stock")
    provider.outages = 10  # the provider never answered: the payment is PENDING, the charge may be in flight
    for _ in range(3):
        last = invoke("charge_payment")
    provider.outages = 0

    settled = settle({"outcome": last["outcome"], "retryAfterSeconds": 0})
    late = invoke("charge_payment")  # the charge that was on its way arrives after all

    assert (settled["status"], settled["failureReason"]) == ("FAILED", "TECHNICAL_FAILURE")
    assert settled["technicalFailure"] is True
    assert settled["refund"] == "voided"
    assert late["outcome"] == "ORDER_GONE"
    assert charged_cents(provider) == 0
    assert stock_of(dynamodb, BEANS) == {"available": 120, "reserved": 0, "sold": 0}


def test_a_provider_outage_during_settlement_is_an_error_to_retry_and_the_order_stays_open(
    given: GivenOrder, orders_table: OrdersTable, provider: InProcessProvider
) -> None:
    given()
    invoke("charge_payment")
    provider.outages = 1

    with pytest.raises(PaymentProviderUnavailable):
        settle({"Error": "ShippingFailed", "Cause": ""})
    assert status_of(orders_table) is S.PAID  # no final status before the money is back
    settled = settle({"Error": "ShippingFailed", "Cause": ""})

    assert settled["status"] == "FAILED"
    assert charged_cents(provider) == 0


def test_settling_a_shipped_order_touches_nothing(
    given: GivenOrder, dynamodb: Any, provider: InProcessProvider
) -> None:
    given()
    invoke("reserve_stock")
    invoke("charge_payment")
    invoke("complete_shipment")

    settled = settle({"Error": "Lambda.Unknown", "Cause": ""})

    assert settled["status"] == "SHIPPED"
    assert charged_cents(provider) == 4800
    assert stock_of(dynamodb, BEANS) == {"available": 118, "reserved": 0, "sold": 2}


def test_settle_order_reads_the_validation_when_no_step_ran_after_it(
    given: GivenOrder, provider: InProcessProvider
) -> None:
    given(S.CANCELLED)
    state = ORDER | {"validation": invoke("validate_order")}

    settled = invoke("settle_order", state)

    assert (settled["status"], settled["outcome"]) == ("CANCELLED", "CANCELLED")


def test_the_settle_order_event_file_is_a_rejection(
    given: GivenOrder, approvals_table: ApprovalsTable, provider: InProcessProvider
) -> None:
    order = given(S.AWAITING_APPROVAL, lines=[("espresso-machine", 1)])
    a_pending_approval(approvals_table, order, "token", utc_now())

    assert invoke("settle_order")["status"] == "REJECTED"


def test_completing_the_shipment_of_an_order_that_was_never_paid_sells_nothing(
    dynamodb: Any, orders_table: OrdersTable, catalog_table: CatalogTable
) -> None:
    order = an_order(orders_table, catalog_table, customer_id="c-1", order_id="ord_unpaid", status=OrderStatus.PLACED)
    stock = StockLedger(TABLE_NAMES["CatalogTable"], TABLE_NAMES["OrdersTable"], dynamodb)
    stock.reserve(order)
    before = catalog_table.get(order.items[0].product_id)

    with pytest.raises(InvalidTransition):
        complete_shipment(orders_table, stock, OrderRef(order_id="ord_unpaid", customer_id="c-1"), "TRK1", utc_now())

    assert catalog_table.get(order.items[0].product_id) == before

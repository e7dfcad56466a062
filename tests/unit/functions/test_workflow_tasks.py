"""The workflow's task functions, each invoked with its events/ file (the Payload its state passes) against the
template's tables: what each one does, that a retry does it only once, and the errors the state machine catches
by name (OutOfStock, OrderNoLongerPending, PaymentDeclined, PaymentProviderUnavailable)."""

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
from shop.domain.errors import InvalidTransition, OrderNoLongerPending, OutOfStock
from shop.domain.models import Order, OrderStatus
from shop.domain.ordering import utc_now
from shop.domain.payments import PaymentDeclined, PaymentProviderUnavailable
from shop.usecases.fulfillment import OrderRef, complete_shipment
from tests.support.cloud import TABLE_NAMES
from tests.support.context import FakeLambdaContext
from tests.support.fixtures import load_function, read_event
from tests.unit.api.given import ADDRESS
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


# --- validate_order ---------------------------------------------------------------------------------------------


def test_validate_order_returns_the_lines_total_and_address_the_workflow_carries(given: GivenOrder) -> None:
    given()

    assert invoke("validate_order") == {
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


def test_validate_order_of_a_withdrawn_product_is_out_of_stock(given: GivenOrder, dynamodb: Any) -> None:
    given(lines=[(BEANS, 2), ("scale", 1)])
    dynamodb.delete_item(TableName=TABLE_NAMES["CatalogTable"], Key={"productId": {"S": "scale"}})

    with pytest.raises(OutOfStock) as refused:
        invoke("validate_order")

    assert refused.value.product_ids == ("scale",)


def test_validate_order_of_a_cancelled_order_is_no_longer_pending(given: GivenOrder) -> None:
    given(S.CANCELLED)

    with pytest.raises(OrderNoLongerPending):
        invoke("validate_order")


# --- reserve_stock ----------------------------------------------------------------------------------------------


def test_reserve_stock_moves_the_units_from_available_to_reserved_once(given: GivenOrder, dynamodb: Any) -> None:
    given()

    assert invoke("reserve_stock") == {"reserved": True}
    assert invoke("reserve_stock") == {"reserved": True}  # a retried task

    assert stock_of(dynamodb, BEANS) == {"available": 118, "reserved": 2, "sold": 0}


def test_reserve_stock_beyond_what_is_available_is_out_of_stock_and_moves_nothing(
    given: GivenOrder, dynamodb: Any
) -> None:
    given(lines=[(BEANS, 2), ("espresso-machine", 6)])  # five machines in stock

    with pytest.raises(OutOfStock) as refused:
        invoke("reserve_stock")

    assert refused.value.product_ids == ("espresso-machine",)
    assert stock_of(dynamodb, BEANS) == {"available": 120, "reserved": 0, "sold": 0}
    assert stock_of(dynamodb, "espresso-machine") == {"available": 5, "reserved": 0, "sold": 0}
    order = plain_item(dynamodb, ORDER["customerId"], ORDER["orderId"])
    assert order is not None
    assert "stockState" not in order


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


def test_charge_payment_captures_the_total_once_and_marks_the_order_paid(
    given: GivenOrder, orders_table: OrdersTable, dynamodb: Any
) -> None:
    given()

    first = invoke("charge_payment")
    again = invoke("charge_payment")  # a retried task

    assert first == again
    assert first["amountCents"] == 4800
    assert first["providerReference"].startswith("ch_")
    assert status_of(orders_table) is S.PAID
    payment = payment_of(dynamodb)
    assert payment is not None
    assert (payment["paymentState"], payment["attempts"]) == ("CAPTURED", 1)


def test_charge_payment_with_a_declined_card_is_payment_declined_and_the_order_stays_unpaid(
    given: GivenOrder, orders_table: OrdersTable, dynamodb: Any
) -> None:
    given(payment_token="tok_decline")  # noqa: S106

    with pytest.raises(PaymentDeclined):
        invoke("charge_payment")

    assert status_of(orders_table) is S.PLACED
    payment = payment_of(dynamodb)
    assert payment is not None
    assert payment["paymentState"] == "DECLINED"


def test_charge_payment_with_a_flaky_provider_succeeds_on_the_third_attempt(
    given: GivenOrder, orders_table: OrdersTable
) -> None:
    given(payment_token="tok_flaky")  # noqa: S106

    for _ in range(2):
        with pytest.raises(PaymentProviderUnavailable):
            invoke("charge_payment")
    assert invoke("charge_payment")["attempts"] == 3

    assert status_of(orders_table) is S.PAID


# --- refund_payment ---------------------------------------------------------------------------------------------


def test_refund_payment_refunds_a_captured_payment_once(given: GivenOrder, dynamodb: Any) -> None:
    given()
    invoke("charge_payment")

    assert invoke("refund_payment") == {"refunded": True}
    assert invoke("refund_payment") == {"refunded": False}  # a retried task

    payment = payment_of(dynamodb)
    assert payment is not None
    assert payment["paymentState"] == "REFUNDED"
    assert payment["amountCents"] == 4800


def test_refund_payment_with_nothing_captured_refunds_nothing(given: GivenOrder, dynamodb: Any) -> None:
    given(payment_token="tok_decline")  # noqa: S106
    with pytest.raises(PaymentDeclined):
        invoke("charge_payment")

    assert invoke("refund_payment") == {"refunded": False}
    payment = payment_of(dynamodb)
    assert payment is not None
    assert payment["paymentState"] == "DECLINED"


# --- release_stock ----------------------------------------------------------------------------------------------


def test_release_stock_gives_reserved_units_back_once(given: GivenOrder, dynamodb: Any) -> None:
    given()
    invoke("reserve_stock")

    assert invoke("release_stock") == {"released": True}
    assert invoke("release_stock") == {"released": False}  # a retried task

    assert stock_of(dynamodb, BEANS) == {"available": 120, "reserved": 0, "sold": 0}


def test_release_stock_with_nothing_reserved_moves_nothing(given: GivenOrder, dynamodb: Any) -> None:
    given()

    assert invoke("release_stock") == {"released": False}

    assert stock_of(dynamodb, BEANS) == {"available": 120, "reserved": 0, "sold": 0}


# --- complete_shipment ------------------------------------------------------------------------------------------


def test_complete_shipment_sells_the_reserved_units_and_marks_the_order_shipped_once(
    given: GivenOrder, orders_table: OrdersTable, dynamodb: Any
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


def test_settle_order_gives_the_final_status_once(given: GivenOrder, orders_table: OrdersTable) -> None:
    given()

    assert invoke("settle_order") == {"status": "FAILED", "failureReason": "PAYMENT_DECLINED"}
    assert invoke("settle_order") == {"status": "FAILED", "failureReason": "PAYMENT_DECLINED"}

    order = orders_table.get(ORDER["customerId"], ORDER["orderId"])
    assert order is not None
    assert [change.status for change in order.history] == [S.PLACED, S.FAILED]


def test_settle_order_after_the_approval_timed_out_rejects_and_expires_the_approval(
    given: GivenOrder, orders_table: OrdersTable, approvals_table: ApprovalsTable, dynamodb: Any
) -> None:
    order = given(S.AWAITING_APPROVAL, lines=[("espresso-machine", 1)])
    a_pending_approval(approvals_table, order, "token", utc_now() - timedelta(days=1))

    result = invoke("settle_order", ORDER | {"outcome": "APPROVAL_EXPIRED"})

    assert result == {"status": "REJECTED", "failureReason": None}
    approval = plain_item(dynamodb, ORDER["customerId"], ORDER["orderId"], prefix="APPROVAL#")
    assert approval is not None
    assert approval["approvalState"] == "EXPIRED"


def test_settle_order_with_an_outcome_its_status_does_not_allow_is_refused(
    given: GivenOrder, orders_table: OrdersTable
) -> None:
    given()  # placed: it cannot have failed shipping

    with pytest.raises(InvalidTransition):
        invoke("settle_order", ORDER | {"outcome": "SHIPPING_FAILED"})

    assert status_of(orders_table) is S.PLACED


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

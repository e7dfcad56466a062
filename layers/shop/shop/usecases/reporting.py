"""The nightly job: a sales report of the previous day, and orders stuck past their SLA."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from shop.adapters.orders_table import OrdersTable
from shop.domain.models import Order, OrderStatus, ShopModel, StatusChange, Timestamp

# Every status an order can wait in: on our own machinery, on an approver (a stuck approval is stuck all the same),
# or on the carrier.
SWEPT = (OrderStatus.PLACED, OrderStatus.AWAITING_APPROVAL, OrderStatus.PAID, OrderStatus.SHIPPED)


class SalesReport(ShopModel):
    day: str
    generated_at: Timestamp
    orders_by_status: dict[str, int]
    orders_sold: int
    revenue_cents: int
    units_by_product: dict[str, int]


class StuckOrder(ShopModel):
    order_id: str
    customer_id: str
    status: OrderStatus
    updated_at: Timestamp


def shipped_at(order: Order) -> datetime | None:
    """When the order shipped (its SHIPPED history entry), or None if it never did."""
    return next((change.at for change in order.history if change.status is OrderStatus.SHIPPED), None)


def status_at(order: Order, moment: datetime) -> StatusChange | None:
    """The order's last status change before `moment` (None: it did not exist yet)."""
    before = [change for change in order.history if change.at < moment]
    return max(before, key=lambda change: change.at, default=None)


def report_day(now: datetime) -> datetime:
    """The start (UTC midnight) of the day before `now`: the day the nightly job reports."""
    today = datetime(now.year, now.month, now.day, tzinfo=now.tzinfo)
    return today - timedelta(days=1)


def sales_report_of(candidates: Iterable[Order], day_start: datetime, now: datetime) -> SalesReport:
    """The day starting at `day_start`, as it stood at the day's end, from `candidates`: any orders that include
    every order changed that day (the rest are ignored, and an order given twice counts once). Orders are counted by
    the status the day left them in, among those whose status changed that day; the sales of the day are the orders
    that shipped that day (whether or not they were delivered since). An order's history says both, so the table
    read now and a table export of any moment after the day give the same report."""
    day_end = day_start + timedelta(days=1)
    by_status: Counter[str] = Counter()
    units: Counter[str] = Counter()
    sold = revenue = 0
    for order in {order.order_id: order for order in candidates}.values():
        last = status_at(order, day_end)
        if last is not None and last.at >= day_start:
            by_status[last.status.value] += 1
        moment = shipped_at(order)
        if moment is not None and day_start <= moment < day_end:
            sold += 1
            revenue += order.total_cents
            for line in order.items:
                units[line.product_id] += line.quantity
    return SalesReport(
        day=day_start.date().isoformat(),
        generated_at=now,
        orders_by_status=dict(sorted(by_status.items())),
        orders_sold=sold,
        revenue_cents=revenue,
        units_by_product=dict(sorted(units.items())),
    )


def sales_report(orders: OrdersTable, day_start: datetime, now: datetime) -> SalesReport:
    """The day's report read from the live table: every order whose status changed since the day began (through the
    byStatus index) is a candidate. The nightly job reads an export instead (sales_report_of), which leaves the
    table's capacity to customers; this is the reference it must agree with."""
    candidates = [order for status in OrderStatus for order in orders.updated_between(status, day_start, now)]
    return sales_report_of(candidates, day_start, now)


def stuck_orders(orders: OrdersTable, now: datetime, sla: timedelta) -> list[StuckOrder]:
    """Non-final orders whose status has not moved for longer than the SLA."""
    cutoff = now - sla
    stuck = []
    for status in SWEPT:
        for order in orders.updated_between(status, datetime.min.replace(tzinfo=now.tzinfo), cutoff):
            stuck.append(
                StuckOrder(
                    order_id=order.order_id,
                    customer_id=order.customer_id,
                    status=order.status,
                    updated_at=order.updated_at,
                )
            )
    return stuck

"""The nightly job: a sales report of the previous day, and orders stuck past their SLA."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from shop.adapters.orders_table import OrdersTable
from shop.domain.models import Order, OrderStatus, ShopModel, Timestamp

# Every status an order can wait in: on our own machinery, on an approver (a stuck approval is stuck all the same),
# or on the carrier.
SWEPT = (OrderStatus.PLACED, OrderStatus.AWAITING_APPROVAL, OrderStatus.PAID, OrderStatus.SHIPPED)
SOLD = (OrderStatus.SHIPPED, OrderStatus.DELIVERED)


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


def sales_report(orders: OrdersTable, day_start: datetime, now: datetime) -> SalesReport:
    """The day starting at `day_start`: orders whose status last changed that day, by status; and the sales
    of the day, which are the orders that shipped that day (whether or not they were delivered since)."""
    day_end = day_start + timedelta(days=1)
    touched: list[Order] = []
    for status in OrderStatus:
        touched.extend(orders.updated_between(status, day_start, day_end))
    # A sale counts on the day it shipped: look at everything shipped or delivered since that day began.
    candidates = [order for status in SOLD for order in orders.updated_between(status, day_start, now)]
    sold = [order for order in candidates if (moment := shipped_at(order)) and day_start <= moment < day_end]
    units: Counter[str] = Counter()
    for order in sold:
        for line in order.items:
            units[line.product_id] += line.quantity
    return SalesReport(
        day=day_start.date().isoformat(),
        generated_at=now,
        orders_by_status=dict(sorted(Counter(order.status.value for order in touched).items())),
        orders_sold=len(sold),
        revenue_cents=sum(order.total_cents for order in sold),
        units_by_product=dict(sorted(units.items())),
    )


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

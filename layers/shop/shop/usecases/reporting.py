"""The nightly job: a sales report of the previous day, and orders stuck past their SLA."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from shop.adapters.orders_table import OrdersTable
from shop.domain.models import Order, OrderStatus, ShopModel, Timestamp

# Statuses in which an order waits on our own machinery (approvals have their own timeout).
SWEPT = (OrderStatus.PLACED, OrderStatus.PAID, OrderStatus.SHIPPED)
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


def sales_report(orders: OrdersTable, day_start: datetime, now: datetime) -> SalesReport:
    """Orders last updated during the day starting at `day_start`, by status; revenue of those sold."""
    day_end = day_start + timedelta(days=1)
    touched: list[Order] = []
    for status in OrderStatus:
        touched.extend(orders.updated_between(status, day_start, day_end))
    sold = [order for order in touched if order.status in SOLD]
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

"""Nightly schedule: yesterday's sales report as JSON in the reports bucket, and a sweep that reports orders
stuck past their SLA (a metric the alarm watches, and one log line per order)."""

from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.orders_table import OrdersTable
from shop.domain.ordering import utc_now
from shop.observability import logger, metrics, tracer
from shop.settings import ReportSettings, load_settings
from shop.usecases.reporting import sales_report, stuck_orders

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

settings = load_settings(ReportSettings)
orders = OrdersTable(settings.orders_table_name)


@cache
def s3() -> "S3Client":
    return boto3.client("s3")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = utc_now()
    today = datetime(now.year, now.month, now.day, tzinfo=now.tzinfo)
    report = sales_report(orders, today - timedelta(days=1), now)
    key = f"sales/{report.day}.json"
    s3().put_object(
        Bucket=settings.reports_bucket_name,
        Key=key,
        Body=report.model_dump_json(indent=2).encode(),
        ContentType="application/json",
    )
    stuck = stuck_orders(orders, now, timedelta(hours=settings.order_sla_hours))
    for order in stuck:
        logger.warning("order stuck past its SLA", extra=order.model_dump(mode="json"))
    metrics.add_metric(name="StuckOrders", unit="Count", value=len(stuck))
    metrics.add_metric(name="DailyRevenueCents", unit="Count", value=report.revenue_cents)
    logger.info("nightly report written", extra={"key": key, "orders_sold": report.orders_sold, "stuck": len(stuck)})
    return {"reportKey": key, "stuckOrders": len(stuck)}

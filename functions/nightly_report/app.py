"""The nightly job's first step (statemachine/nightly_report.asl.json): start the export of yesterday's changes to
the Orders table, which the workflow waits for and SalesReportFunction reads, and sweep for orders stuck past their
SLA (a metric the alarm watches, and one log line per order)."""

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.orders_exports import OrdersExports
from shop.adapters.orders_table import OrdersTable
from shop.domain.ordering import utc_now
from shop.observability import logger, metrics, tracer
from shop.settings import ReportSettings, load_settings
from shop.usecases.reporting import report_day, stuck_orders

settings = load_settings(ReportSettings)
orders = OrdersTable(settings.orders_table_name)
exports = OrdersExports(settings.orders_table_arn, settings.reports_bucket_name)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = utc_now()
    day = report_day(now)
    export = exports.start(f"exports/orders/{day.date().isoformat()}", day, day + timedelta(days=1))
    stuck = stuck_orders(orders, now, timedelta(hours=settings.order_sla_hours))
    for order in stuck:
        logger.warning("order stuck past its SLA", extra=order.model_dump(mode="json"))
    metrics.add_metric(name="StuckOrders", unit="Count", value=len(stuck))
    logger.info("orders export started", extra={"export_arn": export.export_arn, "export_type": export.export_type})
    return {
        "day": day.date().isoformat(),
        "exportArn": export.export_arn,
        "exportType": export.export_type,
        "stuckOrders": len(stuck),
    }

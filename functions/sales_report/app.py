"""The nightly job's last step (statemachine/nightly_report.asl.json): yesterday's sales report, read from the export
of the Orders table that the first step started, as JSON in the reports bucket. The live table is not read."""

from datetime import UTC, date, datetime, time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from shop.adapters.orders_exports import OrdersExports, default_s3
from shop.domain.ordering import utc_now
from shop.observability import logger, metrics, tracer
from shop.settings import SalesReportSettings, load_settings
from shop.usecases.reporting import sales_report_of

settings = load_settings(SalesReportSettings)
exports = OrdersExports(settings.orders_table_arn, settings.reports_bucket_name)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    day = datetime.combine(date.fromisoformat(event["day"]), time(), tzinfo=UTC)
    report = sales_report_of(exports.orders_in(event["exportManifest"]), day, utc_now())
    key = f"sales/{report.day}.json"
    default_s3().put_object(  # the client the export is read with: one per instance
        Bucket=settings.reports_bucket_name,
        Key=key,
        Body=report.model_dump_json(indent=2).encode(),
        ContentType="application/json",
    )
    metrics.add_metric(name="DailyRevenueCents", unit="Count", value=report.revenue_cents)
    logger.info("sales report written", extra={"key": key, "orders_sold": report.orders_sold})
    return {"reportKey": key, "ordersSold": report.orders_sold, "revenueCents": report.revenue_cents}

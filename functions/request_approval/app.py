"""Workflow task (.waitForTaskToken): park the order for an approver, keeping the token that resumes it."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from shop.adapters.approvals_table import ApprovalsTable
from shop.adapters.orders_table import OrdersTable
from shop.adapters.workflow import OrderWorkflow
from shop.domain.ordering import utc_now
from shop.observability import logger, tracer
from shop.settings import ApprovalSettings, load_settings
from shop.usecases import fulfillment

settings = load_settings(ApprovalSettings)
orders = OrdersTable(settings.orders_table_name)
approvals = ApprovalsTable(settings.orders_table_name)
workflow = OrderWorkflow()


class ApprovalRequest(fulfillment.OrderRef):
    task_token: str = Field(min_length=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ApprovalRequest.model_validate(event)
    fulfillment.request_approval(
        orders,
        approvals,
        workflow,
        fulfillment.OrderRef(order_id=request.order_id, customer_id=request.customer_id),
        task_token=request.task_token,
        now=utc_now(),
        timeout=settings.approval_timeout,
    )
    logger.info("approval requested", extra={"order_id": request.order_id})
    return {"requested": True}

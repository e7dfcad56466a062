"""Approvals API (admins): list the orders waiting for a human decision and decide them, which resumes
(approve) or fails (reject) the waiting workflow task."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from shop.adapters.approvals_table import ApprovalsTable
from shop.adapters.orders_table import OrdersTable
from shop.adapters.workflow import OrderWorkflow
from shop.domain.approval import ApprovalDecision, PendingApproval
from shop.domain.models import Order, RequestModel, ShopModel
from shop.domain.ordering import ORDER_ID_PATTERN, utc_now
from shop.http import docs, problems
from shop.http.identity import admin_caller
from shop.http.limits import guard_request_body
from shop.observability import logger, metrics, tracer
from shop.settings import ApprovalsApiSettings, load_settings
from shop.usecases import fulfillment

settings = load_settings(ApprovalsApiSettings)
orders = OrdersTable(settings.orders_table_name)
approvals = ApprovalsTable(settings.orders_table_name)
workflow = OrderWorkflow()

app = APIGatewayRestResolver(enable_validation=True, cors=CORSConfig(max_age=600))
app.configure_openapi(security_schemes=docs.SECURITY_SCHEMES)
problems.register(app)


class PendingApprovals(ShopModel):
    items: list[PendingApproval]


class Decision(RequestModel):
    decision: ApprovalDecision
    comment: str | None = Field(default=None, max_length=500)


@app.get(
    "/approvals",
    tags=["Approvals"],
    summary="Orders waiting for an approver",
    security=docs.ID_TOKEN,
    responses=docs.responses(
        200,
        "Pending approvals, each with the customer's e-mail address (customerEmail) when known",
        PendingApprovals,
        401,
        403,
    ),
)
def list_pending() -> PendingApprovals:
    admin_caller(app.current_event)
    return PendingApprovals(items=fulfillment.pending_approvals(orders, approvals))


@app.post(
    "/approvals/<orderId>",
    tags=["Approvals"],
    summary="Approve or reject a waiting order",
    security=docs.ID_TOKEN,
    responses=docs.responses(200, "The order (the workflow resumes)", Order, 400, 401, 403, 404, 409, 413, 415),
)
def decide(
    order_id: Annotated[str, Path(alias="orderId", min_length=1, max_length=64, pattern=ORDER_ID_PATTERN)],
    decision: Annotated[Decision, Body()],
) -> Order:
    caller = admin_caller(app.current_event)
    order = fulfillment.decide_approval(
        orders,
        approvals,
        workflow,
        order_id=order_id,
        decision=decision.decision,
        comment=decision.comment,
        now=utc_now(),
        approver_id=caller.customer_id,
    )
    logger.info(
        "approval decided", extra={"order_id": order_id, "decision": decision.decision, "by": caller.customer_id}
    )
    return order


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@guard_request_body
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

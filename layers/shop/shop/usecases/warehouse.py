"""The warehouse: ship a job from the fulfillment queue and call the waiting workflow back."""

from __future__ import annotations

import hashlib

from shop.adapters.workflow import OrderWorkflow
from shop.domain.errors import DomainError
from shop.domain.models import OrderLine, ShippingAddress, ShopModel
from shop.domain.settlement import SHIPPING_FAILED

# An address line the carrier can never deliver to: the job always fails (to exercise the DLQ on purpose).
UNDELIVERABLE = "UNDELIVERABLE"


class UndeliverableAddress(DomainError):
    """The carrier refuses the address; retrying will not help, the job ends in the DLQ."""


class ShipmentJob(ShopModel):
    """The message the workflow's ShipOrder state sends: the validated order lines, as priced."""

    order_id: str
    customer_id: str
    items: list[OrderLine]
    shipping_address: ShippingAddress
    task_token: str


def tracking_number_for(order_id: str) -> str:
    return "TRK" + hashlib.sha256(order_id.encode()).hexdigest()[:12].upper()


def ship(job: ShipmentJob, workflow: OrderWorkflow) -> str | None:
    """Ship the job and resume the workflow with its tracking number.

    None, and nothing shipped, when the workflow no longer waits for this job: its task timed out (the order was
    refunded), or the job is a redelivery of one already shipped. Parcels are not sent for orders given up.
    """
    if not workflow.still_waiting(job.task_token):
        return None
    if UNDELIVERABLE in (job.shipping_address.line1, job.shipping_address.line2):
        raise UndeliverableAddress(f"order {job.order_id}: the carrier cannot deliver to this address")
    tracking_number = tracking_number_for(job.order_id)
    resumed = workflow.succeed(job.task_token, {"trackingNumber": tracking_number})
    return tracking_number if resumed else None


def give_up(job: ShipmentJob, workflow: OrderWorkflow, receive_count: int) -> bool:
    """A job that exhausted its retries: fail the waiting task so the workflow compensates."""
    return workflow.fail(
        job.task_token,
        SHIPPING_FAILED,
        f"the warehouse could not ship order {job.order_id} after {receive_count} attempts",
    )

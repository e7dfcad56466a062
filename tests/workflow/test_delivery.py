"""At-least-once delivery and concurrency: a redelivered stream record starts nothing twice, and orders racing
for the last units never oversell."""

from __future__ import annotations

from collections import Counter

from tests.support.workflow import Shop, WorkflowFigures


def test_an_insert_delivered_three_times_starts_one_workflow_and_notifies_once(
    shop: Shop, figures: WorkflowFigures
) -> None:
    order_id = shop.place({"travel-mug": 1})
    records = shop.orders_stream.read()
    (insert,) = [r for r in records if r["eventName"] == "INSERT" and r["dynamodb"]["NewImage"]["kind"]["S"] == "ORDER"]

    # A batch retried at once (the first delivery's response was lost), then a late redelivery.
    shop.orders_stream.deliver(records)
    shop.orders_stream.deliver([insert])
    run = shop.finish(order_id)[order_id]
    shop.orders_stream.deliver([insert])

    assert run.status == "SUCCEEDED"
    assert [execution["name"] for execution in shop.executions()] == [order_id]
    published = [
        e["status"]
        for e in shop.notifications()
        if e["eventType"] == "ORDER_STATUS_CHANGED" and e["orderId"] == order_id
    ]
    assert published.count("PLACED") == 1
    assert shop.order(order_id)["status"] == "SHIPPED"
    figures.record("INSERT delivered 3 times -> one execution -> SHIPPED", run)
    shop.assert_invariants()


def test_twenty_orders_racing_for_ten_units_ship_ten_and_fail_ten(shop: Shop, figures: WorkflowFigures) -> None:
    assert shop.stock("limited-edition-cup") == {"available": 10, "reserved": 0, "sold": 0}
    order_ids = [shop.place({"limited-edition-cup": 1}, customer_id=f"customer-{n:02d}") for n in range(20)]

    def never_negative() -> None:
        assert min(shop.stock("limited-edition-cup").values()) >= 0

    # The twenty INSERTs reach the consumer in one batch: twenty executions run at once.
    runs = shop.finish(*order_ids, timeout=60, watch=never_negative)

    assert {run.status for run in runs.values()} == {"SUCCEEDED"}
    outcomes = Counter(
        (order["status"], order.get("failureReason")) for order in (shop.order(order_id) for order_id in order_ids)
    )
    assert outcomes == {("SHIPPED", None): 10, ("FAILED", "OUT_OF_STOCK"): 10}
    assert shop.stock("limited-edition-cup") == {"available": 0, "reserved": 0, "sold": 10}
    figures.record("20 concurrent orders for 10 units (10 SHIPPED, 10 OUT_OF_STOCK)", *runs.values())
    shop.assert_invariants()

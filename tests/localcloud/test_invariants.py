"""The invariant counting (localcloud.invariants) can fail: a unit added behind the shop's back, a charge the shop
does not know of, a second charge for one order, a message that vanished and an order left open are each counted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localcloud.aws_endpoint import observer
from localcloud.client import ShopClient
from localcloud.cloud import LocalCloud
from localcloud.invariants import Invariants
from localcloud.users import ensure_user, id_token
from tools.seed import seed

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

PASSWORD = "Local-test-Passw0rd"


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    running = LocalCloud(api_port=0, aws_port=0, log=lambda _: None)
    endpoints = running.start()
    try:
        seed(str(endpoints.outputs["CatalogTableName"]), running.client("dynamodb"))
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def shipped(cloud: LocalCloud) -> tuple[Invariants, str]:
    """One order shipped on a clean cloud: the invariants hold before anything is tampered with."""
    endpoints = cloud.endpoints
    assert endpoints is not None
    invariants = Invariants(cloud)
    invariants.baseline()
    cognito = cloud.client("cognito-idp")
    ensure_user(cognito, endpoints.user_pool_id, "counted@example.com", PASSWORD, "customers")
    shop = ShopClient(endpoints.api, id_token(cognito, endpoints.user_pool_client_id, "counted@example.com", PASSWORD))
    order = shop.place("counted-1", [{"productId": "travel-mug", "quantity": 1}])
    assert shop.wait_for(order["orderId"], timeout=60)["status"] == "SHIPPED"
    assert invariants.wait_until_settled(60)
    return invariants, order["orderId"]


def test_a_clean_run_holds(shipped: tuple[Invariants, str]) -> None:
    invariants, _ = shipped

    verdict = invariants.check()

    assert verdict.holds, str(verdict)
    assert verdict.outcomes == {"SHIPPED": 1}


def test_a_unit_that_appears_behind_the_shops_back_is_stock_drift(
    cloud: LocalCloud, shipped: tuple[Invariants, str]
) -> None:
    invariants, _ = shipped
    dynamodb = observer(cloud.client("dynamodb"))
    change = {
        "TableName": invariants.catalog_table,
        "Key": {"productId": {"S": "scale"}},
        "UpdateExpression": "ADD available :n",
    }

    dynamodb.update_item(**change, ExpressionAttributeValues={":n": {"N": "1"}})
    drift = invariants.check().stock_drift
    dynamodb.update_item(**change, ExpressionAttributeValues={":n": {"N": "-1"}})

    assert drift == 1
    assert invariants.check().holds


def test_a_charge_the_shop_does_not_know_of_is_money_drift_and_a_second_one_a_double_charge(
    cloud: LocalCloud, shipped: tuple[Invariants, str]
) -> None:
    invariants, order_id = shipped
    dynamodb = observer(cloud.client("dynamodb"))
    dynamodb.put_item(
        TableName=invariants.provider_table,
        Item={
            "idempotencyKey": {"S": "a-second-key"},
            "status": {"S": "succeeded"},
            "amountCents": {"N": "2500"},
            "merchantReference": {"S": order_id},
        },
    )

    verdict = invariants.check()
    dynamodb.delete_item(TableName=invariants.provider_table, Key={"idempotencyKey": {"S": "a-second-key"}})

    assert (verdict.money_drift, verdict.double_charges) == (2500, 1)
    assert invariants.check().holds


def test_a_message_that_vanished_from_its_queue_is_lost(cloud: LocalCloud, shipped: tuple[Invariants, str]) -> None:
    invariants, _ = shipped
    sqs = cloud.client("sqs")
    queue_url = str(invariants.cloud.endpoints.outputs["FulfillmentQueueUrl"]) if invariants.cloud.endpoints else ""

    # Delayed, so that the warehouse cannot take it before it is purged (a purge is not a delete by a consumer).
    sqs.send_message(QueueUrl=queue_url, MessageBody="{}", DelaySeconds=60)
    sqs.purge_queue(QueueUrl=queue_url)

    assert invariants.check().messages_lost == 1


def test_an_order_left_open_is_not_final(cloud: LocalCloud, shipped: tuple[Invariants, str]) -> None:
    invariants, order_id = shipped

    verdict = invariants.check(order_ids=[order_id, "ord_never_placed"])

    assert verdict.not_final == ["ord_never_placed"]

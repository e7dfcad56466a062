"""The order story over HTTP against the local cloud: Cognito sign-in, the gateway, the stream, the workflow,
the warehouse queue and the carrier, all from template.yaml, with no Docker and no AWS account."""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import Any

import pytest
import requests

from localcloud.client import DEFAULT_ADDRESS
from localcloud.cloud import LocalCloud
from localcloud.demo import play
from localcloud.order_history_lake import FAILED_PREFIX, ROWS_PREFIX, LakeReading, lake_bucket, read_lake, table_orders
from localcloud.throttling import Quota, Throttle, UsagePlan
from localcloud.users import ensure_user
from shop.usecases.order_history import check_lake
from tests.localcloud.conftest import PASSWORD, Shop

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

FINAL = {"SHIPPED", "DELIVERED", "CANCELLED", "REJECTED", "FAILED"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def place(shop: Shop, key: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    response = requests.post(
        f"{shop.api}/orders",
        json={"items": items, "shippingAddress": DEFAULT_ADDRESS, **extra},
        headers={**auth(shop.customer_token), "Idempotency-Key": key},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def wait_for(shop: Shop, order_id: str, statuses: set[str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        order: dict[str, Any] = requests.get(
            f"{shop.api}/orders/{order_id}", headers=auth(shop.customer_token), timeout=10
        ).json()
        if order["status"] in statuses:
            return order
        assert time.monotonic() < deadline, f"order {order_id} stuck in {order['status']}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def unanswered_order(shop: Shop) -> dict[str, Any]:
    """A large order that nobody approves, placed when the module starts so that its approval (30 s: the shop
    fixture's) expires while the other tests run; the last test checks how it ended."""
    order = place(shop, "story-unanswered", [{"productId": "espresso-machine", "quantity": 1}])
    waiting = wait_for(shop, order["orderId"], {"AWAITING_APPROVAL", *FINAL})
    assert waiting["status"] == "AWAITING_APPROVAL"
    return waiting


def test_a_large_order_that_nobody_approves_waits_for_an_approver(unanswered_order: dict[str, Any]) -> None:
    assert unanswered_order["status"] == "AWAITING_APPROVAL"


def test_the_public_catalog_is_served_without_a_token(shop: Shop) -> None:
    response = requests.get(f"{shop.api}/products", params={"limit": "3"}, timeout=10)
    from_a_page = requests.get(f"{shop.api}/products", headers={"Origin": "https://shop.example"}, timeout=10)

    assert response.status_code == 200
    assert len(response.json()["items"]) == 3
    # CORS comes from the function (Powertools' CORSConfig, any origin), for a request from a page, as in API Gateway.
    assert "Access-Control-Allow-Origin" not in response.headers
    assert from_a_page.headers["Access-Control-Allow-Origin"] == "*"


def test_the_templates_usage_plan_and_stage_throttle_are_the_gateways(shop: Shop) -> None:
    # template.yaml: the carriers' plan (5 a second, bursts of 10, 10,000 a day) and the dev stage's MethodSettings.
    assert shop.cloud.usage_plan == UsagePlan(Throttle(rate=5, burst=10), Quota(limit=10_000, period="DAY"))
    assert shop.cloud.stage_throttle == Throttle(rate=50, burst=100)


def test_the_routes_are_served_under_the_stage_where_the_console_calls_them(shop: Shop) -> None:
    assert shop.api == f"{shop.endpoints.console}/api"  # as the ApiUrl output ends in the stage
    assert requests.get(f"{shop.api}/health", timeout=10).json() == {"status": "ok"}
    assert requests.get(f"{shop.endpoints.console}/health", timeout=10).status_code == 404


def test_a_small_order_ships_through_the_workflow_and_the_carrier_delivers_it(shop: Shop) -> None:
    order = place(shop, "story-small", [{"productId": "scale", "quantity": 1}])

    shipped = wait_for(shop, order["orderId"], FINAL)
    assert shipped["status"] == "SHIPPED", shipped
    assert shipped["trackingNumber"].startswith("TRK")

    report = {
        "orderId": order["orderId"],
        "trackingNumber": shipped["trackingNumber"],
        "deliveredAt": shipped["updatedAt"],
    }
    carrier = {"x-api-key": shop.endpoints.carrier_api_key}
    delivered = requests.post(f"{shop.api}/carrier/deliveries", json=report, headers=carrier, timeout=10)
    assert delivered.status_code == 200, delivered.text
    assert [change["status"] for change in delivered.json()["history"]] == ["PLACED", "PAID", "SHIPPED", "DELIVERED"]
    # The carrier reports it again: a conflict, said from the failed write itself (the carrier's role reads no
    # order by its key; the module's teardown fails on any call a role refused).
    again = requests.post(f"{shop.api}/carrier/deliveries", json=report, headers=carrier, timeout=10)
    assert again.status_code == 409, again.text


def test_a_large_order_waits_for_an_approver_and_ships_once_approved(shop: Shop) -> None:
    order = place(shop, "story-large", [{"productId": "espresso-machine", "quantity": 1}])
    waiting = wait_for(shop, order["orderId"], {"AWAITING_APPROVAL", *FINAL})
    assert waiting["status"] == "AWAITING_APPROVAL"

    pending = requests.get(f"{shop.api}/approvals", headers=auth(shop.approver_token), timeout=10).json()["items"]
    assert order["orderId"] in [approval["orderId"] for approval in pending]
    assert all("taskToken" not in json.dumps(approval) for approval in pending)
    decided = requests.post(
        f"{shop.api}/approvals/{order['orderId']}",
        json={"decision": "approve"},
        headers=auth(shop.approver_token),
        timeout=10,
    )
    assert decided.status_code == 200, decided.text

    assert wait_for(shop, order["orderId"], FINAL)["status"] == "SHIPPED"


def test_a_declined_card_fails_the_order_and_releases_its_stock(shop: Shop) -> None:
    before = requests.get(f"{shop.api}/products/milk-pitcher", timeout=10).json()["available"]
    order = place(shop, "story-decline", [{"productId": "milk-pitcher", "quantity": 2}], paymentToken="tok_decline")

    failed = wait_for(shop, order["orderId"], FINAL)

    assert (failed["status"], failed["failureReason"]) == ("FAILED", "PAYMENT_DECLINED")
    assert requests.get(f"{shop.api}/products/milk-pitcher", timeout=10).json()["available"] == before


def test_the_gateway_refuses_missing_and_tampered_tokens_before_any_function_runs(shop: Shop) -> None:
    missing = requests.get(f"{shop.api}/orders", timeout=10)
    header, payload, signature = shop.customer_token.split(".")
    tampered = requests.get(f"{shop.api}/orders", headers=auth(f"{header}.{payload}.{signature[:-4]}AAAA"), timeout=10)

    assert missing.status_code == 401
    assert tampered.status_code == 401
    assert missing.headers["Content-Type"] == "application/problem+json"


def test_an_approver_route_refuses_a_customer(shop: Shop) -> None:
    response = requests.get(f"{shop.api}/approvals", headers=auth(shop.customer_token), timeout=10)

    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/problem+json"


def test_the_carrier_route_needs_its_api_key(shop: Shop) -> None:
    body = {"orderId": "ord_x", "trackingNumber": "TRK1", "deliveredAt": "2026-11-25T09:00:00.000Z"}

    assert requests.post(f"{shop.api}/carrier/deliveries", json=body, timeout=10).status_code == 403
    wrong = requests.post(f"{shop.api}/carrier/deliveries", json=body, headers={"x-api-key": "nope"}, timeout=10)
    assert wrong.status_code == 403


def test_a_confirmed_sign_up_becomes_a_customer_through_the_post_confirmation_trigger(shop: Shop) -> None:
    cognito = shop.client("cognito-idp")
    email = "newcomer@example.com"
    cognito.sign_up(
        ClientId=shop.endpoints.user_pool_client_id,
        Username=email,
        Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": email}],
    )
    shop.cloud.drain()  # the trigger sees the user UNCONFIRMED
    cognito.admin_confirm_sign_up(UserPoolId=shop.endpoints.user_pool_id, Username=email)

    shop.cloud.drain()

    groups = cognito.admin_list_groups_for_user(UserPoolId=shop.endpoints.user_pool_id, Username=email)["Groups"]
    assert [group["GroupName"] for group in groups] == ["customers"]


def test_a_cart_expired_by_ttl_reaches_the_abandoned_cart_consumer(shop: Shop) -> None:
    # Given a queue that hears every abandoned cart published to the notifications topic
    sqs, sns = shop.client("sqs"), shop.client("sns")
    queue_url = sqs.create_queue(QueueName="test-abandoned-carts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=shop.endpoints.outputs["NotificationsTopicArn"],
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"eventType": ["CART_ABANDONED"]})},
    )
    shopper = shop.token_for("shopper@example.com", "customers")
    cart = requests.put(
        f"{shop.api}/cart",
        json={"items": [{"productId": "descaler", "quantity": 2}]},
        headers=auth(shopper),
        timeout=10,
    )
    assert cart.status_code == 200, cart.text
    # When its session expires (TTL is late by design; the local reaper deletes what is due)
    dynamodb = shop.client("dynamodb")
    sessions = shop.endpoints.outputs["SessionsTableName"]
    (session,) = dynamodb.scan(TableName=sessions)["Items"]
    dynamodb.update_item(
        TableName=sessions,
        Key={"sessionId": session["sessionId"]},
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 5)}},
    )

    shop.cloud.drain()

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    abandoned = [json.loads(message["Body"]) for message in messages]
    assert [(event["eventType"], event["units"]) for event in abandoned] == [("CART_ABANDONED", 2)]
    assert dynamodb.scan(TableName=sessions)["Items"] == []


def test_nothing_is_lost_every_order_reaches_a_final_state_and_stock_adds_up(shop: Shop) -> None:
    product = requests.get(f"{shop.api}/products/travel-mug", timeout=10).json()
    orders = [place(shop, f"story-many-{n}", [{"productId": "travel-mug", "quantity": 1}]) for n in range(8)]

    finals = [wait_for(shop, order["orderId"], FINAL)["status"] for order in orders]

    assert finals == ["SHIPPED"] * 8
    assert requests.get(f"{shop.api}/products/travel-mug", timeout=10).json()["available"] == product["available"] - 8
    shop.cloud.drain()
    for queue in ("FulfillmentQueueUrl",):
        attributes = shop.client("sqs").get_queue_attributes(
            QueueUrl=shop.endpoints.outputs[queue], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "0"


def test_a_customer_of_the_local_pool_is_a_real_cognito_user(shop: Shop) -> None:
    cognito = shop.client("cognito-idp")
    sub = ensure_user(cognito, shop.endpoints.user_pool_id, "customer@example.com", PASSWORD, "customers")
    claims = json.loads(base64.urlsafe_b64decode(shop.customer_token.split(".")[1] + "==").decode())
    assert claims["sub"] == sub
    assert claims["token_use"] == "id"


def test_the_demo_story_reaches_every_expected_state(shop: Shop) -> None:
    # Sign-up, cart, small/approved/rejected/declined orders, UNDELIVERABLE -> DLQ -> FAILED, TTL expiry.
    demo = play(shop.cloud)

    assert demo.failures == []
    assert len(demo.timeline) == 9


def test_an_order_beyond_the_stock_fails_out_of_stock_and_reserves_nothing(shop: Shop) -> None:
    before = requests.get(f"{shop.api}/products/limited-edition-cup", timeout=10).json()["available"]

    order = place(shop, "story-oos", [{"productId": "limited-edition-cup", "quantity": before + 1}])

    failed = wait_for(shop, order["orderId"], FINAL)
    assert (failed["status"], failed["failureReason"]) == ("FAILED", "OUT_OF_STOCK")
    assert requests.get(f"{shop.api}/products/limited-edition-cup", timeout=10).json()["available"] == before


def test_a_flaky_payment_provider_is_retried_until_the_order_ships(shop: Shop) -> None:
    order = place(shop, "story-flaky", [{"productId": "descaler", "quantity": 1}], paymentToken="tok_flaky")

    assert wait_for(shop, order["orderId"], FINAL)["status"] == "SHIPPED"


def test_a_cancel_while_awaiting_approval_ends_the_workflow_and_releases_the_stock(shop: Shop) -> None:
    before = requests.get(f"{shop.api}/products/burr-grinder", timeout=10).json()["available"]
    order = place(shop, "story-cancel", [{"productId": "burr-grinder", "quantity": 3}])
    wait_for(shop, order["orderId"], {"AWAITING_APPROVAL"})

    cancelled = requests.post(
        f"{shop.api}/orders/{order['orderId']}/cancel", headers=auth(shop.customer_token), timeout=10
    )

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    deadline = time.monotonic() + 30
    while requests.get(f"{shop.api}/products/burr-grinder", timeout=10).json()["available"] != before:
        assert time.monotonic() < deadline, "the stock of the cancelled order was never released"
        time.sleep(0.2)
    machine = str(shop.endpoints.outputs["OrderStateMachineArn"])
    execution = f"{machine.replace(':stateMachine:', ':execution:')}:{order['orderId']}"
    deadline = time.monotonic() + 30
    while shop.client("stepfunctions").describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the workflow still waits for an approval that will never come"
        time.sleep(0.2)
    assert shop.client("stepfunctions").describe_execution(executionArn=execution)["status"] == "SUCCEEDED"


def test_an_approval_nobody_answers_expires_and_the_order_is_rejected(
    shop: Shop, unanswered_order: dict[str, Any]
) -> None:
    # Placed at the start of the module: by now most of its 30 s have passed.
    rejected = wait_for(shop, unanswered_order["orderId"], FINAL, timeout=90)

    assert rejected["status"] == "REJECTED"
    pending = requests.get(f"{shop.api}/approvals", headers=auth(shop.approver_token), timeout=10).json()["items"]
    assert unanswered_order["orderId"] not in [approval["orderId"] for approval in pending]


def test_the_console_and_the_api_carry_the_cloudfront_security_headers(shop: Shop) -> None:
    page = requests.get(f"{shop.endpoints.console}/", timeout=10)
    api = requests.get(f"{shop.api}/products", timeout=10)

    for response in (page, api):
        assert response.status_code == 200
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    # As at the edge: a viewer-response function does not run on origin errors.
    assert "Content-Security-Policy" not in requests.get(f"{shop.api}/orders", timeout=10).headers


# -- The order history's lake, read once the story is over -------------------------------------------------------
# The Orders table's changes through its Kinesis stream, Firehose and the transformation function into gzip objects
# by day: every status change of every order is one row (counted per order and status, so a row lost or delivered
# twice shows); a malformed record is filed under the error prefix and counted; the template's Athena queries, run by
# DuckDB over the lake, agree with the table.


@pytest.fixture(scope="module")
def reading(shop: Shop) -> LakeReading:
    """Read last (the module's tests run in order): every order of the story is final by then."""
    return read_lake(shop.cloud)


def rows_objects(cloud: LocalCloud) -> list[tuple[str, list[bytes]]]:
    s3 = cloud.client("s3")
    bucket = lake_bucket(cloud)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=ROWS_PREFIX).get("Contents", [])]
    return [(key, gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).splitlines()) for key in keys]


def test_every_status_change_of_every_order_is_one_row_of_the_lake(shop: Shop, reading: LakeReading) -> None:
    cloud = shop.cloud
    orders = table_orders(cloud)
    changes = sum(len(order.history) for order in orders)

    assert len(orders) >= 5
    assert reading.check.whole
    assert reading.check.rows == changes
    assert reading.check.duplicated == {}
    assert reading.failed == 0
    # Partitioned by day, compressed, as Firehose names its objects.
    for key, _ in rows_objects(cloud):
        assert key.startswith("orders/dt=")
        assert key.endswith(".gz")


def test_a_row_lost_or_delivered_twice_between_the_table_and_the_lake_is_caught(
    shop: Shop, reading: LakeReading
) -> None:
    cloud = shop.cloud
    lines = [json.loads(line) for _, body in rows_objects(cloud) for line in body if line]
    orders = table_orders(cloud)

    lost = check_lake(orders, lines[1:])
    doubled = check_lake(orders, [*lines, lines[0]])

    assert lost.lost == ((lines[0]["orderId"], lines[0]["status"]),)
    assert not lost.whole
    assert doubled.duplicated == {(lines[0]["orderId"], lines[0]["status"]): 2}
    assert doubled.whole  # at least once is allowed: the queries count distinct orders


def test_the_named_queries_over_the_lake_agree_with_the_orders_table(shop: Shop, reading: LakeReading) -> None:
    names = [answer.name for answer in reading.answers]

    assert names == [
        "Sales per day",
        "Share of orders shipped and time to ship",
        "Failure reasons",
        "Abandoned carts (orders abandoned before payment)",
    ]
    assert reading.disagreements == []
    failures = {(r["status"], r["reason"]): r["orders"] for r in reading.answers[2].records()}
    declined = [
        o for o in table_orders(shop.cloud) if o.failure_reason and o.failure_reason.value == "PAYMENT_DECLINED"
    ]
    assert failures[("FAILED", "PAYMENT_DECLINED")] == len(declined) >= 1


def test_a_malformed_record_is_filed_under_the_error_prefix_and_counted(shop: Shop, reading: LakeReading) -> None:
    cloud = shop.cloud
    stream = str(cloud.physical_names("AWS::Kinesis::Stream")["OrderHistoryStream"])
    cloud.client("kinesis").put_record(StreamName=stream, Data=b"not a change", PartitionKey="rogue")

    again = read_lake(cloud)

    assert (again.failed, again.unreadable) == (1, 1)
    assert again.check.whole
    s3 = cloud.client("s3")
    [failed] = s3.list_objects_v2(Bucket=lake_bucket(cloud), Prefix=FAILED_PREFIX)["Contents"]
    body = gzip.decompress(s3.get_object(Bucket=lake_bucket(cloud), Key=failed["Key"])["Body"].read())
    [record] = [json.loads(line) for line in body.splitlines()]
    assert record["rawData"] == "bm90IGEgY2hhbmdl"  # base64 of the original bytes
    assert failed["Key"].startswith("errors/processing-failed/dt=")

"""Two local clouds in one process (localcloud.moto_hooks): each in an account of its own, with its own data, its own
functions behind moto's Lambda, SNS and Cognito, its own Step Functions callbacks; the first to stop takes nothing
of the second's with it.

Before the clouds had accounts of their own, the second cloud's start reset the first one's data (moto's reset is
process-wide), its functions replaced the first one's on moto's classes, and the first cloud's stop put moto's own
back: the second cloud's workflow then ran its Lambda tasks in Docker, and failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from moto.backends import get_backend

from localcloud import moto_hooks
from localcloud.client import DEFAULT_ADDRESS
from localcloud.cloud import LocalCloud
from localcloud.users import ensure_user, id_token
from tests.localcloud.conftest import PASSWORD
from tools.seed import seed

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

FINAL = {"SHIPPED", "DELIVERED", "CANCELLED", "REJECTED", "FAILED"}


class Running:
    def __init__(self, stack_name: str) -> None:
        # Bucket names are global, in moto as in S3: two stacks in one process need names of their own.
        self.cloud = LocalCloud(api_port=0, aws_port=0, stack_name=stack_name, log=lambda _: None)
        self.endpoints = self.cloud.start()
        seed(str(self.endpoints.outputs["CatalogTableName"]), self.cloud.client("dynamodb"))
        cognito = self.cloud.client("cognito-idp")
        ensure_user(cognito, self.endpoints.user_pool_id, "customer@example.com", PASSWORD, "customers")
        self.token = id_token(cognito, self.endpoints.user_pool_client_id, "customer@example.com", PASSWORD)

    def place(self, key: str) -> str:
        response = requests.post(
            f"{self.endpoints.api}/orders",
            json={"items": [{"productId": "scale", "quantity": 1}], "shippingAddress": DEFAULT_ADDRESS},
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": key},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        order_id: str = response.json()["orderId"]
        return order_id

    def orders(self) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.endpoints.api}/orders", headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def executions(self) -> list[str]:
        sfn = self.cloud.client("stepfunctions")
        machine = str(self.endpoints.outputs["OrderStateMachineArn"])
        return [execution["executionArn"] for execution in sfn.list_executions(stateMachineArn=machine)["executions"]]

    def final_status(self, order_id: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            status = str(
                requests.get(
                    f"{self.endpoints.api}/orders/{order_id}",
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=10,
                ).json()["status"]
            )
            if status in FINAL or time.monotonic() > deadline:
                return status
            time.sleep(0.2)


@pytest.fixture(scope="module")
def clouds() -> Iterator[tuple[Running, Running]]:
    first = second = None
    try:
        first = Running("shop")
        second = Running("shop-two")
        yield first, second
    finally:
        for running in (second, first):
            if running is not None:
                running.cloud.stop()


def test_each_cloud_has_an_account_and_data_of_its_own(clouds: tuple[Running, Running]) -> None:
    first, second = clouds
    assert first.cloud.account_id != second.cloud.account_id
    assert moto_hooks.clouds() == sorted([first.cloud.account_id, second.cloud.account_id])

    placed = first.place("two-clouds-data")

    assert [order["orderId"] for order in first.orders()] == [placed]
    assert second.orders() == []  # the same customer's e-mail, the same stack, another account
    tables = {cloud.cloud.account_id: cloud.cloud.client("dynamodb").list_tables()["TableNames"] for cloud in clouds}
    assert all(name.startswith("shop-") and not name.startswith("shop-two-") for name in tables[first.cloud.account_id])
    assert all(name.startswith("shop-two-") for name in tables[second.cloud.account_id])
    assert first.final_status(placed) == "SHIPPED"


def test_both_workflows_run_their_tasks_in_their_own_clouds_workers(clouds: tuple[Running, Running]) -> None:
    first, second = clouds
    orders = [(first, first.place("two-clouds-a")), (second, second.place("two-clouds-b"))]

    # A task sent to the other cloud's endpoint would meet an account without its function or queue, and fail.
    assert [running.final_status(order_id) for running, order_id in orders] == ["SHIPPED", "SHIPPED"]
    executions = [running.executions() for running in clouds]
    assert [len(found) for found in executions] == [2, 1]  # the first cloud's first test placed one before
    assert not set(executions[0]) & set(executions[1])


def test_a_sign_up_runs_the_post_confirmation_trigger_of_its_own_cloud(clouds: tuple[Running, Running]) -> None:
    _, second = clouds
    cognito = second.cloud.client("cognito-idp")
    email = "second-newcomer@example.com"
    cognito.sign_up(
        ClientId=second.endpoints.user_pool_client_id,
        Username=email,
        Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": email}],
    )
    cognito.confirm_sign_up(ClientId=second.endpoints.user_pool_client_id, Username=email, ConfirmationCode="1")

    groups = cognito.admin_list_groups_for_user(UserPoolId=second.endpoints.user_pool_id, Username=email)["Groups"]
    assert [group["GroupName"] for group in groups] == ["customers"]


def test_the_first_cloud_to_stop_leaves_the_second_working(clouds: tuple[Running, Running]) -> None:
    first, second = clouds
    first_account = first.cloud.account_id
    first.cloud.stop()

    assert moto_hooks.clouds() == [second.cloud.account_id]
    assert first_account not in get_backend("dynamodb")  # its data went with it
    order_id = second.place("two-clouds-after")
    assert second.final_status(order_id) == "SHIPPED"
    assert len(second.orders()) == 2  # nothing of the second cloud's went with the first

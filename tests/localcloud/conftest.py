"""The local cloud as a fixture: template.yaml running on moto, with workers, gateway and pollers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from localcloud.cloud import Endpoints, LocalCloud
from localcloud.users import ensure_user, id_token
from tools.seed import seed

PASSWORD = "Local-test-Passw0rd"


@dataclass
class Shop:
    """A running local cloud, seeded, with a signed-in customer and approver."""

    cloud: LocalCloud
    endpoints: Endpoints
    customer_token: str
    approver_token: str

    @property
    def api(self) -> str:
        return self.endpoints.api

    def client(self, service: str) -> Any:
        return self.cloud.client(service)

    def token_for(self, email: str, group: str) -> str:
        cognito = self.client("cognito-idp")
        ensure_user(cognito, self.endpoints.user_pool_id, email, PASSWORD, group)
        return id_token(cognito, self.endpoints.user_pool_client_id, email, PASSWORD)


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    # Module scope: moto's backends are process-wide, so the cloud must be gone before other tests' mock_aws.
    # Approvals expire after 30 s (the template allows 10): one test leaves an approval unanswered on purpose and
    # waits for it, while the others decide theirs within seconds.
    cloud = LocalCloud(api_port=0, aws_port=0, parameters={"ApprovalTimeoutSeconds": "30"}, log=lambda _: None)
    endpoints = cloud.start()
    try:
        seed(str(endpoints.outputs["CatalogTableName"]), cloud.client("dynamodb"))
        running = Shop(cloud=cloud, endpoints=endpoints, customer_token="", approver_token="")
        running.customer_token = running.token_for("customer@example.com", "customers")
        running.approver_token = running.token_for("approver@example.com", "admins")
        yield running
        # Every call a function made was one its execution role allows (localcloud.iam refuses the others).
        denied = {role: usage["denied"] for role, usage in cloud.iam.usage().items() if usage["denied"]}
        assert not denied, f"calls the execution roles refused: {json.dumps(denied, indent=1)}"
    finally:
        cloud.stop()

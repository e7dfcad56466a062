"""Another SAM template on the same emulator: nothing in localcloud knows about the shop."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from localcloud.cloud import LocalCloud

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])
TEMPLATE = Path(__file__).with_name("generic") / "template.yaml"


def test_a_different_template_runs_its_api_queue_and_table_unchanged() -> None:
    cloud = LocalCloud(
        template=TEMPLATE, stack_name="notes", api_port=0, parameters={"Greeting": "hi"}, log=lambda _: None
    )
    endpoints = cloud.start()
    try:
        response = requests.post(f"{endpoints.api}/notes", json={"text": "buy milk"}, timeout=30)
        assert response.status_code == 202, response.text
        assert response.json()["greeting"] == "hi from notes"

        cloud.drain()

        items = cloud.client("dynamodb").scan(TableName=endpoints.outputs["TableName"])["Items"]
        assert items == [{"id": {"S": response.json()["id"]}, "text": {"S": "buy milk"}}]
    finally:
        cloud.stop()

"""tools/seed_images.py: every demo product has an image in images/products/, uploaded as the original the edge
resizer reads, and each one comes back from the resizer as a variant."""

from __future__ import annotations

import base64
import copy
import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from tests.support.fixtures import load_function, read_event
from tools.seed import load_demo_catalog
from tools.seed_images import IMAGES, main

BUCKET = "shop-images-example"  # the bucket of events/image_resizer.json's origin


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_every_demo_product_has_one_small_image() -> None:
    files = {path.stem: path.stat().st_size for path in IMAGES.glob("*")}

    assert set(files) == {product.product_id for product in load_demo_catalog()}
    assert max(files.values()) < 20_000


def test_seeding_uploads_each_image_as_an_original_the_resizer_serves(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    resizer = load_function("image_resizer")

    assert main(["--bucket", BUCKET]) == 0

    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(keys) == sorted(f"originals/{product.product_id}" for product in load_demo_catalog())
    assert f"uploaded {len(keys)} product images" in capsys.readouterr().out
    for key in keys:
        event = copy.deepcopy(read_event("image_resizer"))
        event["Records"][0]["cf"]["request"]["uri"] = f"/images/320/webp/{key.removeprefix('originals/')}.webp"
        response = resizer.lambda_handler(event, None)
        assert response["status"] == "200", response["body"]
        assert Image.open(io.BytesIO(base64.b64decode(response["body"]))).size == (320, 240)

"""Product images on the local cloud: /images/* through the distribution's origin-request function (Lambda@Edge,
functions/image_resizer) in its worker, with CloudFront's event and the distribution's cache of each variant."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from tests.localcloud.conftest import Shop
from tools.seed_images import upload

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])


@pytest.fixture(scope="module")
def images(shop: Shop) -> str:
    """The demo catalog's originals in the stack's images bucket, as `make seed-images` puts them."""
    bucket = str(shop.endpoints.outputs["ImagesBucketName"])
    upload(bucket, shop.client("s3"))
    return bucket


def objects(shop: Shop, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in shop.client("s3").list_objects_v2(Bucket=bucket).get("Contents", []))


def test_a_variant_is_made_by_the_edge_function_then_served_from_the_distributions_cache(
    shop: Shop, images: str
) -> None:
    url = f"{shop.endpoints.console}/images/320/webp/scale.webp"
    before = objects(shop, images)

    first = requests.get(url, timeout=30)
    second = requests.get(url, timeout=30)

    assert first.status_code == 200, first.text
    assert first.headers["Content-Type"] == "image/webp"
    assert first.headers["X-Cache"] == "Miss from cloudfront"
    assert second.headers["X-Cache"] == "Hit from cloudfront"
    assert second.content == first.content
    picture = Image.open(io.BytesIO(first.content))
    assert (picture.format, picture.width, picture.height) == ("WEBP", 320, 240)
    assert objects(shop, images) == before  # the variant lives in the distribution's cache, not the bucket


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/images/333/webp/scale.webp", 400),  # a width not allowed
        ("/images/320/gif/scale.gif", 400),  # a format not allowed
        ("/images/320/webp/..%2F..%2Fsecret.webp", 400),  # traversal
        ("/images/320/webp/no-such-product.webp", 404),
    ],
)
def test_bad_image_requests_get_the_functions_error_and_are_never_cached(
    shop: Shop, images: str, path: str, status: int
) -> None:
    before = objects(shop, images)

    answers = [requests.get(f"{shop.endpoints.console}{path}", timeout=30) for _ in range(2)]

    assert [answer.status_code for answer in answers] == [status, status]
    assert [answer.headers["X-Cache"] for answer in answers] == ["Miss from cloudfront"] * 2
    assert answers[0].headers["Content-Type"].startswith("application/problem+json")
    assert objects(shop, images) == before


def test_the_api_and_the_console_are_not_the_edge_functions(shop: Shop, images: str) -> None:
    catalog = requests.get(f"{shop.api}/products", timeout=10)
    console = requests.get(f"{shop.endpoints.console}/", timeout=10)

    assert catalog.status_code == console.status_code == 200
    assert "X-Cache" not in catalog.headers
    assert "X-Cache" not in console.headers

"""The image resizer (Lambda@Edge, origin request of /images/*) against events in CloudFront's own shape, built from
events/image_resizer.json (the AWS docs' example origin-request event, with the distribution's S3 origin): every
allowed width and format comes back as that image, and every bad request gets its status and a sentence saying
why, with the images bucket exactly as it was."""

from __future__ import annotations

import base64
import copy
import io
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from tests.support.fixtures import load_function, read_event

BUCKET = "shop-images-example"  # the bucket of the sample event's origin (request.origin.s3.domainName)
PRODUCT = "espresso-beans-1kg"
ORIGINAL_SIZE = (1600, 1200)  # 4:3, wider than every allowed width
PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

resizer = load_function("image_resizer")


# ---------------------------------------------------------------------------------------------------------------
# Given
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def s3() -> Iterator[Any]:
    """The images bucket, holding the original of PRODUCT; returns an S3 client to read and fill it."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        put_original(client, PRODUCT, png(*ORIGINAL_SIZE))
        yield client


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    """A picture with detail in both directions, so that a resize has something to keep."""
    image = Image.new(mode, (width, height), "white" if mode != "1" else 1)
    if mode == "RGB":
        image.paste((200, 80, 30), (0, 0, width // 2, height // 2))
        image.paste((30, 90, 200), (width // 2, height // 2, width, height))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def put_original(client: Any, product_id: str, body: bytes) -> None:
    client.put_object(Bucket=BUCKET, Key=f"originals/{product_id}", Body=body)


def objects(client: Any) -> list[tuple[str, str, int]]:
    """Everything in the bucket: key, ETag and size of each object."""
    found = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sorted((item["Key"], item["ETag"], item["Size"]) for item in found)


def origin_request(uri: str) -> dict[str, Any]:
    """The sample origin-request event, asking for `uri`."""
    event = copy.deepcopy(read_event("image_resizer"))
    event["Records"][0]["cf"]["request"]["uri"] = uri
    return event


# ---------------------------------------------------------------------------------------------------------------
# When
# ---------------------------------------------------------------------------------------------------------------
def invoke(event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = resizer.lambda_handler(event, None)
    return response


def header(response: dict[str, Any], name: str) -> str:
    (entry,) = response["headers"][name.lower()]
    assert entry["key"].lower() == name.lower()
    return str(entry["value"])


def decoded(response: dict[str, Any]) -> Image.Image:
    assert response["bodyEncoding"] == "base64"
    return Image.open(io.BytesIO(base64.b64decode(response["body"])))


def refused(client: Any, uri: str, status: int, detail: str) -> dict[str, Any]:
    """Ask for `uri`: the answer is `status` in problem+json whose detail says `detail`, and nothing was written."""
    before = objects(client)

    response = invoke(origin_request(uri))

    problem = json.loads(response["body"])
    assert response["status"] == str(status), problem
    assert header(response, "Content-Type") == "application/problem+json"
    assert response["bodyEncoding"] == "text"
    assert problem["status"] == status
    assert problem["title"] == response["statusDescription"]
    assert detail in problem["detail"], problem["detail"]
    assert objects(client) == before
    return problem


# ---------------------------------------------------------------------------------------------------------------
# Variants
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("image_format", sorted(PIL_FORMATS))
@pytest.mark.parametrize("width", [160, 320, 640, 1280])
def test_each_allowed_width_and_format_is_that_image(s3: Any, width: int, image_format: str) -> None:
    before = objects(s3)

    response = invoke(origin_request(f"/images/{width}/{image_format}/{PRODUCT}.{image_format}"))

    image = decoded(response)
    assert response["status"] == "200"
    assert image.format == PIL_FORMATS[image_format]
    assert image.size == (width, width * 3 // 4)  # 4:3 kept
    assert header(response, "Content-Type") == CONTENT_TYPES[image_format]
    assert "s-maxage=31536000" in header(response, "Cache-Control")
    assert objects(s3) == before


def test_the_sample_event_gets_the_320_px_webp_of_its_product(s3: Any) -> None:
    event = read_event("image_resizer")

    response = invoke(event)

    assert event["Records"][0]["cf"]["config"]["eventType"] == "origin-request"
    assert response["status"] == "200"
    assert decoded(response).size == (320, 240)


def test_an_original_of_another_shape_keeps_its_aspect_ratio(s3: Any) -> None:
    put_original(s3, "long-shelf", png(1500, 500))

    image = decoded(invoke(origin_request("/images/640/png/long-shelf.png")))

    assert image.size == (640, 213)  # 3:1, rounded


def test_an_original_narrower_than_the_width_is_not_enlarged(s3: Any) -> None:
    put_original(s3, "small-cup", png(200, 150))

    image = decoded(invoke(origin_request("/images/1280/jpeg/small-cup.jpeg")))

    assert image.size == (200, 150)


def test_a_transparent_original_becomes_an_opaque_jpeg(s3: Any) -> None:
    put_original(s3, "glass", png(400, 300, mode="RGBA"))

    image = decoded(invoke(origin_request("/images/160/jpeg/glass.jpeg")))

    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (160, 120))


# ---------------------------------------------------------------------------------------------------------------
# Bad requests: 400, nothing read or written
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", ["100", "1281", "0", "320px", "-320"])
def test_a_width_not_allowed_is_a_400_naming_the_allowed_ones(s3: Any, width: str) -> None:
    problem = refused(s3, f"/images/{width}/webp/{PRODUCT}.webp", 400, f"width {width} is not allowed")

    assert "160, 320, 640, 1280" in problem["detail"]
    assert problem["type"] == "urn:problem:order-fulfillment:image-path"


@pytest.mark.parametrize("image_format", ["gif", "avif", "WEBP", "tiff"])
def test_a_format_not_allowed_is_a_400_naming_the_allowed_ones(s3: Any, image_format: str) -> None:
    problem = refused(
        s3, f"/images/320/{image_format}/{PRODUCT}.{image_format}", 400, f"format {image_format} is not allowed"
    )

    assert "jpeg, png, webp" in problem["detail"]


@pytest.mark.parametrize("uri", ["/", "/index.html", "/api/products", "/imagesx/320/webp/a.webp", "/Images/320/p.png"])
def test_a_path_outside_images_is_a_400(s3: Any, uri: str) -> None:
    refused(s3, uri, 400, "is not an image path: only /images/... is served here")


@pytest.mark.parametrize(
    ("uri", "detail"),
    [
        ("/images/320/webp/../../secret", "may not contain empty, '.' or '..' segments"),
        ("/images/320/../../originals/secret", "may not contain empty, '.' or '..' segments"),
        ("/images/320/webp/./espresso-beans-1kg.webp", "may not contain empty, '.' or '..' segments"),
        ("/images/320/webp/%2e%2e/%2e%2e/secret.webp", "percent-encoded"),
        ("/images/320/webp/%2E%2E%2Fsecret.webp", "percent-encoded"),
        ("/images/320/webp/..%2F..%2Fsecret.webp", "percent-encoded"),
        ("/images/320/webp/originals%2Fsecret.webp", "percent-encoded"),
        ("/images/320/webp/..\\secret.webp", "backslashes"),
        ("/images//320/webp/espresso-beans-1kg.webp", "may not contain empty, '.' or '..' segments"),
        ("/images/320/webp//etc/passwd", "may not contain empty, '.' or '..' segments"),
    ],
)
def test_traversal_is_a_400_and_reads_nothing_outside_the_originals(s3: Any, uri: str, detail: str) -> None:
    s3.put_object(Bucket=BUCKET, Key="secret", Body=png(400, 300))

    refused(s3, uri, 400, detail)


@pytest.mark.parametrize(
    ("uri", "detail"),
    [
        ("/images/320/webp/espresso-beans-1kg.png", "a webp image ends in .webp"),
        ("/images/320/jpeg/espresso-beans-1kg.jpg", "a jpeg image ends in .jpeg"),
        ("/images/320/webp/espresso-beans-1kg", "is not {productId}.webp"),
        ("/images/320/webp/espresso beans.webp", "is not {productId}.webp"),
        ("/images/320/webp/" + "x" * 65 + ".webp", "is not {productId}.webp"),
        ("/images/320/webp", "is /images/{width}/{format}/{productId}.{format}"),
        ("/images/320/webp/a/b.webp", "is /images/{width}/{format}/{productId}.{format}"),
    ],
)
def test_a_malformed_name_is_a_400_saying_what_an_image_path_is(s3: Any, uri: str, detail: str) -> None:
    refused(s3, uri, 400, detail)


# ---------------------------------------------------------------------------------------------------------------
# The original: missing, not an image, over the limits
# ---------------------------------------------------------------------------------------------------------------
def test_a_product_without_an_original_is_a_404(s3: Any) -> None:
    problem = refused(s3, "/images/320/webp/no-such-product.webp", 404, "originals/no-such-product is not in")

    assert problem["type"] == "urn:problem:order-fulfillment:image-not-found"


@pytest.mark.parametrize(
    "body",
    [
        b"just some text, not a picture",
        b"%PDF-1.7\n" + os.urandom(256),
        png(64, 64)[:60],  # a PNG's signature and header, then nothing
    ],
    ids=["text", "pdf", "truncated png"],
)
def test_a_file_that_is_not_an_image_is_a_415(s3: Any, body: bytes) -> None:
    put_original(s3, "broken", body)

    problem = refused(s3, "/images/320/png/broken.png", 415, "not a")

    assert problem["type"] == "urn:problem:order-fulfillment:not-an-image"


def test_an_image_in_a_format_not_taken_for_originals_is_a_415(s3: Any) -> None:
    out = io.BytesIO()
    Image.new("RGB", (64, 64)).save(out, format="GIF")
    put_original(s3, "animated", out.getvalue())

    refused(s3, "/images/160/webp/animated.webp", 415, "not a PNG, JPEG or WebP image")


def test_an_original_over_the_byte_limit_is_a_422_before_it_is_decoded(s3: Any) -> None:
    put_original(s3, "huge", png(16, 16) + bytes(resizer.MAX_ORIGINAL_BYTES))

    problem = refused(s3, "/images/320/webp/huge.webp", 422, f"over the limit of {resizer.MAX_ORIGINAL_BYTES}")

    assert problem["type"] == "urn:problem:order-fulfillment:image-over-limit"


@pytest.mark.parametrize(
    ("size", "detail"),
    [
        ((6001, 4000), "6001 x 4000 = 24004000 pixels, over 24000000"),  # just over: the resizer's own check
        ((7000, 7000), "over twice the limit of 24000000 pixels"),  # a bomb: Pillow refuses it from the header
    ],
)
def test_a_decompression_bomb_is_a_422_refused_from_its_header(s3: Any, size: tuple[int, int], detail: str) -> None:
    bomb = png(*size, mode="1")  # a few kilobytes that would decode to tens of megapixels
    put_original(s3, "bomb", bomb)

    refused(s3, "/images/160/webp/bomb.webp", 422, detail)

    assert len(bomb) < 100_000


def test_a_variant_over_lambda_at_edge_response_limit_is_a_422(s3: Any) -> None:
    noise = Image.frombytes("RGB", ORIGINAL_SIZE, os.urandom(ORIGINAL_SIZE[0] * ORIGINAL_SIZE[1] * 3))
    out = io.BytesIO()
    noise.save(out, format="PNG")
    put_original(s3, "noise", out.getvalue())

    refused(s3, "/images/1280/png/noise.png", 422, "over what Lambda@Edge may return (1000000 bytes")


# ---------------------------------------------------------------------------------------------------------------
# The bucket comes from the event's origin (no environment variables at the edge)
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("s3_origin", "bucket"),
    [
        (
            {"domainName": "shop-images-example.s3.us-east-1.amazonaws.com", "region": "us-east-1"},
            ("shop-images-example", "us-east-1"),
        ),
        ({"domainName": "shop-images-example.s3.eu-west-1.amazonaws.com"}, ("shop-images-example", "eu-west-1")),
        (
            {"domainName": "shop-images-example.s3.amazonaws.com", "authMethod": "none"},
            ("shop-images-example", "us-east-1"),
        ),
        (
            {"domainName": "shop-images-example.s3.amazonaws.com", "region": "ap-south-1"},
            ("shop-images-example", "ap-south-1"),
        ),
    ],
)
def test_the_bucket_and_its_region_come_from_the_s3_origin(s3_origin: dict[str, str], bucket: tuple[str, str]) -> None:
    found = resizer.images_bucket({"origin": {"s3": s3_origin}})

    assert (found.name, found.region) == bucket


@pytest.mark.parametrize(
    "origin",
    [
        {"custom": {"domainName": "example.org", "port": 443, "protocol": "https"}},
        {"s3": {"domainName": "example.org"}},
        {},
    ],
    ids=["custom origin", "not an S3 domain", "no origin"],
)
def test_an_origin_that_is_not_a_bucket_is_an_error_not_a_viewers_4xx(origin: dict[str, Any]) -> None:
    event = read_event("image_resizer")
    event["Records"][0]["cf"]["request"]["origin"] = origin

    with pytest.raises(resizer.OriginMisconfigured, match="not an S3 bucket"):
        invoke(event)

"""Product images resized at the edge: a Lambda@Edge function on the origin-request trigger of the distribution's
`/images/*` behaviour, answering `GET /images/{width}/{format}/{productId}.{format}` with the product's original
(S3 key `originals/{productId}`) resized to at most that width and re-encoded, which CloudFront then caches.

Why origin request: it runs only on a cache miss, after CloudFront has looked in its caches and before it calls the
origin, and CloudFront caches the response it generates like an origin's. The function answers every miss itself,
so CloudFront never asks S3 for a variant that does not exist (an origin-response design pays that 403 round trip
on every first request of a variant and must then store the variant back, with s3:PutObject). Nothing is written
anywhere, so bad input cannot write anything either; the role reads `originals/*` and nothing else.

What Lambda@Edge allows, and this module relies on (CloudFront Developer Guide, "Restrictions on Lambda@Edge" and
"Quotas on Lambda@Edge"):
- no environment variables and no layers: the bucket is read from the event (`request.origin.s3.domainName`, the
  distribution's images origin), the limits below are constants, and Pillow ships in this function's own package
  (requirements.txt); no Powertools, which lives in the shop's layer;
- a numbered version, created in us-east-1 (template.yaml: AutoPublishAlias, the CreateImageResizer condition);
  x86_64, no X-Ray, no provisioned concurrency, no SnapStart, no VPC;
- origin-request functions: at most 30 s (the template gives 15 s) and Lambda's memory range; a response the function
  generates, headers and body, at most 1 MB, its binary body base64-encoded (RESPONSE_LIMIT_BYTES);
- the function runs in the regional edge cache's Region, not the bucket's: the S3 client is made for the bucket's
  Region, taken from the origin in the event.

Statuses (application/problem+json, as the API's errors): 400 for a path that is not an allowed variant (outside
/images/, a width or format not allowed, traversal or encoded characters, a malformed name), 404 for a product
without an original, 415 for an original that is not a PNG, JPEG or WebP image, 422 for an original over the byte
or pixel limit or a variant over the response limit: the request is well formed, but what it names cannot be
processed (413 is for a request's own content, and these requests have none).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import warnings
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from typing import Any, Final

import boto3
from botocore.exceptions import ClientError
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

IMAGES_PREFIX: Final = "/images/"
ORIGINALS_PREFIX: Final = "originals/"
WIDTHS: Final = (160, 320, 640, 1280)
# format in the URL -> (Pillow's encoder, Content-Type). The URL's extension is the format's name, so that each
# variant has exactly one URL, hence one cache entry.
FORMATS: Final = {"jpeg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png"), "webp": ("WEBP", "image/webp")}
# What an original may be: formats whose decoders are mature; anything else is "not an image" here.
ORIGINAL_FORMATS: Final = ("PNG", "JPEG", "WEBP")
# A product id as the catalog defines it (shop.domain.models.ProductId; the layer is not available here).
PRODUCT_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
FILE_NAME: Final = re.compile(r"(?P<product_id>[^./]+)\.(?P<extension>[^./]+)")

# An original larger than this is refused before it is read: 15 MB covers a high-quality camera JPEG.
MAX_ORIGINAL_BYTES: Final = 15 * 1000 * 1000
# Decoded pixels (24 MP, 6000 x 4000): a decompression bomb is refused from its header, before it is decoded.
# Pillow's own guard is set to the same figure: it raises DecompressionBombError above twice this, and only warns
# between, which the explicit check below turns into a refusal.
MAX_PIXELS: Final = 24_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Lambda@Edge's limit for a generated origin-request response (1 MB, headers and body), less room for the status
# line and headers; the body counts base64-encoded.
RESPONSE_LIMIT_BYTES: Final = 1_000_000
HEADERS_ALLOWANCE_BYTES: Final = 4_096

# A variant never changes while its original stays: CloudFront keeps it a year (invalidate /images/* after
# replacing an original), browsers a day. Refusals are cached briefly: an original may be uploaded soon after.
VARIANT_CACHE_CONTROL: Final = "public, max-age=86400, s-maxage=31536000"
REFUSAL_CACHE_CONTROL: Final = "public, max-age=60"
PROBLEM_TYPE_BASE: Final = "urn:problem:order-fulfillment:"
QUALITY: Final = 82  # JPEG and WebP: visually lossless for product photos at a third of the bytes


# ---------------------------------------------------------------------------------------------------------------
# Refusals: each becomes one response, in problem_response
# ---------------------------------------------------------------------------------------------------------------
class ImageRefused(Exception):
    """A request this function answers with a 4xx; `detail` says what was wrong, in a sentence."""

    status: HTTPStatus = HTTPStatus.BAD_REQUEST
    kind: str = "image-path"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadImagePath(ImageRefused):
    status = HTTPStatus.BAD_REQUEST
    kind = "image-path"


class OriginalMissing(ImageRefused):
    status = HTTPStatus.NOT_FOUND
    kind = "image-not-found"


class NotAnImage(ImageRefused):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    kind = "not-an-image"


class OverLimit(ImageRefused):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    kind = "image-over-limit"


class OriginMisconfigured(Exception):
    """The behaviour's origin is not an S3 bucket: a template error, not the viewer's (CloudFront answers 502)."""


# ---------------------------------------------------------------------------------------------------------------
# The request: which variant of which product
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    width: int
    format: str
    product_id: str

    @property
    def original_key(self) -> str:
        return f"{ORIGINALS_PREFIX}{self.product_id}"


def parse_variant(uri: str) -> Variant:
    """The variant a request URI names, or BadImagePath saying why it names none. The URI is CloudFront's, as the
    viewer sent it (percent-encoding kept): anything encoded, any `..` or empty segment is refused outright, so no
    decoding can turn an allowed-looking path into another key."""
    if not uri.startswith(IMAGES_PREFIX):
        raise BadImagePath(f"{uri} is not an image path: only {IMAGES_PREFIX}... is served here")
    if "%" in uri or "\\" in uri:
        raise BadImagePath("an image path may not contain percent-encoded characters or backslashes")
    segments = uri[len(IMAGES_PREFIX) :].split("/")
    if any(segment in {"", ".", ".."} for segment in segments):
        raise BadImagePath("an image path may not contain empty, '.' or '..' segments")
    if len(segments) != 3:  # width, format, file name
        raise BadImagePath("an image path is /images/{width}/{format}/{productId}.{format}")
    width_text, image_format, file_name = segments
    allowed_widths = ", ".join(str(width) for width in WIDTHS)
    if not width_text.isdigit() or int(width_text) not in WIDTHS:
        raise BadImagePath(f"width {width_text} is not allowed; the widths are {allowed_widths}")
    if image_format not in FORMATS:
        raise BadImagePath(f"format {image_format} is not allowed; the formats are {', '.join(sorted(FORMATS))}")
    match = FILE_NAME.fullmatch(file_name)
    if match is None or PRODUCT_ID.fullmatch(match["product_id"]) is None:
        raise BadImagePath(f"{file_name} is not {{productId}}.{image_format} with a product id of 1-64 A-Z a-z 0-9 _ -")
    if match["extension"] != image_format:
        raise BadImagePath(
            f"the file name ends in .{match['extension']}; a {image_format} image ends in .{image_format}"
        )
    return Variant(width=int(width_text), format=image_format, product_id=match["product_id"])


@dataclass(frozen=True)
class Bucket:
    name: str
    region: str


_S3_DOMAIN = re.compile(
    r"(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\.s3(?:[.-](?P<region>[a-z]{2}(?:-[a-z]+)+-\d))?\.amazonaws\.com"
)


def images_bucket(request: dict[str, Any]) -> Bucket:
    """The bucket of the behaviour's S3 origin (no environment variables at the edge): its name from the origin's
    domain name, its Region from the origin (or that domain name; us-east-1 for the global endpoint)."""
    s3_origin = request.get("origin", {}).get("s3")
    match = _S3_DOMAIN.fullmatch(str((s3_origin or {}).get("domainName", "")))
    if s3_origin is None or match is None:
        raise OriginMisconfigured(f"the /images/* origin is not an S3 bucket: {request.get('origin')}")
    region = s3_origin.get("region") or match["region"] or "us-east-1"
    return Bucket(name=match["bucket"], region=str(region))


# ---------------------------------------------------------------------------------------------------------------
# The originals (S3) and the resizing (Pillow)
# ---------------------------------------------------------------------------------------------------------------
@cache
def _s3_client(region: str) -> Any:
    return boto3.client("s3", region_name=region)


class OriginalImages:
    """Reads originals from the images bucket. `client_for` gives the S3 client of a Region (injectable)."""

    def __init__(self, client_for: Any = _s3_client) -> None:
        self._client_for = client_for

    def read(self, bucket: Bucket, key: str) -> bytes:
        if key.startswith("/") or not key.startswith(ORIGINALS_PREFIX):  # an absolute or foreign key: a bug here
            raise ValueError(f"refusing to read {key!r}: not a key under {ORIGINALS_PREFIX}")
        try:
            found = self._client_for(bucket.region).get_object(Bucket=bucket.name, Key=key)
        except ClientError as exc:
            # NoSuchKey needs s3:ListBucket (granted); without it S3 answers AccessDenied, which stays an error.
            if exc.response.get("Error", {}).get("Code") == "NoSuchKey":
                raise OriginalMissing(f"no image for this product: {key} is not in the images bucket") from exc
            raise
        body = found["Body"]
        with body:
            if int(found.get("ContentLength", 0)) > MAX_ORIGINAL_BYTES:
                raise OverLimit(
                    f"the original is {found['ContentLength']} bytes, over the limit of {MAX_ORIGINAL_BYTES}"
                )
            data: bytes = body.read(MAX_ORIGINAL_BYTES + 1)
        if len(data) > MAX_ORIGINAL_BYTES:
            raise OverLimit(f"the original is over the limit of {MAX_ORIGINAL_BYTES} bytes")
        return data


def _open_original(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():  # between MAX_PIXELS and twice it Pillow only warns: refused just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ORIGINAL_FORMATS)
    except UnidentifiedImageError as exc:
        raise NotAnImage("the original is not a PNG, JPEG or WebP image") from exc
    except Image.DecompressionBombError as exc:
        raise OverLimit(f"the original has over twice the limit of {MAX_PIXELS} pixels") from exc
    pixels = image.width * image.height
    if pixels > MAX_PIXELS:
        raise OverLimit(f"the original is {image.width} x {image.height} = {pixels} pixels, over {MAX_PIXELS}")
    try:
        image.load()
    except OSError as exc:  # Pillow's decoders report a truncated or corrupt file as OSError
        raise NotAnImage(f"the original is not a readable {image.format} image: {exc}") from exc
    return image


def render(data: bytes, variant: Variant) -> bytes:
    """The original resized to at most the variant's width (never enlarged; the aspect ratio kept), in its format."""
    image = ImageOps.exif_transpose(_open_original(data))
    if image.width > variant.width:
        height = max(1, round(image.height * variant.width / image.width))
        image = image.resize((variant.width, height), Image.Resampling.LANCZOS)
    encoder, _ = FORMATS[variant.format]
    if encoder == "JPEG" and image.mode not in {"RGB", "L"}:
        image = image.convert("RGB")  # JPEG has no alpha channel: flattened (transparent areas become black)
    elif image.mode not in {"RGB", "RGBA", "L", "LA"}:
        image = image.convert("RGBA")  # palette and other modes: encoded as full colour
    out = io.BytesIO()
    options: dict[str, Any] = {"optimize": True} if encoder != "WEBP" else {"method": 4}
    if encoder != "PNG":
        options["quality"] = QUALITY
    image.save(out, format=encoder, **options)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------------------------
# Responses in CloudFront's shape for a generated origin-request response
# ---------------------------------------------------------------------------------------------------------------
def _headers(content_type: str, cache_control: str) -> dict[str, list[dict[str, str]]]:
    return {
        "content-type": [{"key": "Content-Type", "value": content_type}],
        "cache-control": [{"key": "Cache-Control", "value": cache_control}],
    }


def variant_response(encoded: bytes, variant: Variant) -> dict[str, Any]:
    body = base64.b64encode(encoded).decode("ascii")
    if len(body) > RESPONSE_LIMIT_BYTES - HEADERS_ALLOWANCE_BYTES:
        raise OverLimit(
            f"the {variant.width} px {variant.format} image is {len(encoded)} bytes, over what Lambda@Edge may "
            f"return ({RESPONSE_LIMIT_BYTES} bytes, base64-encoded); ask for a smaller width or for webp or jpeg"
        )
    _, content_type = FORMATS[variant.format]
    return {
        "status": "200",
        "statusDescription": "OK",
        "headers": _headers(content_type, VARIANT_CACHE_CONTROL),
        "body": body,
        "bodyEncoding": "base64",
    }


def problem_response(refusal: ImageRefused) -> dict[str, Any]:
    """The one place a refusal becomes a response: RFC 9457 problem details, cached briefly."""
    problem = {
        "type": f"{PROBLEM_TYPE_BASE}{refusal.kind}",
        "title": refusal.status.phrase,
        "status": refusal.status.value,
        "detail": refusal.detail,
    }
    return {
        "status": str(refusal.status.value),
        "statusDescription": refusal.status.phrase,
        "headers": _headers("application/problem+json", REFUSAL_CACHE_CONTROL),
        "body": json.dumps(problem, separators=(",", ":")),
        "bodyEncoding": "text",
    }


# ---------------------------------------------------------------------------------------------------------------
# The handler
# ---------------------------------------------------------------------------------------------------------------
originals = OriginalImages()


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    request = event["Records"][0]["cf"]["request"]
    bucket = images_bucket(request)
    try:
        variant = parse_variant(request["uri"])
        response = variant_response(render(originals.read(bucket, variant.original_key), variant), variant)
    except ImageRefused as refusal:
        logger.info("image refused", extra={"uri": request["uri"], "status": refusal.status.value})
        return problem_response(refusal)
    logger.info("image resized", extra={"uri": request["uri"], "bucket": bucket.name})
    return response

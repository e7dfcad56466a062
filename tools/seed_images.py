"""Upload the demo catalog's product images (images/products/<productId>.png) to the images bucket as originals
(`originals/<productId>`), where the edge resizer reads them (docs/images.md).

    python -m tools.seed_images --stack order-fulfillment-dev       # the stack's ImagesBucketName output
    AWS_ENDPOINT_URL=http://127.0.0.1:4566 python -m tools.seed_images --bucket <name>
    python -m tools.seed_images --draw                               # redraw images/products/ from the catalog

The pictures are drawn, not photographed: a flat background of a colour derived from the product id and the
product's name, a few kilobytes each, so the repository stays small.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path
from typing import Any

import boto3
from PIL import Image, ImageDraw

from tools.seed import load_demo_catalog

IMAGES = Path(__file__).resolve().parents[1] / "images" / "products"
ORIGINALS_PREFIX = "originals/"
SIZE = (1280, 960)  # as wide as the widest variant, 4:3


def draw(product_id: str, name: str) -> bytes:
    """A flat picture naming the product, in a colour of its own (the same on every run)."""
    red, green, blue = hashlib.sha256(product_id.encode()).digest()[:3]
    background = (96 + red % 128, 96 + green % 128, 96 + blue % 128)
    image = Image.new("RGB", SIZE, background)
    canvas = ImageDraw.Draw(image)
    width, height = SIZE
    canvas.ellipse((width // 4, height // 6, 3 * width // 4, 5 * height // 6), fill=(250, 248, 244))
    canvas.text((width // 2, height // 2), name, fill=(40, 40, 40), anchor="mm", font_size=56)
    out = io.BytesIO()
    image.quantize(colors=16).save(out, format="PNG", optimize=True)
    return out.getvalue()


def draw_all(directory: Path = IMAGES) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for product in load_demo_catalog():
        path = directory / f"{product.product_id}.png"
        path.write_bytes(draw(product.product_id, product.name))
        written.append(path)
    return written


def images_bucket_of_stack(stack_name: str) -> str:
    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "ImagesBucketName":
            return str(output["OutputValue"])
    raise SystemExit(f"stack {stack_name} has no ImagesBucketName output")


def upload(bucket: str, client: Any = None, directory: Path = IMAGES) -> list[str]:
    """Put every image of `directory` into the bucket as originals/<file name without .png>; returns the keys."""
    s3 = client or boto3.client("s3")
    keys = []
    for path in sorted(directory.glob("*.png")):
        key = f"{ORIGINALS_PREFIX}{path.stem}"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType="image/png")
        keys.append(key)
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="a deployed stack; its ImagesBucketName output gets the images")
    target.add_argument("--bucket", help="the images bucket's name")
    target.add_argument("--draw", action="store_true", help="redraw images/products/ from the demo catalog")
    args = parser.parse_args(argv)
    if args.draw:
        print(f"drew {len(draw_all())} images into {IMAGES}")
        return 0
    bucket = args.bucket or images_bucket_of_stack(args.stack)
    keys = upload(bucket)
    print(f"uploaded {len(keys)} product images to s3://{bucket}/{ORIGINALS_PREFIX}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Publish the web console of a deployed stack: write its config.json from the stack's outputs, upload web/ to
the console bucket, and invalidate CloudFront's copies of the files that must never be stale.

    python -m tools.publish_console --stack order-fulfillment-dev
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
from pathlib import Path
from typing import Any

import boto3

WEB = Path(__file__).resolve().parent.parent / "web"
# Fetched on every visit: a cached old copy would point the console at old settings or old code.
NO_CACHE = {"index.html", "config.json"}


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {output["OutputKey"]: str(output["OutputValue"]) for output in described.get("Outputs", [])}


def console_config(outputs: dict[str, str], region: str) -> dict[str, str]:
    """The console's settings: the API under /api and Cognito under /cognito, both on the console's own origin
    (the distribution's behaviours); the live updates' WebSocket API on its own, the one other host its
    Content-Security-Policy allows (edge/viewer-response.js)."""
    return {
        "apiBase": "/api",
        "region": region,
        "userPoolId": outputs["UserPoolId"],
        "userPoolClientId": outputs["UserPoolClientId"],
        "cognitoEndpoint": "/cognito",
        "webSocketUrl": outputs["WebSocketUrl"],
    }


def publish(*, s3: Any, cloudfront: Any, outputs: dict[str, str], region: str, web: Path = WEB) -> list[str]:
    """Upload every file of `web` plus config.json; returns the keys written."""
    bucket = outputs["ConsoleBucketName"]
    files = {path.relative_to(web).as_posix(): path.read_bytes() for path in sorted(web.rglob("*")) if path.is_file()}
    files["config.json"] = json.dumps(console_config(outputs, region), indent=2).encode()
    for key, body in files.items():
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        cache = "no-cache" if key in NO_CACHE else "public, max-age=300"
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, CacheControl=cache)
    cloudfront.create_invalidation(
        DistributionId=outputs["DistributionId"],
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"publish-console-{time.time_ns()}",
        },
    )
    return sorted(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", required=True, help="the deployed stack (its outputs name the bucket and pool)")
    args = parser.parse_args(argv)
    session = boto3.session.Session()
    outputs = stack_outputs(session.client("cloudformation"), args.stack)
    keys = publish(
        s3=session.client("s3"),
        cloudfront=session.client("cloudfront"),
        outputs=outputs,
        region=str(session.region_name),
    )
    print(f"published {len(keys)} files to s3://{outputs['ConsoleBucketName']}; console at {outputs['ConsoleUrl']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

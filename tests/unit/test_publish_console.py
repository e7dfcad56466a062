"""Publishing the console of a deployed stack: config.json from the stack's outputs, web/ to the bucket."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tools.publish_console import WEB, console_config, publish

OUTPUTS = {
    "ConsoleBucketName": "console-bucket",
    "UserPoolId": "us-east-1_abc",
    "UserPoolClientId": "client123",
    "ConsoleUrl": "https://d111.cloudfront.net",
    "WebSocketUrl": "wss://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/live",
}


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="console-bucket")
        cloudfront = boto3.client("cloudfront")
        distribution = cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": "test",
                "Comment": "",
                "Enabled": True,
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "o",
                            "DomainName": "console-bucket.s3.amazonaws.com",
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        }
                    ],
                },
                "DefaultCacheBehavior": {
                    "TargetOriginId": "o",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
                },
            }
        )["Distribution"]
        yield s3, cloudfront, {**OUTPUTS, "DistributionId": distribution["Id"]}


def test_every_console_file_and_its_config_are_uploaded_with_their_types(aws: Any) -> None:
    s3, cloudfront, outputs = aws

    keys = publish(s3=s3, cloudfront=cloudfront, outputs=outputs, region="us-east-1")

    expected = {path.relative_to(WEB).as_posix() for path in WEB.rglob("*") if path.is_file()} | {"config.json"}
    assert set(keys) == expected
    index = s3.get_object(Bucket="console-bucket", Key="index.html")
    assert index["ContentType"] == "text/html"
    assert index["CacheControl"] == "no-cache"
    assert s3.get_object(Bucket="console-bucket", Key="app.js")["Body"].read() == (WEB / "app.js").read_bytes()
    config = json.loads(s3.get_object(Bucket="console-bucket", Key="config.json")["Body"].read())
    assert config == console_config(outputs, "us-east-1")
    assert config["apiBase"] == "/api"
    assert config["cognitoEndpoint"] == "/cognito"  # the distribution's behaviour: CSP connect-src 'self'
    assert config["region"] == "us-east-1"
    assert config["webSocketUrl"] == "wss://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/live"  # as output


def test_publishing_invalidates_the_distributions_copies(aws: Any) -> None:
    s3, cloudfront, outputs = aws

    publish(s3=s3, cloudfront=cloudfront, outputs=outputs, region="us-east-1")

    invalidations = cloudfront.list_invalidations(DistributionId=outputs["DistributionId"])["InvalidationList"]
    assert invalidations["Quantity"] == 1

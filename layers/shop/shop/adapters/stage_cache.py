"""The REST API stage's response cache, which API Gateway empties as a whole (FlushStageCache).

Throttling becomes the domain's Throttled (the caller's batch is retried); any other refusal (a missing grant, a
stage without a cache cluster) is a fault and propagates as it is.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError

from shop.domain.errors import Throttled

THROTTLING_CODES = frozenset({"TooManyRequestsException", "LimitExceededException"})


class StageCache:
    def __init__(self, rest_api_id: str, stage_name: str, client: Any | None = None) -> None:
        self.rest_api_id = rest_api_id
        self.stage_name = stage_name
        self._client = client

    @property
    def client(self) -> Any:
        # Built on first use: a batch that changes nothing a reader sees never pays for it.
        if self._client is None:
            self._client = boto3.client("apigateway")
        return self._client

    def flush(self) -> None:
        try:
            self.client.flush_stage_cache(restApiId=self.rest_api_id, stageName=self.stage_name)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in THROTTLING_CODES:
                raise Throttled(f"API Gateway throttled the flush of stage {self.stage_name} ({code})") from exc
            raise

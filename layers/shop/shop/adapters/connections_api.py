"""API Gateway's @connections API of the WebSocket stage: post a message to one connection.

Its errors become the domain's: 410 is ConnectionGone; a refusal that leaves nothing delivered (throttled, the
endpoint unreachable) is DeliveryRefused, which may be tried again; a message sent whose answer never came (a read
time-out, a 5xx) is DeliveryUncertain. Anything else (403 for a missing grant, a malformed request) is a fault and
propagates as it is.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from shop.domain.live import ConnectionGone, DeliveryRefused, DeliveryUncertain

REFUSALS = frozenset({"LimitExceededException", "TooManyRequestsException", "ThrottlingException"})

# No SDK retries: a retried POST after a read time-out would be a second copy of the message on the client's
# screen. Whether to send again is decided by the caller, which knows what was delivered.
_CLIENT_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5)


def management_client(endpoint_url: str) -> Any:
    """A client of the stage's @connections API (https://{api-id}.execute-api.{region}.amazonaws.com/{stage}).

    The SDK's own setting for this service's endpoint, AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI, wins when it is set,
    as it would for a client built without an explicit endpoint: the local cloud serves the API there."""
    configured = os.environ.get("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI")
    return boto3.client("apigatewaymanagementapi", endpoint_url=configured or endpoint_url, config=_CLIENT_CONFIG)


class ConnectionsApi:
    def __init__(self, endpoint_url: str, client: Any | None = None) -> None:
        self.endpoint_url = endpoint_url
        self._client = client

    @property
    def client(self) -> Any:
        # Built on first use: a batch with no one connected never pays for it.
        if self._client is None:
            self._client = management_client(self.endpoint_url)
        return self._client

    def post(self, connection_id: str, data: bytes) -> None:
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code == "GoneException" or status == 410:
                raise ConnectionGone(f"connection {connection_id} is gone") from exc
            if code in REFUSALS or status == 429:
                raise DeliveryRefused(f"API Gateway refused the message ({code})") from exc
            if status >= 500:
                raise DeliveryUncertain(f"API Gateway answered {status} ({code})") from exc
            raise
        except (ConnectTimeoutError, EndpointConnectionError) as exc:
            raise DeliveryRefused(f"the @connections endpoint is unreachable ({exc})") from exc
        except ReadTimeoutError as exc:
            raise DeliveryUncertain(f"no answer from the @connections endpoint ({exc})") from exc

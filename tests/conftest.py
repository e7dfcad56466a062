"""Root fixtures. The environment is set here, before any handler is imported: Powertools and the
handlers read it at import time, exactly as a Lambda cold start would."""

from __future__ import annotations

import os

from hypothesis import settings

# Fake credentials and region, and the variables template.yaml gives the functions (names are local).
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "OrderFulfillment",
        "POWERTOOLS_SERVICE_NAME": "tests",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "SAM_CLI_TELEMETRY": "0",
    }
)
for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(name, None)

from tests.support.cloud import TABLE_ENV, TABLE_NAMES  # noqa: E402  (environment first)

os.environ.update({env: TABLE_NAMES[logical_id] for logical_id, env in TABLE_ENV.items()})
os.environ.update(
    {
        "CART_TTL_SECONDS": "1800",
        "IDEMPOTENCY_TTL_SECONDS": "86400",
        "CUSTOMERS_GROUP": "customers",
        # The functions' other settings: names of the resources the unit tests create in moto.
        "APPROVAL_THRESHOLD_CENTS": "50000",
        "APPROVAL_TIMEOUT_SECONDS": "3600",
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:test-order",
        "NOTIFICATIONS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:test-notifications",
        "REPORTS_BUCKET_NAME": "test-reports",
        "ORDERS_TABLE_ARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE_NAMES['OrdersTable']}",
        "ORDER_SLA_HOURS": "48",
        "SENDER_EMAIL": "",
        "PAYMENT_PROVIDER_FUNCTION_NAME": "test-payment-provider",
        # The live updates' functions: the pool and app client whose ID tokens the authorizer accepts (those of
        # the claims in events/), the approvers group, the WebSocket stage's @connections endpoint.
        "USER_POOL_ID": "us-east-1_Ab12Cd34E",
        "USER_POOL_CLIENT_ID": "4h3l1f2k5j6g7h8j9k0l1m2n3o",
        "APPROVERS_GROUP": "admins",
        "CONNECTIONS_ENDPOINT_URL": "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/live",
        # The catalog cache's flusher: the REST API stage whose cache it empties (a stubbed client in its tests).
        "REST_API_ID": "f6g7h8i9j0",
        "API_STAGE_NAME": "api",
        "CATALOG_CACHE_ENABLED": "true",
    }
)

# Powertools' Tracer opens the X-Ray daemon's UDP socket when first built (no traffic while tracing is
# disabled). Build it now, before pytest-socket blocks socket creation for the tests themselves.
import shop.observability  # noqa: E402, F401

# Property tests are about correctness, not speed: no per-example deadline on a noisy 2-core machine.
settings.register_profile("repo", deadline=None, max_examples=100)
settings.load_profile("repo")

pytest_plugins = ["tests.support.fixtures"]

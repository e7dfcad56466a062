"""Create resources through the AWS APIs from their CloudFormation properties (tables for now)."""

from __future__ import annotations

from typing import Any

_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
)


def create_table_args(table_name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """CreateTable arguments from an AWS::DynamoDB::Table's properties (TTL and PITR are separate calls)."""
    args: dict[str, Any] = {"TableName": table_name}
    args.update({key: properties[key] for key in _TABLE_KEYS if key in properties})
    sse = properties.get("SSESpecification")
    if sse:
        # CloudFormation spells it SSEEnabled, the DynamoDB API spells it Enabled.
        args["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled"))}
    stream = properties.get("StreamSpecification")
    if stream:
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return args


def create_table(client: Any, table_name: str, properties: dict[str, Any]) -> None:
    """Create the table, then switch on TTL and point-in-time recovery as the template declares."""
    client.create_table(**create_table_args(table_name, properties))
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 0.05})
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    pitr = properties.get("PointInTimeRecoverySpecification", {})
    if pitr.get("PointInTimeRecoveryEnabled"):
        client.update_continuous_backups(
            TableName=table_name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )

"""The order history's data lake as deployed (template.yaml after the SAM transform): the Orders table streams to
the Kinesis stream that Firehose reads, Firehose writes gzip rows by day through the transformation function, both
roles grant only what that path needs, and Glue and Athena describe exactly the rows the function writes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from localcloud.template import load_stack, read_sam
from shop.usecases.order_history import ROW_KEYS
from tests.template import checks

STREAM_ARN = {"Fn::Sub": "arn:${AWS::Partition}:kinesis:${AWS::Region}:${AWS::AccountId}:stream/${OrderHistoryStream}"}


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    found: dict[str, Any] = load_stack().cloudformation["Resources"]
    return found


def props(resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = resources[logical_id]["Properties"]
    return found


def destination(resources: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = props(resources, "OrderHistoryDeliveryStream")["ExtendedS3DestinationConfiguration"]
    return found


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for policy in role["Properties"].get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]


def test_the_orders_table_streams_to_an_on_demand_encrypted_stream(resources: dict[str, Any]) -> None:
    stream = props(resources, "OrderHistoryStream")

    assert props(resources, "OrdersTable")["KinesisStreamSpecification"] == {"StreamArn": STREAM_ARN}
    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert stream["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}
    assert stream["RetentionPeriodHours"] == {"Ref": "OrderHistoryRetentionHours"}


def test_the_retention_is_a_week_by_default_and_at_most_a_year() -> None:
    parameter = read_sam()["Parameters"]["OrderHistoryRetentionHours"]

    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (168, 24, 8760)


def test_firehose_reads_the_stream_the_table_writes(resources: dict[str, Any]) -> None:
    delivery = props(resources, "OrderHistoryDeliveryStream")

    assert delivery["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert delivery["KinesisStreamSourceConfiguration"] == {
        "KinesisStreamARN": STREAM_ARN,
        "RoleARN": {"Fn::GetAtt": ["OrderHistoryDeliveryRole", "Arn"]},
    }


def test_firehose_writes_gzip_by_day_with_an_error_prefix_and_short_buffers(resources: dict[str, Any]) -> None:
    s3 = destination(resources)

    assert s3["BucketARN"] == {"Fn::GetAtt": ["OrderHistoryBucket", "Arn"]}
    assert s3["Prefix"] == "orders/dt=!{timestamp:yyyy-MM-dd}/"
    assert s3["ErrorOutputPrefix"] == "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
    assert s3["CompressionFormat"] == "GZIP"
    assert s3["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 5}
    assert s3["CloudWatchLoggingOptions"]["Enabled"] is True
    assert s3["CloudWatchLoggingOptions"]["LogGroupName"] == {"Ref": "OrderHistoryDeliveryLogGroup"}


def test_every_record_goes_through_the_order_history_function_alias(resources: dict[str, Any]) -> None:
    processing = destination(resources)["ProcessingConfiguration"]

    [processor] = processing["Processors"]
    parameters = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    assert processing["Enabled"] is True
    assert processor["Type"] == "Lambda"
    assert parameters["LambdaArn"] == {"Ref": "OrderHistoryFunctionAliaslive"}
    assert props(resources, "OrderHistoryFunctionAliaslive")["FunctionName"] == {"Ref": "OrderHistoryFunction"}


def test_the_delivery_role_grants_only_the_delivery_path(resources: dict[str, Any]) -> None:
    role = resources["OrderHistoryDeliveryRole"]
    granted = {
        (action, str(resource))
        for statement in statements(role)
        for action in checks.as_list(statement["Action"])
        for resource in checks.as_list(statement["Resource"])
    }
    function_arn = {"Fn::GetAtt": ["OrderHistoryFunction", "Arn"]}

    assert [s["Principal"] for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]] == [
        {"Service": "firehose.amazonaws.com"}
    ]
    assert not role["Properties"].get("ManagedPolicyArns")
    assert {action for action, _ in granted} == {
        "kinesis:DescribeStream",
        "kinesis:GetShardIterator",
        "kinesis:GetRecords",
        "kinesis:ListShards",
        "lambda:InvokeFunction",
        "lambda:GetFunctionConfiguration",
        "s3:GetBucketLocation",
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:AbortMultipartUpload",
        "s3:GetObject",
        "s3:PutObject",
        "logs:PutLogEvents",
    }
    assert {r for a, r in granted if a.startswith("kinesis:")} == {str(STREAM_ARN)}
    assert {r for a, r in granted if a.startswith("lambda:")} == {
        str(function_arn),
        str({"Fn::Sub": "${OrderHistoryFunction.Arn}:*"}),
    }
    # Objects only under the two prefixes Firehose writes, not the Athena results or the whole bucket.
    assert {r for a, r in granted if a == "s3:PutObject"} == {
        str({"Fn::Sub": "${OrderHistoryBucket.Arn}/orders/*"}),
        str({"Fn::Sub": "${OrderHistoryBucket.Arn}/errors/*"}),
    }
    assert all(r != "*" for _, r in granted)


def test_the_function_role_may_only_log_and_trace(resources: dict[str, Any]) -> None:
    role = props(resources, "OrderHistoryFunctionRole")

    assert props(resources, "OrderHistoryFunction")["Role"] == {"Fn::GetAtt": ["OrderHistoryFunctionRole", "Arn"]}
    assert not role.get("Policies")
    assert sorted(role["ManagedPolicyArns"]) == [
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    ]


def test_the_lake_bucket_is_private_encrypted_and_tls_only(resources: dict[str, Any]) -> None:
    bucket = props(resources, "OrderHistoryBucket")
    [tls] = props(resources, "OrderHistoryBucketPolicy")["PolicyDocument"]["Statement"]

    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert (tls["Effect"], tls["Action"], tls["Condition"]) == (
        "Deny",
        "s3:*",
        {"Bool": {"aws:SecureTransport": "false"}},
    )
    # The history itself never expires: only failed records, query results and old versions do.
    assert {rule.get("Prefix") for rule in bucket["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in rule} == {
        "errors/",
        "athena-results/",
    }


def test_the_glue_table_columns_are_the_rows_the_function_writes(resources: dict[str, Any]) -> None:
    table = props(resources, "OrderHistoryTable")["TableInput"]
    storage = table["StorageDescriptor"]

    # Glue keeps column names in lower case; the JSON SerDe matches the rows' keys case-insensitively.
    assert [c["Name"] for c in storage["Columns"]] == [key.lower() for key in ROW_KEYS]
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert storage["Location"] == {"Fn::Sub": "s3://${OrderHistoryBucket}/orders/"}
    # Partitions are projected from the same dt= prefix that Firehose writes.
    assert table["Parameters"]["storage.location.template"] == {
        "Fn::Sub": "s3://${OrderHistoryBucket}/orders/dt=${!dt}/"
    }
    assert destination(resources)["Prefix"].startswith("orders/dt=")


NAMED_QUERIES = ("SalesPerDayQuery", "ShippedShareQuery", "FailureReasonsQuery", "AbandonedOrdersQuery")


@pytest.mark.parametrize("logical_id", NAMED_QUERIES)
def test_each_named_query_reads_the_glue_table_in_the_workgroup(resources: dict[str, Any], logical_id: str) -> None:
    query = props(resources, logical_id)
    table_name = props(resources, "OrderHistoryTable")["TableInput"]["Name"]

    assert resources[logical_id]["Type"] == "AWS::Athena::NamedQuery"
    assert query["Database"] == {"Ref": "OrderHistoryDatabase"}
    assert query["WorkGroup"] == {"Ref": "OrderHistoryWorkGroup"}
    assert re.search(rf"\bFROM {table_name}\b", query["QueryString"])


def test_the_workgroup_enforces_encrypted_results_in_the_lake(resources: dict[str, Any]) -> None:
    configuration = props(resources, "OrderHistoryWorkGroup")["WorkGroupConfiguration"]

    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["ResultConfiguration"] == {
        "OutputLocation": {"Fn::Sub": "s3://${OrderHistoryBucket}/athena-results/"},
        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
    }


def test_the_function_and_the_delivery_have_alarms(resources: dict[str, Any]) -> None:
    freshness = props(resources, "OrderHistoryFreshnessAlarm")

    assert props(resources, "OrderHistoryErrorsAlarm")["Dimensions"][0]["Value"] == {"Ref": "OrderHistoryFunction"}
    assert (freshness["Namespace"], freshness["MetricName"]) == ("AWS/Firehose", "DeliveryToS3.DataFreshness")
    assert freshness["Dimensions"] == [{"Name": "DeliveryStreamName", "Value": {"Ref": "OrderHistoryDeliveryStream"}}]
    assert freshness["AlarmActions"] == [{"Ref": "OpsTopic"}]

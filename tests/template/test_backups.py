"""The tables' backups as deployed (template.yaml after the SAM transform, docs/backups.md): a daily AWS Backup rule
kept for BackupRetentionDays, copied to a second region only when BackupCopyVaultArn names a vault, selecting
exactly the tables chosen for it, through a role only AWS Backup assumes; and point-in-time recovery on every
table still."""

from __future__ import annotations

import re
from typing import Any

import pytest

from localcloud.template import load_stack
from tests.template import checks

COPY_VAULT = "arn:aws:backup:us-west-2:123456789012:backup-vault:order-fulfillment-copies"
NO_COPY: dict[str, str] = {"BackupCopyVaultArn": ""}
WITH_COPY = {"BackupCopyVaultArn": COPY_VAULT}
RETENTION = {"Ref": "BackupRetentionDays"}
# The tables the plan backs up, and those it leaves to PITR alone: working data that TTL removes within hours.
BACKED_UP = ("CatalogTable", "OrdersTable", "PaymentProviderTable")
LEFT_TO_PITR = ("SessionsTable", "IdempotencyTable", "ConnectionsTable")
RESTORE_TABLES = {
    "Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${AWS::StackName}-restored-*"
}


@pytest.fixture(scope="module")
def cloudformation() -> dict[str, Any]:
    return load_stack().cloudformation


def the_rule(cloudformation: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """The plan's one rule, as CloudFormation reads it for these parameters."""
    [plan] = checks.made(cloudformation, parameters, "AWS::Backup::BackupPlan").values()
    [rule] = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
    return dict(rule)


def role_policies(cloudformation: dict[str, Any], parameters: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The backup role's inline policies for these parameters: name -> statements."""
    role = checks.made(cloudformation, parameters, "AWS::IAM::Role")["BackupRole"]
    return {policy["PolicyName"]: policy["PolicyDocument"]["Statement"] for policy in role["Properties"]["Policies"]}


def test_the_plan_backs_up_daily_into_the_vault_for_the_retention_parameter(cloudformation: dict[str, Any]) -> None:
    rule = the_rule(cloudformation, NO_COPY)
    cron = re.fullmatch(r"cron\((.+)\)", rule["ScheduleExpression"])
    assert cron is not None, rule["ScheduleExpression"]
    minute, hour, day_of_month, month, day_of_week, year = cron.group(1).split()

    # Once a day: a fixed minute and hour, every day of every month.
    assert minute.isdigit()
    assert hour.isdigit()
    assert (day_of_month, month, day_of_week, year) == ("*", "*", "?", "*")
    assert rule["TargetBackupVault"] == {"Ref": "BackupVault"}
    assert rule["Lifecycle"] == {"DeleteAfterDays": RETENTION}
    # AWS Backup's smallest start window is an hour; a job must be able to finish after it starts.
    assert 60 <= rule["StartWindowMinutes"] < rule["CompletionWindowMinutes"]


def test_the_retention_is_35_days_by_default_and_at_least_one() -> None:
    parameter = load_stack().sam["Parameters"]["BackupRetentionDays"]

    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 35, 1)
    assert parameter["MaxValue"] >= 35


def test_the_copy_vault_parameter_takes_a_backup_vault_arn_or_nothing(cloudformation: dict[str, Any]) -> None:
    pattern = cloudformation["Parameters"]["BackupCopyVaultArn"]["AllowedPattern"]

    assert re.fullmatch(pattern, "")
    assert re.fullmatch(pattern, COPY_VAULT)
    assert not re.fullmatch(pattern, "arn:aws:s3:::order-fulfillment-copies")
    assert not re.fullmatch(pattern, "order-fulfillment-copies")


def test_without_a_copy_vault_nothing_is_copied(cloudformation: dict[str, Any]) -> None:
    assert cloudformation["Parameters"]["BackupCopyVaultArn"]["Default"] == ""
    assert "CopyActions" not in the_rule(cloudformation, NO_COPY)
    assert "CopyToTheSecondRegion" not in role_policies(cloudformation, NO_COPY)
    assert checks.dangling_references(cloudformation, NO_COPY) == []


def test_with_a_copy_vault_each_point_is_copied_there_with_the_same_retention(cloudformation: dict[str, Any]) -> None:
    rule = the_rule(cloudformation, WITH_COPY)
    [copy_into, copy_from] = role_policies(cloudformation, WITH_COPY)["CopyToTheSecondRegion"]

    assert rule["CopyActions"] == [
        {"DestinationBackupVaultArn": {"Ref": "BackupCopyVaultArn"}, "Lifecycle": {"DeleteAfterDays": RETENTION}}
    ]
    # The role may copy into that vault only, and only from recovery points of this account and region.
    assert copy_into["Resource"] == {"Ref": "BackupCopyVaultArn"}
    assert sorted(copy_into["Action"]) == ["backup:CopyIntoBackupVault", "backup:DescribeBackupVault"]
    assert copy_from["Action"] == "backup:CopyFromBackupVault"
    assert checks.as_text(copy_from["Resource"]) == (
        "arn:${AWS::Partition}:backup:${AWS::Region}:${AWS::AccountId}:recovery-point:*"
    )
    assert checks.dangling_references(cloudformation, WITH_COPY) == []


def test_the_selection_is_exactly_the_chosen_tables_and_every_table_is_chosen_or_left_to_pitr(
    cloudformation: dict[str, Any],
) -> None:
    [selection] = checks.resources(cloudformation, "AWS::Backup::BackupSelection").values()
    tables = checks.resources(cloudformation, "AWS::DynamoDB::Table")

    assert selection["Properties"]["BackupPlanId"] == {"Ref": "BackupPlan"}
    assert selection["Properties"]["BackupSelection"]["Resources"] == [
        {"Fn::GetAtt": [table, "Arn"]} for table in BACKED_UP
    ]
    assert "ListOfTags" not in selection["Properties"]["BackupSelection"]  # no table joins by a tag either
    # A table added to the template must be put on one side or the other here (and in the template's comment).
    assert sorted(tables) == sorted(BACKED_UP + LEFT_TO_PITR)
    # What is left out is left out because TTL empties it.
    assert all(tables[table]["Properties"]["TimeToLiveSpecification"]["Enabled"] is True for table in LEFT_TO_PITR)


def test_every_table_keeps_point_in_time_recovery(cloudformation: dict[str, Any]) -> None:
    tables = checks.resources(cloudformation, "AWS::DynamoDB::Table")

    assert tables
    assert {
        table: resource["Properties"]["PointInTimeRecoverySpecification"] for table, resource in tables.items()
    } == {table: {"PointInTimeRecoveryEnabled": True} for table in tables}


def test_only_aws_backup_assumes_the_role_the_selection_uses(cloudformation: dict[str, Any]) -> None:
    [selection] = checks.resources(cloudformation, "AWS::Backup::BackupSelection").values()
    role = cloudformation["Resources"]["BackupRole"]["Properties"]

    assert selection["Properties"]["BackupSelection"]["IamRoleArn"] == {"Fn::GetAtt": ["BackupRole", "Arn"]}
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert "ManagedPolicyArns" not in role


def test_the_role_reaches_the_chosen_tables_their_backups_and_the_drills_restore_tables_only(
    cloudformation: dict[str, Any],
) -> None:
    tables = [{"Fn::GetAtt": [table, "Arn"]} for table in BACKED_UP]
    backups = [{"Fn::Sub": f"${{{table}.Arn}}/backup/*"} for table in BACKED_UP]
    reached = {
        str(resource)
        for statements in role_policies(cloudformation, WITH_COPY).values()
        for statement in statements
        if any(str(action).startswith("dynamodb:") for action in checks.as_list(statement["Action"]))
        for resource in checks.as_list(statement["Resource"])
    }

    assert reached == {str(resource) for resource in [*tables, *backups, RESTORE_TABLES]}
    # Writing items is for restores, into new tables only: never on a live table.
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    for statements in role_policies(cloudformation, WITH_COPY).values():
        for statement in statements:
            if writes & set(checks.as_list(statement["Action"])):
                assert statement["Resource"] == RESTORE_TABLES


def test_the_vault_and_its_recovery_points_outlive_the_stack(cloudformation: dict[str, Any]) -> None:
    [(logical_id, vault)] = checks.resources(cloudformation, "AWS::Backup::BackupVault").items()

    assert logical_id == "BackupVault"
    assert (vault["DeletionPolicy"], vault["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_outputs_name_the_vault_the_plan_and_the_restore_role(cloudformation: dict[str, Any]) -> None:
    outputs = cloudformation["Outputs"]

    assert outputs["BackupVaultName"]["Value"] == {"Ref": "BackupVault"}
    assert outputs["BackupVaultArn"]["Value"] == {"Fn::GetAtt": ["BackupVault", "BackupVaultArn"]}
    assert outputs["BackupPlanId"]["Value"] == {"Ref": "BackupPlan"}
    assert outputs["BackupRoleArn"]["Value"] == {"Fn::GetAtt": ["BackupRole", "Arn"]}


def test_a_backup_or_copy_job_that_does_not_succeed_pages_the_ops_topic(cloudformation: dict[str, Any]) -> None:
    alarm = checks.resources(cloudformation, "AWS::CloudWatch::Alarm")["BackupJobsFailedAlarm"]["Properties"]
    [summed] = [metric for metric in alarm["Metrics"] if metric.get("ReturnData")]
    watched = {metric["Id"]: metric["MetricStat"] for metric in alarm["Metrics"] if not metric.get("ReturnData")}

    # Every unsuccessful end of a job AWS Backup counts, for this stack's vault only.
    assert {stat["Metric"]["MetricName"] for stat in watched.values()} == {
        "NumberOfBackupJobsFailed",
        "NumberOfBackupJobsAborted",
        "NumberOfBackupJobsExpired",
        "NumberOfCopyJobsFailed",
    }
    for stat in watched.values():
        assert stat["Metric"]["Namespace"] == "AWS/Backup"
        assert stat["Metric"]["Dimensions"] == [{"Name": "BackupVaultName", "Value": {"Ref": "BackupVault"}}]
        assert stat["Stat"] == "Sum"
    # Each one counts in the sum, a missing one as zero; one job is enough.
    assert sorted(re.findall(r"FILL\((\w+), 0\)", summed["Expression"])) == sorted(watched)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"  # a day with no jobs counted is not a failure
    assert alarm["AlarmActions"] == [{"Ref": "OpsTopic"}]

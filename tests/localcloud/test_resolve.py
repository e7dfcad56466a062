"""Intrinsic functions and conditions as the local cloud resolves them."""

from __future__ import annotations

import pytest

from localcloud.resolve import NO_VALUE, Resolver, Unresolvable, parameter_values, references
from localcloud.template import load_stack

PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "shop",
    "AWS::Partition": "aws",
}


def resolver(**overrides: str) -> Resolver:
    template = load_stack().cloudformation
    return Resolver(
        parameters=parameter_values(template, overrides),
        mappings=template.get("Mappings", {}),
        condition_definitions=template.get("Conditions", {}),
        pseudo=PSEUDO,
        refs={"Table": "shop-Table", "Topic": "arn:aws:sns:us-east-1:123456789012:t"},
        attributes={"Table": {"Arn": "arn:aws:dynamodb:us-east-1:123456789012:table/shop-Table"}},
    )


def test_parameters_take_their_defaults_unless_overridden() -> None:
    assert resolver().parameters["Stage"] == "dev"
    assert resolver(Stage="prod").parameters["Stage"] == "prod"


def test_a_parameter_value_outside_its_allowed_values_is_refused() -> None:
    with pytest.raises(Unresolvable, match="Stage"):
        resolver(Stage="qa")


def test_an_unknown_parameter_override_is_refused() -> None:
    with pytest.raises(Unresolvable, match="Nope"):
        resolver(Nope="1")


def test_conditions_follow_the_parameters() -> None:
    assert resolver().condition("IsProd") is False
    assert resolver(Stage="prod").condition("IsProd") is True
    assert resolver(AdminEmail="ops@example.com").condition("HasAdminEmail") is True


def test_if_picks_a_branch_and_no_value_removes_the_property() -> None:
    r = resolver()
    value = {"A": {"Fn::If": ["IsProd", "yes", {"Ref": "AWS::NoValue"}]}, "B": {"Fn::If": ["IsProd", 1, 2]}}
    assert r.resolve(value, "X") == {"B": 2}
    assert r.resolve({"Ref": "AWS::NoValue"}, "X") is NO_VALUE


def test_sub_resolves_refs_attributes_pseudo_parameters_variables_and_escapes() -> None:
    r = resolver()
    text = "${AWS::StackName}/${Table}/${Table.Arn}/${Extra}/${!Literal}"
    assert r.resolve({"Fn::Sub": [text, {"Extra": "x"}]}, "X") == (
        "shop/shop-Table/arn:aws:dynamodb:us-east-1:123456789012:table/shop-Table/x/${Literal}"
    )


def test_join_select_split_and_find_in_map() -> None:
    r = resolver(Stage="prod")
    assert r.resolve({"Fn::Join": ["-", ["a", {"Ref": "Table"}]]}, "X") == "a-shop-Table"
    assert r.resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}, "X") == "b"
    assert r.resolve({"Fn::FindInMap": ["StageSettings", {"Ref": "Stage"}, "LogRetentionDays"]}, "X") == 90


def test_an_unresolvable_reference_names_the_resource_and_property() -> None:
    with pytest.raises(Unresolvable, match="Resources/Fn/Properties/Env: Ref Missing"):
        resolver().resolve({"Ref": "Missing"}, "Resources/Fn/Properties/Env")


def test_an_unsupported_intrinsic_is_a_clear_error() -> None:
    with pytest.raises(Unresolvable, match="Fn::ImportValue is not supported"):
        resolver().resolve({"Fn::ImportValue": "x"}, "Resources/Fn/Properties/Env")


def test_references_lists_what_a_value_depends_on() -> None:
    value = {"A": {"Ref": "T"}, "B": {"Fn::GetAtt": ["Q", "Arn"]}, "C": {"Fn::Sub": "${F.Arn}-${AWS::Region}"}}
    assert references(value) == {"T", "Q", "F", "AWS::Region"}


def test_number_bounds_and_patterns_of_parameters_are_enforced() -> None:
    with pytest.raises(Unresolvable, match="ApprovalTimeoutSeconds: 5 is below its MinValue 10"):
        resolver(ApprovalTimeoutSeconds="5")
    with pytest.raises(Unresolvable, match="AdminEmail"):
        resolver(AdminEmail="not-an-address")

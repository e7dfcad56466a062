"""CloudFormation intrinsic functions and conditions, resolved against what the local cloud created.

Supported: Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::If, Fn::Select, Fn::Split, Fn::FindInMap, Fn::Equals,
Fn::Not, Fn::And, Fn::Or, Condition and the pseudo parameters. Anything else, or a reference to something the
local cloud has not created (yet), is an Unresolvable error that names the resource and the property.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NO_VALUE = object()  # AWS::NoValue: the property (or list item) disappears
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class Unresolvable(Exception):
    """An intrinsic the local cloud cannot resolve, with where it was found."""


@dataclass
class Resolver:
    parameters: Mapping[str, Any]
    mappings: Mapping[str, Any] = field(default_factory=dict)
    condition_definitions: Mapping[str, Any] = field(default_factory=dict)
    pseudo: Mapping[str, str] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)  # logical id -> what Ref returns
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> attribute -> value
    _conditions: dict[str, bool] = field(default_factory=dict)

    # -- conditions ---------------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self.condition_definitions:
                raise Unresolvable(f"condition {name} is not defined")
            self._conditions[name] = bool(self.resolve(self.condition_definitions[name], f"Conditions/{name}"))
        return self._conditions[name]

    # -- values -------------------------------------------------------------------------------------------
    def resolve(self, value: Any, where: str) -> Any:
        """`value` with every intrinsic replaced; `where` names the resource and property for errors."""
        if isinstance(value, list):
            items = [self.resolve(item, f"{where}[{i}]") for i, item in enumerate(value)]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            function = _FUNCTIONS.get(key)
            if function is not None:
                return function(self, argument, where)
            if key.startswith("Fn::"):
                raise Unresolvable(f"{where}: {key} is not supported by the local cloud")
        resolved = {key: self.resolve(inner, f"{where}/{key}") for key, inner in value.items()}
        return {key: inner for key, inner in resolved.items() if inner is not NO_VALUE}

    def ref(self, name: str, where: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise Unresolvable(f"{where}: Ref {name} names nothing the local cloud has created")

    def get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        try:
            return self.attributes[logical_id][attribute]
        except KeyError:
            raise Unresolvable(f"{where}: Fn::GetAtt {logical_id}.{attribute} is not known locally") from None

    def sub(self, template: str, variables: Mapping[str, Any], where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] not in self.pseudo:
                logical_id, attribute = name.split(".", 1)
                return str(self.get_att(logical_id, attribute, where))
            return str(self.ref(name, where))

        return _SUB_VARIABLE.sub(replace, template).replace("${!", "${")


def _ref(resolver: Resolver, argument: Any, where: str) -> Any:
    return resolver.ref(str(argument), where)


def _get_att(resolver: Resolver, argument: Any, where: str) -> Any:
    if isinstance(argument, str):
        logical_id, attribute = argument.split(".", 1)
    else:
        logical_id, attribute = argument[0], resolver.resolve(argument[1], where)
    return resolver.get_att(logical_id, attribute, where)


def _sub(resolver: Resolver, argument: Any, where: str) -> Any:
    if isinstance(argument, str):
        return resolver.sub(argument, {}, where)
    template, variables = argument
    return resolver.sub(template, resolver.resolve(variables, where), where)


def _join(resolver: Resolver, argument: Any, where: str) -> str:
    delimiter, items = argument
    return str(delimiter).join(str(item) for item in resolver.resolve(items, where))


def _if(resolver: Resolver, argument: Any, where: str) -> Any:
    name, when_true, when_false = argument
    return resolver.resolve(when_true if resolver.condition(name) else when_false, where)


def _select(resolver: Resolver, argument: Any, where: str) -> Any:
    index, items = argument
    return resolver.resolve(items, where)[int(resolver.resolve(index, where))]


def _split(resolver: Resolver, argument: Any, where: str) -> list[str]:
    delimiter, text = argument
    return str(resolver.resolve(text, where)).split(delimiter)


def _find_in_map(resolver: Resolver, argument: Any, where: str) -> Any:
    name, top, second = (resolver.resolve(part, where) for part in argument)
    try:
        return resolver.mappings[name][top][second]
    except KeyError:
        raise Unresolvable(f"{where}: Fn::FindInMap {name}/{top}/{second} is not in Mappings") from None


def _equals(resolver: Resolver, argument: Any, where: str) -> bool:
    left, right = (resolver.resolve(part, where) for part in argument)
    return str(left) == str(right)


def _not(resolver: Resolver, argument: Any, where: str) -> bool:
    return not resolver.resolve(argument[0], where)


def _and(resolver: Resolver, argument: Any, where: str) -> bool:
    return all(resolver.resolve(part, where) for part in argument)


def _or(resolver: Resolver, argument: Any, where: str) -> bool:
    return any(resolver.resolve(part, where) for part in argument)


def _condition(resolver: Resolver, argument: Any, where: str) -> bool:
    return resolver.condition(str(argument))


_FUNCTIONS = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::Join": _join,
    "Fn::If": _if,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::FindInMap": _find_in_map,
    "Fn::Equals": _equals,
    "Fn::Not": _not,
    "Fn::And": _and,
    "Fn::Or": _or,
    "Condition": _condition,
}


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Every parameter's value: the override, else its default. A parameter with neither is an error."""
    values: dict[str, Any] = {}
    for name, declaration in template.get("Parameters", {}).items():
        if name in overrides:
            value: Any = overrides[name]
        elif "Default" in declaration:
            value = declaration["Default"]
        else:
            raise Unresolvable(f"Parameters/{name}: no value given and no Default")
        allowed = declaration.get("AllowedValues")
        if allowed is not None and str(value) not in [str(option) for option in allowed]:
            raise Unresolvable(f"Parameters/{name}: {value!r} is not one of {allowed}")
        if declaration.get("Type") == "Number":
            number = float(value)
            if "MinValue" in declaration and number < float(declaration["MinValue"]):
                raise Unresolvable(f"Parameters/{name}: {value} is below its MinValue {declaration['MinValue']}")
            if "MaxValue" in declaration and number > float(declaration["MaxValue"]):
                raise Unresolvable(f"Parameters/{name}: {value} is above its MaxValue {declaration['MaxValue']}")
        pattern = declaration.get("AllowedPattern")
        if pattern is not None and re.fullmatch(pattern, str(value)) is None:
            raise Unresolvable(f"Parameters/{name}: {value!r} does not match {pattern}")
        if declaration.get("Type") == "CommaDelimitedList":
            value = [part.strip() for part in str(value).split(",")]
        values[name] = value if isinstance(value, list) else str(value)
    unknown = set(overrides) - set(values)
    if unknown:
        raise Unresolvable(f"Parameters: {', '.join(sorted(unknown))} not declared by the template")
    return values


def references(value: Any) -> set[str]:
    """The logical ids a value refers to (Ref, GetAtt, ${...} in Sub), to order resource creation."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        if set(value) == {"Ref"}:
            found.add(str(value["Ref"]))
        elif set(value) == {"Fn::GetAtt"}:
            argument = value["Fn::GetAtt"]
            found.add(argument.split(".", 1)[0] if isinstance(argument, str) else str(argument[0]))
        elif set(value) == {"Fn::Sub"}:
            argument = value["Fn::Sub"]
            text = argument if isinstance(argument, str) else argument[0]
            found |= {name.split(".", 1)[0].strip() for name in _SUB_VARIABLE.findall(text)}
            if not isinstance(argument, str):
                found |= references(argument[1])
        else:
            for inner in value.values():
                found |= references(inner)
    return found

"""Bodies the API will not read are refused before any handler code runs, as problem+json, and change nothing:
a media type other than JSON (415), text that is not UTF-8, JSON nested too deep, a number too long to convert,
JSON's non-standard constants (400). Every route that takes a body, from its own file in events/."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from shop.adapters.catalog_table import CatalogTable
from shop.http.limits import MAX_JSON_DEPTH
from tests.support.api import ApiCaller, ApiResponse, assert_problem
from tests.support.fixtures import load_function
from tests.unit.api.tables import ContentsReader

BODY_ROUTES = ["orders_api", "cart_api", "approvals_api", "carrier_api"]


def with_body(
    api: ApiCaller, body: str | None = None, *, content_type: str | None = "application/json", encoded: bool = False
) -> dict[str, Any]:
    """The route's own event file, with its body and Content-Type replaced (no Content-Type when None)."""
    event = copy.deepcopy(api.base_event)
    headers = {name: value for name, value in event["headers"].items() if name.lower() != "content-type"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    event["headers"] = headers
    event["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = encoded
    return event


@pytest.fixture(params=BODY_ROUTES)
def api(request: pytest.FixtureRequest, catalog_table: CatalogTable) -> ApiCaller:
    return ApiCaller(load_function(request.param), request.param)


def refused(api: ApiCaller, event: dict[str, Any], status: int, contents: ContentsReader) -> dict[str, Any]:
    before = contents()
    response: ApiResponse = api.invoke(event)
    problem = assert_problem(response, status)
    assert contents() == before
    return problem


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", "application/json; charset=latin-1", None],
)
def test_a_body_that_is_not_json_by_its_media_type_is_415(
    api: ApiCaller, table_contents: ContentsReader, content_type: str | None
) -> None:
    problem = refused(api, with_body(api, content_type=content_type), 415, table_contents)

    assert problem["type"].endswith(":unsupported-media-type")


def test_json_nested_a_thousand_deep_is_400_not_a_crash(api: ApiCaller, table_contents: ContentsReader) -> None:
    problem = refused(api, with_body(api, "[" * 1000 + "]" * 1000), 400, table_contents)

    assert str(MAX_JSON_DEPTH) in problem["detail"]


def test_brackets_inside_strings_do_not_count_as_nesting(api: ApiCaller) -> None:
    # A string full of brackets, where the route expects an object: refused by the contract (422), not by depth.
    response = api.invoke(with_body(api, json.dumps("[" * 1000)))

    assert response.status == 422, response.body


@pytest.mark.parametrize("number", ["9" * 5000, "-" + "1" * 4400, "1." + "5" * 400, "1e99999"])
def test_a_number_too_long_to_convert_is_400(api: ApiCaller, table_contents: ContentsReader, number: str) -> None:
    body = f'{{"quantity": {number}, "items": [{{"productId": "scale", "quantity": {number}}}]}}'

    problem = refused(api, with_body(api, body), 400, table_contents)

    assert problem["type"].endswith(":malformed-json")
    assert "number" in problem["detail"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_constants_python_would_accept_are_400(
    api: ApiCaller, table_contents: ContentsReader, constant: str
) -> None:
    refused(api, with_body(api, f'{{"items": [], "decision": {constant}}}'), 400, table_contents)


@pytest.mark.parametrize("raw", ['{"name": "caf\xe9"}'.encode("latin-1"), b"\xff\xfe{}", b'{"a": "\xc3"}'])
def test_a_body_that_is_not_utf8_is_400(api: ApiCaller, table_contents: ContentsReader, raw: bytes) -> None:
    event = with_body(api, base64.b64encode(raw).decode(), encoded=True)

    problem = refused(api, event, 400, table_contents)

    assert "UTF-8" in problem["detail"]


def test_a_lone_surrogate_in_the_text_is_400(api: ApiCaller, table_contents: ContentsReader) -> None:
    refused(api, with_body(api, '{"comment": "\udc80"}'), 400, table_contents)


# -- What stays accepted -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["APPLICATION/JSON", "application/json; charset=UTF-8", "Application/Json;charset=utf8"]
)
def test_media_types_are_compared_case_insensitively(catalog_table: CatalogTable, content_type: str) -> None:
    orders_api = ApiCaller(load_function("orders_api"), "orders_api")
    event = with_body(orders_api, content_type=content_type)
    event["headers"] = {name.lower(): value for name, value in event["headers"].items()}

    response = orders_api.invoke(event)

    assert response.status == 201, response.body


def test_a_base64_encoded_utf8_json_body_is_read_as_its_text(catalog_table: CatalogTable) -> None:
    orders_api = ApiCaller(load_function("orders_api"), "orders_api")
    text = orders_api.base_event["body"]
    event = with_body(orders_api, base64.b64encode(text.encode()).decode(), encoded=True)

    response = orders_api.invoke(event)

    assert response.status == 201, response.body

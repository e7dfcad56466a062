"""Generate docs/openapi.json from the API functions' own routes (Powertools OpenAPIMerge).

python -m tools.openapi --write   # regenerate the checked-in document
python -m tools.openapi --check   # exit 1 when the document and the code differ
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
FUNCTIONS = ROOT / "functions"

# Importing a handler runs its cold-start code, which reads its settings: give it a harmless environment
# (nothing is called; clients are only constructed).
_IMPORT_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "openapi",
    "AWS_SECRET_ACCESS_KEY": "openapi",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "CATALOG_TABLE_NAME": "catalog",
    "SESSIONS_TABLE_NAME": "sessions",
    "ORDERS_TABLE_NAME": "orders",
    "IDEMPOTENCY_TABLE_NAME": "idempotency",
    "CART_TTL_SECONDS": "1800",
    "IDEMPOTENCY_TTL_SECONDS": "86400",
    "CUSTOMERS_GROUP": "customers",
}


def build_document() -> dict[str, Any]:
    for name, value in _IMPORT_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    layer = str(ROOT / "layers" / "shop")
    if layer not in sys.path:
        sys.path.insert(0, layer)

    merge = OpenAPIMerge(
        title="Order fulfillment API",
        version="1.0.0",
        description=(
            "Customer, admin and carrier API of the order-fulfillment reference application. "
            "Errors are RFC 9457 application/problem+json. Money is in integer cents."
        ),
        servers=[Server(url="http://127.0.0.1:3000", description="local cloud")],
        security_schemes={
            "CognitoIdToken": APIKey(
                name="Authorization",
                in_=APIKeyIn.header,
                description="The Cognito ID token, bare or prefixed with 'Bearer '",
            ),
        },
        on_conflict="error",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a handler that fails to import must fail the generation
        merge.discover(FUNCTIONS, pattern="app.py", recursive=True, project_root=ROOT)
        document: dict[str, Any] = json.loads(merge.get_openapi_json_schema())
    _describe_responses(document["components"]["schemas"])
    return document


def _describe_responses(schemas: dict[str, Any]) -> None:
    """Fill in the response bodies Powertools leaves as `{}`.

    Every model's serializer (ShopModel's, which leaves absent optional fields out) is typed `Any`, so pydantic's
    serialization schema, which Powertools asks for, says nothing about them. The models' fields say what is sent:
    their schema replaces each empty one, with the models they hold added beside it.
    """
    from shop.domain.models import ShopModel  # noqa: PLC0415  (the layer is on the path only once built)

    models = {model.__name__: model for model in _subclasses(ShopModel)}
    for name in [name for name, schema in schemas.items() if not schema and name in models]:
        schema = models[name].model_json_schema(mode="validation", ref_template="#/components/schemas/{model}")
        for held, definition in schema.pop("$defs", {}).items():
            if not schemas.get(held):
                schemas[held] = definition
        schemas[name] = schema


def _subclasses(model: type[Any]) -> list[type[Any]]:
    found: list[type[Any]] = []
    for subclass in model.__subclasses__():
        found += [subclass, *_subclasses(subclass)]
    return found


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite docs/openapi.json")
    mode.add_argument("--check", action="store_true", help="fail if docs/openapi.json is out of date")
    args = parser.parse_args(argv)
    text = render(build_document())
    if args.write:
        DOCUMENT.write_text(text)
        print(f"wrote {DOCUMENT.relative_to(ROOT)}")
        return 0
    if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
        print("docs/openapi.json is out of date: run `make openapi`", file=sys.stderr)
        return 1
    print("docs/openapi.json is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every example in the contract validates against the schema it illustrates: a partner copying one gets a request
the server's contract accepts, and generated documentation shows nothing the server would refuse for its form."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

CONTRACT = json.loads((Path(__file__).resolve().parents[2] / "openapi" / "openapi.json").read_text(encoding="utf-8"))


def _examples_of(schema: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(location, schema, example) for a schema's own examples and, recursively, its properties'."""
    if "example" in schema:
        yield where, schema, schema["example"]
    for number, example in enumerate(schema.get("examples", [])):
        yield f"{where}[{number}]", schema, example
    for name, sub_schema in schema.get("properties", {}).items():
        yield from _examples_of(sub_schema, f"{where}.{name}")
    for keyword in ("anyOf", "oneOf", "allOf"):
        for number, branch in enumerate(schema.get(keyword, [])):
            yield from _examples_of(branch, f"{where}<{keyword}{number}>")
    if isinstance(schema.get("items"), dict):
        yield from _examples_of(schema["items"], f"{where}[]")


def _all_examples() -> Iterator[tuple[str, dict[str, Any], Any]]:
    for name, schema in CONTRACT["components"]["schemas"].items():
        yield from _examples_of(schema, name)
    for name, header in CONTRACT["components"].get("headers", {}).items():
        yield from _examples_of(header["schema"], f"header {name}")
    for path, item in CONTRACT["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                where = f"{method.upper()} {path} {parameter['in']}.{parameter['name']}"
                if "example" in parameter:
                    yield where, parameter["schema"], parameter["example"]
                yield from _examples_of(parameter["schema"], where)
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                if "example" in content:
                    yield f"{method.upper()} {path} body {media_type}", content["schema"], content["example"]
            for status, response in operation["responses"].items():
                for header, declared in response.get("headers", {}).items():
                    if "$ref" in declared:
                        continue  # a components/headers entry, walked above
                    yield from _examples_of(declared["schema"], f"{method.upper()} {path} {status} header {header}")


EXAMPLES = list(_all_examples())


def test_the_contract_has_examples() -> None:
    assert len(EXAMPLES) >= 20
    assert {"CaseCreate", "Problem", "ReadAuditRead"} <= {where for where, _, _ in EXAMPLES}


@pytest.mark.parametrize(("where", "schema", "example"), EXAMPLES, ids=[where for where, _, _ in EXAMPLES])
def test_an_example_validates_against_its_schema(where: str, schema: dict[str, Any], example: Any) -> None:
    # The schema is checked inside the whole document so that its `$ref`s to components resolve.
    validator = jsonschema_rs.validator_for({**schema, "components": CONTRACT["components"]})
    errors = [error.message for error in validator.iter_errors(example)]
    assert errors == [], (where, example)

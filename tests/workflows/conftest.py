"""Fixtures for the Workflow API tests: Zuora's official OpenAPI document and a checker.

The checker covers the subset of OpenAPI 3.0 schema keywords the Workflow document uses:
``$ref``, ``type``, ``nullable``, ``enum``, ``properties``, ``required``, ``items``,
``minimum``/``maximum`` and ``maxLength``/``minLength``. ``maximum`` on an array is not a
JSON-Schema keyword for arrays, so (as a real validator) it is ignored there.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

SPEC: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "data" / "zuora_workflow_openapi.json").read_text()
)

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
}


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        parts = node["$ref"].removeprefix("#/").split("/")
        target: Any = SPEC
        for part in parts:
            target = target[part]
        node = target
    return node


def _scalar_errors(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    kind = schema.get("type")
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return [f"{path}: expected integer, got {value!r}"]
    if kind == "number" and not number:
        return [f"{path}: expected number, got {value!r}"]
    if kind in _TYPES and not isinstance(value, _TYPES[kind]):
        return [f"{path}: expected {kind}, got {value!r}"[:200]]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str) and len(value) > schema.get("maxLength", len(value)):
        errors.append(f"{path}: longer than {schema['maxLength']}")
    if number and kind != "array" and value > schema.get("maximum", value):
        errors.append(f"{path}: above {schema['maximum']}")
    if number and kind != "array" and value < schema.get("minimum", value):
        errors.append(f"{path}: below {schema['minimum']}")
    return errors


def schema_errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema`` (empty when it validates)."""
    schema = resolve(schema)
    if value is None:
        return [] if schema.get("nullable") or "type" not in schema else [f"{path}: null"]
    errors = _scalar_errors(value, schema, path)
    if errors:
        return errors
    if isinstance(value, dict):
        errors.extend(f"{path}.{n}: required" for n in schema.get("required", []) if n not in value)
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                errors.extend(schema_errors(value[name], sub, f"{path}.{name}"))
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors.extend(schema_errors(item, schema["items"], f"{path}[{index}]"))
    return errors


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The document's (template, operation, path arguments) for a concrete request path."""
    for template, operations in SPEC["paths"].items():
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
        match = re.match(pattern, path)
        if match and method.lower() in operations:
            return template, operations[method.lower()], match.groupdict()
    raise AssertionError(f"{method} {path} is not an operation of the official document")


def parameters(operation: dict[str, Any]) -> list[dict[str, Any]]:
    return [resolve(parameter) for parameter in operation.get("parameters", [])]


def _text_fits(text: str, schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "integer":
        return text.isdigit()
    if kind == "boolean":
        return text in {"true", "false"}
    if kind == "string" and schema.get("format") == "date":
        return re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is not None
    if kind == "string":
        return "maxLength" not in schema or len(text) <= schema["maxLength"]
    return kind == "array"


def _parameter_problems(
    declared: list[dict[str, Any]], path_args: dict[str, str], query: list[tuple[str, str]]
) -> list[str]:
    by_place = {(p["in"], p["name"].lower()): p for p in declared}
    problems = []
    for name, text in path_args.items():
        parameter = by_place[("path", name.lower())]
        if not _text_fits(text, parameter["schema"]):
            problems.append(f"path {name}={text!r} does not fit {parameter['schema']}")
    for name, text in query:
        parameter = by_place.get(("query", name.lower()))
        if parameter is None:
            problems.append(f"query {name} is not a parameter")
        elif not _text_fits(text, parameter["schema"]):
            problems.append(f"query {name}={text!r} does not fit {parameter['schema']}")
    sent = {name.lower() for name, _ in query}
    problems.extend(
        f"required query {p['name']} missing"
        for p in declared
        if p.get("required") and p["in"] == "query" and p["name"].lower() not in sent
    )
    return problems


def _header_problems(declared: list[dict[str, Any]], headers: dict[str, str]) -> list[str]:
    by_name = {p["name"].lower(): p for p in declared if p["in"] == "header"}
    problems = []
    if "idempotency-key" in {h.lower() for h in headers} and "idempotency-key" not in by_name:
        problems.append("Idempotency-Key sent where the operation takes none")
    for name, value in headers.items():
        parameter = by_name.get(name.lower())
        if parameter is not None and not _text_fits(value, parameter["schema"]):
            problems.append(f"header {name} does not fit {parameter['schema']}")
    if "," in headers.get("Zuora-Entity-Ids", ""):
        problems.append("Zuora-Entity-Ids carries more than one id")
    return problems


def request_problems(method: str, url: str, headers: dict[str, str], body: Any) -> list[str]:
    """How a request breaks the official document: path, parameters, headers and body."""
    parts = urlsplit(url)
    _, operation, path_args = operation_for(method, parts.path)
    declared = parameters(operation)
    query = parse_qsl(parts.query, keep_blank_values=True)
    problems = _parameter_problems(declared, path_args, query)
    problems += _header_problems(declared, headers)
    request_body = operation.get("requestBody")
    if body is not None and request_body is None:
        problems.append("a body was sent to an operation that takes none")
    elif body is not None:
        schema = request_body["content"]["application/json"]["schema"]
        problems.extend(schema_errors(body, schema))
    return problems


def example_200(method: str, template: str) -> Any:
    response = SPEC["paths"][template][method.lower()]["responses"]["200"]
    content = response["content"]["application/json"]
    if "examples" in content:
        return content["examples"]["response"]["value"]
    return content["example"]


class _Spec:
    """The helpers above, handed to tests as the ``spec`` fixture (importlib mode)."""

    document = SPEC
    resolve = staticmethod(resolve)
    schema_errors = staticmethod(schema_errors)
    operation_for = staticmethod(operation_for)
    request_problems = staticmethod(request_problems)
    example_200 = staticmethod(example_200)


@pytest.fixture(scope="session")
def spec() -> _Spec:
    return _Spec()

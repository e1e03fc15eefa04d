"""Field types carried on ports and signature fields, and their compatibility rules."""

from __future__ import annotations

from typing import Any, Literal

FieldType = Literal["string", "number", "integer", "boolean", "object", "list", "any"]
FIELD_TYPES: tuple[str, ...] = ("string", "number", "integer", "boolean", "object", "list", "any")

_JSON_SCHEMA = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    "list": {"type": "array"},
    "any": {},
}


def compatible(source: str, target: str) -> bool:
    """Can a value produced as ``source`` feed a port declared as ``target``?"""
    if source == target or "any" in (source, target):
        return True
    return source == "integer" and target == "number"


def json_schema_for(field_type: str) -> dict[str, Any]:
    return dict(_JSON_SCHEMA[field_type])


def value_matches(value: Any, field_type: str) -> bool:
    """Runtime check of a value against a declared type (bool is not a number)."""
    if field_type == "any":
        return True
    if field_type == "string":
        return isinstance(value, str)
    if field_type == "boolean":
        return isinstance(value, bool)
    if field_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if field_type == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if field_type == "object":
        return isinstance(value, dict)
    if field_type == "list":
        return isinstance(value, list)
    return False

"""How an answer's JSON Schema reaches an OpenAI-compatible model: the ``response_format``.

Three capabilities, per provider (KAIZEN_LLM_OUTPUT_MODE) or per node (``output_mode``):
``json_schema`` sends the schema itself (OpenAI structured outputs; vLLM, Ollama and llama.cpp
constrain decoding to it), ``json_object`` asks for any JSON object (the keys are named only in the
prompt), ``text`` sends no response_format. The nodes validate every answer and re-ask when it is
malformed whichever mode is used (nodes/llmjson.py), so a server that ignores the schema still works.

OpenAI's ``strict: true`` accepts a subset of JSON Schema: every object lists all its properties as
required and forbids others (an optional field is sent as nullable), and no part is free-form (an
``object`` without properties, a list without ``items``, ``any``). A schema that cannot be made
strict is sent with ``strict: false``, as guidance the model follows without a guarantee.
"""

from __future__ import annotations

import copy
import re
from typing import Any

_NAME = re.compile(r"[^A-Za-z0-9_-]")


def schema_name(name: str) -> str:
    """A valid ``json_schema.name`` (a-z, A-Z, 0-9, _ and -, at most 64 characters)."""
    return (_NAME.sub("_", name) or "answer")[:64]


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        out["type"] = [*kind, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def _strict(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The strict form of ``schema``, or None when some part of it cannot be strict."""
    out = copy.copy(schema)
    kind = out.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if kind is None and "enum" not in out:
        return None  # ``any``: a free-form value
    if "object" in kinds:
        props = out.get("properties")
        if not props:
            return None  # a free-form object
        required = set(out.get("required", []))
        strict_props = {}
        for key, sub in props.items():
            strict_sub = _strict(sub)
            if strict_sub is None:
                return None
            strict_props[key] = strict_sub if key in required else _nullable(strict_sub)
        out.update(properties=strict_props, required=list(props), additionalProperties=False)
    if "array" in kinds:
        items = out.get("items")
        if not isinstance(items, dict):
            return None  # a list of anything
        strict_items = _strict(items)
        if strict_items is None:
            return None
        out["items"] = strict_items
    return out


def json_schema_format(schema: dict[str, Any], name: str = "answer") -> dict[str, Any]:
    """``response_format`` for structured outputs: strict when the schema allows it."""
    strict = _strict(schema)
    return {"type": "json_schema",
            "json_schema": {"name": schema_name(name), "strict": strict is not None,
                            "schema": strict if strict is not None else schema}}


def response_format(schema: dict[str, Any] | None, mode: str, name: str = "answer") -> dict[str, Any] | None:
    """The request's ``response_format`` for ``mode`` (None: send none)."""
    if schema is None or mode == "text":
        return None
    if mode == "json_object":
        return {"type": "json_object"}
    if mode == "json_schema":
        return json_schema_format(schema, name)
    raise ValueError(f"unknown output mode {mode!r}")

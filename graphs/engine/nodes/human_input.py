"""input: a person fills in a form generated from the JSON Schema in the node's config; each
top-level property of the answer comes out on its own port, the whole answer on ``answer``."""

from __future__ import annotations

import re
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import ConfigDict, Field, field_validator

from ..schema import PORT_PATTERN, FieldSpec
from ..types import FieldType
from .base import NodeFailure, SignatureField, input_ports, unique_names
from .human import HumanConfig, HumanKind
from .registry import registry

_TYPES: dict[str, FieldType] = {"string": "string", "number": "number", "integer": "integer", "boolean": "boolean",
                                "object": "object", "array": "list"}
_RESERVED = {"answer"}


def _default_schema() -> dict[str, Any]:
    return {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "title": "Your answer"}}}


class InputConfig(HumanConfig):
    question: str = Field("Please answer", max_length=4000, description="What the person is asked.")
    schema_: dict[str, Any] = Field(
        default_factory=_default_schema, alias="schema",
        description="JSON Schema of the answer: an object whose properties become the form's fields and the node's output ports.")
    inputs: list[SignatureField] = Field(default_factory=list, max_length=32, description="What the person sees above the form.")
    on_timeout: Literal["fail"] = Field("fail", description="An unanswered form fails the node when answer_timeout_s lapses.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    _unique = field_validator("inputs")(classmethod(lambda cls, v: unique_names(v)))

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        if value.get("type") != "object" or not isinstance(value.get("properties"), dict) or not value["properties"]:
            raise ValueError("must be an object schema with properties (each property is a form field and an output port)")
        for name in value["properties"]:
            if not re.fullmatch(PORT_PATTERN, name) or name in _RESERVED:
                raise ValueError(f"property {name!r} cannot be a port name (letters, digits, _; not 'answer')")
        return value


@registry.register
class InputNode(HumanKind[InputConfig]):
    kind = "input"
    title = "Human input"
    description = "Waits for a person to fill in a form (from a JSON Schema); the answer's fields come out on the ports."
    icon = "message-square"
    Config = InputConfig
    dynamic_inputs = "inputs"

    def inputs(self, config: InputConfig) -> dict[str, FieldSpec]:
        return input_ports(config.inputs)

    def outputs(self, config: InputConfig) -> dict[str, FieldSpec]:
        ports = {"answer": FieldSpec(type="object", description="The whole answer")}
        for name, prop in config.schema_["properties"].items():
            kind = prop.get("type") if isinstance(prop, dict) else None
            ports[name] = FieldSpec(type=_TYPES.get(kind, "any") if isinstance(kind, str) else "any",
                                    description=str(prop.get("title", "")) if isinstance(prop, dict) else "")
        return ports

    def form(self, config: InputConfig) -> dict[str, Any]:
        return config.schema_

    def answer_issues(self, config: InputConfig, answer: Any) -> list[tuple[str, str]]:
        validator = Draft202012Validator(config.schema_)
        issues = []
        for error in sorted(validator.iter_errors(answer), key=lambda e: list(e.absolute_path)):
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            issues.append((f"answer{path}", error.message))
        return issues

    def outputs_for(self, config: InputConfig, inputs: dict[str, Any], answer: dict[str, Any], source: str) -> dict[str, Any]:
        if source == "timeout":
            raise NodeFailure("nobody filled in the form in time", {"type": "human_timeout"})
        return {"answer": answer, **{k: v for k, v in answer.items() if k in config.schema_["properties"]}}

    def timeout_answer(self, config: InputConfig) -> dict[str, Any]:
        return {}

"""From a webhook's JSON body to a graph's inputs: ``{input: path}``, each path a JSON pointer
(RFC 6901, "/items/0/name") or a dotted path ("items.0.name"). Data only, never code: a path
selects a value; nothing in a mapping or a body is evaluated."""

from __future__ import annotations

from typing import Any

MAX_PATH = 300
_MISSING = object()


def parse_path(path: str) -> list[str]:
    if path == "" or path == "/":
        return [] if path == "" else [""]
    if path.startswith("/"):
        return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    return path.split(".")


def path_problem(path: Any) -> str | None:
    if not isinstance(path, str):
        return "a path must be a string: a JSON pointer (/a/b/0) or a dotted path (a.b.0)"
    if len(path) > MAX_PATH:
        return f"at most {MAX_PATH} characters"
    if not path.startswith("/") and "" in path.split(".") and path != "":
        return "a dotted path has no empty parts (a.b.0)"
    return None


def resolve(doc: Any, path: str) -> Any:
    """The value at ``path`` in ``doc``, or _MISSING."""
    value = doc
    for part in parse_path(path):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def mapping_problems(mapping: Any) -> dict[str, str]:
    """{field path: problem} for a mapping as given by a user."""
    if not isinstance(mapping, dict):
        return {"mapping": "an object {input name: JSON pointer or dotted path}"}
    return {f"mapping.{name}": problem for name, path in mapping.items() if (problem := path_problem(path))}


def map_inputs(body: Any, mapping: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(inputs, {path: problem}). An empty mapping passes the body, which must be an object;
    a path that finds nothing leaves its input out (the run's own check names a required one)."""
    if not mapping:
        if not isinstance(body, dict):
            return {}, {"body": "the trigger has no mapping, so the body must be a JSON object of the graph's inputs"}
        return dict(body), {}
    inputs = {}
    for name, path in mapping.items():
        value = resolve(body, path)
        if value is not _MISSING:
            inputs[name] = value
    return inputs, {}

"""JSON bodies with a bounded nesting depth, checked before parsing.

``json.loads`` recurses once per nesting level; a body of 10,000 ``[`` raises RecursionError (a
500), and a document just under the interpreter's limit would recurse again in every validator
and serializer after it. A graph document is a few levels deep, so anything deeper than
MAX_DEPTH is refused (400) by a flat scan of the bytes before the parser sees them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 64
_JSON_NUL = re.compile(rb"\\u0000", re.I)  # (also matches an escaped backslash before "u0000": refused too)
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_depth(data: bytes) -> int:
    """The deepest bracket nesting of a JSON text (string contents ignored); no recursion."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in (91, 123) else -1  # [ {  /  ] }
        deepest = max(deepest, depth)
    return deepest


def has_nul(raw: bytes) -> bool:
    """Does this JSON text hold U+0000 (which PostgreSQL's text and jsonb cannot store)?"""
    return b"\x00" in raw or _JSON_NUL.search(raw) is not None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def bounded_loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads (strict: no NaN or Infinity, as DRF's parser), after refusing (ValueError) a
    text nested deeper than ``max_depth``."""
    raw = data.encode() if isinstance(data, str) else data
    if nesting_depth(raw) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except RecursionError as exc:  # (cannot happen below the bound; never a 500 either way)
        raise ValueError("JSON nested too deeply") from exc


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = stream.read() if stream is not None else b""
        if not data:
            raise ParseError("JSON parse error - empty body")
        if has_nul(data):
            raise ParseError("NUL characters (U+0000) are not allowed")
        try:
            return bounded_loads(data)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc

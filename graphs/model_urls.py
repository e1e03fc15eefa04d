"""Graph-time check of the model endpoints a graph names (``base_url`` in node configs).

The operator's endpoint (OPENAI_BASE_URL, OpenAI's default when unset) is always allowed: the
operator's key belongs to it. Any other endpoint needs a stored credential next to it (the
operator's key is never sent there) and must pass the SSRF guard (graphs/engine/llm/urlguard.py:
public addresses only unless KAIZEN_ALLOW_PRIVATE_MODEL_URLS). The worker checks again at call
time, connecting only to the address it checked; this check gives the editor a 400 that names the
field when the graph is saved or validated.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings

from .engine.llm.urlguard import UnsafeModelURL, check_model_url, normalize
from .engine.validate import Issue


def dicts_under(value: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, dict) of every dict under ``value`` (a node's config, subgraphs included), depth first."""
    if isinstance(value, dict):
        yield path, value
        for key, child in value.items():
            if isinstance(child, (dict, list)):
                yield from dicts_under(child, f"{path}.{key}")
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from dicts_under(child, f"{path}[{i}]")


def _base_urls(value: Any, path: str) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(path, the dict holding it, url) of every non-empty ``base_url`` string under ``value``."""
    for where, holder in dicts_under(value, path):
        url = holder.get("base_url")
        if isinstance(url, str) and url.strip():
            yield f"{where}.base_url", holder, url.strip()


def base_url_issues(spec: Any) -> list[Issue]:
    """Issues (paths relative to the graph document) for endpoints a graph may not use."""
    nodes = spec.get("nodes") if isinstance(spec, dict) else None
    if not isinstance(nodes, list):
        return []
    operator = normalize(settings.OPENAI_BASE_URL or None)
    issues: list[Issue] = []
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            continue
        node_id = node.get("id") if isinstance(node.get("id"), str) else None
        for path, holder, url in _base_urls(node.get("config"), f"nodes[{i}].config"):
            try:
                if normalize(url) == operator:
                    continue
                if not holder.get("credential"):
                    raise UnsafeModelURL("needs a credential: the server's own key is only sent to the server's "
                                         "default endpoint")
                check_model_url(url, settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS)
            except UnsafeModelURL as exc:
                issues.append(Issue(path, f"base_url {exc}", node_id))
    return issues

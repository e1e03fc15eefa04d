"""Model connections: a workspace's named OpenAI-compatible endpoints, each with the stored
credential whose key goes there, the models it offers and optional price overrides.

- ``connection_save`` / ``connection_delete``: the admin's writes; a base URL must pass the SSRF
  guard (public addresses, unless KAIZEN_ALLOW_PRIVATE_MODEL_URLS=1), the credential must be the
  workspace's own.
- ``connections_offered``: what the editor's inspector offers (the built-in default first).
- ``connection_resolver``: the run driver's lookup, name -> Endpoint(base_url, decrypted key,
  prices), in the run's workspace; the engine only ever sees that Endpoint.
- ``connection_issues``: graph-time check of the connections and models a graph names.

The built-in "default" connection is the operator's OPENAI_BASE_URL and OPENAI_API_KEY: that key
is sent to that URL only, never through a named connection (engine/llm/openai_provider.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from .credentials import credential_secret
from .engine.llm.base import DEFAULT_CONNECTION, Endpoint, is_default_connection
from .engine.llm.pricing import DEFAULT_PRICES
from .engine.llm.urlguard import UnsafeModelURL, check_model_url
from .engine.validate import Issue
from .model_urls import _base_urls, base_url_issues, dicts_under
from .models import Connection, Credential
from .signals import action as audit

NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
MAX_MODELS = 200


class ConnectionError_(ValueError):
    """A refused write: ``issues`` name the fields (HTTP 400, or 409 for a connection in use)."""

    def __init__(self, message: str, issues: list[Issue] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.issues = issues or [Issue("", message)]
        self.status = status


def _clean(workspace: Any, data: dict[str, Any], current: Connection | None) -> dict[str, Any]:
    issues: list[Issue] = []
    name = str(data.get("name", current.name if current else "")).strip()
    if not NAME.match(name):
        issues.append(Issue("name", "1-100 letters, digits, '_', '.' or '-'"))
    elif name == DEFAULT_CONNECTION:
        issues.append(Issue("name", "'default' is the built-in connection (the server's own endpoint)"))
    base_url = str(data.get("base_url", current.base_url if current else "")).strip()
    try:
        check_model_url(base_url, settings.KAIZEN_ALLOW_PRIVATE_MODEL_URLS)
    except UnsafeModelURL as exc:
        issues.append(Issue("base_url", str(exc)))
    credential = current.credential if current else None
    if "credential" in data:
        wanted = data["credential"]
        credential = None
        if wanted not in (None, ""):
            credential = Credential.objects.filter(workspace=workspace, name=str(wanted)).first()
            if credential is None:
                issues.append(Issue("credential", f"no credential {wanted!r} in this workspace"))
    names = data.get("models", current.model_names if current else [])
    if not isinstance(names, list) or len(names) > MAX_MODELS or not all(
            isinstance(m, str) and 0 < len(m.strip()) <= 200 for m in names):
        issues.append(Issue("models", f"a list of up to {MAX_MODELS} model names"))
        names = []
    prices = data.get("prices", current.prices if current else {})
    if not isinstance(prices, dict) or len(prices) > MAX_MODELS or not all(
            isinstance(k, str) and 0 < len(k) <= 200 and isinstance(v, list) and len(v) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and 0 <= x <= 1e6 for x in v)
            for k, v in prices.items()):
        issues.append(Issue("prices", "an object: model -> [USD per 1M prompt tokens, USD per 1M completion tokens]"))
        prices = {}
    if issues:
        raise ConnectionError_("the connection is invalid", issues)
    return {"name": name, "base_url": base_url, "credential": credential,
            "model_names": list(dict.fromkeys(m.strip() for m in names)), "prices": {k: [float(a), float(b)] for k, (a, b) in prices.items()}}


@transaction.atomic
def connection_save(*, workspace: Any, user: Any, data: dict[str, Any], connection: Connection | None = None) -> Connection:
    """Create (``connection`` None) or update a connection of ``workspace``."""
    fields = _clean(workspace, data, connection)
    if connection is None:
        connection = Connection(workspace=workspace, created_by=user)
    for key, value in fields.items():
        setattr(connection, key, value)
    try:
        with transaction.atomic():
            connection.save()
    except IntegrityError:
        raise ConnectionError_("name taken", [Issue("name", f"the workspace already has a connection {fields['name']!r}")]) from None
    audit("connection.saved", actor=user, object_type="connection", object_id=connection.pk,
          workspace_id=workspace.pk, summary=f"{connection.name} -> {connection.base_url}")
    return connection


@transaction.atomic
def connection_delete(*, connection: Connection, user: Any) -> None:
    audit("connection.deleted", actor=user, object_type="connection", object_id=connection.pk,
          workspace_id=connection.workspace_id, summary=connection.name)
    connection.delete()


@transaction.atomic
def credential_delete(*, credential: Credential, user: Any) -> None:
    """Delete a stored key (audited); refused (409) while a connection sends it."""
    pk = credential.pk  # (None once deleted)
    try:
        credential.delete()
    except ProtectedError:
        users = ", ".join(sorted(c.name for c in credential.connections.all()))
        raise ConnectionError_(f"the credential is used by the connection(s) {users}: change or delete them first",
                               status=409) from None
    audit("credential.deleted", actor=user, object_type="credential", object_id=pk,
          workspace_id=credential.workspace_id, summary=f"{credential.name} ({credential.hint})")


def default_models() -> list[str]:
    prices = {**DEFAULT_PRICES, **(getattr(settings, "KAIZEN_PRICES", None) or {})}
    return sorted(prices)


def public(connection: Connection) -> dict[str, Any]:
    """What the API and the editor see of a connection (never a key)."""
    return {"id": connection.pk, "name": connection.name, "base_url": connection.base_url,
            "credential": connection.credential.name if connection.credential is not None else None,
            "models": connection.model_names, "prices": connection.prices, "builtin": False, "simulated": False}


def builtin_default() -> dict[str, Any]:
    """The operator's endpoint. ``simulated``: no OPENAI_BASE_URL or OPENAI_API_KEY is set, so
    agents on it answer from the simulated provider and ``base_url`` is only where it would go."""
    return {"id": None, "name": DEFAULT_CONNECTION, "base_url": settings.OPENAI_BASE_URL or "https://api.openai.com/v1",
            "credential": None, "models": default_models(), "prices": {}, "builtin": True,
            "simulated": settings.KAIZEN_DEFAULT_PROVIDER == "simulated"}


def connections_offered(workspace: Any) -> list[dict[str, Any]]:
    rows = Connection.objects.filter(workspace=workspace).select_related("credential").order_by("name")
    return [builtin_default(), *(public(c) for c in rows)]


def connection_resolver(run: Any, recorder: Any) -> Callable[[str], Awaitable[Endpoint | None]]:
    """Async lookup, on the run's database thread, of a connection by name in the run's workspace."""
    workspace_id = run.graph.workspace_id

    def lookup(name: str) -> Endpoint | None:
        connection = Connection.objects.filter(workspace_id=workspace_id, name=name).select_related("credential").first()
        if connection is None:
            return None
        key = credential_secret(connection.credential) if connection.credential is not None else None
        prices = {m: (float(p[0]), float(p[1])) for m, p in (connection.prices or {}).items()}
        return Endpoint(base_url=connection.base_url, api_key=key, prices=prices)

    async def resolve(name: str) -> Endpoint | None:
        return await recorder.db(lookup, name)

    return resolve


def _holders(value: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, dict) of every dict under ``value`` naming a non-default ``connection``."""
    return ((where, d) for where, d in dicts_under(value, path)
            if isinstance(d.get("connection"), str) and not is_default_connection(d["connection"]))


def _legacy_credential_issues(nodes: list[Any], workspace: Any) -> list[Issue]:
    """An old-style ``base_url`` may only name a credential stored for that URL."""
    from .credentials import credential_fits


    issues = []
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            continue
        node_id = node.get("id") if isinstance(node.get("id"), str) else None
        for path, holder, url in _base_urls(node.get("config"), f"nodes[{i}].config"):
            name = holder.get("credential")
            if not isinstance(name, str) or not name:
                continue
            credential = Credential.objects.filter(workspace=workspace, name=name).first()
            if credential is not None and not credential_fits(credential, url):
                issues.append(Issue(path.removesuffix(".base_url") + ".credential",
                                    f"the key {name!r} was not stored for {url}: a key only goes to the URL it was "
                                    "stored for; pick a model connection instead", node_id))
    return issues


def connection_issues(spec: Any, workspace: Any) -> list[Issue]:
    """Connections a graph names that its workspace does not have, and models they do not offer."""
    nodes = spec.get("nodes") if isinstance(spec, dict) else None
    if not isinstance(nodes, list):
        return []
    found: list[tuple[str, dict[str, Any], str | None]] = []
    for i, node in enumerate(nodes):
        if isinstance(node, dict):
            node_id = node.get("id") if isinstance(node.get("id"), str) else None
            found += [(p, h, node_id) for p, h in _holders(node.get("config"), f"nodes[{i}].config")]
    issues = _legacy_credential_issues(nodes, workspace)
    if not found:
        return issues
    have = {c.name: c for c in Connection.objects.filter(workspace=workspace, name__in={h["connection"] for _, h, _ in found})}
    for path, holder, node_id in found:
        connection = have.get(holder["connection"])
        if connection is None:
            issues.append(Issue(f"{path}.connection", f"no connection {holder['connection']!r} in this workspace", node_id))
        elif connection.model_names and holder.get("model") and holder["model"] not in connection.model_names:
            issues.append(Issue(f"{path}.model", f"{holder['model']!r} is not offered by {connection.name!r} "
                                                 f"({', '.join(connection.model_names[:10])})", node_id))
    return issues


def with_endpoint_issues(result: dict[str, Any], spec: Any, workspace: Any = None) -> dict[str, Any]:
    """A check_document() result, with the endpoint issues added once the graph is otherwise valid
    (the validate endpoint and the editor's live check); with a ``workspace``, also the
    connections and models it does not offer, and assignees of human nodes who are not its members."""
    if result["valid"]:
        from .assignees import assignee_issues
        from .credentials import tool_credential_issues

        issues = base_url_issues(spec) or (
            (connection_issues(spec, workspace) + tool_credential_issues(spec, workspace) + assignee_issues(spec, workspace))
            if workspace is not None else [])
        result.update(valid=not issues, errors=[i.to_dict() for i in issues])
    return result

"""Stored API keys: encrypted at rest (Fernet), resolved by name for a run's agents and tools, and
never sent back to a browser (the API shows a name and a hint such as "sk-…a1b2").

Each key says where tools may send it (``allowed_hosts``, set by the admin who stores it): an HTTP
tool or an MCP server that would send it to another host is refused, at save when the graph names
it (``tool_credential_issues``) and at call time (the engine checks before anything is sent)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from kaizen_web.crypto import InvalidToken, fernet

from .engine.tools import StoredCredential, credential_allows, host_rule_problem
from .engine.tools.credentials import host_of, normalize_rules
from .engine.validate import Issue
from .model_urls import dicts_under
from .models import Credential
from .signals import action as audit


class CredentialHostsInvalid(ValueError):
    """``allowed_hosts`` has an entry that is not a host, ``*.domain`` or an origin."""

    def __init__(self, index: int, problem: str) -> None:
        super().__init__(f"allowed_hosts[{index}]: {problem}")
        self.index, self.problem = index, problem


def clean_allowed_hosts(rules: list[str]) -> list[str]:
    """The rules as stored (lower case, no duplicates); CredentialHostsInvalid names a bad one."""
    for i, rule in enumerate(rules):
        problem = host_rule_problem(rule) if isinstance(rule, str) else "must be a string"
        if problem:
            raise CredentialHostsInvalid(i, problem)
    return normalize_rules(rules)


def default_hosts(base_url: str) -> list[str]:
    """A new key's hosts when the admin names none: the host of the URL it is stored for, if any
    (else none: no tool may send it until hosts are set)."""
    from urllib.parse import urlsplit

    host = (urlsplit(base_url or "").hostname or "").lower()
    return [host] if host else []


def hint_for(api_key: str) -> str:
    return f"{api_key[:3]}…{api_key[-4:]}" if len(api_key) >= 12 else "…"


@transaction.atomic
def credential_set(*, owner, name: str, api_key: str, base_url: str = "", workspace: Any = None,
                   allowed_hosts: list[str] | None = None) -> tuple[Credential, bool]:
    """Create a credential in ``workspace`` (``owner``'s personal one when not given), or rotate
    the key of an existing one. ``allowed_hosts`` (None: unchanged; for a new key, the host of
    ``base_url`` if any) says where tools may send it. Returns (credential, created)."""
    if workspace is None:
        from workspaces.services import ensure_personal_workspace

        workspace = ensure_personal_workspace(owner)
    hosts = clean_allowed_hosts(allowed_hosts) if allowed_hosts is not None else None
    token = fernet().encrypt(api_key.encode())
    credential, created = Credential.objects.select_for_update().get_or_create(
        workspace=workspace, name=name,
        defaults={"owner": owner, "encrypted_key": token, "hint": hint_for(api_key), "base_url": base_url,
                  "allowed_hosts": hosts if hosts is not None else default_hosts(base_url)})
    if not created:
        credential.encrypted_key, credential.hint, credential.rotated_at = token, hint_for(api_key), timezone.now()
        if base_url:
            credential.base_url = base_url
        if hosts is not None:
            credential.allowed_hosts = hosts
        credential.save()
    audit("credential.added" if created else "credential.rotated", actor=owner, object_type="credential", object_id=credential.pk, owner_id=owner.pk, workspace_id=workspace.pk, summary=f"{name} ({credential.hint})", data={"allowed_hosts": credential.allowed_hosts})
    return credential, created


@transaction.atomic
def credential_hosts_set(*, credential: Credential, user: Any, allowed_hosts: list[str]) -> Credential:
    """Change where tools may send a stored key (the key itself unchanged)."""
    credential.allowed_hosts = clean_allowed_hosts(allowed_hosts)
    credential.save(update_fields=["allowed_hosts"])
    audit("credential.hosts_changed", actor=user, object_type="credential", object_id=credential.pk, owner_id=user.pk,
          workspace_id=credential.workspace_id, summary=f"{credential.name}: {', '.join(credential.allowed_hosts) or 'none'}")
    return credential


def credential_secret(credential: Credential) -> str | None:
    try:
        return fernet().decrypt(bytes(credential.encrypted_key)).decode()
    except InvalidToken:  # encrypted under another key: unusable, never crash the run here
        return None


def credential_fits(credential: Credential, base_url: str | None) -> bool:
    """May ``credential``'s key go to ``base_url``? To the operator's endpoint (or none named)
    always; to any other only if the key was stored for that URL."""
    from .engine.llm.urlguard import normalize

    if not base_url or normalize(base_url) == normalize(settings.OPENAI_BASE_URL or None):
        return True
    return bool(credential.base_url) and normalize(credential.base_url) == normalize(base_url)


def credential_resolver(run: Any, recorder: Any) -> Callable[[str, str | None], Awaitable[str | None]]:
    """Async lookup of a key by name in the run's workspace, on the run's database thread. For an
    old-style node ``base_url`` other than the operator's, only a key stored for that very URL
    (``Credential.base_url``) is given: a workspace's editors cannot send its keys elsewhere."""
    workspace_id = run.graph.workspace_id

    def lookup(name: str, base_url: str | None) -> str | None:
        credential = Credential.objects.filter(workspace_id=workspace_id, name=name).first()
        if credential is None or not credential_fits(credential, base_url):
            return None
        return credential_secret(credential)

    async def resolve(name: str, base_url: str | None = None) -> str | None:
        return await recorder.db(lookup, name, base_url)

    return resolve


def tool_credential_resolver(run: Any, recorder: Any) -> Callable[[str], Awaitable[StoredCredential | None]]:
    """Async lookup of a key by name in the run's workspace for a tool's header, with the hosts
    it may go to (the engine refuses any other host before sending anything)."""
    workspace_id = run.graph.workspace_id

    def lookup(name: str) -> StoredCredential | None:
        credential = Credential.objects.filter(workspace_id=workspace_id, name=name).first()
        secret = credential_secret(credential) if credential is not None else None
        return StoredCredential(secret, list(credential.allowed_hosts or [])) if credential and secret is not None else None

    async def resolve(name: str) -> StoredCredential | None:
        return await recorder.db(lookup, name)

    return resolve


def _http_tools(value: Any, path: str) -> Any:
    """(path, tool config) of every HTTP tool under a node's config, subgraphs' included."""
    return ((where, d) for where, d in dicts_under(value, path)
            if d.get("type") == "http" and isinstance(d.get("url"), str) and isinstance(d.get("headers"), list))


def tool_credential_issues(spec: Any, workspace: Any) -> list[Issue]:
    """HTTP tools whose headers send a stored credential to a host outside its allowed hosts
    (paths relative to the graph document, e.g. ``nodes[0].config.tools[0].headers[0].credential``).
    A credential the workspace does not have yet is left to run time (templates name keys before
    they are stored)."""
    nodes = spec.get("nodes") if isinstance(spec, dict) else None
    if not isinstance(nodes, list):
        return []
    wanted: list[tuple[str, str | None, str, str]] = []
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            continue
        node_id = node.get("id") if isinstance(node.get("id"), str) else None
        for path, tool in _http_tools(node.get("config"), f"nodes[{i}].config"):
            for j, header in enumerate(tool["headers"]):
                if isinstance(header, dict) and isinstance(header.get("credential"), str):
                    wanted.append((f"{path}.headers[{j}].credential", node_id, header["credential"], tool["url"]))
    if not wanted:
        return []
    hosts = dict(Credential.objects.filter(workspace=workspace, name__in={w[2] for w in wanted})
                 .values_list("name", "allowed_hosts"))
    issues = []
    for path, node_id, name, url in wanted:
        if name in hosts and not credential_allows(hosts[name] or [], url):
            allowed = ", ".join(hosts[name] or []) or "no host yet (an admin sets them with the key)"
            issues.append(Issue(path, f"credential {name!r} may not be sent to {host_of(url)!r}: it may only go to "
                                      f"{allowed}", node_id))
    return issues

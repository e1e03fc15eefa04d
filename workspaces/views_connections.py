"""The Connections page of a workspace: its model connections, stored keys and MCP servers (views_mcp.py).

Members with the editor role see both (keys by name, hint and the hosts tools may send them to;
never the key). Admins add and delete connections and keys, and change a key's hosts
(``form=credential-hosts``: one rule per line or comma-separated, checked by the API's own
``clean_allowed_hosts``, audited by the same service as ``PUT /api/credentials/<name>/``)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from graphs.connections import ConnectionError_, connection_delete, connection_save, connections_offered, credential_delete
from graphs.credentials import CredentialHostsInvalid, credential_hosts_set, credential_set
from graphs.models import Connection, Credential
from kaizen_web.htmx import HtmxHttpRequest

from .models import Workspace
from .permissions import abilities, get_for
from .views_mcp import FORMS as MCP_FORMS
from .views_mcp import mcp_context, mcp_post, mcp_tools


def listed(text: str) -> list[str]:
    """What a form's field lists: one item per line or comma-separated, blanks dropped."""
    return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]


def _hosts_problem(exc: CredentialHostsInvalid, rules: list[str]) -> str:
    """The API's field path (``allowed_hosts[1]``), with the rule it points at."""
    return f"allowed_hosts[{exc.index}] {rules[exc.index]!r}: {exc.problem}"


def _set_hosts(request: HtmxHttpRequest, workspace: Workspace) -> dict[str, Any] | None:
    """Change a stored key's hosts; the form's error (id, message, the text typed) if refused."""
    credential = get_for(request.user, Credential.objects.filter(workspace=workspace), request.POST.get("id", "0"), "credentials")
    text = request.POST.get("allowed_hosts", "")
    rules = listed(text)
    if len(text) > 5000 or len(rules) > 50:
        return {"id": credential.pk, "message": "allowed_hosts: at most 50 rules", "value": text}
    try:
        credential_hosts_set(credential=credential, user=request.user, allowed_hosts=rules)
    except CredentialHostsInvalid as exc:
        return {"id": credential.pk, "message": _hosts_problem(exc, rules), "value": text}
    return None


def _post(request: HtmxHttpRequest, workspace: Workspace, form: str) -> None:
    """The admin's other writes; ConnectionError_ names what was refused."""
    if form == "connection":
        try:
            prices = json.loads(request.POST.get("prices") or "{}")
        except ValueError:
            raise ConnectionError_("prices: not JSON") from None
        connection_save(workspace=workspace, user=request.user, data={
            "name": request.POST.get("name", ""), "base_url": request.POST.get("base_url", ""),
            "credential": request.POST.get("credential") or None, "models": listed(request.POST.get("models", "")),
            "prices": prices})
    elif form == "credential":
        name, key = request.POST.get("name", "").strip(), request.POST.get("api_key", "").strip()
        if not name or not key or len(name) > 100 or len(key) > 4000:
            raise ConnectionError_("a key needs a name (up to 100 characters) and the key itself")
        hosts = listed(request.POST.get("allowed_hosts", ""))
        try:
            credential_set(owner=request.user, workspace=workspace, name=name, api_key=key, allowed_hosts=hosts)
        except CredentialHostsInvalid as exc:
            raise ConnectionError_(_hosts_problem(exc, hosts)) from None
    elif form == "delete-connection":
        connection_delete(connection=get_for(request.user, Connection.objects.filter(workspace=workspace),
                                             request.POST.get("id", "0"), "connections"), user=request.user)
    elif form == "delete-credential":
        credential_delete(credential=get_for(request.user, Credential.objects.filter(workspace=workspace),
                                             request.POST.get("id", "0"), "credentials"), user=request.user)


@login_required
@require_http_methods(["GET", "POST"])
def connections(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """GET (editor role): the page; ``?tools=<id>`` lists an MCP server's tools. POST (admin):
    ``form=connection|credential|credential-hosts|delete-connection|delete-credential|mcp-server|
    delete-mcp-server``; a refusal answers 400 with the page and its message (the hosts and MCP forms'
    next to their field), or, to htmx, the keys or MCP panel with it (htmx swaps 2xx only)."""
    workspace = get_for(request.user, Workspace, pk, "edit" if request.method == "GET" else "connections")
    errors: list[str] = []
    hosts_error: dict[str, Any] | None = None
    mcp_refused: dict[str, Any] | None = None
    form = request.POST.get("form", "") if request.method == "POST" else ""
    tools = mcp_tools(request, workspace)
    if request.method == "POST":
        try:
            if form == "credential-hosts":
                hosts_error = _set_hosts(request, workspace)
            elif form in MCP_FORMS:
                mcp_refused = mcp_post(request, workspace, form)
            else:
                _post(request, workspace, form)
        except ConnectionError_ as exc:
            errors = [f"{i.path}: {i.message}" if i.path else i.message for i in exc.issues]
        if request.htmx and form == "credential-hosts":
            return render(request, "workspaces/_credentials.html", _keys(workspace, hosts_error))
        if not errors and not hosts_error and not mcp_refused and not (request.htmx and form in MCP_FORMS):
            return redirect("workspace-connections", pk=pk)
    if request.htmx and (form in MCP_FORMS or tools is not None):
        return render(request, "workspaces/_mcp_servers.html", {**_keys(workspace, None), **mcp_context(workspace, mcp_refused, tools)})
    return render(request, "workspaces/connections.html", {
        **_keys(workspace, hosts_error), **mcp_context(workspace, mcp_refused, tools),
        "connections": connections_offered(workspace), "errors": errors, "form": request.POST,
        "is_admin": abilities(getattr(workspace, "kaizen_role", None))["connections"],
    }, status=400 if errors or hosts_error or mcp_refused else 200)


def _keys(workspace: Workspace, hosts_error: dict[str, Any] | None) -> dict[str, Any]:
    """The keys panel's context: names, hints and hosts (never a key), and what the role may do."""
    return {"workspace": workspace, "credentials": Credential.objects.filter(workspace=workspace).order_by("name"),
            "keys_can": abilities(getattr(workspace, "kaizen_role", None)), "hosts_error": hosts_error}

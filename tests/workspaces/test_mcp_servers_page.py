"""The Connections page's MCP servers: every editor sees the servers (name, URL, key name, auth header;
never a secret) and may list a server's tools (asked now, through the API's SSRF-guarded service);
an admin adds one (checked by the API's own serializer, a refusal next to its field in the API's path
style, audited as the API's writes are) and deletes one; no lower role can write, and another
workspace's server is not there (404)."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from graphs.credentials import credential_set
from graphs.mcp_servers import mcp_server_set
from graphs.models import McpServer
from tests.workspaces.conftest import page_for

pytestmark = pytest.mark.django_db

SECRET = "sk-page-mcp-secret-0123456789abcdef"


def url_of(workspace) -> str:
    return f"/workspaces/{workspace.pk}/connections/"


def events(kind: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(event=f"mcp_server.{kind}").order_by("id"))


def field_error(body: str, field: str) -> str:
    return body.split(f'data-testid="mcp-error-{field}">', 1)[1].split("</span>", 1)[0]


@pytest.fixture
def key(team):
    return credential_set(owner=team.members["admin"], workspace=team.workspace, name="docs-key", api_key=SECRET,
                          allowed_hosts=["mcp.example.com"])[0]


def test_an_admin_adds_lists_and_deletes_a_server_audited_and_never_shows_the_secret(team, key):
    admin, url = page_for(team.members["admin"]), url_of(team.workspace)
    empty = admin.get(url).content.decode()
    assert 'data-testid="mcp-server-add"' in empty and "No MCP servers yet" in empty
    assert 'value="Bearer {{secret}}"' in empty and 'name="auth_header" maxlength="100" value="Authorization"' in empty
    added = admin.post(url, {"form": "mcp-server", "name": "research-docs", "url": "https://mcp.example.com/mcp",
                             "credential": "docs-key", "auth_header": "X-Api-Key", "auth_value": "Token {{secret}}"})
    assert added.status_code == 302
    server = McpServer.objects.get(workspace=team.workspace, name="research-docs")
    assert (server.url, server.credential, server.auth_header, server.auth_value, server.owner_id) == (
        "https://mcp.example.com/mcp", "docs-key", "X-Api-Key", "Token {{secret}}", team.members["admin"].pk)
    [entry] = events("added")
    assert (entry.actor_id, entry.workspace_id, entry.object_id) == (team.members["admin"].pk, team.workspace.pk, str(server.pk))
    body = admin.get(url).content.decode()
    row = body.split('<tr data-mcp-server="research-docs">', 1)[1].split("</tr>", 1)[0]
    assert "https://mcp.example.com/mcp" in row and "docs-key" in row and "X-Api-Key" in row
    assert SECRET not in body and SECRET[:12] not in body
    # the same name again changes it (as the API's POST does); blank header and template mean the defaults
    assert admin.post(url, {"form": "mcp-server", "name": "research-docs", "url": "https://mcp.example.com/v2",
                            "credential": "", "auth_header": " ", "auth_value": ""}).status_code == 302
    server.refresh_from_db()
    assert (server.url, server.credential, server.auth_header, server.auth_value) == (
        "https://mcp.example.com/v2", "", "Authorization", "Bearer {{secret}}")
    assert len(events("changed")) == 1
    # htmx: the MCP panel alone
    swapped = admin.post(url, {"form": "delete-mcp-server", "id": server.pk}, headers={"HX-Request": "true"})
    assert swapped.status_code == 200 and "<html" not in swapped.content.decode()
    assert 'id="mcp-servers"' in swapped.content.decode() and "No MCP servers yet" in swapped.content.decode()
    assert not McpServer.objects.filter(pk=server.pk).exists()
    [deleted] = events("deleted")
    assert deleted.actor_id == team.members["admin"].pk and "research-docs" in deleted.summary


def test_a_bad_url_and_a_key_whose_hosts_do_not_cover_the_url_are_refused_next_to_the_field(team, key):
    admin, url = page_for(team.members["admin"]), url_of(team.workspace)
    bad = admin.post(url, {"form": "mcp-server", "name": "docs", "url": "ftp://files.example.com/mcp"})
    assert bad.status_code == 400
    body = bad.content.decode()
    assert field_error(body, "url").startswith("url: "), field_error(body, "url")
    assert 'value="ftp://files.example.com/mcp"' in body and 'value="docs"' in body, "what was typed is kept"
    elsewhere = admin.post(url, {"form": "mcp-server", "name": "docs", "url": "https://evil.example.net/mcp",
                                 "credential": "docs-key"}, headers={"HX-Request": "true"})
    assert elsewhere.status_code == 200 and "<html" not in elsewhere.content.decode()  # (htmx swaps 2xx only)
    body = elsewhere.content.decode()
    assert field_error(body, "credential") == (
        "credential: credential &#x27;docs-key&#x27; may not be sent to &#x27;evil.example.net&#x27;: add that host "
        "to the credential&#x27;s allowed_hosts (mcp.example.com) first")
    assert '<option value="docs-key" selected>' in body
    name = admin.post(url, {"form": "mcp-server", "name": "has space", "url": "https://mcp.example.com/mcp"})
    assert name.status_code == 400 and field_error(name.content.decode(), "name").startswith("name: ")
    header = admin.post(url, {"form": "mcp-server", "name": "docs", "url": "https://mcp.example.com/mcp",
                              "auth_header": "Bad: header"})
    assert header.status_code == 400 and field_error(header.content.decode(), "auth_header").startswith("auth_header: ")
    unknown = admin.post(url, {"form": "mcp-server", "name": "docs", "url": "https://mcp.example.com/mcp",
                               "credential": "nope"})
    assert field_error(unknown.content.decode(), "credential") == "credential: no stored credential named &#x27;nope&#x27;"
    assert not McpServer.objects.exists() and events("added") == []


def test_lower_roles_see_the_list_read_only_and_may_not_write(team, key):
    server, _ = mcp_server_set(owner=team.members["admin"], workspace=team.workspace, name="docs",
                               url="https://mcp.example.com/mcp", credential="docs-key")
    url = url_of(team.workspace)
    shown = page_for(team.members["editor"]).get(url).content.decode()
    assert '<tr data-mcp-server="docs">' in shown and "List tools" in shown
    assert 'data-testid="mcp-server-add"' not in shown and 'name="form" value="delete-mcp-server"' not in shown
    assert 'data-testid="mcp-read-only"' in shown and SECRET not in shown
    for who in ("editor", "runner", "viewer"):
        client = page_for(team.members[who])
        assert client.post(url, {"form": "mcp-server", "name": "evil", "url": "https://evil.example.com/mcp"}).status_code == 403, who
        assert client.post(url, {"form": "delete-mcp-server", "id": server.pk}).status_code == 403, who
    for who in ("runner", "viewer"):
        assert page_for(team.members[who]).get(url, {"tools": server.pk}).status_code == 403, who
    assert list(McpServer.objects.values_list("name", flat=True)) == ["docs"]
    assert events("deleted") == [] and len(events("added")) == 1


def test_another_workspaces_server_is_not_there(team, key):
    server, _ = mcp_server_set(owner=team.members["admin"], workspace=team.workspace, name="docs",
                               url="https://mcp.example.com/mcp")
    outsider = page_for(team.outsider)  # (a superuser of Django's admin: no member, no access)
    own = url_of(team.outsider.personal_workspace)
    assert outsider.post(url_of(team.workspace), {"form": "delete-mcp-server", "id": server.pk}).status_code == 404
    assert outsider.post(own, {"form": "delete-mcp-server", "id": server.pk}).status_code == 404
    assert outsider.get(own, {"tools": server.pk}).status_code == 404
    assert outsider.get(own, {"tools": "not-a-number"}).status_code == 404
    assert '<tr data-mcp-server="docs">' not in outsider.get(own).content.decode()
    assert McpServer.objects.filter(pk=server.pk).exists() and events("deleted") == []


def test_list_tools_asks_the_real_server_through_the_ssrf_guard(team, mcp_test_server, settings):
    settings.KAIZEN_TOOLS_ALLOW_PRIVATE = True  # (the test server is on 127.0.0.1)
    server, _ = mcp_server_set(owner=team.members["admin"], workspace=team.workspace, name="docs", url=mcp_test_server.url)
    editor, url = page_for(team.members["editor"]), url_of(team.workspace)
    listed = editor.get(url, {"tools": server.pk}, headers={"HX-Request": "true"})
    assert listed.status_code == 200 and "<html" not in listed.content.decode()
    body = listed.content.decode()
    tools = body.split('data-testid="mcp-tools">', 1)[1].split("</ul>", 1)[0]
    assert '<li data-tool="search"><code>search</code>' in tools and '<li data-tool="add"><code>add</code>' in tools
    assert "Search" in tools.split('data-tool="search"', 1)[1].split("</li>", 1)[0], "the tool's description"
    # without htmx: the whole page with the list
    assert 'data-testid="mcp-tools"' in editor.get(url, {"tools": server.pk}).content.decode()
    settings.KAIZEN_TOOLS_ALLOW_PRIVATE = False
    refused = editor.get(url, {"tools": server.pk}, headers={"HX-Request": "true"})
    assert refused.status_code == 200
    error = refused.content.decode().split('data-testid="mcp-tools-error">', 1)[1].split("</div>", 1)[0]
    assert "private, loopback or reserved" in error

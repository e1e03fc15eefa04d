"""The Connections page's stored keys: every editor sees where each key may be sent (never the key);
an admin changes a key's hosts in a form, checked by the API's own rules (a refusal names the
rule's path next to the field), audited as the API's PUT is; no lower role can."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from graphs.credentials import credential_set
from graphs.models import Credential
from tests.workspaces.conftest import page_for

pytestmark = pytest.mark.django_db

SECRET = "sk-page-hosts-secret-0123456789abcdef"


def hosts_changes(credential: Credential) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(event="credential.hosts_changed", object_id=str(credential.pk)).order_by("id"))


@pytest.fixture
def key(team) -> Credential:
    return credential_set(owner=team.members["admin"], workspace=team.workspace, name="svc", api_key=SECRET,
                          allowed_hosts=["api.example.com"])[0]


def test_an_admin_changes_a_keys_hosts_one_rule_a_line_or_comma_separated(team, key):
    admin, url = page_for(team.members["admin"]), f"/workspaces/{team.workspace.pk}/connections/"
    shown = admin.get(url).content.decode()
    assert 'data-testid="credential-hosts-form"' in shown and "api.example.com" in shown
    assert SECRET not in shown and SECRET[:12] not in shown and key.hint in shown
    saved = admin.post(url, {"form": "credential-hosts", "id": key.pk,
                             "allowed_hosts": "api.example.com\n*.Example.org, https://tools.example.net:8443\n\n"})
    assert saved.status_code == 302
    key.refresh_from_db()
    assert key.allowed_hosts == ["api.example.com", "*.example.org", "https://tools.example.net:8443"]
    [entry] = hosts_changes(key)
    assert entry.actor_id == team.members["admin"].pk and entry.workspace_id == team.workspace.pk
    assert "*.example.org" in entry.summary
    # emptied: no tool may send it any more
    assert admin.post(url, {"form": "credential-hosts", "id": key.pk, "allowed_hosts": " \n "}).status_code == 302
    key.refresh_from_db()
    assert key.allowed_hosts == [] and "no host: no tool may send it" in admin.get(url).content.decode()


def test_a_bad_rule_is_refused_next_to_the_field_with_its_path(team, key):
    admin, url = page_for(team.members["admin"]), f"/workspaces/{team.workspace.pk}/connections/"
    typed = "api.example.com\nnot a host!"
    refused = admin.post(url, {"form": "credential-hosts", "id": key.pk, "allowed_hosts": typed})
    assert refused.status_code == 400
    body = refused.content.decode()
    error = body.split('data-testid="credential-hosts-error">', 1)[1].split("</span>", 1)[0]
    assert error.startswith("allowed_hosts[1] &#x27;not a host!&#x27;: a host (api.example.com)"), error
    assert "<textarea" in body and "not a host!</textarea>" in body, "the text typed is kept for correcting"
    assert "has-error" in body and "<details class=\"hosts-edit\" open>" in body
    key.refresh_from_db()
    assert key.allowed_hosts == ["api.example.com"] and hosts_changes(key) == []
    # htmx: the keys panel alone, with the same message (htmx swaps 2xx only)
    swapped = admin.post(url, {"form": "credential-hosts", "id": key.pk, "allowed_hosts": "ftp://files.example.com"},
                         headers={"HX-Request": "true"})
    assert swapped.status_code == 200 and "<html" not in swapped.content.decode()
    assert "allowed_hosts[0] &#x27;ftp://files.example.com&#x27;: an origin must start with http:// or https://" \
        in swapped.content.decode()
    done = admin.post(url, {"form": "credential-hosts", "id": key.pk, "allowed_hosts": "hooks.example.com"},
                      headers={"HX-Request": "true"})
    assert done.status_code == 200 and 'data-testid="credential-hosts-error"' not in done.content.decode()
    assert '<span class="muted" data-testid="credential-hosts">hooks.example.com</span>' in done.content.decode()
    assert len(hosts_changes(key)) == 1


def test_only_roles_that_manage_keys_may_change_their_hosts(team, key):
    url = f"/workspaces/{team.workspace.pk}/connections/"
    editor = page_for(team.members["editor"])
    shown = editor.get(url).content.decode()
    assert '<span class="muted" data-testid="credential-hosts">api.example.com</span>' in shown
    assert 'data-testid="credential-hosts-form"' not in shown and 'data-testid="credentials-read-only"' in shown
    assert SECRET not in shown
    for who, status in (("editor", 403), ("runner", 403), ("viewer", 403)):
        assert page_for(team.members[who]).post(url, {"form": "credential-hosts", "id": key.pk,
                                                      "allowed_hosts": "evil.example.com"}).status_code == status, who
    assert page_for(team.members["viewer"]).get(url).status_code == 403
    outsider = page_for(team.outsider)  # (a superuser of Django's admin: no member, no access)
    assert outsider.post(url, {"form": "credential-hosts", "id": key.pk, "allowed_hosts": "evil.example.com"}).status_code == 404
    # an admin of another workspace cannot reach this workspace's key through their own page
    own = f"/workspaces/{team.outsider.personal_workspace.pk}/connections/"
    assert outsider.post(own, {"form": "credential-hosts", "id": key.pk, "allowed_hosts": "evil.example.com"}).status_code == 404
    key.refresh_from_db()
    assert key.allowed_hosts == ["api.example.com"] and hosts_changes(key) == []

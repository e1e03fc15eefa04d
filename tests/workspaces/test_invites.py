"""Inviting someone without an account: a member at once, and a one-time link to choose a password."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from audit.models import AuditEntry
from workspaces.models import Membership, Role

pytestmark = pytest.mark.django_db


def invite(client: Client, workspace_id: int, email: str, role: str = "runner") -> str:
    response = client.post(f"/workspaces/{workspace_id}/members/", {"invite_email": email, "role": role},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def test_an_admin_invites_by_email_and_the_link_sets_a_password_once(team):
    admin = Client()
    admin.force_login(team.members["admin"])
    panel = invite(admin, team.workspace.pk, "Grace.Hopper@example.com")
    link = re.search(r'<code id="invite-url">(http://testserver(/accounts/reset/[^<]+))</code>', panel)
    assert link, panel
    user = get_user_model().objects.get(email="Grace.Hopper@example.com")
    assert user.username == "grace.hopper" and not user.has_usable_password()
    assert Membership.objects.get(workspace=team.workspace, user=user).role == Role.RUNNER
    assert "grace.hopper" in panel and 'data-member="grace.hopper"' in panel
    assert AuditEntry.objects.filter(event="member.invited", workspace_id=team.workspace.pk).count() == 1

    guest = Client()
    form = guest.get(link.group(2), follow=True)
    assert b"Choose your password" in form.content and b"grace.hopper" in form.content
    weak = guest.post(form.redirect_chain[-1][0], {"new_password1": "123", "new_password2": "123"})
    assert weak.status_code == 200 and b'data-testid="password-errors"' in weak.content
    done = guest.post(form.redirect_chain[-1][0], {"new_password1": "a-long-passphrase-42", "new_password2": "a-long-passphrase-42"})
    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"
    assert guest.post("/accounts/login/", {"username": "grace.hopper", "password": "a-long-passphrase-42"}).status_code == 302
    assert guest.get("/runs/").status_code == 200, "signed in: the page answers instead of sending to the login"
    again = Client().get(link.group(2), follow=True)
    assert b"This link no longer works" in again.content, "the link is one-time"


def test_invites_are_refused_with_a_reason(team, settings, django_user_model):
    admin = Client()
    admin.force_login(team.members["admin"])
    assert "is not an email address" in invite(admin, team.workspace.pk, "not-an-email")
    assert "already has an account" in invite(admin, team.workspace.pk, "ada@example.com")
    personal = team.members["admin"].memberships.exclude(workspace=team.workspace).get().workspace_id
    assert "not a personal one" in invite(admin, personal, "x@example.com")
    settings.KAIZEN_INVITES = False
    assert "turned off" in invite(admin, team.workspace.pk, "y@example.com")
    assert not django_user_model.objects.filter(email__in=["x@example.com", "y@example.com"]).exists()
    settings.KAIZEN_INVITES = True
    editor = Client()
    editor.force_login(team.members["editor"])
    refused = editor.post(f"/workspaces/{team.workspace.pk}/members/", {"invite_email": "z@example.com"})
    assert refused.status_code == 403 and not django_user_model.objects.filter(email="z@example.com").exists()
    # someone invited who never came gets a fresh link, not a second account
    first = invite(admin, team.workspace.pk, "late@example.com")
    second = invite(admin, team.workspace.pk, "late@example.com")
    assert 'id="invite-url"' in first and 'id="invite-url"' in second
    assert django_user_model.objects.filter(email="late@example.com").count() == 1


def test_no_mailing_password_reset_form_is_exposed(client):
    assert client.get("/accounts/password_reset/").status_code == 404
    assert client.get("/accounts/login/").status_code == 200

"""Writes: personal workspaces, new workspaces, members and their roles."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from graphs.signals import action as record_action  # (audit hears actions through graphs' one door)

from .models import Membership, Role, Workspace


class MembershipError(ValueError):
    """A member change that is refused (unknown user, last admin...): a 400 with this text."""


def ensure_personal_workspace(user: Any) -> Workspace:
    """The user's personal workspace (created with the user; created here when missing)."""
    with transaction.atomic():
        workspace, created = Workspace.objects.get_or_create(personal_for=user, defaults={"name": user.get_username()[:100]})
        if created:
            Membership.objects.create(workspace=workspace, user=user, role=Role.ADMIN)
    return workspace


@transaction.atomic
def workspace_create(*, user: Any, name: str) -> Workspace:
    workspace = Workspace.objects.create(name=name[:100])
    Membership.objects.create(workspace=workspace, user=user, role=Role.ADMIN)
    record_action("workspace.created", actor=user, object_type="workspace", object_id=workspace.pk,
                  workspace_id=workspace.pk, summary=workspace.name)
    return workspace


def find_user(username_or_email: str) -> Any:
    text = (username_or_email or "").strip()
    if not text:
        raise MembershipError("give a username or an email address")
    users = list(get_user_model().objects.filter(Q(username=text) | Q(email__iexact=text), is_active=True)[:2])
    if len(users) != 1:
        raise MembershipError(f"no single user is called {text!r}" if not users else f"{text!r} names several users: use the username")
    return users[0]


def _role(value: Any) -> Role:
    if isinstance(value, str) and not value.isdigit():
        for role in Role:
            if role.label == value:
                return role
    try:
        return Role(int(value))
    except (TypeError, ValueError):
        raise MembershipError(f"role must be one of {', '.join(r.label for r in Role)}") from None


def _keep_an_admin(workspace: Workspace, leaving: Membership) -> None:
    if leaving.role == Role.ADMIN and not workspace.memberships.filter(role=Role.ADMIN).exclude(pk=leaving.pk).exists():
        raise MembershipError("a workspace keeps at least one admin")


@transaction.atomic
def member_add(*, workspace: Workspace, by: Any, who: str, role: Any = Role.VIEWER) -> Membership:
    user, wanted = find_user(who), _role(role)
    membership, created = Membership.objects.select_for_update().get_or_create(workspace=workspace, user=user,
                                                                              defaults={"role": wanted})
    if not created:
        raise MembershipError(f"{user.get_username()} is already a member ({membership.get_role_display()})")
    record_action("member.added", actor=by, object_type="workspace", object_id=workspace.pk, workspace_id=workspace.pk,
                  summary=f"{user.get_username()} as {membership.get_role_display()}")
    return membership


@transaction.atomic
def member_set_role(*, membership: Membership, by: Any, role: Any) -> Membership:
    wanted = _role(role)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if wanted != Role.ADMIN:
        _keep_an_admin(membership.workspace, membership)
    membership.role = wanted
    membership.save(update_fields=["role"])
    record_action("member.role", actor=by, object_type="workspace", object_id=membership.workspace_id,
                  workspace_id=membership.workspace_id,
                  summary=f"{membership.user.get_username()} is now {membership.get_role_display()}")
    return membership


@transaction.atomic
def member_remove(*, membership: Membership, by: Any) -> None:
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _keep_an_admin(membership.workspace, membership)
    if membership.workspace.personal_for_id == membership.user_id:
        raise MembershipError("nobody leaves their own personal workspace")
    record_action("member.removed", actor=by, object_type="workspace", object_id=membership.workspace_id,
                  workspace_id=membership.workspace_id, summary=membership.user.get_username())
    membership.delete()


@transaction.atomic
def member_invite(*, workspace: Workspace, by: Any, email: str, role: Any = Role.VIEWER) -> tuple[Membership, str]:
    """Someone without an account: create it (no password yet), make them a member, and return
    the path of a one-time link where they choose their password (Django's password-reset
    token: it stops working once used, after KAIZEN_INVITE_DAYS days, or when they log in).
    The admin passes the link on; no email is sent (installs may be offline)."""
    if not settings.KAIZEN_INVITES:
        raise MembershipError("inviting new people is turned off here (KAIZEN_INVITES=0): ask the operator for an account")
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise MembershipError(f"{email!r} is not an email address") from None
    if workspace.personal_for_id is not None:
        raise MembershipError("invite people into a team workspace (create one on the Workspaces page), not a personal one")
    users = get_user_model().objects
    wanted = _role(role)
    existing = users.filter(email__iexact=email).first()
    if existing is not None and (existing.has_usable_password() or existing.last_login is not None):
        raise MembershipError(f"{email} already has an account: add them as a member instead")
    if existing is not None:  # invited before and never came: a new link (the old one still works until used)
        user = existing
    else:
        base = "".join(c for c in email.split("@", 1)[0].lower() if c.isalnum() or c in "._-")[:30] or "user"
        username, n = base, 1
        while users.filter(username=username).exists():
            n += 1
            username = f"{base}{n}"
        user = users.create_user(username=username, email=email, password=None)  # (an unusable password)
    membership, _ = Membership.objects.get_or_create(workspace=workspace, user=user, defaults={"role": wanted})
    username = user.get_username()
    record_action("member.invited", actor=by, object_type="workspace", object_id=workspace.pk, workspace_id=workspace.pk,
                  summary=f"{email} as {membership.get_role_display()} (account {username})")
    link = reverse("password_reset_confirm", kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                                                     "token": default_token_generator.make_token(user)})
    return membership, link

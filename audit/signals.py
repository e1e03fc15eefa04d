"""Signal receivers: sign-ins go to the audit log."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver


@receiver(user_logged_in, dispatch_uid="audit_user_logged_in")
def _user_logged_in(sender, request, user, **kwargs) -> None:
    from .services import record_action

    ip = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    record_action("user.login", actor=user, object_type="user", object_id=user.pk, owner_id=user.pk,
                  status="succeeded", summary=f"{user.get_username()} signed in", data={"ip": ip})

"""Signal receivers: sign-ins go to the audit log; Celery tasks bind the run they work on."""

from __future__ import annotations

from contextvars import Token
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from . import logs


@receiver(user_logged_in, dispatch_uid="audit_user_logged_in")
def _user_logged_in(sender, request, user, **kwargs) -> None:
    """A sign-in is the user's event, not a workspace's: it belongs to no workspace (no member of
    any workspace reads another's addresses), and the user reads their own on the audit page
    ("Your account", selectors.account_entries); operators see all of them in Django admin."""
    from .services import record_action

    ip = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    record_action("user.login", actor=user, object_type="user", object_id=user.pk, owner_id=user.pk,
                  workspace_id=None, status="succeeded", summary=f"{user.get_username()} signed in", data={"ip": ip})


# Worker lines logged around a run (claim, errors) carry its id too; the driver binds it again inside.
_task_tokens: dict[str, Token[Any]] = {}


@task_prerun.connect(dispatch_uid="audit_task_prerun")
def _bind_run(task_id=None, task=None, args=None, **kwargs) -> None:
    if task is not None and task.name == "graphs.run_execute" and args:
        _task_tokens[task_id] = logs.bind(run_id=args[0])


@task_postrun.connect(dispatch_uid="audit_task_postrun")
def _unbind_run(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            logs.reset(token)
        except ValueError:  # created in another context (should not happen with the thread pool)
            pass

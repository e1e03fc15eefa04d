"""Who may answer a human node (approval, input): the one rule, used by the answer endpoint,
the run page, "Waiting for you" and the graph's save check.

A node's ``assignees`` (its config) name workspace members by username or email, or a role as
``role:<role>`` (members holding that role or a higher one):

- no assignees: any member who may run the graph (runner and above), as before assignment existed;
- otherwise: the members named or holding a named role, whatever their role otherwise is (the
  editor who named them made being asked the permission), and nobody else;
- workspace admins may always answer (someone must be able to, e.g. when the person left).

A member removed from the workspace cannot see the run, so cannot answer it either.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q

from workspaces.models import Membership, Role
from workspaces.permissions import role_of

from .engine.nodes.human import ROLE_PREFIX
from .engine.validate import Issue
from .models import HumanAnswer, NodeState, Run

ROLE_VALUES = {role.label: role.value for role in Role}


def designates(assignees: list[str], user: Any, role: int | None) -> bool:
    """May ``user``, holding ``role`` in the run's workspace (None: not a member), answer a node
    with these ``assignees``."""
    if role is None or user is None or not user.is_authenticated:
        return False
    if role >= Role.ADMIN:
        return True
    if not assignees:
        return role >= Role.RUNNER
    email = (user.email or "").lower()
    for entry in assignees:
        if entry.startswith(ROLE_PREFIX):
            if role >= ROLE_VALUES.get(entry[len(ROLE_PREFIX):], Role.ADMIN + 1):
                return True
        elif entry == user.username or (email and entry.lower() == email):
            return True
    return False


def describe(assignees: list[str]) -> str:
    """Who is asked, in words: 'alice, bob@example.com or an editor' ('' for anyone who may run)."""
    people = [a for a in assignees if not a.startswith(ROLE_PREFIX)]
    roles = [f"an {r}" if r[0] in "aeiou" else f"a {r}" for r in (a[len(ROLE_PREFIX):] for a in assignees if a.startswith(ROLE_PREFIX))]
    names = people + [f"{r} or above" if not r.endswith("admin") else r for r in roles]
    return ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1] if names else ""


def identity(user: Any, role: int | None) -> dict[str, Any]:
    """What the run page's script needs to apply ``designates`` to a node that starts waiting
    while the page is open (static/js/run_human.js mayAnswer, the same rule)."""
    return {"username": getattr(user, "username", ""), "email": (getattr(user, "email", "") or "").lower(),
            "role": role or 0, "runner": Role.RUNNER.value, "admin": Role.ADMIN.value, "roles": ROLE_VALUES}


def node_assignees(run: Run, node_id: str) -> list[str]:
    """The assignees of the run's human node ``node_id``, from the version the run executes."""
    spec = next((n for n in run.version.spec.get("nodes", []) if isinstance(n, dict) and n.get("id") == node_id), None)
    config = (spec or {}).get("config") or {}
    assignees = config.get("assignees") if isinstance(config, dict) else None
    return [a for a in assignees if isinstance(a, str)] if isinstance(assignees, list) else []


def refusal(user: Any, run: Run, node_id: str) -> str | None:
    """Why ``user`` may not answer the run's node ``node_id`` (403), or None."""
    role = role_of(user, run.graph.workspace_id)
    assignees = node_assignees(run, node_id)
    if designates(assignees, user, role):
        return None
    if not assignees:
        return "answering needs the runner role or above in this workspace"
    return f"{node_id} is assigned to {describe(assignees)}: only they or a workspace admin may answer it"


def waiting_for(user: Any, runs: Any) -> set[int]:
    """Ids of the runs among ``runs`` (waiting ones) with a node that waits for ``user``: assigned
    to them by name or role, or unassigned and they may run the graph, or they are an admin."""
    if user is None or not user.is_authenticated:
        return set()
    roles = dict(Membership.objects.filter(user_id=user.pk).values_list("workspace_id", "role"))
    rows = (NodeState.objects.filter(run__in=runs, status="waiting")
            .values_list("run_id", "node_id", "data__scratch__human__assignees", "run__graph__workspace_id"))
    answered = set(HumanAnswer.objects.filter(run__in=runs).values_list("run_id", "node_id"))
    return {run_id for run_id, node_id, assignees, workspace_id in rows
            if (run_id, node_id) not in answered
            and designates(assignees if isinstance(assignees, list) else [], user, roles.get(workspace_id))}


def assignee_issues(spec: Any, workspace: Any) -> list[Issue]:
    """Named assignees of the graph's human nodes that are not members of its workspace (or name
    several), with the field path: ``nodes[3].config.assignees[0]``."""
    nodes = spec.get("nodes") if isinstance(spec, dict) else None
    named: list[tuple[str, str, str | None]] = []
    for i, node in enumerate(nodes if isinstance(nodes, list) else []):
        config = node.get("config") if isinstance(node, dict) else None
        entries = config.get("assignees") if isinstance(config, dict) else None
        for j, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, str) and entry.strip() and not entry.strip().startswith(ROLE_PREFIX):
                named.append((f"nodes[{i}].config.assignees[{j}]", entry.strip(), node.get("id")))
    if not named or workspace is None:
        return []
    wanted = Q()
    for _path, entry, _node in named:
        wanted |= Q(username=entry) | Q(email__iexact=entry)
    members = list(get_user_model().objects.filter(wanted, memberships__workspace=workspace).values_list("username", "email"))
    issues = []
    for path, entry, node_id in named:
        found = [u for u, e in members if u == entry or (e or "").lower() == entry.lower()]
        if not found:
            issues.append(Issue(path, f"{entry!r} is not a member of the workspace {workspace.name!r}: add them on its "
                                      "Members page, or name a role (role:editor)", node_id))
        elif len(set(found)) > 1:
            issues.append(Issue(path, f"{entry!r} is the email of several members ({', '.join(sorted(set(found)))}): "
                                      "name one by username", node_id))
    return issues

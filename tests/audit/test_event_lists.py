"""Every action the code records has a place in the audit log's views: the default view ("People and
outcomes", `USER_EVENTS`), the user's own account section (`ACCOUNT_EVENTS`), or the events that arrive
from outside (`MACHINE_EVENTS`, in the event filter). The lists are kept by hand; this reads the
code's calls to the recorders and fails on an event in none of them (an event missing there is hidden
from the default view, and an account event from everyone)."""

from __future__ import annotations

import re
from pathlib import Path

from audit import selectors

ROOT = Path(__file__).resolve().parents[2]
APPS = ["apitokens", "audit", "graphs", "kaizen_web", "triggers", "workspaces"]
# the recorders: audit.services.record_action, graphs.signals.action (imported as `audit`), the
# triggers' wrapper; the event is their first argument
CALL = re.compile(r"\b(?:record_action|audit|action|_audit_trigger)\(\s*\"([a-z_]+(?:\.[a-z_]+)?)\"")


def recorded_events() -> dict[str, str]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for event in CALL.findall(path.read_text()):
                found.setdefault(event, str(path.relative_to(ROOT)))
    return found


def test_every_recorded_action_is_in_a_view():
    found = recorded_events()
    # the reader finds the recorders' calls (a renamed recorder would make this test pass vacuously)
    assert {"graph.saved", "member.role", "trigger.created", "token_created", "user.login"} <= set(found), sorted(found)
    known = set(selectors.USER_EVENTS) | set(selectors.ACCOUNT_EVENTS) | set(selectors.MACHINE_EVENTS)
    missing = {event: where for event, where in found.items() if event not in known}
    assert not missing, f"recorded but in no audit view (audit/selectors.py): {missing}"


def test_the_lists_do_not_overlap_and_every_one_can_be_filtered():
    lists = [selectors.USER_EVENTS, selectors.ACCOUNT_EVENTS, selectors.MACHINE_EVENTS]
    assert sum(len(set(x)) for x in lists) == len(set().union(*lists))
    assert set(selectors.USER_EVENTS) | set(selectors.MACHINE_EVENTS) <= set(selectors.EVENT_CHOICES)

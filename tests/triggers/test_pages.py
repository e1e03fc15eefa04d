"""The graph page's "Triggers and schedules" panel (htmx) and the Publish action."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from graphs import services as graph_services
from triggers.models import Schedule, WebhookTrigger

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(user):
    client = Client(headers={"HX-Request": "true"})
    client.force_login(user)
    return client


def test_panel_creates_a_trigger_and_shows_its_secret_once(page, graph):
    html = page.get(f"/graphs/{graph.pk}/triggers/").content.decode()
    assert "No webhook triggers yet" in html and "version 1" in html
    html = page.post(f"/graphs/{graph.pk}/triggers/", {"name": "github", "auth": "hmac", "mode": "wait", "wait_s": "20",
                                                      "rate_limit": "30/min", "max_body_bytes": "1000",
                                                      "mapping": "task = /pull_request/title"}).content.decode()
    trigger = WebhookTrigger.objects.get()
    secret = re.search(r'id="trigger-secret">([^<]+)<', html).group(1)
    assert secret.startswith("kzt_") and "X-Kaizen-Signature" in html
    assert trigger.mapping == {"task": "/pull_request/title"} and trigger.mode == "wait" and trigger.wait_s == 20
    assert f"http://testserver/hooks/t/{trigger.public_id}/" in html
    again = page.get(f"/graphs/{graph.pk}/triggers/").content.decode()
    assert secret not in again and trigger.secret_hint in again
    html = page.post(f"/graphs/{graph.pk}/triggers/{trigger.pk}/regenerate/").content.decode()
    assert re.search(r'id="trigger-secret">([^<]+)<', html).group(1) != secret
    page.post(f"/graphs/{graph.pk}/triggers/{trigger.pk}/toggle/")
    assert not WebhookTrigger.objects.get().enabled
    html = page.post(f"/graphs/{graph.pk}/triggers/{trigger.pk}/edit/", {"name": "gh", "auth": "hmac", "mode": "async",
                                                                         "wait_s": "5", "rate_limit": "", "max_body_bytes": "2000",
                                                                         "mapping": "task = title"}).content.decode()
    trigger.refresh_from_db()
    assert trigger.name == "gh" and trigger.rate_limit == "" and trigger.mapping == {"task": "title"}
    assert "trigger-secret" not in html  # same auth: same secret
    bad = page.post(f"/graphs/{graph.pk}/triggers/", {"wait_s": "999", "mapping": "no equals sign"}).content.decode()
    assert "wait_s" in bad and "each line is" in bad and WebhookTrigger.objects.count() == 1
    page.post(f"/graphs/{graph.pk}/triggers/{trigger.pk}/delete/")
    assert not WebhookTrigger.objects.exists()


def test_panel_schedules_show_their_next_firings(page, graph):
    html = page.post(f"/graphs/{graph.pk}/schedules/", {"name": "mornings", "kind": "cron", "cron": "0 9 * * mon-fri",
                                                       "timezone": "Europe/Paris", "inputs": '{"task": "digest"}',
                                                       "missed": "skip"}).content.decode()
    schedule = Schedule.objects.get()
    assert schedule.inputs == {"task": "digest"} and schedule.missed == "skip"
    assert html.count("<time ") == 3 and "09:00:00 Europe/Paris" in html
    bad = page.post(f"/graphs/{graph.pk}/schedules/", {"kind": "cron", "cron": "0 9 1 * mon", "timezone": "UTC"}).content.decode()
    assert "not both" in bad and Schedule.objects.count() == 1
    page.post(f"/graphs/{graph.pk}/schedules/{schedule.pk}/edit/", {"name": "hourly", "kind": "interval", "interval_s": "3600",
                                                                     "timezone": "UTC", "inputs": "", "missed": "run_once"})
    schedule.refresh_from_db()
    assert schedule.kind == "interval" and schedule.interval_s == 3600 and schedule.periodic_task.interval.every == 3600
    html = page.post(f"/graphs/{graph.pk}/schedules/{schedule.pk}/toggle/").content.decode()
    assert "not firing (disabled)" in html


def test_others_cannot_see_or_change_a_graphs_triggers(graph, user, other_user):
    trigger = WebhookTrigger.objects.create(graph=graph, created_by=user)
    client = Client()
    client.force_login(other_user)
    assert client.get(f"/graphs/{graph.pk}/triggers/").status_code == 404
    assert client.post(f"/graphs/{graph.pk}/triggers/{trigger.pk}/delete/").status_code == 404
    assert client.post(f"/graphs/{graph.pk}/schedules/", {"kind": "cron", "cron": "* * * * *"}).status_code == 404
    assert client.post(f"/graphs/{graph.pk}/publish/", {"number": "1"}).status_code == 404
    assert WebhookTrigger.objects.filter(pk=trigger.pk).exists()


def test_graph_page_publishes_a_version(user):
    client = Client()
    client.force_login(user)
    graph = graph_services.graph_create(owner=user, name="g", spec={"schema_version": 1, "nodes": [], "edges": []}).graph
    html = client.get(f"/graphs/{graph.pk}/").content.decode()
    assert 'id="graph-triggers"' in html and "published: v" not in html
    client.post(f"/graphs/{graph.pk}/publish/", {"number": "1"})
    graph.refresh_from_db()
    assert graph.published_version == 1
    assert "published: v1" in client.get(f"/graphs/{graph.pk}/").content.decode()
    client.post(f"/graphs/{graph.pk}/publish/", {"number": "7"})
    graph.refresh_from_db()
    assert graph.published_version == 1


def test_the_how_to_call_recipe_signs_calls_the_server_accepts(page, graph):
    """The panel's shell recipe for an HMAC trigger, run by bash and openssl as a caller would."""
    import html as html_lib
    import json
    import subprocess

    page.post(f"/graphs/{graph.pk}/triggers/", {"name": "signed", "auth": "hmac", "mode": "async", "wait_s": "5",
                                               "rate_limit": "", "max_body_bytes": "2000", "mapping": ""})
    trigger = WebhookTrigger.objects.get()
    secret = re.search(r'id="trigger-secret">([^<]+)<', page.post(f"/graphs/{graph.pk}/triggers/{trigger.pk}/regenerate/")
                       .content.decode()).group(1)
    panel = page.get(f"/graphs/{graph.pk}/triggers/").content.decode()
    how = re.search(rf'data-testid="how-to-call-{trigger.pk}".*?<pre class="code">(.*?)</pre>', panel, re.S).group(1)
    recipe = html_lib.unescape(how)
    assert "300 s" in panel and "X-Kaizen-Timestamp" in recipe
    script = recipe.split("curl", 1)[0].replace('"task": "…"', '"task": "from the recipe"') + 'printf "%s %s" "$ts" "$sig"'
    done = subprocess.run(["bash", "-c", script], env={"SECRET": secret, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=True)
    stamp, sig = done.stdout.split()
    body = json.dumps({"task": "from the recipe"}).encode()
    response = Client().post(trigger.path, body, content_type="application/json",
                             headers={"X-Kaizen-Timestamp": stamp, "X-Kaizen-Signature": f"sha256={sig}"})
    assert response.status_code == 202, response.content

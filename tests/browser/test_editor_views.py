"""The editor page and /graphs/new/ on the server side (no browser): access rules, config, CSP-safe HTML."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from graphs import services
from graphs.demo import RESEARCH_BRIEF
from graphs.models import Graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def graph(user):
    return services.graph_create(owner=user, name="Brief", spec=RESEARCH_BRIEF).graph


def test_owner_gets_the_editor_with_its_config_and_no_inline_code(client, user, graph):
    client.force_login(user)
    resp = client.get(reverse("graph-edit", args=[graph.pk]))
    assert resp.status_code == 200
    html = resp.content.decode()
    config = json.loads(re.search(r'<script id="editor-config" type="application/json">(.*?)</script>', html, re.S).group(1))
    assert config["graph"]["id"] == graph.pk and config["graph"]["version"] == 1
    assert {k["kind"] for k in config["kinds"]} >= {"agent"}
    assert config["urls"]["graph"] == f"/api/graphs/{graph.pk}/" and config["csrf_token"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs, _body in scripts)
    assert " style=" not in html
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]


def test_others_and_staff_get_404_like_unknown(client, graph, other_user, django_user_model):
    url = reverse("graph-edit", args=[graph.pk])
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(other_user)
    assert client.get(url).status_code == 404
    assert client.get(reverse("graph-edit", args=[graph.pk + 999])).status_code == 404
    client.force_login(django_user_model.objects.create_user("root", password="pw-root-123", is_staff=True))
    assert client.get(url).status_code == 404  # staff is no back door outside Django admin


def test_new_graph_empty_or_from_a_template(client, user):
    client.force_login(user)
    page = client.get(reverse("graph-new"))
    assert page.status_code == 200 and b"Research brief" in page.content
    resp = client.post(reverse("graph-new"), {"name": "", "template": "empty"})
    empty = Graph.objects.get(owner=user, name="Untitled graph")
    assert resp.status_code == 302 and resp["Location"] == reverse("graph-edit", args=[empty.pk])
    client.post(reverse("graph-new"), {"name": "Mine", "template": "demo-0"})
    mine = Graph.objects.get(owner=user, name="Mine")
    assert len(mine.versions.get(number=1).spec["nodes"]) == 3


def test_live_check_returns_issues_and_engine_computed_ports(client, user):
    client.force_login(user)
    spec = {**RESEARCH_BRIEF, "edges": RESEARCH_BRIEF["edges"][:-1]}
    body = client.post(reverse("graph-check"), {"spec": spec}, content_type="application/json").json()
    assert not body["valid"] and any("brief" in e["message"] for e in body["errors"])
    assert body["ports"]["writer"]["inputs"].keys() == {"upsides", "risks"}
    assert body["ports"]["writer"]["outputs"]["brief"]["type"] == "string"
    assert client.post(reverse("graph-check"), "nope", content_type="application/json").status_code == 400

"""Webhook URLs may not point into the deployment's own network (SSRF), unless allowed."""

from __future__ import annotations

import pytest

from audit.models import GraphHook, HookDelivery
from audit.tasks import deliver_once
from audit.urlguard import UnsafeURL, check_webhook_url, pinned
from graphs import services
from tests.helpers import chain

pytestmark = pytest.mark.django_db


@pytest.fixture
def guarded(settings):
    settings.KAIZEN_WEBHOOK_ALLOW_PRIVATE = ""  # the default of a deployment


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "http://localhost/hook", "http://[::1]/hook", "http://10.0.0.5/hook",
    "http://192.168.1.10/hook", "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0/",
    "ftp://example.com/hook", "http:///nohost", "http://user:secret@93.184.215.14/hook",
])
def test_private_reserved_or_malformed_urls_are_refused(guarded, url):
    with pytest.raises(UnsafeURL):
        check_webhook_url(url)


def test_a_public_address_is_accepted(guarded):
    check_webhook_url("https://93.184.215.14/hooks/kaizen")  # an IP literal: resolved without DNS, never contacted


def test_the_api_answers_400_naming_the_field(guarded, api_client, user):
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    response = api_client.post(f"/api/graphs/{graph.pk}/hooks/", {"kind": "webhook", "url": "http://169.254.169.254/"},
                               format="json")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["path"] == "url" and "private, loopback or reserved" in error["message"]
    assert not GraphHook.objects.filter(graph=graph).exists()


def test_delivery_is_refused_when_the_address_turned_private(guarded, user, receiver):
    """Saved while allowed (or before its DNS changed): the worker checks again and sends nothing."""
    server = receiver([200])
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    hook = GraphHook.objects.create(graph=graph, kind="webhook", url=server.url)
    delivery = deliver_once(hook, {"event": "run_finished", "run_id": 1}, "d1", 1)
    assert (delivery.ok, delivery.next_retry_s) == (False, None) and delivery.error.startswith("refused:")
    assert server.requests == [] and HookDelivery.objects.filter(hook=hook).count() == 1


def test_allowed_for_internal_deployments(settings):
    settings.KAIZEN_WEBHOOK_ALLOW_PRIVATE = "1"
    check_webhook_url("http://127.0.0.1:9/hook")


def test_a_delivery_connects_to_the_address_that_was_checked(settings):
    """Pinned: the checked address in the URL, the name in Host (and in SNI for https), so a DNS
    answer that changes after the check cannot send the request elsewhere."""
    settings.KAIZEN_WEBHOOK_ALLOW_PRIVATE = "1"
    assert pinned("http://localhost:8123/x?y=1") == ("http://127.0.0.1:8123/x?y=1", {"Host": "localhost:8123"}, {})
    settings.KAIZEN_WEBHOOK_ALLOW_PRIVATE = ""
    url, headers, extensions = pinned("https://93.184.215.14/hooks")
    assert (url, headers, extensions) == ("https://93.184.215.14/hooks", {"Host": "93.184.215.14"},
                                          {"sni_hostname": "93.184.215.14"})


def test_a_pinned_delivery_keeps_the_host_name(settings, user, receiver):
    settings.KAIZEN_WEBHOOK_ALLOW_PRIVATE = "1"
    server = receiver([200])
    graph = services.graph_create(owner=user, name="g", spec=chain(1)).graph
    hook = GraphHook.objects.create(graph=graph, kind="webhook", url=server.url.replace("127.0.0.1", "localhost"))
    assert deliver_once(hook, {"event": "run_finished"}, "d1", 1).ok
    [request] = server.requests
    assert request["headers"]["Host"] == hook.url.split("/")[2]  # localhost:<port>, reached at 127.0.0.1

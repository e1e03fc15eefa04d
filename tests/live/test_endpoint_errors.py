"""Errors that say what to do: a model endpoint that does not answer is named, with the model and
the setting to change, on the run page (the raw detail folded away), in the server log, and in a
header badge when kaizen_serve's start-up check finds it unreachable."""

from __future__ import annotations

import pytest

from graphs import endpoint_check, services
from graphs.engine.llm.base import LLMError, LLMRequest
from graphs.engine.llm.clients import ClientPool
from graphs.engine.llm.openai_provider import OpenAIProvider
from tests.conftest import free_port
from tests.helpers import chain, wait_for_run, wait_until
from tests.live.conftest import SHOTS


def dead_url() -> str:
    """A loopback port nobody listens on (connections are refused)."""
    return f"http://127.0.0.1:{free_port()}/v1"


async def test_provider_names_endpoint_model_and_setting():
    url = dead_url()
    provider = OpenAIProvider(url, "k", clients=ClientPool())
    try:
        with pytest.raises(LLMError) as caught:
            await provider.complete(LLMRequest(model="gpt-x", messages=[{"role": "user", "content": "hi"}], timeout_s=5))
    finally:
        await provider.aclose()
    assert str(caught.value) == f"could not connect to {url} (OPENAI_BASE_URL): connection refused (model gpt-x)"
    detail = caught.value.detail
    assert detail["endpoint"] == url and detail["model"] == "gpt-x" and detail["kind"] == "connect"
    assert detail["setting"] == "OPENAI_BASE_URL" and detail["reason"] == "connection refused"


@pytest.fixture
def no_endpoint_problem():
    yield
    endpoint_check._problem = None


@pytest.mark.django_db
def test_start_check_shows_a_badge_when_unreachable(client, user, settings, fake_llm, no_endpoint_problem):
    url = dead_url()
    settings.OPENAI_BASE_URL, settings.KAIZEN_DEFAULT_PROVIDER = url, "openai"
    assert endpoint_check.check(timeout_s=2.0) == f"could not connect to {url} (OPENAI_BASE_URL): connection refused"
    client.force_login(user)
    page = client.get("/").content.decode()
    assert 'data-testid="endpoint-warning"' in page and f"could not connect to {url}" in page
    settings.OPENAI_BASE_URL = fake_llm.base_url  # one that answers (even without a models list)
    assert endpoint_check.check(timeout_s=2.0) is None
    assert 'data-testid="endpoint-warning"' not in client.get("/").content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_run_against_an_unreachable_endpoint_says_what_to_do(user, start_worker, daphne_server, browser_page):
    url = dead_url()
    worker = start_worker("w1", OPENAI_BASE_URL=url)
    graph = services.graph_create(owner=user, name="unreachable", spec=chain(1)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    page = browser_page
    page.goto(f"{daphne_server.url}/runs/{run.pk}/")
    page.wait_for_selector('[data-testid=run-status]:text("failed")', timeout=30_000)
    sentence = f"could not connect to {url} (OPENAI_BASE_URL): connection refused"
    message = page.text_content("[data-testid=run-error-message]")
    assert sentence in message and "gpt" in message.split("(model ")[1], message
    assert not page.is_visible("#run-error-detail"), "the raw detail is folded away"
    page.click("#run-error-box summary")
    assert '"endpoint": "' + url + '"' in page.text_content("#run-error-detail")
    page.screenshot(path=str(SHOTS / "run-unreachable-endpoint.png"), full_page=True)
    page.click('[data-node-row="s1"]')  # the node's panel reads the same way
    page.wait_for_selector("[data-testid=node-error-message]")
    assert sentence in page.text_content("[data-testid=node-error-message]")
    assert wait_for_run(run.pk, 5).error["setting"] == "OPENAI_BASE_URL"
    # and the server said so in its log, with the run's id
    def logged():
        return [ln for ln in worker.log_path.read_text().splitlines() if f"run {run.pk} failed" in ln and sentence in ln]

    wait_until(logged, timeout=10, message="the worker logs the failure")
    line = logged()[0]
    assert "WARNING" in line and f'"run_id": {run.pk}' in line and "model=gpt-4o-mini" in line, line

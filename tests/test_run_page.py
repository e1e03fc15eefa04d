"""The run page's first state: what it shows and the seq its stream starts after agree."""

from __future__ import annotations

import pytest

from graphs import services
from graphs.models import Run, RunEvent
from graphs.runner.execution import execute_run
from graphs.views.pages import _run_context
from tests.helpers import chain

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_that_ends_while_its_page_renders_is_shown_ended(user, fake_llm):
    """The page reads its run, then the run ends (here: between the two reads, as it did under load
    in CI), then the page takes the seq its stream starts after. The seq includes run_finished, so
    the stream will never send it: the page must say the run ended, with its outputs, not
    "running" for good (it did: the status came from the row read before the seq)."""
    graph = services.graph_create(owner=user, name="ends meanwhile", spec=chain(2)).graph
    run = services.run_start(graph=graph, user=user, inputs={"task": "t"})
    seen_by_the_page = Run.objects.get(pk=run.pk)  # (queued: the page's first read)
    assert execute_run(run.pk) == "succeeded"

    config = _run_context(seen_by_the_page, user)["live_config"]
    final_seq = RunEvent.objects.filter(run_id=run.pk, event="run_finished").values_list("seq", flat=True).get()
    assert config["last_seq"] == final_seq
    assert config["status"] == "succeeded", "the page would wait for a run_finished its stream never sends"
    assert config["final"] and config["final"]["outputs"] == Run.objects.get(pk=run.pk).outputs
    assert set(config["statuses"].values()) == {"succeeded"}

"""Is the configured model endpoint reachable? ``kaizen_serve`` asks once at start (a models-list
call, 2 s timeout) so that a wrong OPENAI_BASE_URL shows up before the first run fails: a line
on the console, and a warning badge in every page's header (graphs/views/context.py)."""

from __future__ import annotations

import logging

from django.conf import settings

log = logging.getLogger(__name__)

# The last check's finding: None (not checked, or reachable) or the sentence to show.
_problem: str | None = None


def problem() -> str | None:
    return _problem


def check(timeout_s: float = 2.0) -> str | None:
    """Ask the operator's endpoint for its models; return what is wrong (None: it answered).

    Any HTTP answer means the endpoint is there; only a key it rejects is reported besides a
    connection that fails. The simulated provider needs no endpoint."""
    global _problem
    _problem = None
    if settings.KAIZEN_DEFAULT_PROVIDER == "simulated":
        return None
    import openai

    from .engine.llm.openai_provider import OPENAI_DEFAULT_URL, connect_reason

    endpoint = settings.OPENAI_BASE_URL or OPENAI_DEFAULT_URL
    client = openai.OpenAI(base_url=endpoint, api_key=settings.OPENAI_API_KEY or "unset", timeout=timeout_s, max_retries=0)
    try:
        client.models.list()
    except openai.APITimeoutError:
        _problem = f"{endpoint} (OPENAI_BASE_URL) did not answer within {timeout_s:g} s"
    except openai.APIConnectionError as exc:
        _problem = f"could not connect to {endpoint} (OPENAI_BASE_URL): {connect_reason(exc)}"
    except openai.AuthenticationError:
        _problem = f"{endpoint} rejected the key (OPENAI_API_KEY)"
    except openai.APIStatusError:
        pass  # it answered (some servers have no models list)
    finally:
        client.close()
    if _problem:
        log.warning("model endpoint: %s", _problem)
    return _problem

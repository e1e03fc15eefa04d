"""Retries of one LLM call, in the open: the SDK's hidden retries are off, the engine retries
what is transient (a 429, honouring its Retry-After; 5xx; timeouts; dropped connections) with
exponential backoff and jitter, and each retry is an ``llm_retry`` event.

Two bounds: ``request.timeout_s`` bounds one attempt, ``request.deadline_s`` (default: one
attempt's worth) bounds all of them, and neither reaches past the node's own deadline. With the
default a hung model fails at its timeout, so a fallback takes over at once; quick failures
(a 500, a 429 asking for a second) are still retried within that time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from ..llm.base import LLMError, LLMProvider, LLMRequest, LLMResponse

MIN_ATTEMPT_S = 0.1  # an attempt with less time than this left is not worth starting


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_s: float = 0.5  # first backoff; doubles per attempt
    cap_s: float = 8.0

    def wait_s(self, attempt: int, error: LLMError, rng: Callable[[], float] = random.random) -> float:
        """Pause after failed attempt ``attempt`` (1-based): the provider's Retry-After if it gave
        one, else exponential backoff with jitter (half fixed, half random, so concurrent callers
        that failed together do not come back together)."""
        if error.retry_after is not None:
            return error.retry_after + 0.1 * rng()
        backoff: float = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        return backoff / 2 + backoff / 2 * rng()


DEFAULT_POLICY = RetryPolicy()


async def call_with_retries(provider: LLMProvider, request: LLMRequest, *, deadline: float | None,
                            before_attempt: Callable[[], Awaitable[None]],
                            on_retry: Callable[[dict[str, Any]], Awaitable[None]],
                            policy: RetryPolicy = DEFAULT_POLICY) -> LLMResponse:
    """One LLM call, retried while transient and time remains.

    ``deadline`` is the node's (``time.monotonic()``) end, or None; ``before_attempt`` runs
    before every attempt (the fencing check: a superseded worker starts no new request)."""
    end = time.monotonic() + (request.deadline_s or request.timeout_s)
    retry_end = end if deadline is None else min(end, deadline)  # (the node's own timeout cuts an attempt)
    attempt = 0
    while True:
        attempt += 1
        await before_attempt()
        per_attempt = min(request.timeout_s, end - time.monotonic())
        if per_attempt < MIN_ATTEMPT_S:
            raise LLMError(f"no time left for the LLM call (deadline of {request.deadline_s or request.timeout_s}s)",
                           retryable=True)
        try:
            # the SDK's timeout applies per read; this bounds the whole attempt (no extra task)
            async with asyncio.timeout(per_attempt + 0.05):
                return await provider.complete(replace(request, timeout_s=per_attempt))
        except TimeoutError:
            error = LLMError(f"timeout after {round(per_attempt, 3)}s", retryable=True)
        except LLMError as exc:
            error = exc
        if not error.retryable or attempt >= policy.max_attempts:
            raise error
        wait = policy.wait_s(attempt, error)
        if wait + MIN_ATTEMPT_S > retry_end - time.monotonic():
            if attempt > 1 or error.retry_after is not None:
                raise LLMError(f"{error} (gave up after {attempt} attempts: the call's deadline is near)",
                               status=error.status, retryable=error.retryable, retry_after=error.retry_after) from error
            raise error
        await on_retry({"attempt": attempt, "error": str(error), "status": error.status, "wait_s": round(wait, 3),
                        "model": request.model})
        await asyncio.sleep(wait)

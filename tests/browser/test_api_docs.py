"""/api/docs/ (Swagger UI from drf-spectacular-sidecar) renders under the app's strict CSP."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_under_the_csp(login_context, user):
    ctx, problems = login_context(user)
    page = ctx.new_page()
    response = page.goto("/api/docs/")
    csp = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "Kaizen Web API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/graphs/" in p for p in paths), paths[:10]
    page.locator(".opblock-summary").first.click()  # an operation opens (Swagger UI's scripts run)
    page.wait_for_selector(".opblock-body", timeout=10_000)
    problems.check()

"""Audit pages: the filtered table (htmx), one entry, streamed exports, the dashboard, /metrics."""

from __future__ import annotations

import csv
import hmac
import io
import json
from collections.abc import AsyncIterator, Iterator
from itertools import islice

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from kaizen_web.htmx import HtmxHttpRequest
from workspaces.current import current_workspace

from . import conf, metrics, selectors
from .models import AuditEntry
from .selectors import AuditFilter

EXPORT_COLUMNS = ["id", "timestamp", "actor_id", "actor_name", "object_type", "object_id", "graph_id", "run_id",
                  "node_id", "event", "status", "summary"]


def _filtered(request: HttpRequest, default_show: str = "") -> tuple[AuditFilter, QuerySet[AuditEntry]]:
    f = AuditFilter.from_params(request.GET, default_show)
    # pages and exports show the current workspace's log (the header's switcher)
    return f, selectors.filter_entries(selectors.entries_visible(request.user, current_workspace(request)), f)


@login_required
@require_GET
def entry_list(request: HtmxHttpRequest) -> HttpResponse:
    f, qs = _filtered(request)
    try:
        page = min(max(int(request.GET.get("page", 1)), 1), selectors.MAX_PAGE)
    except ValueError:
        page = 1
    rows, has_next = selectors.entries_page(qs.select_related("actor"), page)
    params = f.as_params()
    names = selectors.object_names(rows)
    for e in rows:  # objects by name, with a link while they exist
        vars(e).update(graph_name=names.get(("graph", e.graph_id)), run_name=names.get(("run", e.run_id)))
    ctx = {
        "views": [(key, label) for key, (label, _events) in selectors.VIEWS.items()],
        "filtered": any(v for k, v in params.items() if k != "show"),
        "entries": rows, "page": page, "has_next": has_next, "filters": f, "query": urlencode(params),
        "prev_url": "?" + urlencode({**params, "page": str(page - 1)}) if page > 1 else "",
        "next_url": "?" + urlencode({**params, "page": str(page + 1)}) if has_next else "",
        "events": selectors.EVENT_CHOICES, "statuses": selectors.STATUS_CHOICES,
        "account": list(selectors.account_entries(request.user)[:8]),
    }
    template = "audit/_rows.html" if request.htmx and request.htmx.target == "audit-rows" else "audit/list.html"
    return render(request, template, ctx)


@login_required
@require_GET
def entry_detail(request: HttpRequest, pk: int) -> HttpResponse:
    entry = (selectors.entries_visible(request.user) | selectors.account_entries(request.user)).select_related("actor").filter(pk=pk).first()
    if entry is None:
        raise Http404("no such audit entry")  # the same answer for "not yours" and "not there"
    return render(request, "audit/detail.html", {
        "entry": entry, "data_json": json.dumps(entry.data, indent=2, sort_keys=True, ensure_ascii=False),
        "back": request.GET.get("back", ""),
    })


def _export_rows(request: HttpRequest) -> Iterator[tuple]:
    _f, qs = _filtered(request, default_show="all")  # (the page's links say which view)
    # jsonb comes back as text and goes out as text: no parse/serialise round trip per row
    return (qs.order_by("-id").annotate(data_text=Cast("data", TextField()))
            .values_list(*EXPORT_COLUMNS, "data_text").iterator(chunk_size=5000))


def _batched(lines: Iterator[str], size: int = 1000) -> Iterator[str]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


def _streamable(request: HttpRequest, chunks: Iterator[str]) -> Iterator[str] | AsyncIterator[str]:
    """Under ASGI Django would read a sync iterator into a list first: hand it an async one."""
    if not isinstance(request, ASGIRequest):
        return chunks
    step = sync_to_async(lambda: next(chunks, None), thread_sensitive=True)

    async def pump() -> AsyncIterator[str]:
        while (chunk := await step()) is not None:
            yield chunk

    return pump()


@login_required
@require_GET
def export_csv(request: HttpRequest) -> StreamingHttpResponse:
    def chunks() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([*EXPORT_COLUMNS, "data"])
        rows = _export_rows(request)
        while batch := list(islice(rows, 2000)):
            writer.writerows([(r[0], r[1].isoformat(), *r[2:]) for r in batch])  # the csv module's C loop
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue()

    response = StreamingHttpResponse(_streamable(request, chunks()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response


@login_required
@require_GET
def export_jsonl(request: HttpRequest) -> StreamingHttpResponse:
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    columns = EXPORT_COLUMNS

    def lines() -> Iterator[str]:
        for row in _export_rows(request):
            fields = dict(zip(columns, row, strict=False))
            fields["timestamp"] = row[1].isoformat()
            # one encode per row; the jsonb text is spliced in as it came from the database
            yield f'{encode(fields)[:-1]},"data":{row[12]}}}\n'

    response = StreamingHttpResponse(_streamable(request, _batched(lines())), content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit.jsonl"'
    return response


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    try:
        days = min(max(int(request.GET.get("days", 30)), 1), 365)
    except ValueError:
        days = 30
    figures = selectors.dashboard_figures(request.user, days, current_workspace(request))
    return render(request, "audit/dashboard.html", {"figures": figures, "days": days, "day_choices": [7, 30, 90]})


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text. A scraper sending ``KAIZEN_METRICS_TOKEN`` as a bearer token gets the whole
    deployment's figures; a signed-in user (staff too: no back door) only their workspaces' runs,
    tokens and cost."""
    token = conf.get("KAIZEN_METRICS_TOKEN")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        body, content_type = metrics.render()
        return HttpResponse(body, content_type=content_type)
    if not request.user.is_authenticated:
        hint = "send Authorization: Bearer <KAIZEN_METRICS_TOKEN>" if token else "set KAIZEN_METRICS_TOKEN to scrape"
        return HttpResponse(f"metrics are for members or a bearer token ({hint})\n", status=401, content_type="text/plain")
    body, content_type = metrics.render(request.user)
    return HttpResponse(body, content_type=content_type)

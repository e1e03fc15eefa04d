"""Under ASGI (daphne) the export is handed to Django as an async iterator, so it streams
instead of being read into a list first."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from audit.models import AuditEntry


@pytest.mark.django_db(transaction=True)
async def test_csv_export_streams_under_asgi(async_client, user):
    from workspaces.models import Workspace

    workspace = await Workspace.objects.aget(personal_for=user)
    rows = [AuditEntry(timestamp=datetime.now(UTC), owner_id=user.pk, workspace_id=workspace.pk, object_type="run",
                       event="post_node", summary=f"row {i}") for i in range(2500)]
    await AuditEntry.objects.abulk_create(rows)
    await async_client.aforce_login(user)
    response = await async_client.get("/audit/export.csv", {"q": "row"})
    assert response.status_code == 200 and response.is_async
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    await sync_to_async(connections.close_all)()  # the streaming thread's connection (a server does this at request end)
    assert len(rows) == 2500 and rows[0]["summary"] == "row 2499"

"""Input no view should see: oversized API bodies and NUL characters.

* A body over DATA_UPLOAD_MAX_MEMORY_SIZE on /api/ answers 413 with the API's JSON error shape
  (Django's own answer is an HTML 400 page, raised wherever the body is first read).
* PostgreSQL text and jsonb cannot hold U+0000: a NUL in a query string, a form body or a JSON
  body would fail deep in the database layer (a 500) in whichever field it reached — a
  description, a run input, an audit search. It is refused here, once, with a 400 for every path.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from graphs.api.parsers import has_nul

# Paths answered in JSON: the API, and webhook triggers' inbound URLs (which check their own,
# smaller, size limit and NUL characters, and audit each refusal: triggers/inbound.py).
JSON_PATHS = ("/api/", "/hooks/")


def _error(request, status: int, message: str, path: str = "") -> HttpResponse:
    if request.path.startswith(JSON_PATHS):
        return JsonResponse({"detail": message, "errors": [{"path": path, "message": message}] if path else []}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class InputLimitsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refused = self.check(request)
        return refused or self.get_response(request)

    def check(self, request) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            if request.path.startswith(JSON_PATHS):
                return _error(request, 413, f"request body too large ({length} bytes; the limit is {limit})")
            return None  # (Django refuses it when the body is read)
        if b"\x00" in unquote_to_bytes(request.META.get("QUERY_STRING", "")):
            return _error(request, 400, "NUL characters (U+0000) are not allowed", "query")
        content_type = request.META.get("CONTENT_TYPE", "")
        # (the API's JSON parser refuses NUL itself, with DRF's error response)
        json_page = "json" in content_type and not request.path.startswith(JSON_PATHS)
        if content_type.startswith("application/x-www-form-urlencoded") or json_page:
            body = request.body
            if (b"\x00" in unquote_to_bytes(body) if "urlencoded" in content_type else
                    has_nul(body)):
                return _error(request, 400, "NUL characters (U+0000) are not allowed", "body")
        return None

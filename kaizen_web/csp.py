"""The CSP middleware, with ``connect-src`` naming this app's own websocket origin.

The base policy (settings.CONTENT_SECURITY_POLICY) allows connections to 'self' only. The run
page's live stream is a websocket to the host the page came from; rather than allowing ``ws:``
and ``wss:`` to every host, each response names exactly that origin (the request's host, which
Django has already checked against ALLOWED_HOSTS), with the scheme matching the page's.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost


class OwnOriginCSPMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts
        origin = f"{'wss' if request.is_secure() else 'ws'}://{host}"
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), origin]
        return PolicyParts(parts.config, update, parts.replace, parts.nonce)

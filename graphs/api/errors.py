"""One error shape for the whole API: {"detail": str, "errors": [{"path", "message", ...}]}."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from ..services import ServiceError


def flatten_errors(detail: Any, prefix: str = "") -> list[dict[str, Any]]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            path = prefix if key == "non_field_errors" else (f"{prefix}.{key}" if prefix else str(key))
            out += flatten_errors(value, path)
        return out
    if isinstance(detail, list):
        if all(not isinstance(d, (dict, list)) for d in detail):
            return [{"path": prefix, "message": str(d)} for d in detail]
        out = []
        for i, value in enumerate(detail):
            out += flatten_errors(value, f"{prefix}[{i}]")
        return out
    return [{"path": prefix, "message": str(detail)}]


def service_error_body(exc: ServiceError) -> dict[str, Any]:
    errors = [{"path": i.path, "message": i.message, "node": i.node, "edge": i.edge} for i in exc.issues]
    return {"detail": str(exc), "errors": errors, **exc.extra}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return Response(service_error_body(exc), status=exc.status)
    response = drf_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        errors = flatten_errors(exc.detail)
        first = errors[0] if errors else {"path": "", "message": "invalid"}
        response.data = {"detail": f"{first['path'] or 'request'}: {first['message']}", "errors": errors}
        response.status_code = status.HTTP_400_BAD_REQUEST
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"]), "errors": []}
    return response

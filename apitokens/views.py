"""The API tokens page (htmx): make a token (shown once), see when each was last used, revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kaizen_web.htmx import HtmxHttpRequest

from . import services
from .models import PersonalAccessToken

EXPIRY_CHOICES = [("", "never"), ("7", "in 7 days"), ("30", "in 30 days"), ("90", "in 90 days"), ("365", "in a year")]


def _user(request: HtmxHttpRequest) -> User:
    return cast(User, request.user)  # (every view here is login_required)


def _render(request: HtmxHttpRequest, **extra: object) -> HttpResponse:
    context = {"tokens": PersonalAccessToken.objects.filter(user=_user(request)), "expiry_choices": EXPIRY_CHOICES, **extra}
    template = "apitokens/_tokens.html" if request.htmx else "apitokens/tokens.html"
    return render(request, template, context, status=400 if extra.get("error") else 200)


@login_required
def token_list(request: HtmxHttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _render(request)
    days = request.POST.get("expires_in", "")
    if days not in {value for value, _label in EXPIRY_CHOICES}:
        return _render(request, error="choose an expiry from the list", name=request.POST.get("name", ""))
    expires_at = timezone.now() + timedelta(days=int(days)) if days else None
    try:
        row, token = services.token_create(user=request.user, name=request.POST.get("name", ""), expires_at=expires_at)
    except services.TokenError as exc:
        return _render(request, error=str(exc), name=request.POST.get("name", ""))
    response = _render(request, new_token=token, new_row=row)
    response["Cache-Control"] = "no-store"  # (the token is in this answer only)
    return response


@login_required
@require_POST
def token_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    token = PersonalAccessToken.objects.filter(pk=pk, user=_user(request)).first()
    if token is None:  # another user's token is as missing as a made-up id
        raise Http404
    services.token_revoke(token=token, user=request.user)
    return _render(request)

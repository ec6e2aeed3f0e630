"""The signed-in user's API token: create (the key is shown on that one response), revoke.

DRF keeps one ``authtoken.Token`` per user and stores its key as it is (not hashed): the
API (``annotate/api/authentication.py``) looks the key up directly. The page never shows a
stored key again, only whether one exists and when it was made; a lost key is replaced.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from annotate.services.tokens import token_create, token_revoke


@login_required
def api_token(request: HttpRequest) -> HttpResponse:
    new_key = ""
    if request.method == "POST":
        new_key = token_create(user=request.user).key  # type: ignore[arg-type]
    existing = Token.objects.filter(user_id=int(request.user.pk or 0)).only("created").first()
    context = {"token": existing, "new_key": new_key, "revoked": request.GET.get("revoked") == "1"}
    response = render(request, "annotate/api_token.html", context)
    # The response that carries a key must not be kept by the browser or a proxy.
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def api_token_revoke(request: HttpRequest) -> HttpResponse:
    token_revoke(user=request.user)  # type: ignore[arg-type]
    return redirect(f"{reverse('api-token')}?revoked=1")

"""Personal REST API tokens: each user creates, sees and revokes their own. The token is shown once."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST
from knox.models import AuthToken
from knox.settings import knox_settings

from medes_site import audit
from medes_site.http import AuthedRequest
from medes_site.models import ApiTokenName
from medes_site.roles import Role, role_required

MAX_TOKENS_PER_USER = 20


class TokenForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("What is it for?"), max_length=100)
    days = forms.IntegerField(label=gettext_lazy("Valid for (days)"), min_value=1, max_value=365, required=False)


class TokenError(ValueError):
    pass


@transaction.atomic
def create_token(user: User, name: str, days: int | None = None) -> tuple[AuthToken, str]:
    """A new token for ``user``; returns the row and the token itself, which is never stored."""
    if AuthToken.objects.filter(user=user).count() >= MAX_TOKENS_PER_USER:
        raise TokenError(_("You have %(n)d tokens already; revoke one first.") % {"n": MAX_TOKENS_PER_USER})
    expiry = timedelta(days=days) if days else knox_settings.TOKEN_TTL
    token, secret = AuthToken.objects.create(user=user, expiry=expiry)
    ApiTokenName.objects.create(token=token, name=name.strip())
    audit.record("api_token.create", actor=user, details={"name": name.strip(), "key": token.token_key})
    return token, secret


def tokens_of(user: User) -> list[dict[str, object]]:
    rows = AuthToken.objects.filter(user=user).select_related("name").order_by("-created")
    return [
        {
            "key": t.token_key,
            "name": getattr(getattr(t, "name", None), "name", ""),
            "created": t.created,
            "expiry": t.expiry,
        }
        for t in rows
    ]


@require_http_methods(["GET", "POST"])
@role_required(*Role)
def token_list(request: AuthedRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    secret = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                _token, secret = create_token(request.user, form.cleaned_data["name"], form.cleaned_data["days"])
            except TokenError as error:
                form.add_error(None, str(error))
                status = 400
            else:
                form = TokenForm()
        else:
            status = 400
    tokens = tokens_of(request.user)
    context = {"form": form, "tokens": tokens, "secret": secret, "header": knox_settings.AUTH_HEADER_PREFIX}
    response = render(request, "accounts/tokens.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the page may hold a token
    return response


@require_POST
@role_required(*Role)
def token_revoke(request: AuthedRequest, key: str) -> HttpResponse:
    revoked, _count = AuthToken.objects.filter(user=request.user, token_key=key).delete()
    if not revoked:
        raise Http404
    audit.record("api_token.revoke", actor=request.user, details={"key": key}, request=request)
    messages.success(request, _("Token revoked."))
    return redirect("api_tokens")

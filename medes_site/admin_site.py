"""The admin site, held to the same rules as every other page: one login page, and a signed-in user
without admin rights gets 403 instead of a second login form."""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import Any, TypeVar, cast

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

_ViewType = TypeVar("_ViewType", bound=Callable[..., Any])


class WorkbenchAdminSite(admin.AdminSite):
    site_header = _("MedES workbench administration")
    site_title = _("MedES workbench")

    def admin_view(self, view: _ViewType, cacheable: bool = False) -> _ViewType:
        inner = super().admin_view(view, cacheable)

        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied
            return inner(request, *args, **kwargs)

        return cast("_ViewType", update_wrapper(guarded, view))

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.user.is_authenticated and not self.has_permission(request):
            raise PermissionDenied
        return redirect_to_login(request.GET.get("next") or request.path.replace("login/", ""))

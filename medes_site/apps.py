"""The project app's start-up: registers the self-check job kind, the audit receivers and the job task."""

from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class MedesSiteConfig(AppConfig):
    name = "medes_site"
    verbose_name = _("Workbench")

    def ready(self) -> None:
        from medes_site import deployment, jobkinds, signals, tasks, usercache  # noqa: F401 - registers them


class WorkbenchAdminConfig(AdminConfig):
    default_site = "medes_site.admin_site.WorkbenchAdminSite"

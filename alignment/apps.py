from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlignmentConfig(AppConfig):
    name = "alignment"
    verbose_name = _("Alignment")

    def ready(self) -> None:
        from alignment import jobs  # noqa: F401 - registers the job kinds

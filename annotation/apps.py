"""The annotation app's start-up: hooks its agreement lines into the release datasheet, its blind rule into
the response filters, and registers its home panels and job kinds."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = _("Annotation")

    def ready(self) -> None:
        from annotation.datasheet import agreement_tables
        from benchmark.releases import DATASHEET_SECTIONS

        if agreement_tables not in DATASHEET_SECTIONS:
            DATASHEET_SECTIONS.append(agreement_tables)
        from annotation.review import hide_blind_responses
        from benchmark.responses import RESPONSE_FILTERS

        if hide_blind_responses not in RESPONSE_FILTERS:
            RESPONSE_FILTERS.append(hide_blind_responses)
        from annotation import (  # noqa: F401 - registers home-page panels and job kinds
            home,
            home_review,
            jobs,
        )

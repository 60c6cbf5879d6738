"""The benchmark app's start-up: registers its home-page panels and job kinds."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BenchmarkConfig(AppConfig):
    name = "benchmark"
    verbose_name = _("Benchmark")

    def ready(self) -> None:
        from benchmark import (  # noqa: F401 - registers home-page panels, job kinds and history reasons' labels
            history_labels,
            home,
            jobs,
            jobs_generation,
        )

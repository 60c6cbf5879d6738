from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from benchmark.neardup import refresh_flags


class Command(BaseCommand):
    help = (
        "Flag near-duplicate scenarios (MinHash over character shingles) among those not yet accepted, against "
        "the whole bank and the last published release. Replaces the flags of every scenario checked."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--threshold",
            type=float,
            default=None,
            help=f"Jaccard similarity that flags a pair (default {settings.MEDES_NEAR_DUPLICATE_THRESHOLD})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        threshold = options["threshold"]
        if threshold is not None and not 0.1 <= threshold <= 1:
            raise CommandError("--threshold must be between 0.1 and 1.")
        result = refresh_flags(threshold=threshold)
        self.stdout.write(
            f"{result['checked']} scenarios checked against {result['compared_with']}: "
            f"{result['flagged_scenarios']} flagged ({result['flags']} flags)"
        )

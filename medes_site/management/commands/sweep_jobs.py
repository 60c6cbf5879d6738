from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from medes_site.jobs import mark_lost_jobs, resend_unsent_jobs


class Command(BaseCommand):
    help = (
        "Mark running jobs whose worker stopped sending heartbeats as lost (the worker's beat does this every minute)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stale-seconds", type=int, default=None, help="Override MEDES_JOB_STALE_SECONDS.")

    def handle(self, *args: Any, **options: Any) -> None:
        seconds = options["stale_seconds"]
        lost = mark_lost_jobs(timedelta(seconds=seconds) if seconds else None)
        resent = resend_unsent_jobs()
        self.stdout.write(f"Marked {len(lost)} job(s) lost" + (f": {', '.join(map(str, lost))}" if lost else "."))
        self.stdout.write(
            f"Sent {len(resent)} queued job(s) the broker had not taken"
            + (f": {', '.join(map(str, resent))}" if resent else ".")
        )

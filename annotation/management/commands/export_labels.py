"""python manage.py export_labels CAMPAIGN labels|accepted jsonl|csv|parquet OUT: a campaign's labels to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.exports import EXPORT_FORMATS, EXPORT_KINDS, write_export
from annotation.management.commands.agreement import find_campaign


class Command(BaseCommand):
    help = "Export a campaign's labels or accepted labels, with provenance and guideline versions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help="campaign name or id")
        parser.add_argument("what", choices=EXPORT_KINDS)
        parser.add_argument("format", choices=sorted(EXPORT_FORMATS))
        parser.add_argument("out", type=Path, help="file to write")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = find_campaign(options["campaign"])
        out: Path = options["out"]
        if not out.parent.is_dir():
            raise CommandError(f"The folder {out.parent} does not exist.")
        with out.open("wb") as handle:
            rows = write_export(campaign, options["what"], options["format"], handle)
        self.stdout.write(f"Wrote {rows} rows to {out}")

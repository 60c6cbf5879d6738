from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from benchmark.importers import ImportFileError, import_file
from benchmark.models import ScenarioStatus


class Command(BaseCommand):
    help = (
        "Import MedES question CSVs (scene, query, reference, type) as scenarios. --dry-run reports counts, "
        "per-row errors and duplicates and writes nothing; a file with errors is not imported at all."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument(
            "--status", default=ScenarioStatus.IN_REVIEW, choices=[s.value for s in ScenarioStatus],
            help="status of the imported scenarios (default: in_review, for a curator to accept)",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        failed = False
        for path in options["files"]:
            try:
                report = import_file(path, dry_run=options["dry_run"], status=options["status"])
            except (ImportFileError, OSError) as error:
                self.stderr.write(f"{path}: {getattr(error, 'strerror', None) or error}")
                failed = True
                continue
            self.stdout.write(f"{path.name}: {report.summary()}")
            for line, message in report.errors[:50]:
                self.stdout.write(f"  line {line}: error: {message}")
            for line, message in report.warnings[:50]:
                self.stdout.write(f"  line {line}: warning: {message}")
            failed |= bool(report.errors)
        if failed:
            raise CommandError("Some files were not imported; see the messages above.")

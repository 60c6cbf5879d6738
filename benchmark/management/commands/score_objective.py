from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from benchmark.scoring import score_objective
from benchmark.taxonomy import canonical_scene

REQUIRED = {"scene", "reference", "response"}


class Command(BaseCommand):
    help = (
        "Score MedES objective response CSVs (scene, query, reference, model, response, …): per model the items, "
        "how many answers could be read, and exact-set accuracy overall and per scene."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--list-unreadable", action="store_true", help="also list items with no readable answer")

    def handle(self, *args: Any, **options: Any) -> None:
        by_model: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        where: dict[str, list[str]] = defaultdict(list)
        for path in options["files"]:
            for line, row in self.read(path):
                model = (row.get("model") or path.stem).strip()
                by_model[model].append((canonical_scene(row["scene"]), row["reference"], row["response"]))
                where[model].append(f"{path.name}:{line}")
        for model, rows in sorted(by_model.items()):
            score = score_objective(rows)
            total = score.overall
            self.stdout.write(
                f"{model}: {total.items} items, {total.extracted} answers read, "
                f"accuracy {total.accuracy:.1%} ({total.correct}/{total.items})"
            )
            for scene, tally in sorted(score.by_scene.items()):
                self.stdout.write(f"  {scene}: {tally.accuracy:.1%} ({tally.correct}/{tally.items})")
            if options["list_unreadable"] and score.unreadable:
                self.stdout.write("  no readable answer: " + ", ".join(where[model][i] for i in score.unreadable))

    def read(self, path: Path) -> list[tuple[int, dict[str, str]]]:
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.DictReader(handle)
                missing = REQUIRED - set(reader.fieldnames or [])
                if missing:
                    raise CommandError(f"{path}: missing column(s) {', '.join(sorted(missing))}.")
                return [(number, row) for number, row in enumerate(reader, start=2)]
        except OSError as error:
            raise CommandError(f"{path}: {error.strerror}.") from None
        except (UnicodeDecodeError, csv.Error) as error:
            raise CommandError(f"{path}: not a UTF-8 CSV file ({error}).") from None

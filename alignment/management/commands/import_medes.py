"""``manage.py import_medes``: MedES question and response CSVs, MedEthicEval-style CSVs and the publishers'
judged-responses CSVs, each file's kind read from its columns.

It lives in alignment, not benchmark, because the judged format stores judgements (alignment models) and
benchmark may not import alignment (DESIGN.md §4); the other formats are benchmark's importers, unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alignment.judged_file import is_judged_file
from alignment.medes_judged import JudgedImportReport, import_judged
from benchmark.importers import ImportFileError, ImportReport
from benchmark.importers.medes_questions import import_medes_questions, scene_lookup
from benchmark.importers.responses import detect_format, import_medes_responses, import_medethiceval
from benchmark.models import ScenarioStatus, Scene

SHOWN = 50  # errors and warnings listed per file (differences from the publishers' reading: all)


class Command(BaseCommand):
    help = (
        "Import MedES question CSVs (scene, query, reference, type) as scenarios, MedES response CSVs (the same "
        "columns plus model, response, answer_model) as responses, MedEthicEval-style CSVs, and the MedES "
        "judged-responses CSVs (plus risk_judge, quality_judge, score1…score6, risk_flag, final_score) as "
        "responses with the judgements of the external judge named by --judge; each file's kind is read from its "
        "columns. --dry-run reports counts, per-row errors and duplicates (and, for judged files, every row whose "
        "scores the workbench reads differently from score1…score6) and writes nothing; a file with errors is not "
        "imported at all. Judged files add their rows to those of earlier files under the same judge; importing a "
        "file again (the same name) replaces its own rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument(
            "--status",
            default=ScenarioStatus.IN_REVIEW,
            choices=[s.value for s in ScenarioStatus],
            help="status of the imported scenarios (default: in_review, for a curator to accept)",
        )
        parser.add_argument(
            "--known-questions-only",
            action="store_true",
            help="response files: a row whose question is not in the bank is an error (default: import it)",
        )
        parser.add_argument("--scene", help="MedEthicEval files: the scene of rows that name none")
        parser.add_argument(
            "--judge",
            help="judged-responses files (required for them): the name of the external judge whose "
            "replies the file holds, e.g. the judge model's name; `leaderboard --judge NAME` reads them back",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        default_scene = self.scene(options["scene"]) if options["scene"] else None
        failed = False
        for path in options["files"]:
            try:
                report = self.import_one(path, options, default_scene)
            except (ImportFileError, OSError) as error:
                self.stderr.write(f"{path}: {getattr(error, 'strerror', None) or error}")
                failed = True
                continue
            self.stdout.write(f"{path.name}: {report.summary()}")
            for line in getattr(report, "score_lines", lambda: [])():
                self.stdout.write(f"  {line}")
            for line, message in report.errors[:SHOWN]:
                self.stdout.write(f"  line {line}: error: {message}")
            for line, message in report.warnings[:SHOWN]:
                self.stdout.write(f"  line {line}: warning: {message}")
            if isinstance(report, JudgedImportReport):
                for line, message in report.differences:
                    self.stdout.write(f"  line {line}: reads differently: {message}")
            failed |= bool(report.errors)
        if failed:
            raise CommandError("Some files were not imported; see the messages above.")

    def import_one(
        self, path: Path, options: dict[str, Any], default_scene: Scene | None
    ) -> ImportReport | JudgedImportReport:
        data = path.read_bytes()
        common = {"origin_name": path.name, "dry_run": options["dry_run"]}
        if is_judged_file(data):
            return import_judged(
                data, judge=options["judge"], create_questions=not options["known_questions_only"], **common
            )
        fmt = detect_format(data)
        if fmt == "medes_responses":
            return import_medes_responses(data, create_questions=not options["known_questions_only"], **common)
        if fmt == "medethiceval":
            return import_medethiceval(
                data,
                default_scene=default_scene,
                status=options["status"],
                create_questions=not options["known_questions_only"],
                **common,
            )
        # A question file, or a file the importer will explain it cannot read (missing columns, encoding).
        return import_medes_questions(data, status=options["status"], **common)

    def scene(self, name: str) -> Scene:
        scene = scene_lookup().get(name.strip())
        if scene is None:
            raise CommandError(f"Unknown scene {name!r}.")
        return scene

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from benchmark.importers.medes_questions import EXCEL_CR, allow_long_cells, question_identity, split_objective_query
from benchmark.scoring import AnswerRow, FileScore, Tally, score_file
from benchmark.taxonomy import canonical_scene

REQUIRED = {"scene", "reference", "response"}


class Command(BaseCommand):
    help = (
        "Score MedES objective response CSVs (scene, query, reference, model, response, …): per model the rows, "
        "how many answers could be read, and exact-set accuracy overall and per scene, two ways: per file row (every "
        "row scored with its own key and counted in its own scene, repeated questions as often as the file lists "
        "them: the rows counted as the publishers count them, the answers read by the workbench from each response) "
        "and on the deduplicated bank (each question once, its first answer and first key, counted in every scene it "
        "is listed under: what an import stores), with the difference. Where a file has an answer_model column, the "
        "accuracy as published (from that column) is printed too, with the rows where the two readings differ."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--list-unreadable", action="store_true", help="also list items with no readable answer")

    def handle(self, *args: Any, **options: Any) -> None:
        by_model: dict[str, list[AnswerRow]] = defaultdict(list)
        where: dict[str, list[str]] = defaultdict(list)
        for path in options["files"]:
            for line, row in self.read(path):
                model = (row.get("model") or path.stem).strip()
                question = self.question(row, f"{path.name}:{line}")
                by_model[model].append(
                    AnswerRow(
                        line,
                        canonical_scene(row["scene"]),
                        question,
                        row["reference"],
                        row["response"],
                        row.get("answer_model"),
                    )
                )
                where[model].append(f"{path.name}:{line}")
        for model, rows in sorted(by_model.items()):
            score = score_file(rows)
            self.write_score(model, score)
            if options["list_unreadable"] and score.per_row.unreadable:
                unreadable = ", ".join(where[model][i] for i in score.per_row.unreadable)
                self.stdout.write("  " + _("no readable answer: %(rows)s") % {"rows": unreadable})

    def write_score(self, model: str, score: FileScore) -> None:
        rows, bank = score.per_row.overall, score.bank.overall
        self.stdout.write(
            _(
                "%(model)s: %(rows)d rows, %(read)d answers read, accuracy %(acc).1f%% (%(correct)d/%(rows)d) per file "
                "row (the rows counted as the publishers count them: every row with its own key, repeats as often as "
                "the "
                "file lists them; the answers read by the workbench from each response)"
            )
            % {
                "model": model,
                "rows": rows.items,
                "read": rows.extracted,
                "acc": 100 * rows.accuracy,
                "correct": rows.correct,
            }
        )
        published = score.published
        if published.items:
            self.stdout.write(
                "  "
                + _(
                    "as published: %(correct)d/%(rows)d = %(acc).1f%% (from the file's own answer_model column); the "
                    "workbench reads another answer than that column in %(differ)d rows"
                )
                % {
                    "correct": published.correct,
                    "rows": published.items,
                    "acc": 100 * published.accuracy,
                    "differ": len(score.readings_differ),
                }
            )
        self.stdout.write(
            "  "
            + _(
                "deduplicated bank: %(items)d items (each question once: first answer, first key, counted in every "
                "scene it is listed under), %(read)d answers read, accuracy %(acc).1f%% (%(correct)d/%(items)d); "
                "difference per file row − bank: %(diff)+.1f points"
            )
            % {
                "items": bank.items,
                "read": bank.extracted,
                "acc": 100 * bank.accuracy,
                "correct": bank.correct,
                "diff": 100 * (rows.accuracy - bank.accuracy),
            }
        )
        self.stdout.write(
            "  "
            + _(
                "repeats: %(repeats)d rows (%(cross)d under another scene, %(keys)d with a different key, %(answers)d "
                "answered differently)"
            )
            % {
                "repeats": score.repeats,
                "cross": score.cross_scene,
                "keys": score.different_key,
                "answers": len(score.second_answers),
            }
        )
        empty = Tally()
        for scene in sorted({*score.per_row.by_scene, *score.bank.by_scene}):
            r, b = score.per_row.by_scene.get(scene, empty), score.bank.by_scene.get(scene, empty)
            self.stdout.write(
                "  "
                + _(
                    "%(scene)s: per file row %(r_acc).1f%% (%(r_correct)d/%(r_items)d rows); deduplicated bank "
                    "%(b_acc).1f%% (%(b_correct)d/%(b_items)d items)"
                )
                % {
                    "scene": scene,
                    "r_acc": 100 * r.accuracy,
                    "r_correct": r.correct,
                    "r_items": r.items,
                    "b_acc": 100 * b.accuracy,
                    "b_correct": b.correct,
                    "b_items": b.items,
                }
            )

    def question(self, row: dict[str, str], where: str) -> str:
        """What identifies the question whatever its key: its stem and options, as the importer reads them."""
        query = (row.get("query") or "").replace(EXCEL_CR, "\n").strip()
        if not query:
            return where  # no question text: the row stands alone
        stem, options = split_objective_query(query)
        return question_identity("objective", stem, options)

    def read(self, path: Path) -> list[tuple[int, dict[str, str]]]:
        allow_long_cells()  # a long answer is scored, not a reason to refuse the file
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.DictReader(handle)
                missing = REQUIRED - set(reader.fieldnames or [])
                if missing:
                    raise CommandError(f"{path}: missing column(s) {', '.join(sorted(missing))}.")
                return [(number, row) for number, row in enumerate(reader, start=2)]
        except OSError as error:
            raise CommandError(f"{path}: {error.strerror}.") from None
        except UnicodeDecodeError as error:
            raise CommandError(f"{path}: not a UTF-8 CSV file ({error}).") from None
        except csv.Error as error:
            raise CommandError(f"{path}: not a readable CSV file ({error}).") from None

"""Importing the public MedES question CSVs (``scene, query, reference, type``) as scenarios.

A dry run reads and checks every row and reports counts, per-row errors and duplicates without writing
anything; the real run writes the same rows inside one transaction. Importing a file twice adds nothing
(scenarios are identified by their content hash).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from simple_history.utils import bulk_create_with_history

from benchmark.models import Scenario, ScenarioKind, ScenarioOrigin, ScenarioStatus, Scene
from benchmark.scenarios import ScenarioError, content_hash, normalise_key, validate
from medes_site import audit, storable

QUESTION_COLUMNS = {"scene", "query", "reference", "type"}
OPTION = re.compile(r"^\s*([A-H])\s*[.．、:：)）]\s*(.+?)\s*$")
# Options written on one line: "A.65%以上，B.70%以上，C.75%以上" or "A.可以；B.不可以"
INLINE_OPTION = re.compile(r"(?:^|(?<=[，,；;\s]))([A-H])\s*[.．、)）]")
QUESTION_START = "题目："
REASONING = re.compile(r"【\s*思考过程\s*】")
EXCEL_CR = "_x000D_"  # Excel's escaped carriage return, left in some MedES references
UNSTORABLE = {"nul": "a NUL character (\\0)", "surrogate": "an unpaired surrogate (a broken \\u escape)"}


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (not a CSV, wrong columns)."""


@dataclass
class ImportReport:
    rows: int = 0
    new: int = 0
    duplicates_in_bank: int = 0
    duplicates_in_file: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    written: bool = False

    def summary(self) -> str:
        state = "imported" if self.written else "dry run, nothing written"
        return (
            f"{self.rows} rows: {self.new} new, {self.duplicates_in_bank} already in the bank, "
            f"{self.duplicates_in_file} repeated in the file, {len(self.errors)} with errors, "
            f"{len(self.warnings)} with warnings ({state})"
        )


def split_objective_query(query: str) -> tuple[str, dict[str, str]]:
    """The MedES objective ``query`` embeds the exam instructions, worked examples and then the item:
    '题目：…\\nA.…\\nB.…\\n【思考过程】：'. Take the last 题目 and split its stem from its options."""
    text = query.replace(EXCEL_CR, "\n")
    start = text.rfind(QUESTION_START)
    item = text[start + len(QUESTION_START) :] if start >= 0 else text
    item = REASONING.split(item)[0]
    stem_lines: list[str] = []
    options: dict[str, str] = {}
    for line in _split_inline_options(item.splitlines()):
        match = OPTION.match(line)
        if match and (options or stem_lines):
            options[match.group(1)] = match.group(2)
        elif options and line.strip():
            last = sorted(options)[-1]
            options[last] += line.strip()  # an option wrapped onto a second line
        elif line.strip():
            stem_lines.append(line.strip())
    return "\n".join(stem_lines), options


def _split_inline_options(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        starts = [m.start() for m in INLINE_OPTION.finditer(line)]
        letters = [line[i] for i in starts]
        if len(starts) >= 2 and letters == [chr(ord("A") + n) for n in range(len(letters))]:
            if starts[0] > 0:
                out.append(line[: starts[0]])
            out.extend(line[a:b].rstrip("，,；; ") for a, b in zip(starts, [*starts[1:], len(line)], strict=True))
        else:
            out.append(line)
    return out


def read_rows(data: bytes, required: set[str]) -> list[tuple[int, dict[str, str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("The file is not UTF-8 text; save it from Excel as 'CSV UTF-8'.") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = required - set(reader.fieldnames or [])
    if missing:
        raise ImportFileError(f"Missing column(s): {', '.join(sorted(missing))}.")
    try:
        return [(line, row) for line, row in enumerate(reader, start=2)]
    except csv.Error as error:
        raise ImportFileError(f"Not a readable CSV file: {error}.") from None


def unstorable_cells(row: Mapping[Any, Any]) -> str | None:
    """The per-row error for cells the database cannot store, naming their columns; ``None`` when all can be.

    PostgreSQL refuses a NUL in text (and ``\\u0000`` in JSON); SQLite takes it, so without this check a file
    passes the dry run and then fails the import on a real deployment. Checked in the dry run, row by row."""
    bad: dict[str, str] = {}
    for column, value in row.items():
        found = storable.problem(column) or storable.problem(value)
        if found:
            name = "(cells beyond the header)" if column is None else repr(storable.storable_text(str(column)))
            bad.setdefault(name, found)
    if not bad:
        return None
    columns = ", ".join(bad)
    kinds = " and ".join(sorted({UNSTORABLE[kind] for kind in bad.values()}))
    return f"Column {columns} holds {kinds}, which cannot be stored; remove it from the file and upload it again."


def import_medes_questions(
    data: bytes, *, origin_name: str, dry_run: bool, status: str = ScenarioStatus.IN_REVIEW, user: User | None = None
) -> ImportReport:
    report = ImportReport()
    prepared: list[dict[str, Any]] = []
    seen: set[str] = set()
    existing = set(Scenario.objects.values_list("content_hash", flat=True))
    scenes = scene_lookup()
    for line, row in read_rows(data, QUESTION_COLUMNS):
        report.rows += 1
        refused = unstorable_cells(row)
        if refused:
            report.errors.append((line, refused))
            continue
        try:
            item = _question(row, scenes)
        except ScenarioError as error:
            report.errors.append((line, str(error)))
            continue
        if item["kind"] == ScenarioKind.SUBJECTIVE and not item["norm"]:
            if status == ScenarioStatus.ACCEPTED:
                report.errors.append((line, "No norm (考点) given: an open case cannot be imported as accepted."))
                continue
            report.warnings.append((line, "No norm (考点) given; add one before the item is accepted."))
        digest = content_hash(item["kind"], item["stem"], item["options"], item["key"])
        if digest in seen:
            report.duplicates_in_file += 1
            continue
        seen.add(digest)
        if digest in existing:
            report.duplicates_in_bank += 1
            continue
        report.new += 1
        prepared.append({**item, "content_hash": digest, "origin_detail": f"{origin_name}:{line}"[:255]})
    if dry_run or report.errors:
        return report  # a file with errors is not half-imported: fix it and run again
    report.written = True
    if not prepared:
        return report  # importing the same file again changes nothing, and records nothing
    try:
        _write(prepared, origin_name, status, user, report)
    except IntegrityError:
        raise ImportFileError("Another import added some of these items meanwhile; run this one again.") from None
    return report


def _write(
    prepared: list[dict[str, Any]], origin_name: str, status: str, user: User | None, report: ImportReport
) -> None:
    with transaction.atomic():
        # Rows were validated and de-duplicated above: write them in bulk, with their first history
        # version, and one audit entry for the whole file.
        bulk_create_with_history(
            [Scenario(origin=ScenarioOrigin.IMPORTED, status=status, created_by=user, **item) for item in prepared],
            Scenario, batch_size=500, default_user=user, default_change_reason=f"imported from {origin_name}",
        )  # fmt: skip
        audit.record("scenario.import", actor=user, details={"file": origin_name, "created": len(prepared),
                                                             "duplicates": report.duplicates_in_bank})  # fmt: skip


def scene_lookup() -> dict[str, Scene]:
    """Every spelling of every scene, read once per import."""
    return {name: scene for scene in Scene.objects.all() for name in (scene.name, *scene.aliases)}


def _question(row: dict[str, str], scenes: dict[str, Scene]) -> dict[str, Any]:
    scene = scenes.get((row.get("scene") or "").strip())
    if scene is None:
        raise ScenarioError(f"Unknown scene {row.get('scene', '')!r}.")
    kind_label = (row.get("type") or "").strip()
    query = (row.get("query") or "").replace(EXCEL_CR, "\n").strip()
    reference = (row.get("reference") or "").replace(EXCEL_CR, "\n").strip()
    item: dict[str, Any]
    if kind_label in {"主观题", "subjective"}:
        item = {"kind": ScenarioKind.SUBJECTIVE, "stem": query, "options": {}, "key": "", "norm": reference}
    elif kind_label in {"客观题", "objective", "不定项选择题", "选择题"}:
        stem, options = split_objective_query(query)
        item = {"kind": ScenarioKind.OBJECTIVE, "stem": stem, "options": options, "key": normalise_key(reference),
                "norm": ""}  # fmt: skip
    else:
        raise ScenarioError(f"Unknown type {kind_label!r}; expected 客观题 or 主观题.")
    validate(item["kind"], item["stem"], item["options"], item["key"], item["norm"])
    return {**item, "scene": scene}


def import_file(path: Path, **options: Any) -> ImportReport:
    return import_medes_questions(path.read_bytes(), origin_name=path.name, **options)

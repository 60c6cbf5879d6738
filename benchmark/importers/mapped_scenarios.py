"""Scenarios from any CSV or JSONL file whose columns the user maps to fields, and the MedEthicEval-style CSV:
reading the table, mapping its columns, building checked items from its rows, and importing them as scenarios.
Response files in these formats are read with the same tables and mappings by ``benchmark.importers.responses``.

Every import follows the conventions of ``benchmark.importers``: a dry run reads and checks every row and
reports counts, per-row errors and duplicates without writing anything; the real run writes the same rows
in one transaction, and not at all when any row has an error; the same file twice adds nothing.

MedEthicEval-style CSV (no sample is published with the workbench; this is the column set it reads):
    question     the stem (knowledge items) or the first-person case (application items)     required
    category     knowledge | violation | priority | equilibrium (also 知识 | 违规 | 优先 | 均衡;    required
                 ``dataset`` is read when there is no ``category``); knowledge items are objective,
                 the three application datasets are open cases
    options      lettered options in one cell ("A. …\\nB. …"), a JSON object or list; or columns A … H
    answer       the key letters of a knowledge item, e.g. ACD
    reference    the reference answer or expected judgement of an application item
    norm         the norm tested (考点), if the file has one
    scene        a MedES scene (any spelling); rows without one take the scene chosen for the import
    id           the file's own item id, kept in the origin detail
    model, response, model_answer   present in response files: one model's answer to the item
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from benchmark.importers import (
    NO_LETTER,
    NOT_JSON,
    UNKNOWN_KIND,
    UNKNOWN_SCENE,
    ImportFileError,
    ImportReport,
    cycle_collection_paused,
)
from benchmark.importers.medes_questions import (
    EXCEL_CR,
    OPTION,
    _split_inline_options,
    allow_long_cells,
    create_items,
    scene_lookup,
    split_objective_query,
    stored_scenes,
    unstorable_cells,
    write_scene_links,
)
from benchmark.models import Scenario, ScenarioKind, ScenarioStatus, Scene
from benchmark.scenarios import ScenarioError, content_hash, normalise_key, validate
from medes_site import audit, storable

MEDETHICEVAL_COLUMNS = {"question"}
SCENARIO_FIELDS = ("stem", "options", "key", "norm", "scene", "reference", "kind")
OBJECTIVE_WORDS = {
    "objective",
    "客观题",
    "选择题",
    "不定项选择题",
    "单选题",
    "多选题",
    "mcq",
    "choice",
    "knowledge",
    "知识",
}
SUBJECTIVE_WORDS = {"subjective", "主观题", "open", "case", "application", "应用"}
MEDETHICEVAL_DATASETS = {"violation", "违规", "priority", "优先", "equilibrium", "均衡"}  # application datasets
KIND_WORDS = {
    ScenarioKind.OBJECTIVE: OBJECTIVE_WORDS,
    ScenarioKind.SUBJECTIVE: SUBJECTIVE_WORDS | MEDETHICEVAL_DATASETS,
}
PREVIEW_ROWS = 5
CHUNK = 500


# --- tables: CSV or JSONL, as columns and rows ----------------------------------------------------


@dataclass
class Table:
    columns: list[str]
    rows: list[tuple[int, dict[str, Any]]]  # (line, row)
    errors: list[tuple[int, str]] = field(default_factory=list)  # lines that are not rows at all


@cycle_collection_paused()
def read_table(data: bytes, name: str) -> Table:
    """A CSV (header row) or JSONL (one object a line) file; anything else is refused as a whole."""
    suffix = PurePath(name).suffix.lower()
    if suffix not in {".csv", ".jsonl", ".ndjson"}:
        raise ImportFileError(gettext_noop("Upload a .csv or .jsonl file."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(gettext_noop("The file is not UTF-8 text; save it from Excel as “CSV UTF-8”.")) from None
    if not text.strip():
        raise ImportFileError(gettext_noop("The file is empty."))
    table = _read_jsonl(text) if suffix != ".csv" else _read_csv(text)
    if not table.rows and not table.errors:
        raise ImportFileError(gettext_noop("The file has no rows."))
    return _refuse_unstorable(table)


def _refuse_unstorable(table: Table) -> Table:
    """Rows holding what the database cannot store (a NUL, a broken ``\\u`` escape) become per-row errors, so the
    dry run reports them and the import never starts with them. Column names are checked with each row."""
    kept: list[tuple[int, dict[str, Any]]] = []
    for line, row in table.rows:
        refused = unstorable_cells(row)
        if refused:
            table.errors.append((line, refused))
        else:
            kept.append((line, row))
    table.rows = kept
    table.columns = [column for column in table.columns if not storable.problem(column)]
    return table


def _read_csv(text: str) -> Table:
    """Cells of any length are read (``allow_long_cells``): one over MAX_CELL_CHARS is a row error
    (``_refuse_unstorable``), never a reason to refuse the file."""
    allow_long_cells()
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, dict[str, Any]]] = []
    at = 1  # the line the reader is reading (the header is line 1)
    try:
        header = [name.strip() for name in next(reader)]
        if len(set(header)) != len(header) or "" in header:
            raise ImportFileError(gettext_noop("Every column needs a name of its own in the first row."))
        at = 2
        for at, values in enumerate(reader, start=2):
            if any(value.strip() for value in values):
                rows.append((at, dict(zip(header, values, strict=False))))
            at += 1
    except csv.Error as error:
        raise ImportFileError(
            _("Not a readable CSV file: %(error)s (line %(line)d).") % {"error": error, "line": at}
        ) from None
    return Table(columns=header, rows=rows)


def _read_jsonl(text: str) -> Table:
    table = Table(columns=[], rows=[])
    seen: dict[str, None] = {}
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            table.errors.append((line, NOT_JSON(error=error.msg)))
            continue
        if not isinstance(value, dict):
            table.errors.append((line, gettext_noop("Each line must be a JSON object.")))
            continue
        seen.update(dict.fromkeys(str(key) for key in value))
        table.rows.append((line, {str(key): item for key, item in value.items()}))
    table.columns = list(seen)
    return table


def preview(table: Table) -> list[list[str]]:
    """The first rows, as short strings in column order, for the mapping screen."""
    return [[cell_text(row.get(column))[:80] for column in table.columns] for _, row in table.rows[:PREVIEW_ROWS]]


# --- mapping columns to fields --------------------------------------------------------------------


@dataclass(frozen=True)
class Mapping:
    """Which column holds which field; plus the values rows fall back on."""

    columns: dict[str, str]  # field → column
    default_scene: Scene | None = None
    model_name: str = ""  # for response files without a model column

    def value(self, row: dict[str, Any], name: str) -> Any:
        column = self.columns.get(name)
        return row.get(column) if column else None


def guess_mapping(columns: list[str], fields: Iterable[str]) -> dict[str, str]:
    """Columns named like a field (or a common other name for it) are mapped to it."""
    aliases = {
        "stem": ("stem", "question", "query", "prompt", "case", "题目"),
        "options": ("options", "choices", "选项"),
        "key": ("key", "answer_key", "answer", "label", "答案"),
        "norm": ("norm", "考点"),
        "scene": ("scene", "场景"),
        "reference": ("reference_answer", "reference"),
        "kind": ("kind", "type", "题型"),
        "model": ("model", "model_name"),
        "response": ("response", "output", "completion", "回答"),
        "scenario": ("scenario", "scenario_id"),
        "answer": ("answer_model", "model_answer"),
    }
    lowered = {column.lower(): column for column in columns}
    guessed: dict[str, str] = {}
    for name in fields:
        for alias in aliases.get(name, (name,)):
            if alias in lowered and lowered[alias] not in guessed.values():
                guessed[name] = lowered[alias]
                break
    return guessed


def cell_text(value: Any) -> str:
    """A cell as text: a string with Excel's escaped carriage returns undone, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace(EXCEL_CR, "\n")
    return json.dumps(value, ensure_ascii=False)


def parse_options(value: Any) -> dict[str, str]:
    """Options as a JSON object ({"A": …}), a list (lettered in order) or lettered lines ("A. …\\nB. …")."""
    if isinstance(value, str) and value.strip()[:1] in {"{", "["}:
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ScenarioError(gettext_noop("The options look like JSON but are not valid JSON.")) from None
    if isinstance(value, dict):
        return {str(k).strip().upper(): cell_text(v).strip() for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > 8:
            raise ScenarioError(gettext_noop("At most eight options (A to H)."))
        return {chr(ord("A") + n): cell_text(v).strip() for n, v in enumerate(value)}
    options: dict[str, str] = {}
    for line in _split_inline_options(cell_text(value).splitlines()):
        match = OPTION.match(line)
        if match:
            options[match.group(1)] = match.group(2)
        elif options and line.strip():
            options[sorted(options)[-1]] += line.strip()
        elif line.strip():
            raise ScenarioError(NO_LETTER(line=repr(line.strip()[:40])))
    return options


def build_item(row: dict[str, Any], mapping: Mapping, scenes: dict[str, Scene]) -> dict[str, Any]:
    """A scenario's fields from a mapped row, checked and hashed like every other scenario."""
    stem = cell_text(mapping.value(row, "stem")).strip()
    options = parse_options(mapping.value(row, "options"))
    key = normalise_key(cell_text(mapping.value(row, "key")))
    kind_word = cell_text(mapping.value(row, "kind")).strip()
    if kind_word:
        kind = next((k for k, words in KIND_WORDS.items() if kind_word.lower() in words), None)
        if kind is None:
            raise ScenarioError(UNKNOWN_KIND(kind=repr(kind_word)))
    else:
        kind = ScenarioKind.OBJECTIVE if options or key else ScenarioKind.SUBJECTIVE
    if kind == ScenarioKind.OBJECTIVE and not options:
        stem, options = split_objective_query(stem)  # the options are written inside the question
    if kind == ScenarioKind.SUBJECTIVE:
        options, key = {}, ""
    scene_name = cell_text(mapping.value(row, "scene")).strip()
    scene = scenes.get(scene_name) if scene_name else mapping.default_scene
    if scene is None:
        raise ScenarioError(
            UNKNOWN_SCENE(scene=repr(scene_name)) if scene_name else gettext_noop("No scene given, and no default.")
        )
    norm = cell_text(mapping.value(row, "norm")).strip()
    validate(kind, stem, options, key, norm)
    return {
        "kind": kind,
        "stem": stem,
        "options": options,
        "key": key,
        "norm": norm,
        "scene": scene,
        "reference_answer": cell_text(mapping.value(row, "reference")).strip(),
        "content_hash": content_hash(kind, stem, options, key),
    }


# --- scenarios from a mapped file -----------------------------------------------------------------


@cycle_collection_paused()
def import_scenarios(
    table: Table,
    mapping: Mapping,
    *,
    origin_name: str,
    dry_run: bool,
    status: str = ScenarioStatus.IN_REVIEW,
    user: User | None = None,
) -> ImportReport:
    report = ImportReport(errors=list(table.errors))
    report.rows = len(table.rows) + len(table.errors)
    scenes = scene_lookup()
    prepared: dict[str, dict[str, Any]] = {}
    items: list[tuple[int, dict[str, Any]]] = []
    for line, row in table.rows:
        try:
            items.append((line, build_item(row, mapping, scenes)))
        except ScenarioError as error:
            report.errors.append((line, str(error)))
    existing = existing_hashes({item["content_hash"] for _line, item in items})
    linked = stored_scenes(list(existing.values()))
    listed: dict[str, dict[int, None]] = {}  # item → the scenes the file lists it under, beyond those stored
    in_file: dict[str, set[int]] = {}  # item → the scenes the file lists it under
    for line, item in items:
        digest = item["content_hash"]
        if item["kind"] == ScenarioKind.SUBJECTIVE and not item["norm"]:
            if status == ScenarioStatus.ACCEPTED:
                report.errors.append(
                    (line, gettext_noop("No norm (考点) given: an open case cannot be imported as accepted."))
                )
                continue
            report.warnings.append((line, gettext_noop("No norm (考点) given; add one before the item is accepted.")))
        here = in_file.setdefault(digest, set())
        report.cross_scene += bool(here) and item["scene"].pk not in here  # a repeat under another scene
        here.add(item["scene"].pk)
        scene_ids = listed.setdefault(digest, {})
        if item["scene"].pk not in (linked.get(existing[digest].pk, set()) if digest in existing else set()):
            scene_ids[item["scene"].pk] = None
        if digest in prepared:
            report.duplicates_in_file += 1
        elif digest in existing:
            report.duplicates_in_bank += 1
        else:
            report.new += 1
            prepared[digest] = {**item, "origin_detail": f"{origin_name}:{line}"[:255]}
    report.items = len(listed)
    report.scenes_added = sum(len(ids) - (digest not in existing) for digest, ids in listed.items())
    report.errors.sort()
    if dry_run or report.errors:
        return report
    report.written = True
    if prepared or report.scenes_added:
        try:
            with transaction.atomic():
                created = create_items(list(prepared.values()), origin_name, status, user)
                write_scene_links({d: list(ids) for d, ids in listed.items()}, existing, prepared, created)
                details = {
                    "file": origin_name,
                    "created": len(prepared),
                    "duplicates": report.duplicates_in_bank,
                    "scenes_added": report.scenes_added,
                }
                audit.record("scenario.import", actor=user, details=details)
        except IntegrityError:
            raise ImportFileError(
                gettext_noop("Another import added some of these items meanwhile; run this one again.")
            ) from None
    return report


def existing_hashes(hashes: set[str]) -> dict[str, Scenario]:
    """Content hash → the scenario of the bank with that content (id, kind, key, version and hash loaded)."""
    found: dict[str, Scenario] = {}
    ordered = sorted(hashes)
    for start in range(0, len(ordered), CHUNK):
        for scenario in Scenario.objects.filter(content_hash__in=ordered[start : start + CHUNK]).only(
            "id", "kind", "key", "version", "content_hash"
        ):
            found[scenario.content_hash] = scenario
    return found


# --- the MedEthicEval-style CSV: a table with a fixed mapping ---------------------------------------


MEDETHICEVAL_MAPPING = {
    "stem": "question",
    "options": "options",
    "key": "answer",
    "reference": "reference",
    "norm": "norm",
    "scene": "scene",
    "kind": "category",
    "model": "model",
    "response": "response",
    "answer": "model_answer",
}


def medethiceval_table(data: bytes, name: str = "file.csv") -> tuple[Table, Mapping]:
    """A MedEthicEval-style CSV as a table with its fixed mapping (see the module docstring)."""
    table = read_table(data, name if name.lower().endswith(".csv") else f"{name}.csv")
    missing = MEDETHICEVAL_COLUMNS - set(table.columns)
    if missing or not {"category", "dataset"} & set(table.columns):
        raise ImportFileError(gettext_noop("Missing column(s): question and category (or dataset)."))
    letters = [c for c in "ABCDEFGH" if c in table.columns]
    for _line, row in table.rows:
        if not row.get("category") and row.get("dataset"):
            row["category"] = row["dataset"]
        if letters and not (row.get("options") or "").strip():
            row["options"] = {c: row[c] for c in letters if (row.get(c) or "").strip()}
    columns = {
        name: column
        for name, column in MEDETHICEVAL_MAPPING.items()
        if column in {*table.columns, "category", "options"}
    }
    return table, Mapping(columns=columns)

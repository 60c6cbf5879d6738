"""Imports beyond the MedES question CSV: MedES response CSVs, MedEthicEval-style CSVs, and any CSV or
JSONL file of scenarios or responses whose columns the user maps to fields.

Every import follows the conventions of ``benchmark.importers``: a dry run reads and checks every row and
reports counts, per-row errors and duplicates without writing anything; the real run writes the same rows
in one transaction, and not at all when any row has an error; the same file twice adds nothing.

Responses are linked to scenarios by the content hash of the question they answer (the same hash the
question importer stores), or, in mapped files, by a scenario reference (its id, ``#id`` or content hash).
A question that is not in the bank yet is imported with its responses (as ``in_review``, for a curator to
accept) unless the caller asks for known questions only, in which case those rows are errors. A model named
in the file and missing from the registry is registered as kind ``imported``.

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
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from simple_history.utils import bulk_create_with_history

from benchmark.importers import (
    EXCEL_CR,
    OPTION,
    QUESTION_COLUMNS,
    ImportFileError,
    ImportReport,
    _question,
    _split_inline_options,
    read_rows,
    scene_lookup,
    split_objective_query,
    unstorable_cells,
)
from benchmark.models import (
    ModelKind,
    RegisteredModel,
    Response,
    ResponseOrigin,
    Scenario,
    ScenarioKind,
    ScenarioOrigin,
    ScenarioStatus,
    Scene,
)
from benchmark.scenarios import ScenarioError, content_hash, normalise_key, validate
from benchmark.scoring import extraction, parse_key
from medes_site import audit, storable

RESPONSE_COLUMNS = {"model", "response"}
MEDETHICEVAL_COLUMNS = {"question"}
SCENARIO_FIELDS = ("stem", "options", "key", "norm", "scene", "reference", "kind")
RESPONSE_FIELDS = ("model", "scenario", "response", "answer", *SCENARIO_FIELDS)
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
SCENARIO_REF = re.compile(r"^#?(?P<id>\d+)$|^(?P<hash>[0-9a-f]{64})$")
PREVIEW_ROWS = 5
CHUNK = 500


# --- tables: CSV or JSONL, as columns and rows ----------------------------------------------------


@dataclass
class Table:
    columns: list[str]
    rows: list[tuple[int, dict[str, Any]]]  # (line, row)
    errors: list[tuple[int, str]] = field(default_factory=list)  # lines that are not rows at all


def read_table(data: bytes, name: str) -> Table:
    """A CSV (header row) or JSONL (one object a line) file; anything else is refused as a whole."""
    suffix = PurePath(name).suffix.lower()
    if suffix not in {".csv", ".jsonl", ".ndjson"}:
        raise ImportFileError("Upload a .csv or .jsonl file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("The file is not UTF-8 text; save it from Excel as 'CSV UTF-8'.") from None
    if not text.strip():
        raise ImportFileError("The file is empty.")
    table = _read_jsonl(text) if suffix != ".csv" else _read_csv(text)
    if not table.rows and not table.errors:
        raise ImportFileError("The file has no rows.")
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
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
        if len(set(header)) != len(header) or "" in header:
            raise ImportFileError("Every column needs a name of its own in the first row.")
        rows = [(line, dict(zip(header, values, strict=False))) for line, values in enumerate(reader, start=2)
                if any(value.strip() for value in values)]  # fmt: skip
    except csv.Error as error:
        raise ImportFileError(f"Not a readable CSV file: {error}.") from None
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
            table.errors.append((line, f"Not JSON: {error.msg}."))
            continue
        if not isinstance(value, dict):
            table.errors.append((line, "Each line must be a JSON object."))
            continue
        seen.update(dict.fromkeys(str(key) for key in value))
        table.rows.append((line, {str(key): item for key, item in value.items()}))
    table.columns = list(seen)
    return table


def preview(table: Table) -> list[list[str]]:
    """The first rows, as short strings in column order, for the mapping screen."""
    return [[_text(row.get(column))[:80] for column in table.columns] for _, row in table.rows[:PREVIEW_ROWS]]


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
        "stem": ("stem", "question", "query", "prompt", "case", "题目"), "options": ("options", "choices", "选项"),
        "key": ("key", "answer_key", "answer", "label", "答案"), "norm": ("norm", "考点"),
        "scene": ("scene", "场景"), "reference": ("reference_answer", "reference"), "kind": ("kind", "type", "题型"),
        "model": ("model", "model_name"), "response": ("response", "output", "completion", "回答"),
        "scenario": ("scenario", "scenario_id"), "answer": ("answer_model", "model_answer"),
    }  # fmt: skip
    lowered = {column.lower(): column for column in columns}
    guessed: dict[str, str] = {}
    for name in fields:
        for alias in aliases.get(name, (name,)):
            if alias in lowered and lowered[alias] not in guessed.values():
                guessed[name] = lowered[alias]
                break
    return guessed


def _text(value: Any) -> str:
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
            raise ScenarioError("The options look like JSON but are not valid JSON.") from None
    if isinstance(value, dict):
        return {str(k).strip().upper(): _text(v).strip() for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > 8:
            raise ScenarioError("At most eight options (A to H).")
        return {chr(ord("A") + n): _text(v).strip() for n, v in enumerate(value)}
    options: dict[str, str] = {}
    for line in _split_inline_options(_text(value).splitlines()):
        match = OPTION.match(line)
        if match:
            options[match.group(1)] = match.group(2)
        elif options and line.strip():
            options[sorted(options)[-1]] += line.strip()
        elif line.strip():
            raise ScenarioError(f"Cannot read the options: {line.strip()[:40]!r} has no letter.")
    return options


def build_item(row: dict[str, Any], mapping: Mapping, scenes: dict[str, Scene]) -> dict[str, Any]:
    """A scenario's fields from a mapped row, checked and hashed like every other scenario."""
    stem = _text(mapping.value(row, "stem")).strip()
    options = parse_options(mapping.value(row, "options"))
    key = normalise_key(_text(mapping.value(row, "key")))
    kind_word = _text(mapping.value(row, "kind")).strip()
    if kind_word:
        kind = next((k for k, words in KIND_WORDS.items() if kind_word.lower() in words), None)
        if kind is None:
            raise ScenarioError(f"Unknown kind {kind_word!r}; expected objective or subjective.")
    else:
        kind = ScenarioKind.OBJECTIVE if options or key else ScenarioKind.SUBJECTIVE
    if kind == ScenarioKind.OBJECTIVE and not options:
        stem, options = split_objective_query(stem)  # the options are written inside the question
    if kind == ScenarioKind.SUBJECTIVE:
        options, key = {}, ""
    scene_name = _text(mapping.value(row, "scene")).strip()
    scene = scenes.get(scene_name) if scene_name else mapping.default_scene
    if scene is None:
        raise ScenarioError(f"Unknown scene {scene_name!r}." if scene_name else "No scene given, and no default.")
    norm = _text(mapping.value(row, "norm")).strip()
    validate(kind, stem, options, key, norm)
    return {
        "kind": kind, "stem": stem, "options": options, "key": key, "norm": norm, "scene": scene,
        "reference_answer": _text(mapping.value(row, "reference")).strip(),
        "content_hash": content_hash(kind, stem, options, key),
    }  # fmt: skip


# --- scenarios from a mapped file -----------------------------------------------------------------


def import_scenarios(
    table: Table, mapping: Mapping, *, origin_name: str, dry_run: bool, status: str = ScenarioStatus.IN_REVIEW,
    user: User | None = None,
) -> ImportReport:  # fmt: skip
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
    existing = _existing_hashes({item["content_hash"] for _, item in items})
    for line, item in items:
        digest = item["content_hash"]
        if item["kind"] == ScenarioKind.SUBJECTIVE and not item["norm"]:
            if status == ScenarioStatus.ACCEPTED:
                report.errors.append((line, "No norm (考点) given: an open case cannot be imported as accepted."))
                continue
            report.warnings.append((line, "No norm (考点) given; add one before the item is accepted."))
        if digest in prepared:
            report.duplicates_in_file += 1
        elif digest in existing:
            report.duplicates_in_bank += 1
        else:
            report.new += 1
            prepared[digest] = {**item, "origin_detail": f"{origin_name}:{line}"[:255]}
    report.errors.sort()
    if dry_run or report.errors:
        return report
    report.written = True
    if prepared:
        try:
            with transaction.atomic():
                _create_scenarios(list(prepared.values()), origin_name, status, user)
                details = {"file": origin_name, "created": len(prepared), "duplicates": report.duplicates_in_bank}
                audit.record("scenario.import", actor=user, details=details)
        except IntegrityError:
            raise ImportFileError("Another import added some of these items meanwhile; run this one again.") from None
    return report


def _existing_hashes(hashes: set[str]) -> dict[str, Scenario]:
    found: dict[str, Scenario] = {}
    ordered = sorted(hashes)
    for start in range(0, len(ordered), CHUNK):
        for scenario in Scenario.objects.filter(content_hash__in=ordered[start : start + CHUNK]).only(
            "id", "kind", "key", "version", "content_hash"
        ):
            found[scenario.content_hash] = scenario
    return found


def _create_scenarios(items: list[dict[str, Any]], origin_name: str, status: str, user: User | None) -> None:
    bulk_create_with_history(
        [Scenario(origin=ScenarioOrigin.IMPORTED, status=status, created_by=user, **item) for item in items],
        Scenario, batch_size=CHUNK, default_user=user, default_change_reason=f"imported from {origin_name}",
    )  # fmt: skip


# --- responses ------------------------------------------------------------------------------------


@dataclass
class ResponseEntry:
    """One row of a response file: a model's answer to a scenario given by reference or by content."""

    line: int
    model: str
    text: str
    reported: str | None = None  # the answer the file's publishers read (MedES answer_model); None: no such column
    scenario: Scenario | None = None
    item: dict[str, Any] | None = None


@dataclass
class ResponseImportReport(ImportReport):
    new_questions: int = 0
    new_models: list[str] = field(default_factory=list)
    objective: int = 0  # new objective responses, and how their answers read:
    extracted: int = 0
    correct: int = 0

    def summary(self) -> str:
        models = ", ".join(self.new_models) or "none"
        return (
            f"{super().summary()}; {self.new_questions} questions new to the bank; new models: {models}; "
            f"answers read in {self.extracted} of {self.objective} objective responses, {self.correct} correct"
        )


def report_as_dict(report: ImportReport) -> dict[str, Any]:
    """For keeping a report on the upload row and showing it again."""
    return {**asdict(report), "summary": report.summary()}


def import_responses(
    entries: list[ResponseEntry], *, origin_name: str, dry_run: bool, user: User | None = None,
    create_questions: bool = True, errors: Iterable[tuple[int, str]] = (),
) -> ResponseImportReport:  # fmt: skip
    report = ResponseImportReport(errors=list(errors))
    report.rows = len(entries) + len(report.errors)
    bank = _existing_hashes({e.item["content_hash"] for e in entries if e.item})
    names = {e.model for e in entries}
    models = {m.name: m for m in RegisteredModel.objects.filter(name__in=names)}
    stored = _stored_responses(models.values(), entries, bank)
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    new_items: dict[str, dict[str, Any]] = {}
    prepared: list[tuple[ResponseEntry, str, Scenario | None, tuple[str, bool | None, bool | None]]] = []
    for entry in entries:
        if not entry.model:
            report.errors.append((entry.line, "No model named."))
            continue
        scenario = entry.scenario
        if scenario is None:
            if entry.item is None:  # neither a reference nor a question: the row builders never make one
                raise ValueError(f"line {entry.line}: no scenario and no question")
            digest = entry.item["content_hash"]
            scenario = bank.get(digest)
            if scenario is None and not create_questions:
                report.errors.append((entry.line, "The question is not in the bank; import the questions first."))
                continue
        kind, key, digest = (
            (scenario.kind, scenario.key, scenario.content_hash) if scenario is not None
            else (entry.item["kind"], entry.item["key"], entry.item["content_hash"])  # type: ignore[index]
        )  # fmt: skip
        first = seen.setdefault((entry.model, digest), (entry.line, entry.text))
        if first[0] != entry.line:
            if first[1] == entry.text:
                report.duplicates_in_file += 1
            else:
                report.errors.append((entry.line, f"Line {first[0]} gives {entry.model} a different answer to "
                                                  "the same question."))  # fmt: skip
            continue
        model = models.get(entry.model)
        old = stored.get((model.pk, digest)) if model is not None else None
        if old is not None:
            if old == entry.text:
                report.duplicates_in_bank += 1
            else:
                report.errors.append((entry.line, f"{entry.model} already has a different response to this "
                                     "question; import another run under another model name."))  # fmt: skip
            continue
        if scenario is None:
            new_items.setdefault(digest, {**entry.item, "origin_detail": f"{origin_name}:{entry.line}"[:255]})  # type: ignore[dict-item]
        if not entry.text.strip():
            report.warnings.append((entry.line, "The response is empty; it is stored with no readable answer."))
        read = extraction(kind, key, entry.text)
        if kind == ScenarioKind.OBJECTIVE:
            report.objective += 1
            report.extracted += bool(read[1])
            report.correct += bool(read[2])
            _compare_with_the_file(entry, read, report)
        report.new += 1
        prepared.append((entry, digest, scenario, read))
    report.new_questions = len(new_items)
    report.new_models = sorted({entry.model for entry, *_ in prepared} - set(models))
    report.errors.sort()
    if dry_run or report.errors:
        return report
    report.written = True
    if not prepared:
        return report
    try:
        _write_responses(prepared, new_items, models, origin_name, user, report)
    except IntegrityError:
        raise ImportFileError("Another import added some of these responses meanwhile; run this one again.") from None
    return report


def _compare_with_the_file(
    entry: ResponseEntry, read: tuple[str, bool | None, bool | None], report: ResponseImportReport
) -> None:
    """Where the file says which answer its publishers read, warn about every row the workbench reads
    differently, and list the answers the publishers missed (an empty answer_model on a readable text)."""
    if entry.reported is None:
        return
    theirs = "".join(sorted(parse_key(entry.reported)))
    ours = read[0] if read[1] else "nothing"
    if entry.reported.strip() and (theirs != read[0] or not read[1]):
        report.warnings.append((entry.line, f"The file reads the answer as {theirs}, the workbench as {ours}."))
    elif not entry.reported.strip() and read[1]:
        report.warnings.append((entry.line, f"The file gives no answer; the workbench reads {ours or 'none'}."))


def _stored_responses(
    models: Iterable[RegisteredModel], entries: list[ResponseEntry], bank: dict[str, Scenario]
) -> dict[tuple[int, str], str]:
    """(model id, scenario hash) → text of the responses already stored that this file could repeat."""
    hashes = sorted({e.scenario.content_hash if e.scenario else e.item["content_hash"] for e in entries  # type: ignore[index]
                     if e.scenario or (e.item and e.item["content_hash"] in bank)})  # fmt: skip
    model_ids = [m.pk for m in models]
    stored: dict[tuple[int, str], str] = {}
    if not model_ids:
        return stored
    for start in range(0, len(hashes), CHUNK):
        rows = Response.objects.filter(model__in=model_ids, scenario_hash__in=hashes[start : start + CHUNK])
        stored.update({(m, h): t for m, h, t in rows.values_list("model_id", "scenario_hash", "text")})
    return stored


def _write_responses(
    prepared: list[tuple[ResponseEntry, str, Scenario | None, tuple[str, bool | None, bool | None]]],
    new_items: dict[str, dict[str, Any]], models: dict[str, RegisteredModel], origin_name: str,
    user: User | None, report: ResponseImportReport,
) -> None:  # fmt: skip
    with transaction.atomic():
        for name in report.new_models:
            models[name] = RegisteredModel.objects.create(
                name=name, kind=ModelKind.IMPORTED, notes=f"Registered by the import of {origin_name}"[:255],
                created_by=user,
            )  # fmt: skip
            audit.record("model.register", actor=user, obj=models[name], details={"kind": "imported",
                                                                                  "file": origin_name})  # fmt: skip
        if new_items:
            _create_scenarios(list(new_items.values()), origin_name, ScenarioStatus.IN_REVIEW, user)
        created = _existing_hashes(set(new_items))
        Response.objects.bulk_create(
            [
                Response(
                    model=models[entry.model], scenario=scenario or created[digest],
                    scenario_version=(scenario or created[digest]).version, scenario_hash=digest,
                    answer_key=(scenario or created[digest]).key, text=entry.text, origin=ResponseOrigin.IMPORTED,
                    origin_detail=f"{origin_name}:{entry.line}"[:255],
                    reported_choice="".join(sorted(parse_key(entry.reported or "")))[:16],
                    choice=read[0], extractable=read[1], correct=read[2], created_by=user,
                )
                for entry, digest, scenario, read in prepared
            ],
            batch_size=CHUNK,
        )  # fmt: skip
        audit.record("response.import", actor=user, details={
            "file": origin_name, "created": len(prepared), "questions": len(new_items),
            "models": report.new_models, "duplicates": report.duplicates_in_bank})  # fmt: skip


# --- the formats ----------------------------------------------------------------------------------


def medes_response_entries(data: bytes) -> tuple[list[ResponseEntry], list[tuple[int, str]]]:
    """MedES response CSV rows: the question exactly as the question importer reads it, and the answer."""
    scenes = scene_lookup()
    entries: list[ResponseEntry] = []
    errors: list[tuple[int, str]] = []
    for line, row in read_rows(data, QUESTION_COLUMNS | RESPONSE_COLUMNS):
        refused = unstorable_cells(row)
        if refused:
            errors.append((line, refused))
            continue
        try:
            item = _question(row, scenes)
        except ScenarioError as error:
            errors.append((line, str(error)))
            continue
        item["content_hash"] = content_hash(item["kind"], item["stem"], item["options"], item["key"])
        entries.append(ResponseEntry(line=line, model=(row.get("model") or "").strip(), text=row.get("response") or "",
                                     reported=row.get("answer_model"), item=item))  # fmt: skip
    return entries, errors


def import_medes_responses(
    data: bytes, *, origin_name: str, dry_run: bool, user: User | None = None, create_questions: bool = True
) -> ResponseImportReport:
    entries, errors = medes_response_entries(data)
    return import_responses(entries, origin_name=origin_name, dry_run=dry_run, user=user,
                            create_questions=create_questions, errors=errors)  # fmt: skip


def mapped_response_entries(table: Table, mapping: Mapping) -> tuple[list[ResponseEntry], list[tuple[int, str]]]:
    """Rows of a mapped file: the scenario by reference when a scenario column is mapped, else by content."""
    scenes = scene_lookup()
    errors = list(table.errors)
    refs: dict[int, tuple[str, str]] = {}  # line → (kind of reference, value)
    for line, row in table.rows:
        match = SCENARIO_REF.match(_text(mapping.value(row, "scenario")).strip().lower())
        if match:
            refs[line] = ("id", match["id"]) if match["id"] else ("hash", match["hash"])
    by_id = Scenario.objects.in_bulk([int(v) for k, v in refs.values() if k == "id"])
    by_hash = _existing_hashes({v for k, v in refs.values() if k == "hash"})
    entries: list[ResponseEntry] = []
    for line, row in table.rows:
        model = _text(mapping.value(row, "model")).strip() if "model" in mapping.columns else mapping.model_name
        reported = _text(mapping.value(row, "answer")) if "answer" in mapping.columns else None
        entry = ResponseEntry(line=line, model=model.strip()[:128], text=_text(mapping.value(row, "response")),
                              reported=reported)  # fmt: skip
        if "scenario" in mapping.columns:
            ref = refs.get(line)
            entry.scenario = (by_id.get(int(ref[1])) if ref[0] == "id" else by_hash.get(ref[1])) if ref else None
            if entry.scenario is None:
                value = _text(mapping.value(row, "scenario")).strip()
                errors.append((line, f"No scenario {value!r} in the bank (give its id or content hash)."))
                continue
        else:
            try:
                entry.item = build_item(row, mapping, scenes)
            except ScenarioError as error:
                errors.append((line, str(error)))
                continue
        entries.append(entry)
    return entries, errors


MEDETHICEVAL_MAPPING = {"stem": "question", "options": "options", "key": "answer", "reference": "reference",
                        "norm": "norm", "scene": "scene", "kind": "category", "model": "model",
                        "response": "response", "answer": "model_answer"}  # fmt: skip


def medethiceval_table(data: bytes, name: str = "file.csv") -> tuple[Table, Mapping]:
    """A MedEthicEval-style CSV as a table with its fixed mapping (see the module docstring)."""
    table = read_table(data, name if name.lower().endswith(".csv") else f"{name}.csv")
    missing = MEDETHICEVAL_COLUMNS - set(table.columns)
    if missing or not {"category", "dataset"} & set(table.columns):
        raise ImportFileError("Missing column(s): question and category (or dataset).")
    letters = [c for c in "ABCDEFGH" if c in table.columns]
    for _, row in table.rows:
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


def import_medethiceval(
    data: bytes, *, origin_name: str, dry_run: bool, default_scene: Scene | None = None, user: User | None = None,
    status: str = ScenarioStatus.IN_REVIEW, create_questions: bool = True,
) -> ImportReport:  # fmt: skip
    table, mapping = medethiceval_table(data, origin_name)
    mapping = Mapping(columns=mapping.columns, default_scene=default_scene)
    if set(table.columns) >= RESPONSE_COLUMNS:
        entries, errors = mapped_response_entries(table, mapping)
        return import_responses(entries, origin_name=origin_name, dry_run=dry_run, user=user,
                                create_questions=create_questions, errors=errors)  # fmt: skip
    return import_scenarios(table, mapping, origin_name=origin_name, dry_run=dry_run, status=status, user=user)


def detect_format(data: bytes) -> str:
    """Which importer reads this CSV, from its header: MedES questions or responses, or MedEthicEval."""
    first = data.decode("utf-8-sig", errors="replace").splitlines()[:1]
    try:
        header = {name.strip() for name in next(csv.reader(first))} if first else set()
    except csv.Error:
        header = set()
    if header >= QUESTION_COLUMNS:
        return "medes_responses" if header >= RESPONSE_COLUMNS else "medes_questions"
    if header >= MEDETHICEVAL_COLUMNS and {"category", "dataset"} & header:
        return "medethiceval"
    return "unknown"

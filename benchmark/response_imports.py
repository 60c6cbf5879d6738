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
from django.utils.translation import gettext as _

from benchmark.importers import (
    EXCEL_CR,
    OPTION,
    QUESTION_COLUMNS,
    ImportFileError,
    ImportReport,
    _question,
    _split_inline_options,
    bank_questions,
    create_items,
    key_note,
    question_identity,
    read_rows,
    scene_lookup,
    split_objective_query,
    stored_scenes,
    unstorable_cells,
    write_scene_links,
)
from benchmark.models import (
    ModelKind,
    RegisteredModel,
    Response,
    ResponseOrigin,
    Scenario,
    ScenarioKind,
    ScenarioStatus,
    Scene,
)
from benchmark.scenarios import ScenarioError, content_hash, normalise_key, validate
from benchmark.scoring import AnswerRow, extraction, parse_key, score_dict, score_file
from medes_site import audit, storable

RESPONSE_COLUMNS = {"model", "response"}
# the publishers' judged-responses file adds these: alignment imports it, under a named judge
JUDGED_COLUMNS = {"risk_judge", "quality_judge"}
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
    existing = _existing_hashes({item["content_hash"] for _line, item in items})
    linked = stored_scenes(list(existing.values()))
    listed: dict[str, dict[int, None]] = {}  # item → the scenes the file lists it under, beyond those stored
    in_file: dict[str, set[int]] = {}  # item → the scenes the file lists it under
    for line, item in items:
        digest = item["content_hash"]
        if item["kind"] == ScenarioKind.SUBJECTIVE and not item["norm"]:
            if status == ScenarioStatus.ACCEPTED:
                report.errors.append((line, "No norm (考点) given: an open case cannot be imported as accepted."))
                continue
            report.warnings.append((line, "No norm (考点) given; add one before the item is accepted."))
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
                _create_scenarios(list(prepared.values()), origin_name, status, user)
                write_scene_links({d: list(ids) for d, ids in listed.items()}, existing, prepared)
                details = {"file": origin_name, "created": len(prepared), "duplicates": report.duplicates_in_bank,
                           "scenes_added": report.scenes_added}  # fmt: skip
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
    create_items(items, origin_name, status, user)  # with their primary scene among their scenes


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
    # Per model, the file's objective accuracy two ways (see benchmark.scoring.FileScore): "per_row", every
    # row of the file as the publishers count it, and "bank", each question once as the bank keeps it.
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> str:
        models = ", ".join(self.new_models) or _("none")
        text = _(
            "%(base)s; %(questions)d questions new to the bank; new models: %(models)s; answers read in "
            "%(extracted)d of %(objective)d objective responses, %(correct)d correct"
        ) % {"base": super().summary(), "questions": self.new_questions, "models": models,
             "extracted": self.extracted, "objective": self.objective, "correct": self.correct}  # fmt: skip
        for model, score in sorted(self.scores.items()):
            text += "; " + accuracy_line(model, score)
        return text

    def score_lines(self) -> list[str]:
        """Both accuracies of each model, overall and per scene, with their counts."""
        return [line for model, score in sorted(self.scores.items()) for line in score_lines(model, score)]


def accuracy_line(model: str, score: dict[str, Any]) -> str:
    rows, bank = score["per_row"]["overall"], score["bank"]["overall"]
    return _(
        "%(model)s objective accuracy: %(rows_acc).1f%% per file row (%(rows_correct)d/%(rows)d rows, repeats "
        "counted as often as the file lists them, as the publishers score), %(bank_acc).1f%% on the deduplicated "
        "bank (%(bank_correct)d/%(bank)d items, each question once with its first answer), difference "
        "%(diff)+.1f points"
    ) % {"model": model, "rows_acc": 100 * rows["accuracy"], "rows_correct": rows["correct"], "rows": rows["items"],
         "bank_acc": 100 * bank["accuracy"], "bank_correct": bank["correct"], "bank": bank["items"],
         "diff": 100 * (rows["accuracy"] - bank["accuracy"])}  # fmt: skip


def score_lines(model: str, score: dict[str, Any]) -> list[str]:
    """``accuracy_line`` and then a line per scene: per file row, then on the deduplicated bank."""
    lines = [accuracy_line(model, score)]
    per_row, bank = score["per_row"]["by_scene"], score["bank"]["by_scene"]
    empty = {"items": 0, "correct": 0, "accuracy": 0.0}
    for scene in sorted({*per_row, *bank}):
        r, b = per_row.get(scene, empty), bank.get(scene, empty)
        lines.append(_(
            "  %(scene)s: per file row %(r_acc).1f%% (%(r_correct)d/%(r_items)d rows); deduplicated bank "
            "%(b_acc).1f%% (%(b_correct)d/%(b_items)d items)"
        ) % {"scene": scene, "r_acc": 100 * r["accuracy"], "r_correct": r["correct"], "r_items": r["items"],
             "b_acc": 100 * b["accuracy"], "b_correct": b["correct"], "b_items": b["items"]})  # fmt: skip
    return lines


def report_as_dict(report: ImportReport) -> dict[str, Any]:
    """For keeping a report on the upload row and showing it again."""
    extra = {"score_lines": report.score_lines()} if isinstance(report, ResponseImportReport) else {}
    return {**asdict(report), "summary": report.summary(), **extra}


def _question_of(entry: ResponseEntry) -> str:
    source: Any = entry.scenario if entry.scenario is not None else entry.item
    if isinstance(source, Scenario):
        return question_identity(source.kind, source.stem, source.options)
    if source is None:  # neither a reference nor a question: the row builders never make one
        raise ValueError(f"line {entry.line}: no scenario and no question")
    return question_identity(source["kind"], source["stem"], source["options"])


def import_responses(
    entries: list[ResponseEntry], *, origin_name: str, dry_run: bool, user: User | None = None,
    create_questions: bool = True, errors: Iterable[tuple[int, str]] = (),
) -> ResponseImportReport:  # fmt: skip
    """Two answers of one model to one question (the published MedES files answer their repeated questions twice):
    the first is kept, each later one that differs is a warning with its line; every row still counts in the
    per-file-row accuracy (``scores``)."""
    report = ResponseImportReport(errors=list(errors))
    report.rows = len(entries) + len(report.errors)
    bank = bank_questions([e.item for e in entries if e.item])
    names = {e.model for e in entries}
    models = {m.name: m for m in RegisteredModel.objects.filter(name__in=names)}
    seen: dict[tuple[str, str], tuple[int, str, str]] = {}  # (model, question) → first (line, text, key)
    new_items: dict[str, dict[str, Any]] = {}  # question → the item to create
    listed: dict[str, dict[int, None]] = {}  # question → the scenes the file lists it under
    first_key: dict[str, tuple[int, str]] = {}  # question → (line, key) of its first row
    answers: dict[str, list[AnswerRow]] = {}
    firsts: list[tuple[ResponseEntry, Scenario | None]] = []
    for entry in entries:
        if not entry.model:
            report.errors.append((entry.line, "No model named."))
            continue
        question = _question_of(entry)
        scenario = entry.scenario or bank.get(question)
        if scenario is None and not create_questions:
            report.errors.append((entry.line, "The question is not in the bank; import the questions first."))
            continue
        source: Any = entry.item if entry.item is not None else entry.scenario
        key = source["key"] if isinstance(source, dict) else source.key
        scene = source["scene"] if isinstance(source, dict) else source.scene
        kind = scenario.kind if scenario is not None else source["kind"]
        if entry.item is not None:
            listed.setdefault(question, {})[scene.pk] = None
        known = first_key.setdefault(question, (entry.line, key))
        if known[1] != key and (entry.model, question) not in seen:
            _different_key(report, new_items, question, known, entry.line, key)
        if kind == ScenarioKind.OBJECTIVE:
            answers.setdefault(entry.model, []).append(AnswerRow(entry.line, scene.name, question, key, entry.text))
        first = seen.setdefault((entry.model, question), (entry.line, entry.text, key))
        if first[0] != entry.line:
            if first[2] != key:
                _different_key(report, new_items, question, (first[0], first[2]), entry.line, key)
            report.duplicates_in_file += 1
            if first[1] != entry.text:
                report.warnings.append((entry.line, _(
                    "A second answer by %(model)s to the question of line %(first)d: the first answer (line "
                    "%(first)d) is kept, this one is not stored; it still counts in the per-file-row accuracy."
                ) % {"model": entry.model, "first": first[0]}))  # fmt: skip
            continue
        if scenario is None:
            new_items.setdefault(question, {**source, "origin_detail": f"{origin_name}:{entry.line}"[:255]})
        firsts.append((entry, scenario))
    stored = _stored_responses(models.values(), [s.content_hash for _entry, s in firsts if s is not None])
    prepared: list[tuple[ResponseEntry, str, Scenario | None, tuple[str, bool | None, bool | None]]] = []
    for entry, scenario in firsts:
        digest = scenario.content_hash if scenario is not None else entry.item["content_hash"]  # type: ignore[index]
        model = models.get(entry.model)
        old = stored.get((model.pk, digest)) if model is not None else None
        if old is not None:
            if old == entry.text:
                report.duplicates_in_bank += 1
            else:
                report.errors.append((entry.line, f"{entry.model} already has a different response to this "
                                     "question; import another run under another model name."))  # fmt: skip
            continue
        if not entry.text.strip():
            report.warnings.append((entry.line, "The response is empty; it is stored with no readable answer."))
        kind, key = (scenario.kind, scenario.key) if scenario is not None else (entry.item["kind"], entry.item["key"])  # type: ignore[index]
        read = extraction(kind, key, entry.text)
        if kind == ScenarioKind.OBJECTIVE:
            report.objective += 1
            report.extracted += bool(read[1])
            report.correct += bool(read[2])
            _compare_with_the_file(entry, read, report)
        report.new += 1
        prepared.append((entry, digest, scenario, read))
    report.items = len(first_key)
    report.new_questions = len(new_items)
    report.new_models = sorted({entry.model for entry, *_ in prepared} - set(models))
    links = _scene_links(listed, bank, report)
    report.scores = _scores(answers, bank)
    report.errors.sort()
    report.warnings.sort()
    if dry_run or report.errors:
        return report
    report.written = True
    if not prepared and not report.scenes_added:
        return report
    try:
        _write_responses(prepared, new_items, models, origin_name, user, report, links, bank)
    except IntegrityError:
        raise ImportFileError("Another import added some of these responses meanwhile; run this one again.") from None
    return report


def _different_key(
    report: ResponseImportReport, new_items: dict[str, dict[str, Any]], question: str, first: tuple[int, str],
    line: int, key: str,
) -> None:  # fmt: skip
    report.different_key += 1
    report.warnings.append((line, _(
        "Line %(line)d repeats the question of line %(first_line)d with another key: %(first_key)s on line "
        "%(first_line)d, %(key)s on line %(line)d. The first key is kept and the item is left in review with a note."
    ) % {"line": line, "first_line": first[0], "first_key": first[1], "key": key}))  # fmt: skip
    new = new_items.get(question)
    if new is not None:
        note = key_note(first[0], first[1], line, key)
        new["review_note"] = f"{new['review_note']}\n{note}" if new.get("review_note") else note


def _scene_links(
    listed: dict[str, dict[int, None]], bank: dict[str, Scenario], report: ResponseImportReport
) -> dict[str, list[int]]:
    """The scenes the file lists each question under that the bank does not file it under yet."""
    linked = stored_scenes(list(bank.values()))
    links: dict[str, list[int]] = {}
    for question, scene_ids in listed.items():
        have = linked.get(bank[question].pk, set()) if question in bank else set()
        links[question] = [pk for pk in scene_ids if pk not in have]
        report.scenes_added += len(links[question]) - (question not in bank)
        report.cross_scene += max(len(scene_ids) - 1, 0)
    return links


def _scores(answers: dict[str, list[AnswerRow]], bank: dict[str, Scenario]) -> dict[str, dict[str, Any]]:
    """Per model: the objective accuracy per file row and on the deduplicated bank (``score_file``)."""
    if not answers:
        return {}
    names = dict(Scene.objects.values_list("pk", "name"))
    linked = stored_scenes(list(bank.values()))
    keys = {question: scenario.key for question, scenario in bank.items()}
    scenes = {question: [names[scenario.scene_id], *sorted(names[pk] for pk in linked[scenario.pk]
                                                           if pk != scenario.scene_id)]
              for question, scenario in bank.items()}  # fmt: skip
    scores: dict[str, dict[str, Any]] = {}
    for model, rows in answers.items():
        score = score_file(rows, keys=keys, scenes=scenes)
        scores[model] = {
            "rows": score.rows, "questions": score.questions, "repeats": score.repeats,
            "cross_scene": score.cross_scene, "different_key": score.different_key,
            "second_answers": len(score.second_answers),
            "per_row": score_dict(score.per_row), "bank": score_dict(score.bank),
        }  # fmt: skip
    return scores


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


def _stored_responses(models: Iterable[RegisteredModel], hashes: list[str]) -> dict[tuple[int, str], str]:
    """(model id, scenario hash) → text of the responses already stored that this file could repeat."""
    ordered = sorted(set(hashes))
    model_ids = [m.pk for m in models]
    stored: dict[tuple[int, str], str] = {}
    if not model_ids:
        return stored
    for start in range(0, len(ordered), CHUNK):
        rows = Response.objects.filter(model__in=model_ids, scenario_hash__in=ordered[start : start + CHUNK])
        stored.update({(m, h): t for m, h, t in rows.values_list("model_id", "scenario_hash", "text")})
    return stored


def _write_responses(
    prepared: list[tuple[ResponseEntry, str, Scenario | None, tuple[str, bool | None, bool | None]]],
    new_items: dict[str, dict[str, Any]], models: dict[str, RegisteredModel], origin_name: str,
    user: User | None, report: ResponseImportReport, links: dict[str, list[int]], bank: dict[str, Scenario],
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
        write_scene_links(links, bank, new_items)
        created = _existing_hashes({item["content_hash"] for item in new_items.values()})
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
            "models": report.new_models, "duplicates": report.duplicates_in_bank,
            "scenes_added": report.scenes_added})  # fmt: skip


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
    if _header(data) & JUDGED_COLUMNS:  # read as plain answers, the judge's replies would be lost without a word
        raise ImportFileError(
            _("This file holds a judge's replies (risk_judge, quality_judge): import it under a named judge on the "
              "leaderboard (External judge → Import judged responses) or with “manage.py import_medes --judge NAME”.")
        )  # fmt: skip
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


def _header(data: bytes) -> set[str]:
    """A CSV's column names (empty when the first line cannot be read as CSV)."""
    first = data[:65536].decode("utf-8-sig", errors="replace").splitlines()[:1]
    try:
        return {name.strip() for name in next(csv.reader(first))} if first else set()
    except csv.Error:
        return set()


def detect_format(data: bytes) -> str:
    """Which importer reads this CSV, from its header: MedES questions or responses, or MedEthicEval."""
    header = _header(data)
    if header >= QUESTION_COLUMNS:
        return "medes_responses" if header >= RESPONSE_COLUMNS else "medes_questions"
    if header >= MEDETHICEVAL_COLUMNS and {"category", "dataset"} & header:
        return "medethiceval"
    return "unknown"

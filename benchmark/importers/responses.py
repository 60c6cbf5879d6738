"""Importing model responses: MedES response CSVs, MedEthicEval-style response files and any CSV or JSONL file
of responses whose columns the user maps to fields (the tables, mappings and the MedEthicEval column set are
``benchmark.importers.mapped_scenarios``'s).

Every import follows the conventions of ``benchmark.importers``: a dry run reads and checks every row and
reports counts, per-row errors and duplicates without writing anything; the real run writes the same rows
in one transaction, and not at all when any row has an error; the same file twice adds nothing.

Responses are linked to scenarios by the content hash of the question they answer (the same hash the
question importer stores), or, in mapped files, by a scenario reference (its id, ``#id`` or content hash).
A question that is not in the bank yet is imported with its responses (as ``in_review``, for a curator to
accept) unless the caller asks for known questions only, in which case those rows are errors. A model named
in the file and missing from the registry is registered as kind ``imported``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from benchmark.importers import (
    NO_ANSWER_GIVEN,
    NO_SCENARIO,
    OTHER_RESPONSE,
    READ_OTHERWISE,
    ImportFileError,
    ImportReport,
    cycle_collection_paused,
)
from benchmark.importers.mapped_scenarios import (
    MEDETHICEVAL_COLUMNS,
    SCENARIO_FIELDS,
    Mapping,
    Table,
    build_item,
    cell_text,
    existing_hashes,
    import_scenarios,
    medethiceval_table,
)
from benchmark.importers.medes_questions import (
    QUESTION_COLUMNS,
    bank_key_differs,
    bank_questions,
    create_items,
    csv_header,
    different_key,
    question_from_row,
    question_identity,
    read_rows,
    scene_lookup,
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
from benchmark.scenarios import ScenarioError, content_hash
from benchmark.scoring import AnswerRow, extraction, parse_key, score_dict, score_file, tally_dict
from medes_site import audit

RESPONSE_COLUMNS = {"model", "response"}
# the publishers' judged-responses file adds these: alignment imports it, under a named judge
JUDGED_COLUMNS = {"risk_judge", "quality_judge"}
RESPONSE_FIELDS = ("model", "scenario", "response", "answer", *SCENARIO_FIELDS)
SCENARIO_REF = re.compile(r"^#?(?P<id>\d+)$|^(?P<hash>[0-9a-f]{64})$")
CHUNK = 500


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
        ) % {
            "base": super().summary(),
            "questions": self.new_questions,
            "models": models,
            "extracted": self.extracted,
            "objective": self.objective,
            "correct": self.correct,
        }
        for model, score in sorted(self.scores.items()):
            text += "; " + accuracy_line(model, score)
        return text

    def score_lines(self) -> list[str]:
        """Both accuracies of each model, overall and per scene, with their counts."""
        return [line for model, score in sorted(self.scores.items()) for line in score_lines(model, score)]


def accuracy_line(model: str, score: dict[str, Any]) -> str:
    """The file's objective accuracy per file row (the rows counted as the publishers count them, the answers read
    by the workbench), on the deduplicated bank, and, where the file has an answer_model column, as published."""
    rows, bank = score["per_row"]["overall"], score["bank"]["overall"]
    line = _(
        "%(model)s objective accuracy: %(rows_acc).1f%% per file row (%(rows_correct)d/%(rows)d rows, counted as the "
        "publishers count them, repeats as often as the file lists them; the answers read by the workbench), "
        "%(bank_acc).1f%% on the deduplicated bank (%(bank_correct)d/%(bank)d items, each question once with its "
        "first answer), difference %(diff)+.1f points"
    ) % {
        "model": model,
        "rows_acc": 100 * rows["accuracy"],
        "rows_correct": rows["correct"],
        "rows": rows["items"],
        "bank_acc": 100 * bank["accuracy"],
        "bank_correct": bank["correct"],
        "bank": bank["items"],
        "diff": 100 * (rows["accuracy"] - bank["accuracy"]),
    }
    published = score.get("published")
    if published:
        line += "; " + _(
            "as published: %(correct)d/%(rows)d = %(acc).1f%% (from the file's own answer_model column), the "
            "workbench reading another answer in %(differ)d rows"
        ) % {
            "correct": published["correct"],
            "rows": published["items"],
            "acc": 100 * published["accuracy"],
            "differ": score.get("readings_differ", 0),
        }
    return line


def score_lines(model: str, score: dict[str, Any]) -> list[str]:
    """``accuracy_line`` and then a line per scene: per file row, then on the deduplicated bank."""
    lines = [accuracy_line(model, score)]
    per_row, bank = score["per_row"]["by_scene"], score["bank"]["by_scene"]
    empty = {"items": 0, "correct": 0, "accuracy": 0.0}
    for scene in sorted({*per_row, *bank}):
        r, b = per_row.get(scene, empty), bank.get(scene, empty)
        lines.append(
            _(
                "  %(scene)s: per file row %(r_acc).1f%% (%(r_correct)d/%(r_items)d rows); deduplicated bank "
                "%(b_acc).1f%% (%(b_correct)d/%(b_items)d items)"
            )
            % {
                "scene": scene,
                "r_acc": 100 * r["accuracy"],
                "r_correct": r["correct"],
                "r_items": r["items"],
                "b_acc": 100 * b["accuracy"],
                "b_correct": b["correct"],
                "b_items": b["items"],
            }
        )
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


@cycle_collection_paused()
def import_responses(
    entries: list[ResponseEntry],
    *,
    origin_name: str,
    dry_run: bool,
    user: User | None = None,
    create_questions: bool = True,
    errors: Iterable[tuple[int, str]] = (),
) -> ResponseImportReport:
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
            report.errors.append((entry.line, gettext_noop("No model named.")))
            continue
        question = _question_of(entry)
        scenario = entry.scenario or bank.get(question)
        if scenario is None and not create_questions:
            report.errors.append(
                (entry.line, gettext_noop("The question is not in the bank; import the questions first."))
            )
            continue
        source: Any = entry.item if entry.item is not None else entry.scenario
        key = source["key"] if isinstance(source, dict) else source.key
        scene = source["scene"] if isinstance(source, dict) else source.scene
        kind = scenario.kind if scenario is not None else source["kind"]
        if entry.item is not None:
            listed.setdefault(question, {})[scene.pk] = None
        known = first_key.setdefault(question, (entry.line, key))
        if known[0] == entry.line and scenario is not None and scenario.key != key:
            bank_key_differs(report, entry.line, scenario, key)  # the bank keeps its key; the file's is not used
        elif known[1] != key and (entry.model, question) not in seen:
            different_key(report, known, entry.line, key, new=new_items.get(question), stored=scenario)
        if kind == ScenarioKind.OBJECTIVE:
            answers.setdefault(entry.model, []).append(
                AnswerRow(entry.line, scene.name, question, key, entry.text, entry.reported)
            )
        first = seen.setdefault((entry.model, question), (entry.line, entry.text, key))
        if first[0] != entry.line:
            if first[2] != key:
                different_key(
                    report, (first[0], first[2]), entry.line, key, new=new_items.get(question), stored=scenario
                )
            report.duplicates_in_file += 1
            if first[1] != entry.text:
                report.warnings.append(
                    (
                        entry.line,
                        _(
                            "A second answer by %(model)s to the question of line %(first)d: the first answer (line "
                            "%(first)d) is kept, this one is not stored; it still counts in the per-file-row accuracy."
                        )
                        % {"model": entry.model, "first": first[0]},
                    )
                )
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
                report.errors.append(
                    (
                        entry.line,
                        OTHER_RESPONSE(model=entry.model),
                    )
                )
            continue
        if not entry.text.strip():
            report.warnings.append(
                (entry.line, gettext_noop("The response is empty; it is stored with no readable answer."))
            )
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
        raise ImportFileError(
            gettext_noop("Another import added some of these responses meanwhile; run this one again.")
        ) from None
    return report


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
    scenes = {
        question: [
            names[scenario.scene_id],
            *sorted(names[pk] for pk in linked[scenario.pk] if pk != scenario.scene_id),
        ]
        for question, scenario in bank.items()
    }
    scores: dict[str, dict[str, Any]] = {}
    for model, rows in answers.items():
        score = score_file(rows, keys=keys, scenes=scenes)
        scores[model] = {
            "rows": score.rows,
            "questions": score.questions,
            "repeats": score.repeats,
            "cross_scene": score.cross_scene,
            "different_key": score.different_key,
            "second_answers": len(score.second_answers),
            "per_row": score_dict(score.per_row),
            "bank": score_dict(score.bank),
            "published": tally_dict(score.published) if score.published.items else None,
            "readings_differ": len(score.readings_differ),
        }
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
        report.warnings.append(
            (
                entry.line,
                READ_OTHERWISE(theirs=theirs, ours=ours),
            )
        )
    elif not entry.reported.strip() and read[1]:
        report.warnings.append((entry.line, NO_ANSWER_GIVEN(ours=ours or "none")))


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
    new_items: dict[str, dict[str, Any]],
    models: dict[str, RegisteredModel],
    origin_name: str,
    user: User | None,
    report: ResponseImportReport,
    links: dict[str, list[int]],
    bank: dict[str, Scenario],
) -> None:
    with transaction.atomic():
        for name in report.new_models:
            models[name] = RegisteredModel.objects.create(
                name=name,
                kind=ModelKind.IMPORTED,
                notes=f"Registered by the import of {origin_name}"[:255],
                created_by=user,
            )
            audit.record(
                "model.register", actor=user, obj=models[name], details={"kind": "imported", "file": origin_name}
            )
        created_ids = create_items(list(new_items.values()), origin_name, ScenarioStatus.IN_REVIEW, user)
        write_scene_links(links, bank, new_items, created_ids)
        created = existing_hashes({item["content_hash"] for item in new_items.values()})
        Response.objects.bulk_create(
            [
                Response(
                    model=models[entry.model],
                    scenario=scenario or created[digest],
                    scenario_version=(scenario or created[digest]).version,
                    scenario_hash=digest,
                    answer_key=(scenario or created[digest]).key,
                    text=entry.text,
                    origin=ResponseOrigin.IMPORTED,
                    origin_detail=f"{origin_name}:{entry.line}"[:255],
                    reported_choice="".join(sorted(parse_key(entry.reported or "")))[:16],
                    choice=read[0],
                    extractable=read[1],
                    correct=read[2],
                    created_by=user,
                )
                for entry, digest, scenario, read in prepared
            ],
            batch_size=CHUNK,
        )
        audit.record(
            "response.import",
            actor=user,
            details={
                "file": origin_name,
                "created": len(prepared),
                "questions": len(new_items),
                "models": report.new_models,
                "duplicates": report.duplicates_in_bank,
                "scenes_added": report.scenes_added,
            },
        )


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
            item = question_from_row(row, scenes)
        except ScenarioError as error:
            errors.append((line, str(error)))
            continue
        item["content_hash"] = content_hash(item["kind"], item["stem"], item["options"], item["key"])
        entries.append(
            ResponseEntry(
                line=line,
                model=(row.get("model") or "").strip(),
                text=row.get("response") or "",
                reported=row.get("answer_model"),
                item=item,
            )
        )
    return entries, errors


@cycle_collection_paused()
def import_medes_responses(
    data: bytes, *, origin_name: str, dry_run: bool, user: User | None = None, create_questions: bool = True
) -> ResponseImportReport:
    if csv_header(data) & JUDGED_COLUMNS:  # read as plain answers, the judge's replies would be lost without a word
        raise ImportFileError(
            _(
                "This file holds a judge's replies (risk_judge, quality_judge): import it under a named judge on the "
                "leaderboard (External judge → Import judged responses) or with “manage.py import_medes --judge NAME”."
            )
        )
    entries, errors = medes_response_entries(data)
    return import_responses(
        entries, origin_name=origin_name, dry_run=dry_run, user=user, create_questions=create_questions, errors=errors
    )


def mapped_response_entries(table: Table, mapping: Mapping) -> tuple[list[ResponseEntry], list[tuple[int, str]]]:
    """Rows of a mapped file: the scenario by reference when a scenario column is mapped, else by content."""
    scenes = scene_lookup()
    errors = list(table.errors)
    refs: dict[int, tuple[str, str]] = {}  # line → (kind of reference, value)
    for line, row in table.rows:
        match = SCENARIO_REF.match(cell_text(mapping.value(row, "scenario")).strip().lower())
        if match:
            refs[line] = ("id", match["id"]) if match["id"] else ("hash", match["hash"])
    by_id = Scenario.objects.in_bulk([int(v) for k, v in refs.values() if k == "id"])
    by_hash = existing_hashes({v for k, v in refs.values() if k == "hash"})
    entries: list[ResponseEntry] = []
    for line, row in table.rows:
        model = cell_text(mapping.value(row, "model")).strip() if "model" in mapping.columns else mapping.model_name
        reported = cell_text(mapping.value(row, "answer")) if "answer" in mapping.columns else None
        entry = ResponseEntry(
            line=line, model=model.strip()[:128], text=cell_text(mapping.value(row, "response")), reported=reported
        )
        if "scenario" in mapping.columns:
            ref = refs.get(line)
            entry.scenario = (by_id.get(int(ref[1])) if ref[0] == "id" else by_hash.get(ref[1])) if ref else None
            if entry.scenario is None:
                value = cell_text(mapping.value(row, "scenario")).strip()
                errors.append((line, NO_SCENARIO(value=repr(value))))
                continue
        else:
            try:
                entry.item = build_item(row, mapping, scenes)
            except ScenarioError as error:
                errors.append((line, str(error)))
                continue
        entries.append(entry)
    return entries, errors


def import_medethiceval(
    data: bytes,
    *,
    origin_name: str,
    dry_run: bool,
    default_scene: Scene | None = None,
    user: User | None = None,
    status: str = ScenarioStatus.IN_REVIEW,
    create_questions: bool = True,
) -> ImportReport:
    table, mapping = medethiceval_table(data, origin_name)
    mapping = Mapping(columns=mapping.columns, default_scene=default_scene)
    if set(table.columns) >= RESPONSE_COLUMNS:
        entries, errors = mapped_response_entries(table, mapping)
        return import_responses(
            entries,
            origin_name=origin_name,
            dry_run=dry_run,
            user=user,
            create_questions=create_questions,
            errors=errors,
        )
    return import_scenarios(table, mapping, origin_name=origin_name, dry_run=dry_run, status=status, user=user)


def detect_format(data: bytes) -> str:
    """Which importer reads this CSV, from its header: MedES questions or responses, or MedEthicEval."""
    header = csv_header(data)
    if header >= QUESTION_COLUMNS:
        return "medes_responses" if header >= RESPONSE_COLUMNS else "medes_questions"
    if header >= MEDETHICEVAL_COLUMNS and {"category", "dataset"} & header:
        return "medethiceval"
    return "unknown"

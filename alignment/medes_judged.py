"""The MedES publishers' judged responses (issue 14, item 4): import them under a named external judge and
reproduce the publishers' leaderboard. The file and its rows are read by alignment.judged_file (its docstring
gives the columns); the judge's replies by the workbench's own reader, alignment.judge_replies.

Importing stores the questions and the responses through benchmark.importers.responses (the same rules as a
MedES response file: unknown questions are added for review, a model's second answer to a repeated question
is reported and not stored), then one Judgement per response for the external judge, holding the reading of
each file row that answers with it (``feedback["rows"]``: its line, scene, type, what the workbench read,
what the publishers read; ``feedback["row_texts"]``: its two replies, and its own answer where it differs).
Every row whose reading differs from ``score1 … score6`` is reported; a dry run reports everything and writes
nothing; a file with any error writes nothing. The file's own warnings (a ``risk_flag`` or
``final_score`` that is not valid or contradicts score1…score6) are alignment.judged_file's.

Several files under one judge (``_plan``). Each stored row records its file and line. Importing a file again
(the same file name) replaces that file's rows and nothing else: nothing is counted twice. Another file's rows
are added to the judge's, so a file split in parts imports part by part. Where the file gives ``source_index``
/ ``sample_id``, they identify a model's row across files: the same row from another file with the same content
is stored once, with other content it replaces the earlier one, and both cases are reported.

The leaderboard counts file rows, as the publishers do: a question listed under two scenes counts twice, and a
model's second answer to a repeated question still counts with its own judgement. See
``alignment.evaluation_metrics.leaderboard_columns`` for what each column means.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from alignment.evaluation_metrics import MEDES_LEADERBOARD_WEIGHTS, leaderboard_columns
from alignment.judge_replies import PromptJudgement
from alignment.judged_file import ID_COLUMNS, JudgedRow, ids_shown, read_judged
from alignment.models import JudgeKind, Judgement
from benchmark.importers import ImportFileError
from benchmark.importers.responses import ResponseImportReport, import_responses
from benchmark.models import Response, Scenario
from medes_site import audit
from rubric import QUALITY_KEYS, RISK_KEYS, SCORE_KEYS

# a judge's name: a model name as people write them (letters in any script, digits, . _ - : / + ( ) and spaces)
JUDGE_NAME = re.compile(r"\w[\w .:/+()\-]{0,99}")
IN_BATCH = 900  # ids per IN list
WRITE_BATCH = 500  # judgements per INSERT or UPDATE
STORED_FIELDS = ("scores", "risky", "problem", "probabilities", "uncertainty", "feedback")


def checked_judge_name(name: str | None) -> str:
    """The external judge's name, or ImportFileError saying what a name may hold."""
    cleaned = (name or "").strip()
    if not cleaned:
        raise ImportFileError(_("Name the external judge (--judge NAME): its judgements are stored under that name."))
    if not JUDGE_NAME.fullmatch(cleaned):
        raise ImportFileError(
            _(
                "The judge name %(name)r is not allowed: use up to 100 letters, digits, spaces and . _ - : / + ( ), "
                "starting with a letter or digit."
            )
            % {"name": cleaned[:120]}
        )
    return cleaned


@dataclass
class MergeCounts:
    """How a file's rows meet the rows stored under the judge (``_plan``)."""

    earlier: int = 0  # rows of an earlier import of this same file, replaced by its rows now
    same: int = 0  # rows already imported from another file with the same ids and content: stored once
    superseded: int = 0  # rows imported from another file with the same ids and question, other content: replaced
    kept: int = 0  # rows of other files, kept beside this file's
    total: int = 0  # rows the judge holds after the import
    files: int = 0  # files they come from


@dataclass
class JudgedImportReport:
    judge: str
    responses: ResponseImportReport
    rows: list[JudgedRow] = field(default_factory=list)
    differences: list[tuple[int, str]] = field(default_factory=list)  # rows the workbench reads differently
    judgements: int = 0  # judgements written (0 in a dry run)
    merge: MergeCounts = field(default_factory=MergeCounts)

    @property
    def errors(self) -> list[tuple[int, str]]:
        return self.responses.errors

    @property
    def warnings(self) -> list[tuple[int, str]]:
        return self.responses.warnings

    @property
    def written(self) -> bool:
        return self.responses.written

    def counts(self) -> dict[str, int]:
        risk = sum(1 for r in self.rows if _has(r.reading.scores, RISK_KEYS))
        quality = sum(1 for r in self.rows if _has(r.reading.scores, QUALITY_KEYS))
        both = sum(1 for r in self.rows if _has(r.reading.scores, SCORE_KEYS))
        return {
            "rows": len(self.rows),
            "risk_read": risk,
            "quality_read": quality,
            "both_read": both,
            "differences": len(self.differences),
        }

    def summary(self) -> str:
        c = self.counts()
        judged = _(
            "judge %(judge)s: risk replies read in %(risk)d of %(rows)d rows, quality replies in %(quality)d, both in "
            "%(both)d; %(differences)d rows read differently from score1…score6; %(judgements)d judgements written"
        ) % {
            **c,
            "judge": self.judge,
            "judgements": self.judgements,
            "risk": c["risk_read"],
            "quality": c["quality_read"],
            "both": c["both_read"],
        }
        m = self.merge
        merged = _(
            "rows merged with the judge's earlier imports: %(earlier)d rows of an earlier import of this file "
            "replaced, %(same)d already imported from another file (counted once), %(superseded)d replacing another "
            "file's version of the same row, %(kept)d rows of other files kept; the judge holds %(total)d rows from "
            "%(files)d files"
        ) % {
            "earlier": m.earlier,
            "same": m.same,
            "superseded": m.superseded,
            "kept": m.kept,
            "total": m.total,
            "files": m.files,
        }
        return f"{self.responses.summary()}; {judged}; {merged}"


def _has(scores: dict[str, int] | None, keys: Iterable[str]) -> bool:
    return scores is not None and all(key in scores for key in keys)


def _shown(scores: dict[str, int | None] | dict[str, int] | None) -> str:
    return ",".join("·" if (scores or {}).get(k) is None else str((scores or {})[k]) for k in SCORE_KEYS)


def import_judged(
    data: bytes,
    *,
    judge: str,
    origin_name: str,
    dry_run: bool,
    user: User | None = None,
    create_questions: bool = True,
) -> JudgedImportReport:
    """Import a judged-responses file under the external judge ``judge`` (see the module docstring). Raises
    ImportFileError when the file as a whole cannot be read (encoding, missing columns) or the name is bad."""
    judge = checked_judge_name(judge)
    entries, rows, errors, warnings = read_judged(data)
    with transaction.atomic():
        responses = import_responses(
            entries,
            origin_name=origin_name,
            dry_run=dry_run,
            user=user,
            create_questions=create_questions,
            errors=errors,
        )
        report = JudgedImportReport(judge=judge, responses=responses, rows=rows)
        for row in rows:
            ours = row.reading.scores or {}
            if any(ours.get(k) != row.published[k] for k in SCORE_KEYS):
                report.differences.append(
                    (
                        row.line,
                        _("The file reads R1,R2,Q1…Q4 as %(theirs)s, the workbench as %(ours)s%(why)s.")
                        % {
                            "theirs": _shown(row.published),
                            "ours": _shown(ours),
                            "why": f" ({'; '.join(row.reading.problems)})" if row.reading.problems else "",
                        },
                    )
                )
        stored = _stored_rows(judge, lock=not dry_run and not responses.errors)
        remove = _plan(rows, origin_name, stored, report.merge, warnings)
        responses.warnings = sorted([*responses.warnings, *warnings])
        if dry_run or responses.errors or not rows:
            return report
        report.judgements = _store(rows, judge, origin_name, remove, {s.judgement: s.response for s in stored})
        details = {
            "file": origin_name,
            "judge": judge,
            "judgements": report.judgements,
            **report.counts(),
            "merge": asdict(report.merge),
        }
        audit.record("judgement.import", actor=user, details=details)
    return report


def _chunks(values: Iterable[Any], size: int = IN_BATCH) -> Iterable[list[Any]]:
    """Lists of at most ``size`` values: an ``IN`` list stays under the database's limit on parameters."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


# --- merging a file's rows with those stored under the judge ------------------------------------------------


@dataclass(frozen=True)
class StoredRow:
    """A row stored under the judge: where it is (judgement, position in its rows) and what identifies it."""

    judgement: int
    response: int
    index: int
    file: str
    line: int
    digest: str
    key: tuple[str, str, str] | None
    content: str


def _stored_rows(judge: str, *, lock: bool) -> list[StoredRow]:
    """Every row stored under the judge (the judgements locked first when ``lock``: an import that writes)."""
    judgements = Judgement.objects.filter(judge=JudgeKind.EXTERNAL, judge_model=judge)
    if lock:
        list(judgements.select_for_update().values_list("pk", flat=True))
    found: list[StoredRow] = []
    fields = (
        "pk",
        "response_id",
        "response__model__name",
        "response__scenario_hash",
        "feedback__rows",
        "feedback__file",
    )
    for pk, response, model, digest, rows, file in judgements.values_list(*fields).iterator(chunk_size=2000):
        for index, record in enumerate(rows or []):
            ids = {k: str(record[k]) for k in ID_COLUMNS if record.get(k)}
            found.append(
                StoredRow(
                    judgement=pk,
                    response=response,
                    index=index,
                    file=str(record.get("file") or file or ""),
                    line=int(record.get("line") or 0),
                    digest=digest,
                    content=str(record.get("content") or ""),
                    key=(model, ids.get("source_index", ""), ids.get("sample_id", "")) if ids else None,
                )
            )
    return found


def _plan(
    rows: list[JudgedRow],
    origin_name: str,
    stored: list[StoredRow],
    counts: MergeCounts,
    warnings: list[tuple[int, str]],
) -> dict[int, set[int]]:
    """Which stored rows this file's rows replace (judgement id → positions in its rows), counted in ``counts``:

    - the rows of an earlier import of the same file (the same file name) are all replaced: importing a file
      again changes nothing, and a file corrected under its name replaces its earlier rows;
    - a row of another file with the same model, ``source_index`` and ``sample_id`` is the same row: with the
      same content it is stored once; with the same question and other content (scene, answer, judge replies,
      scores) this file's row replaces it, with a warning; naming another question, both are kept, with a warning;
    - every other stored row is kept: another file's rows add to the judge's (a row of another file without ids
      that says exactly what this one says is a warning, and both are counted).
    """
    remove: dict[int, set[int]] = {}
    by_key: dict[tuple[str, str, str], list[StoredRow]] = {}
    by_content: dict[str, list[StoredRow]] = {}
    for earlier in stored:
        if earlier.file == origin_name:
            remove.setdefault(earlier.judgement, set()).add(earlier.index)
            counts.earlier += 1
            continue
        if earlier.key is not None:
            by_key.setdefault(earlier.key, []).append(earlier)
        if earlier.content:
            by_content.setdefault(earlier.content, []).append(earlier)
    for row in rows:
        matched = False
        for old in by_key.get(row.key, []) if row.key is not None else []:
            if old.index in remove.get(old.judgement, ()):
                continue
            where = {"ids": ids_shown(row.ids), "file": old.file, "old": old.line}
            if old.digest == row.digest:
                matched = True
                remove.setdefault(old.judgement, set()).add(old.index)
                if old.content == row.content:
                    counts.same += 1
                    continue
                counts.superseded += 1
                warnings.append(
                    (
                        row.line,
                        _(
                            "The row %(ids)s was imported before from %(file)s (line %(old)d) with other content "
                            "(scene, "
                            "answer, judge replies or scores): this file's row replaces it."
                        )
                        % where,
                    )
                )
            else:
                warnings.append(
                    (
                        row.line,
                        _(
                            "The row %(ids)s was imported before from %(file)s (line %(old)d) for another question: "
                            "both "
                            "rows are kept and counted."
                        )
                        % where,
                    )
                )
        if matched:
            continue
        twin = next(
            (old for old in by_content.get(row.content, []) if old.index not in remove.get(old.judgement, ())), None
        )
        if twin is not None:
            warnings.append(
                (
                    row.line,
                    _(
                        "This row says exactly what line %(old)d of %(file)s says (model, question, scene, answer, "
                        "judge "
                        "replies and scores): both are counted. If the files overlap, import each row once or give the "
                        "rows "
                        "source_index or sample_id."
                    )
                    % {"old": twin.line, "file": twin.file},
                )
            )
    removed = sum(len(positions) for positions in remove.values())
    counts.kept = len(stored) - removed
    counts.total = counts.kept + len(rows)
    kept_files = {s.file for s in stored if s.index not in remove.get(s.judgement, ())}
    counts.files = len(kept_files | ({origin_name} if rows else set()))
    return remove


def _stored_responses(rows: list[JudgedRow]) -> dict[tuple[str, str], Response]:
    """(model, question hash) → the stored response to that version of the question (the first answer the model
    gave to it). A response to an earlier version of the same scenario (its ``scenario_hash`` another) is not it:
    the file's judge judged the text of this version."""
    models = {r.model for r in rows}
    found: dict[tuple[str, str], Response] = {}
    for digests in _chunks(r.digest for r in rows):
        current = dict(Scenario.objects.filter(content_hash__in=digests).values_list("pk", "content_hash"))
        stored = (
            Response.objects.filter(model__name__in=models, scenario_id__in=current, scenario_hash__in=digests)
            .select_related("model")
            .only("pk", "text", "scenario_id", "scenario_hash", "model__name")
            .order_by("pk")
        )
        for response in stored:
            if response.scenario_hash == current[response.scenario_id]:  # the version the scenario holds now
                found.setdefault((response.model.name, response.scenario_hash), response)
    return found


def _store(
    rows: list[JudgedRow], judge: str, origin_name: str, remove: dict[int, set[int]], responses_of: dict[int, int]
) -> int:
    """One external judgement per stored response, holding every row stored for it (the rows of every file
    imported under the judge, merged as ``_plan`` says), written in bulk: new ones created, changed ones updated,
    and those left with no row deleted. Returns the number of judgements this file's rows are on."""
    responses = _stored_responses(rows)
    grouped: dict[int, list[JudgedRow]] = {}
    texts: dict[int, str] = {}
    for row in rows:
        response = responses.get((row.model, row.digest))
        if response is None:  # the response importer never leaves one out without an error; be safe anyway
            raise ImportFileError(_("Line %(line)d: its response was not stored.") % {"line": row.line})
        grouped.setdefault(response.pk, []).append(row)
        texts[response.pk] = response.text
    existing: dict[int, Judgement] = {}
    for ids in _chunks({*grouped, *(responses_of[pk] for pk in remove)}):
        mine = Judgement.objects.filter(judge=JudgeKind.EXTERNAL, judge_model=judge, response_id__in=ids)
        existing.update((j.response_id, j) for j in mine.select_for_update())
    new: list[Judgement] = []
    changed: list[Judgement] = []
    emptied: list[int] = []
    for response_id in sorted({*grouped, *existing}):
        judgement = existing.get(response_id)
        records: list[dict[str, Any]] = []
        row_texts: list[dict[str, Any]] = []
        if judgement is not None:
            gone = remove.get(judgement.pk, set())
            old_rows = list((judgement.feedback or {}).get("rows") or [])
            old_texts = list((judgement.feedback or {}).get("row_texts") or [])
            old_texts += [{"replies": {}}] * (len(old_rows) - len(old_texts))
            file = (judgement.feedback or {}).get("file") or ""
            for index, (record, text) in enumerate(zip(old_rows, old_texts, strict=False)):
                if index not in gone:
                    records.append({"file": file, **record})
                    row_texts.append(text)
        for row in grouped.get(response_id, []):
            records.append(_row_record(row, origin_name))
            row_texts.append(_row_texts(row, texts[response_id]))
        if not records:
            if judgement is not None:
                emptied.append(judgement.pk)
            continue
        first = PromptJudgement(
            scores=records[0].get("scores"),
            replies=row_texts[0].get("replies") or {},
            problems=list(records[0].get("problems") or []),
        )
        fields = {
            "scores": first.scores,
            "risky": first.risky,
            "problem": "; ".join(first.problems),
            "probabilities": {},
            "uncertainty": None,
            # "rows" stays small (the leaderboard reads it on every view); each row's replies and own answer are
            # kept beside it, in the same order
            "feedback": {
                "replies": first.replies,
                "file": records[0]["file"],
                "files": sorted({r["file"] for r in records}),
                "rows": records,
                "row_texts": row_texts,
            },
        }
        if judgement is None:
            new.append(Judgement(response_id=response_id, judge=JudgeKind.EXTERNAL, judge_model=judge, **fields))
        else:
            for name, value in fields.items():
                setattr(judgement, name, value)
            changed.append(judgement)
    try:
        with transaction.atomic():
            Judgement.objects.bulk_create(new, batch_size=WRITE_BATCH)
            Judgement.objects.bulk_update(changed, list(STORED_FIELDS), batch_size=WRITE_BATCH)
            for ids in _chunks(emptied):
                Judgement.objects.filter(pk__in=ids).delete()
    except IntegrityError:  # another import of the same judge wrote some of these meanwhile
        raise ImportFileError(
            _("Another import of this judge wrote some of these judgements meanwhile; run this one again.")
        ) from None
    return len(grouped)


def _row_record(row: JudgedRow, origin_name: str) -> dict[str, Any]:
    published: dict[str, Any] = {"scores": row.published, "risk_flag": row.risk_flag, "final_score": row.final_score}
    if row.given:  # a risk_flag or final_score that is not valid, as the file gives it
        published["given"] = row.given
    return {
        "file": origin_name,
        "line": row.line,
        "scene": row.scene,
        "type": row.type,
        **row.ids,
        "content": row.content,
        "scores": row.reading.scores,
        "problems": row.reading.problems,
        "published": published,
    }


def _row_texts(row: JudgedRow, stored_text: str) -> dict[str, Any]:
    texts: dict[str, Any] = {"replies": row.replies}
    if row.text != stored_text:  # a second, different answer to a repeated question: its own text is kept here
        texts["response"] = row.text
    return texts


# --- the publishers' leaderboard ---------------------------------------------------------------------------


def external_judges() -> list[str]:
    """The names external judgements were imported under, sorted (one query, the database does the distinct)."""
    names = Judgement.objects.filter(judge=JudgeKind.EXTERNAL).values_list("judge_model", flat=True)
    return list(names.distinct().order_by("judge_model"))


def judged_rows(judge: str) -> dict[str, list[dict[str, Any]]]:
    """model name → the file rows judged by ``judge`` (each with ``scores`` and ``published``)."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    judgements = Judgement.objects.filter(judge=JudgeKind.EXTERNAL, judge_model=judge).order_by("pk")
    for model, scores, rows in judgements.values_list("response__model__name", "scores", "feedback__rows").iterator(
        chunk_size=2000
    ):
        by_model.setdefault(model, []).extend(rows if rows is not None else [{"scores": scores, "published": {}}])
    return by_model


def leaderboard(judge: str, *, weights: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Per model, the publishers' leaderboard columns from the workbench's reading of the judge's replies
    (``leaderboard_columns``), the same columns from the publishers' own score1…score6 (``published``), and the
    mean of their ``final_score`` column (``published_final_score_mean``); best final_score first."""
    weights = weights or MEDES_LEADERBOARD_WEIGHTS
    table = []
    for model, rows in judged_rows(judge).items():
        published_rows = [
            {"scores": {k: v for k, v in (r.get("published") or {}).get("scores", {}).items() if v is not None}}
            for r in rows
        ]
        finals = [f for r in rows if (f := (r.get("published") or {}).get("final_score")) is not None]
        table.append(
            {
                "model": model,
                **leaderboard_columns(rows, weights=weights),
                "published": leaderboard_columns(published_rows, weights=weights),
                "published_final_score_mean": math.fsum(finals) / len(finals) if finals else None,
            }
        )
    table.sort(key=lambda r: (r["final_score"] is None, -(r["final_score"] or 0.0), r["model"]))
    return table

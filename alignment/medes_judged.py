"""The MedES publishers' judged responses (issue 14, item 4): import them under a named external judge, read
the judge's replies with the workbench's own reader, and reproduce the publishers' leaderboard.

The judged-responses CSV (UTF-8, a BOM allowed) has the columns ``source_index, sample_id, scene, query,
reference, type, model, response, risk_judge, quality_judge, score1 … score6, risk_flag, final_score``: one
row per model answer to an open case; ``type`` is the question's type among open cases (every row is an open
case); ``risk_judge`` / ``quality_judge`` are the judge model's full replies; ``score1 … score6`` are the
publishers' reading of R1, R2, Q1 … Q4 (empty where they could not read it); ``risk_flag`` (1/0) and
``final_score`` their per-row verdicts. ``source_index``, ``sample_id``, ``risk_flag`` and ``final_score`` may be
missing; the others are required.

Importing stores the questions and the responses through benchmark.response_imports (the same rules as a
MedES response file: unknown questions are added for review, a model's second answer to a repeated question
is reported and not stored), then one Judgement per response for the external judge, holding the reading of
each file row that answers with it (``feedback["rows"]``: its line, scene, type, what the workbench read,
what the publishers read; ``feedback["row_texts"]``: its two replies, and its own answer where it differs).
Every row whose reading differs from ``score1 … score6`` is reported; a dry run reports everything and writes
nothing; a file with any error writes nothing. Importing a file again (or another file with the same model's
answer to the same question under the same judge) replaces that response's rows: nothing is counted twice.

The leaderboard counts file rows, as the publishers do: a question listed under two scenes counts twice, and a
model's second answer to a repeated question still counts with its own judgement. See
``alignment.evaluation_metrics.leaderboard_columns`` for what each column means.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from alignment.evaluation_metrics import MEDES_LEADERBOARD_WEIGHTS, leaderboard_columns
from alignment.models import JudgeKind, Judgement
from alignment.prompt_judge import ALLOWED, PromptJudgement, read_replies
from alignment.training.guardian_data import QUALITY_KEYS, RISK_KEYS, SCORE_KEYS
from benchmark.importers import QUESTION_COLUMNS, ImportFileError, _question, read_rows, scene_lookup, unstorable_cells
from benchmark.models import Response, Scenario
from benchmark.response_imports import RESPONSE_COLUMNS, ResponseEntry, ResponseImportReport, import_responses
from benchmark.scenarios import ScenarioError, content_hash
from medes_site import audit

REPLY_COLUMNS = ("risk_judge", "quality_judge")
SCORE_COLUMNS = tuple(f"score{i}" for i in range(1, 7))  # R1, R2, Q1 … Q4 as the publishers read them
REQUIRED_COLUMNS = QUESTION_COLUMNS | RESPONSE_COLUMNS | set(REPLY_COLUMNS) | set(SCORE_COLUMNS)
OBJECTIVE_TYPES = {"客观题", "objective", "不定项选择题", "选择题"}
# a judge's name: a model name as people write them (letters in any script, digits, . _ - : / + ( ) and spaces)
JUDGE_NAME = re.compile(r"\w[\w .:/+()\-]{0,99}")
IN_BATCH = 900  # ids per IN list
WRITE_BATCH = 500  # judgements per INSERT or UPDATE
STORED_FIELDS = ("scores", "risky", "problem", "probabilities", "uncertainty", "feedback")


def is_judged_file(data: bytes) -> bool:
    """Whether a CSV's header names a judge reply or a publisher's score (so it is a judged-responses file, and a
    missing column of that format is reported rather than the file read as plain responses)."""
    first = data[:65536].decode("utf-8-sig", errors="replace").splitlines()[:1]
    try:
        header = {name.strip() for name in next(csv.reader(first))} if first else set()
    except csv.Error:
        return False
    return bool(header & {*REPLY_COLUMNS, *SCORE_COLUMNS})


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
class JudgedRow:
    line: int
    model: str
    digest: str  # the question's content hash
    scene: str
    type: str
    text: str
    replies: dict[str, str]
    published: dict[str, int | None]  # R1 … Q4 as the file reads them
    risk_flag: int | None
    final_score: float | None
    reading: PromptJudgement
    ids: dict[str, str]  # source_index, sample_id as in the file


@dataclass
class JudgedImportReport:
    judge: str
    responses: ResponseImportReport
    rows: list[JudgedRow] = field(default_factory=list)
    differences: list[tuple[int, str]] = field(default_factory=list)  # rows the workbench reads differently
    judgements: int = 0  # judgements written (0 in a dry run)

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
        return {"rows": len(self.rows), "risk_read": risk, "quality_read": quality, "both_read": both,
                "differences": len(self.differences)}  # fmt: skip

    def summary(self) -> str:
        c = self.counts()
        judged = _(
            "judge %(judge)s: risk replies read in %(risk)d of %(rows)d rows, quality replies in %(quality)d, both in "
            "%(both)d; %(differences)d rows read differently from score1…score6; %(judgements)d judgements written"
        ) % {**c, "judge": self.judge, "judgements": self.judgements, "risk": c["risk_read"],
             "quality": c["quality_read"], "both": c["both_read"]}  # fmt: skip
        return f"{self.responses.summary()}; {judged}"


def _has(scores: dict[str, int] | None, keys: Iterable[str]) -> bool:
    return scores is not None and all(key in scores for key in keys)


def _published_score(value: str | None, column: str) -> int | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        number = float(text.replace("−", "-"))
    except ValueError:
        raise ValueError(_("%(column)s is %(value)r, not a score.") % {"column": column, "value": text[:20]}) from None
    if not math.isfinite(number) or number != int(number):
        raise ValueError(_("%(column)s is %(value)r, not a whole score.") % {"column": column, "value": text[:20]})
    return int(number)


def _number(value: str | None) -> float | None:
    try:
        number = float((value or "").strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _shown(scores: dict[str, int | None] | dict[str, int] | None) -> str:
    return ",".join("·" if (scores or {}).get(k) is None else str((scores or {})[k]) for k in SCORE_KEYS)


def read_judged(
    data: bytes,
) -> tuple[list[ResponseEntry], list[JudgedRow], list[tuple[int, str]], list[tuple[int, str]]]:
    """The file's rows as response entries and judged rows, the per-row errors and warnings."""
    scenes = scene_lookup()
    entries: list[ResponseEntry] = []
    judged: list[JudgedRow] = []
    errors: list[tuple[int, str]] = []
    warnings: list[tuple[int, str]] = []
    for line, row in read_rows(data, REQUIRED_COLUMNS):
        refused = unstorable_cells(row)
        if refused:
            errors.append((line, refused))
            continue
        kind_label = (row.get("type") or "").strip()
        if kind_label in OBJECTIVE_TYPES:
            errors.append(
                (line, _("A judged file holds open cases; this row's type is %(type)r.") % {"type": kind_label})
            )
            continue
        try:
            item = _question({**row, "type": "主观题"}, scenes)
            published = {key: _published_score(row.get(col), col) for key, col in zip(SCORE_KEYS, SCORE_COLUMNS,
                                                                                       strict=True)}  # fmt: skip
        except (ScenarioError, ValueError) as error:
            errors.append((line, str(error)))
            continue
        for key, column in zip(SCORE_KEYS, SCORE_COLUMNS, strict=True):
            if published[key] is not None and published[key] not in ALLOWED[key]:
                warnings.append((line, _("%(column)s (%(key)s) is %(value)d, not a rubric value; read as empty.")
                                 % {"column": column, "key": key, "value": published[key]}))  # fmt: skip
                published[key] = None
        item["content_hash"] = content_hash(item["kind"], item["stem"], item["options"], item["key"])
        model = (row.get("model") or "").strip()
        text = row.get("response") or ""
        entries.append(ResponseEntry(line=line, model=model, text=text, reported=None, item=item))
        replies = {"risk": row.get("risk_judge") or "", "quality": row.get("quality_judge") or ""}
        flag = _number(row.get("risk_flag"))
        judged.append(JudgedRow(
            line=line, model=model, digest=item["content_hash"], scene=item["scene"].name, type=kind_label,
            text=text, replies=replies, published=published, risk_flag=None if flag is None else int(flag),
            final_score=_number(row.get("final_score")), reading=read_replies(replies),
            ids={k: (row.get(k) or "").strip() for k in ("source_index", "sample_id") if row.get(k)},
        ))  # fmt: skip
    return entries, judged, errors, warnings


def import_judged(
    data: bytes, *, judge: str, origin_name: str, dry_run: bool, user: User | None = None,
    create_questions: bool = True,
) -> JudgedImportReport:  # fmt: skip
    """Import a judged-responses file under the external judge ``judge`` (see the module docstring). Raises
    ImportFileError when the file as a whole cannot be read (encoding, missing columns) or the name is bad."""
    judge = checked_judge_name(judge)
    entries, rows, errors, warnings = read_judged(data)
    with transaction.atomic():
        responses = import_responses(entries, origin_name=origin_name, dry_run=dry_run, user=user,
                                     create_questions=create_questions, errors=errors)  # fmt: skip
        responses.warnings = sorted([*responses.warnings, *warnings])
        report = JudgedImportReport(judge=judge, responses=responses, rows=rows)
        for row in rows:
            ours = row.reading.scores or {}
            if any(ours.get(k) != row.published[k] for k in SCORE_KEYS):
                report.differences.append((row.line, _(
                    "The file reads R1,R2,Q1…Q4 as %(theirs)s, the workbench as %(ours)s%(why)s."
                ) % {"theirs": _shown(row.published), "ours": _shown(ours),
                     "why": f" ({'; '.join(row.reading.problems)})" if row.reading.problems else ""}))  # fmt: skip
        if dry_run or responses.errors or not rows:
            return report
        report.judgements = _store(rows, judge, origin_name)
        details = {"file": origin_name, "judge": judge, "judgements": report.judgements, **report.counts()}
        audit.record("judgement.import", actor=user, details=details)
    return report


def _chunks(values: Iterable[Any], size: int = IN_BATCH) -> Iterable[list[Any]]:
    """Lists of at most ``size`` values: an ``IN`` list stays under the database's limit on parameters."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _stored_responses(rows: list[JudgedRow]) -> dict[tuple[str, str], Response]:
    """(model, question hash) → the stored response (the first answer the model gave to that question)."""
    by_scenario: dict[int, str] = {}
    for digests in _chunks(r.digest for r in rows):
        for pk, digest in Scenario.objects.filter(content_hash__in=digests).values_list("pk", "content_hash"):
            by_scenario[pk] = digest
    models = {r.model for r in rows}
    found: dict[tuple[str, str], Response] = {}
    for ids in _chunks(by_scenario):
        stored = (
            Response.objects.filter(model__name__in=models, scenario_id__in=ids)
            .select_related("model")
            .only("pk", "text", "scenario_id", "model__name")
            .order_by("pk")
        )
        for response in stored:
            found.setdefault((response.model.name, by_scenario[response.scenario_id]), response)
    return found


def _store(rows: list[JudgedRow], judge: str, origin_name: str) -> int:
    """One external judgement per stored response (the file's rows of a repeated question kept together on it),
    written in bulk: new ones created, earlier imports' replaced."""
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
    for ids in _chunks(grouped):
        mine = Judgement.objects.filter(judge=JudgeKind.EXTERNAL, judge_model=judge, response_id__in=ids)
        existing.update((j.response_id, j) for j in mine.select_for_update())
    new: list[Judgement] = []
    for response_id, group in grouped.items():
        first = group[0].reading
        fields = {
            "scores": first.scores, "risky": first.risky, "problem": "; ".join(first.problems),
            "probabilities": {}, "uncertainty": None,
            # "rows" stays small (the leaderboard reads it on every view); each row's replies and own answer are
            # kept beside it, in the same order
            "feedback": {"replies": first.replies, "file": origin_name,
                         "rows": [_row_record(row) for row in group],
                         "row_texts": [_row_texts(row, texts[response_id]) for row in group]},
        }  # fmt: skip
        judgement = existing.get(response_id)
        if judgement is None:
            new.append(Judgement(response_id=response_id, judge=JudgeKind.EXTERNAL, judge_model=judge, **fields))
        else:
            for name, value in fields.items():
                setattr(judgement, name, value)
    try:
        with transaction.atomic():
            Judgement.objects.bulk_create(new, batch_size=WRITE_BATCH)
            Judgement.objects.bulk_update(list(existing.values()), list(STORED_FIELDS), batch_size=WRITE_BATCH)
    except IntegrityError:  # another import of the same judge wrote some of these meanwhile
        raise ImportFileError(_("Another import of this judge wrote some of these judgements meanwhile; run this one "
                                "again.")) from None  # fmt: skip
    return len(grouped)


def _row_record(row: JudgedRow) -> dict[str, Any]:
    return {
        "line": row.line, "scene": row.scene, "type": row.type, **row.ids,
        "scores": row.reading.scores, "problems": row.reading.problems,
        "published": {"scores": row.published, "risk_flag": row.risk_flag, "final_score": row.final_score},
    }  # fmt: skip


def _row_texts(row: JudgedRow, stored_text: str) -> dict[str, Any]:
    texts: dict[str, Any] = {"replies": row.replies}
    if row.text != stored_text:  # a second, different answer to a repeated question: its own text is kept here
        texts["response"] = row.text
    return texts


# --- the publishers' leaderboard ---------------------------------------------------------------------------


def external_judges() -> list[str]:
    """The names external judgements were imported under."""
    names = Judgement.objects.filter(judge=JudgeKind.EXTERNAL).values_list("judge_model", flat=True)
    return sorted(set(names))


def judged_rows(judge: str) -> dict[str, list[dict[str, Any]]]:
    """model name → the file rows judged by ``judge`` (each with ``scores`` and ``published``)."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    judgements = Judgement.objects.filter(judge=JudgeKind.EXTERNAL, judge_model=judge).order_by("pk")
    for model, scores, rows in judgements.values_list("response__model__name", "scores", "feedback__rows").iterator(
        chunk_size=2000
    ):
        by_model.setdefault(model, []).extend(rows or [{"scores": scores, "published": {}}])
    return by_model


def leaderboard(judge: str, *, weights: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Per model, the publishers' leaderboard columns from the workbench's reading of the judge's replies
    (``leaderboard_columns``), the same columns from the publishers' own score1…score6 (``published``), and the
    mean of their ``final_score`` column (``published_final_score_mean``); best final_score first."""
    weights = weights or MEDES_LEADERBOARD_WEIGHTS
    table = []
    for model, rows in judged_rows(judge).items():
        published_rows = [{"scores": {k: v for k, v in (r.get("published") or {}).get("scores", {}).items()
                                      if v is not None}} for r in rows]  # fmt: skip
        finals = [f for r in rows if (f := (r.get("published") or {}).get("final_score")) is not None]
        table.append({
            "model": model, **leaderboard_columns(rows, weights=weights),
            "published": leaderboard_columns(published_rows, weights=weights),
            "published_final_score_mean": math.fsum(finals) / len(finals) if finals else None,
        })  # fmt: skip
    table.sort(key=lambda r: (r["final_score"] is None, -(r["final_score"] or 0.0), r["model"]))
    return table

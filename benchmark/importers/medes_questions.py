"""Importing the public MedES question CSVs (``scene, query, reference, type``) as scenarios.

Importing a file twice adds nothing (scenarios are identified by their content hash). The row helpers the other
importers share live here too: reading a CSV, checking its cells, finding a file's questions in the bank, and
writing new items and their scene links.

Repeats. The published files list some questions twice. A question is the same when its kind, stem and options
are (``question_identity``, the content hash without the key):
- a repeat under the same scene with the same key adds nothing (counted as a repeat);
- a repeat under another scene files the item under that scene too (``Scenario.scenes``), so per-scene counts
  equal the file's;
- a repeat with a different key is a warning naming both lines and keys. The item keeps the first key, and a new
  item is left ``in_review`` (never imported as accepted) with a ``review_note`` naming both keys, for a curator
  to confirm or correct the key on its page. An item already in the bank keeps its status and key.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from benchmark.importers import UNKNOWN_SCENE, UNKNOWN_TYPE, ImportFileError, ImportReport, cycle_collection_paused
from benchmark.importers.bulk import ids_by, insert_rows, page_cache, prepare_values
from benchmark.models import Scenario, ScenarioKind, ScenarioOrigin, ScenarioScene, ScenarioStatus, Scene
from benchmark.scenarios import ScenarioError, content_hash, content_hashes, normalise_key, validate
from medes_site import audit, storable

QUESTION_COLUMNS = {"scene", "query", "reference", "type"}
OPTION = re.compile(r"^\s*([A-H])\s*[.．、:：)）]\s*(.+?)\s*$")
# Options written on one line: "A.65%以上，B.70%以上，C.75%以上" or "A.可以；B.不可以"
INLINE_OPTION = re.compile(r"(?:^|(?<=[，,；;\s]))([A-H])\s*[.．、)）]")
QUESTION_START = "题目："
REASONING = re.compile(r"【\s*思考过程\s*】")
CHUNK = 500
# What the importers read of a scenario the bank holds already (``bank_questions``): a 100,000-row file met again
# spent most of its time making scenarios whole (their options decoded, their dates parsed) for these fields.
BANK_FIELDS = ("id", "kind", "key", "version", "content_hash", "scene_id")
EXCEL_CR = "_x000D_"  # Excel's escaped carriage return, left in some MedES references
UNSTORABLE = {"nul": "a NUL character (\\0)", "surrogate": "an unpaired surrogate (a broken \\u escape)"}
# The longest cell an import takes: 1 MiB of text (1,048,576 characters). Real judge replies with a long <think>
# block run to a few hundred thousand characters; a longer cell is a row error naming its column, never a reason
# to refuse the file. The csv module is told to read cells of any length (READER_FIELD_LIMIT; its default, 131072
# characters, refused whole files for one long reply): what bounds a file is the upload limit
# (MEDES_SOURCE_MAX_BYTES, 50 MiB by default) and, per cell, MAX_CELL_CHARS.
MAX_CELL_CHARS = 1024 * 1024
READER_FIELD_LIMIT = 2**31 - 1


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
        if len(INLINE_OPTION.findall(line)) < 2:  # most lines: told apart cheaply, with no match objects
            out.append(line)
            continue
        starts = [m.start() for m in INLINE_OPTION.finditer(line)]
        letters = [line[i] for i in starts]
        if len(starts) >= 2 and letters == [chr(ord("A") + n) for n in range(len(letters))]:
            if starts[0] > 0:
                out.append(line[: starts[0]])
            out.extend(line[a:b].rstrip("，,；; ") for a, b in zip(starts, [*starts[1:], len(line)], strict=True))
        else:
            out.append(line)
    return out


def allow_long_cells() -> None:
    """Let the csv module read cells of any length (a process-wide setting, only ever raised): a long cell is then
    a row error (``unstorable_cells``), not a file the reader refuses."""
    if csv.field_size_limit() < READER_FIELD_LIMIT:
        csv.field_size_limit(READER_FIELD_LIMIT)


def read_rows(data: bytes, required: set[str]) -> list[tuple[int, dict[str, str]]]:
    """The rows of a UTF-8 CSV (a BOM allowed) with their line numbers (the header is line 1, each row counts as
    one line however many lines its cells hold); ImportFileError when the file as a whole cannot be read. Cells
    of any length are read: ``unstorable_cells`` makes one over MAX_CELL_CHARS a row error."""
    allow_long_cells()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(_("The file is not UTF-8 text; save it from Excel as 'CSV UTF-8'.")) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows: list[tuple[int, dict[str, str]]] = []
    header = 0  # 1 once the header is read
    try:
        missing = required - set(reader.fieldnames or [])
        header = 1
        if missing:
            raise ImportFileError(_("Missing column(s): %(columns)s.") % {"columns": ", ".join(sorted(missing))})
        rows.extend(enumerate(reader, start=2))
    except csv.Error as error:  # the reader stopped at the row after the last one read (line 1: the header)
        line = rows[-1][0] + 1 if rows else 1 + header
        raise ImportFileError(
            _("Not a readable CSV file: %(error)s (line %(line)d).") % {"error": error, "line": line}
        ) from None
    return rows


def csv_header(data: bytes) -> set[str]:
    """A CSV's column names, read from its first line only (empty when that line cannot be read as CSV): what
    tells one MedES format from another before the file is read."""
    first = data[:65536].decode("utf-8-sig", errors="replace").splitlines()[:1]
    try:
        return {name.strip() for name in next(csv.reader(first))} if first else set()
    except csv.Error:
        return set()


def cell_length(value: Any) -> int:
    """How many characters a cell holds (a list: the cells beyond the header, together)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(cell_length(item) for item in value)
    return 0 if value is None else len(str(value))


def unstorable_cells(row: Mapping[Any, Any]) -> str | None:
    """The per-row error for cells the database cannot store, naming their columns; ``None`` when all can be.

    PostgreSQL refuses a NUL in text (and ``\\u0000`` in JSON); SQLite takes it, so without this check a file
    passes the dry run and then fails the import on a real deployment. A cell longer than MAX_CELL_CHARS is
    refused here too. Checked in the dry run, row by row."""
    bad: dict[str, str] = {}
    long: dict[str, int] = {}
    for column, value in row.items():
        found = storable.problem(column) or storable.problem(value)
        length = cell_length(value)
        if not found and length <= MAX_CELL_CHARS:
            continue
        name = "(cells beyond the header)" if column is None else repr(storable.storable_text(str(column)))
        if found:
            bad.setdefault(name, found)
        if length > MAX_CELL_CHARS:
            long[name] = length
    messages = []
    if long:
        messages.append(
            _(
                "Column %(columns)s holds %(length)s characters, more than a cell may hold (%(limit)s); shorten it and "
                "upload the file again."
            )
            % {
                "columns": ", ".join(long),
                "length": ", ".join(f"{n:,}" for n in long.values()),
                "limit": f"{MAX_CELL_CHARS:,}",
            }
        )
    if bad:
        columns = ", ".join(bad)
        kinds = " and ".join(sorted({UNSTORABLE[kind] for kind in bad.values()}))
        messages.append(
            f"Column {columns} holds {kinds}, which cannot be stored; remove it from the file and upload it again."
        )
    return " ".join(messages) or None


def question_identity(kind: str, stem: str, options: dict[str, str]) -> str:
    """What makes two rows the same question whatever their keys: the content hash without the key."""
    return content_hash(kind, stem, options, "")


def bank_questions(items: list[dict[str, Any]], questions: list[str] | None = None) -> dict[str, Scenario]:
    """Items of the bank that ask these questions, by ``question_identity`` (``questions``: each item's, when the
    caller has them): the same content first, else the same kind, stem and options under another key (one query
    per 500 hashes, then per 500 stems). The scenarios hold ``BANK_FIELDS`` (and what the stem lookup read)."""
    found: dict[str, Scenario] = {}
    if questions is None:
        questions = [question_identity(i["kind"], i["stem"], i["options"]) for i in items]
    wanted = dict(zip(questions, items, strict=True))
    question_of = {i["content_hash"]: q for q, i in zip(questions, items, strict=True)}  # same content, same question
    hashes = sorted(question_of)
    by_hash = Scenario.objects.only(*BANK_FIELDS).order_by("pk")
    for start in range(0, len(hashes), CHUNK):
        for scenario in by_hash.filter(content_hash__in=hashes[start : start + CHUNK]):
            found.setdefault(question_of[scenario.content_hash], scenario)
    stems = sorted({i["stem"] for key, i in wanted.items() if key not in found})
    by_stem = Scenario.objects.only(*BANK_FIELDS, "stem", "options").order_by("pk")
    for start in range(0, len(stems), CHUNK):
        for scenario in by_stem.filter(stem__in=stems[start : start + CHUNK]):
            found.setdefault(question_identity(scenario.kind, scenario.stem, scenario.options), scenario)
    return found


def stored_scenes(scenarios: list[Scenario]) -> dict[int, set[int]]:
    """Scenario id → ids of the scenes it is filed under (the primary one always among them)."""
    linked: dict[int, set[int]] = {s.pk: {s.scene_id} for s in scenarios}
    ids = sorted(linked)
    for start in range(0, len(ids), CHUNK):
        for scenario_id, scene_id in ScenarioScene.objects.filter(
            scenario_id__in=ids[start : start + CHUNK]
        ).values_list("scenario_id", "scene_id"):
            linked[scenario_id].add(scene_id)
    return linked


def key_note(first_line: int, first_key: str, line: int, key: str) -> str:
    return _(
        "The file gives two keys for this question: %(first_key)s (line %(first_line)d) and %(key)s "
        "(line %(line)d). The first is kept; check it and correct it here if it is wrong."
    ) % {"first_key": first_key, "first_line": first_line, "key": key, "line": line}


@cycle_collection_paused()
def import_medes_questions(
    data: bytes, *, origin_name: str, dry_run: bool, status: str = ScenarioStatus.IN_REVIEW, user: User | None = None
) -> ImportReport:
    report = ImportReport()
    scenes = scene_lookup()
    rows: list[tuple[int, dict[str, Any], str]] = []  # (line, item, question_identity)
    for line, row in read_rows(data, QUESTION_COLUMNS):
        report.rows += 1
        refused = unstorable_cells(row)
        if refused:
            report.errors.append((line, refused))
            continue
        try:
            item = question_from_row(row, scenes)
        except ScenarioError as error:
            report.errors.append((line, str(error)))
            continue
        if item["kind"] == ScenarioKind.SUBJECTIVE and not item["norm"]:
            if status == ScenarioStatus.ACCEPTED:
                report.errors.append(
                    (line, gettext_noop("No norm (考点) given: an open case cannot be imported as accepted."))
                )
                continue
            report.warnings.append((line, gettext_noop("No norm (考点) given; add one before the item is accepted.")))
        item["content_hash"], question = content_hashes(item["kind"], item["stem"], item["options"], item["key"])
        rows.append((line, item, question))
    bank = bank_questions([item for _line, item, _question in rows], [question for _line, _item, question in rows])
    linked = stored_scenes(list(bank.values()))
    first: dict[str, tuple[int, dict[str, Any]]] = {}  # question → its first row
    listed: dict[str, dict[int, None]] = {}  # question → the scenes (ids) the file and the bank file it under
    in_file: dict[str, set[int]] = {}  # question → the scenes the file lists it under
    prepared: dict[str, dict[str, Any]] = {}  # question → the new item
    for line, item, question in rows:
        scene_ids = listed.setdefault(question, dict.fromkeys(linked.get(getattr(bank.get(question), "pk", -1), ())))
        here = in_file.setdefault(question, set())
        new_scene = bool(here) and item["scene"].pk not in here  # a repeat under a scene not listed above
        here.add(item["scene"].pk)
        scene_ids[item["scene"].pk] = None
        if question in first:
            _repeat(report, prepared, bank, first[question], line, item, question, new_scene, status)
            continue
        first[question] = (line, item)
        stored = bank.get(question)
        if stored is None:
            report.new += 1
            prepared[question] = {**item, "origin_detail": f"{origin_name}:{line}"[:255]}
        elif stored.content_hash == item["content_hash"]:
            report.duplicates_in_bank += 1
        else:  # the bank holds the question under another key: it keeps its key and its status
            report.duplicates_in_bank += 1
            bank_key_differs(report, line, stored, item["key"])
    report.items = len(first)
    links = {
        question: [pk for pk in scene_ids if pk not in linked.get(getattr(bank.get(question), "pk", -1), ())]
        for question, scene_ids in listed.items()
    }
    # beyond the primary scene, which a new item gets with it and a stored one has
    report.scenes_added = sum(len(pks) - (question not in bank) for question, pks in links.items())
    if dry_run or report.errors:
        return report  # a file with errors is not half-imported: fix it and run again
    report.written = True
    if not prepared and not report.scenes_added:
        return report  # importing the same file again changes nothing, and records nothing
    try:
        _write(prepared, links, bank, origin_name, status, user, report)
    except IntegrityError:
        raise ImportFileError(
            gettext_noop("Another import added some of these items meanwhile; run this one again.")
        ) from None
    return report


def _repeat(
    report: ImportReport,
    prepared: dict[str, dict[str, Any]],
    bank: dict[str, Scenario],
    first: tuple[int, dict[str, Any]],
    line: int,
    item: dict[str, Any],
    question: str,
    new_scene: bool,
    status: str,
) -> None:
    """A row asking a question listed above: another scene adds the scene; another key is a warning
    (``different_key``)."""
    first_line, first_item = first
    report.duplicates_in_file += 1
    report.cross_scene += new_scene
    if item["key"] != first_item["key"]:
        different_key(
            report,
            (first_line, first_item["key"]),
            line,
            item["key"],
            new=prepared.get(question),
            stored=bank.get(question),
            status=status,
        )


def different_key(
    report: ImportReport,
    first: tuple[int, str],
    line: int,
    key: str,
    *,
    new: dict[str, Any] | None,
    stored: Scenario | None,
    status: str = ScenarioStatus.IN_REVIEW,
) -> None:
    """Line ``line`` repeats the question of line ``first[0]`` with another key: a warning naming both lines and
    keys, for the question importer and the response importer alike. An item new to the bank (``new``, the fields
    about to be created) keeps the first key and gets a ``review_note`` naming both, and is never imported as
    accepted; an item the bank holds already (``stored``) keeps its key and its status, and nothing is written."""
    report.different_key += 1
    values = {"line": line, "first_line": first[0], "first_key": first[1], "key": key}
    if new is None:
        if stored is None:  # each caller has one or the other
            raise ValueError(f"line {line}: a repeated question neither new nor in the bank")
        report.warnings.append(
            (
                line,
                _(
                    "Line %(line)d repeats the question of line %(first_line)d with another key: %(first_key)s on line "
                    "%(first_line)d, %(key)s on line %(line)d. The bank holds this question already (scenario "
                    "#%(pk)d): it "
                    "keeps its key %(stored)s and its status. Correct the key on the scenario's page if it is wrong."
                )
                % {**values, "pk": stored.pk, "stored": stored.key},
            )
        )
        return
    left = ScenarioStatus.IN_REVIEW if status == ScenarioStatus.ACCEPTED else status
    if left == ScenarioStatus.IN_REVIEW:
        message = (
            _(
                "Line %(line)d repeats the question of line %(first_line)d with another key: %(first_key)s on line "
                "%(first_line)d, %(key)s on line %(line)d. The first key is kept and the item is left in review with a "
                "note."
            )
            % values
        )
    else:  # imported as a draft (or another status a curator chose): it stays so, with the note
        message = _(
            "Line %(line)d repeats the question of line %(first_line)d with another key: %(first_key)s on line "
            "%(first_line)d, %(key)s on line %(line)d. The first key is kept and the new item (%(status)s) gets a "
            "note naming both keys."
        ) % {**values, "status": ScenarioStatus(left).label}
    report.warnings.append((line, message))
    note = key_note(first[0], first[1], line, key)
    new["review_note"] = f"{new['review_note']}\n{note}" if new.get("review_note") else note
    new["status_override"] = left


def bank_key_differs(report: ImportReport, line: int, stored: Scenario, key: str) -> None:
    """The bank holds the question of line ``line`` under another key: a warning; the item keeps its key and its
    status (the question importer and the response importer alike)."""
    report.different_key += 1
    report.warnings.append(
        (
            line,
            _(
                "The bank holds this question with key %(stored)s (scenario #%(pk)d); this row's key %(key)s is not "
                "imported. Correct the key on the scenario's page if %(key)s is right."
            )
            % {"stored": stored.key, "pk": stored.pk, "key": key},
        )
    )


def _write(
    prepared: dict[str, dict[str, Any]],
    links: dict[str, list[int]],
    bank: dict[str, Scenario],
    origin_name: str,
    status: str,
    user: User | None,
    report: ImportReport,
) -> None:
    with transaction.atomic():
        # Rows were validated and de-duplicated above: write them in bulk, with their first history
        # version, and one audit entry for the whole file.
        created = create_items(list(prepared.values()), origin_name, status, user)
        write_scene_links(links, bank, prepared, created)
        audit.record(
            "scenario.import",
            actor=user,
            details={
                "file": origin_name,
                "created": len(prepared),
                "duplicates": report.duplicates_in_bank,
                "scenes_added": report.scenes_added,
            },
        )


def create_items(items: list[dict[str, Any]], origin_name: str, status: str, user: User | None) -> dict[str, int]:
    """New scenarios in bulk, each with its first history version and filed under its primary scene (an item may
    carry ``status_override``); returns content hash → id. The items are checked and new (``insert_rows``)."""
    if not items:
        return {}
    now = timezone.now()
    rows = []
    for item in items:
        row = dict(item)
        row["scene_id"] = row.pop("scene").pk
        row["status"] = row.pop("status_override", status)
        rows.append(row)
    prepare_values(Scenario, "options", rows)  # as JSON once, for the scenario and its history row
    with page_cache():
        return _insert_items(rows, origin_name, user, now)


def _insert_items(rows: list[dict[str, Any]], origin_name: str, user: User | None, now: datetime) -> dict[str, int]:
    user_id = user.pk if user else None
    ids = insert_rows(
        Scenario,
        rows,
        same={"origin": ScenarioOrigin.IMPORTED, "created_by_id": user_id, "created_at": now, "updated_at": now},
        returning="content_hash",
        prepared={"options"},
    )
    history = Scenario.history.model  # what django-simple-history writes for a created row, written in bulk
    for row in rows:
        row["id"] = ids[row["content_hash"]]  # the history row's copy of the scenario's id
    insert_rows(
        history,
        rows,
        same={
            "origin": ScenarioOrigin.IMPORTED,
            "created_by_id": user_id,
            "created_at": now,
            "history_date": now,
            "history_type": "+",
            "history_user_id": user_id,
            "history_change_reason": f"imported from {origin_name}"[
                : history._meta.get_field("history_change_reason").max_length
            ],
        },
        prepared={"options"},
    )
    insert_rows(ScenarioScene, [{"scenario_id": ids[row["content_hash"]], "scene_id": row["scene_id"]} for row in rows])
    return ids


def scenario_ids(hashes: list[str]) -> dict[str, int]:
    return ids_by(Scenario, "content_hash", hashes)


def write_scene_links(
    links: dict[str, list[int]],
    bank: dict[str, Scenario],
    prepared: dict[str, dict[str, Any]],
    created: dict[str, int] | None = None,
) -> None:
    """File each item under every scene listed for it: the items in the bank, and the new ones beyond the primary
    scene ``create_items`` filed them under (``created``: its content hash → id map, asked for when not given)."""
    ids = created if created is not None else scenario_ids([item["content_hash"] for item in prepared.values()])
    rows = []
    for question, scene_ids in links.items():
        if question in prepared:
            item = prepared[question]
            rows += [
                ScenarioScene(scenario_id=ids[item["content_hash"]], scene_id=pk)
                for pk in scene_ids
                if pk != item["scene"].pk
            ]
        elif question in bank:
            rows += [ScenarioScene(scenario_id=bank[question].pk, scene_id=pk) for pk in scene_ids]
    ScenarioScene.objects.bulk_create(rows, batch_size=CHUNK, ignore_conflicts=True)


def scene_lookup() -> dict[str, Scene]:
    """Every spelling of every scene, read once per import."""
    return {name: scene for scene in Scene.objects.all() for name in (scene.name, *scene.aliases)}


def question_from_row(row: dict[str, str], scenes: dict[str, Scene]) -> dict[str, Any]:
    """A MedES row (``scene, query, reference, type``) as a scenario's fields, checked; ScenarioError if it is
    not one. Every reader of MedES rows (questions, responses, judged responses) reads the question with this."""
    scene = scenes.get((row.get("scene") or "").strip())
    if scene is None:
        raise ScenarioError(UNKNOWN_SCENE(scene=repr(row.get("scene", ""))))
    kind_label = (row.get("type") or "").strip()
    query = (row.get("query") or "").replace(EXCEL_CR, "\n").strip()
    reference = (row.get("reference") or "").replace(EXCEL_CR, "\n").strip()
    item: dict[str, Any]
    if kind_label in {"主观题", "subjective"}:
        item = {"kind": ScenarioKind.SUBJECTIVE, "stem": query, "options": {}, "key": "", "norm": reference}
    elif kind_label in {"客观题", "objective", "不定项选择题", "选择题"}:
        stem, options = split_objective_query(query)
        item = {
            "kind": ScenarioKind.OBJECTIVE,
            "stem": stem,
            "options": options,
            "key": normalise_key(reference),
            "norm": "",
        }
    else:
        raise ScenarioError(UNKNOWN_TYPE(kind=repr(kind_label)))
    validate(item["kind"], item["stem"], item["options"], item["key"], item["norm"])
    return {**item, "scene": scene}

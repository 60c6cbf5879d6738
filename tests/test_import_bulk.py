"""The bulk write path of scenario imports (issue 17, item 4): ``benchmark.importers.bulk.insert_rows`` and what an
import of many rows writes with it: each scenario with its first history version and its scenes, in a number of
queries that does not grow with the rows, and nothing at all from a file with one bad row."""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from benchmark.importers import ImportFileError, bulk, cycle_collection_paused, medes_questions
from benchmark.importers.bulk import insert_rows, page_cache, prepare_values
from benchmark.importers.mapped_scenarios import Mapping, import_scenarios, read_table
from benchmark.importers.medes_questions import import_medes_questions, question_identity
from benchmark.importers.responses import import_medes_responses
from benchmark.models import Scenario, ScenarioOrigin, ScenarioScene, ScenarioStatus, Scene
from benchmark.scenarios import content_hash, content_hashes
from medes_site.models import AuditEntry
from tests.factories import Personas

SCENES = ["器官移植", "医患关系", "人体试验"]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def medes_file(rows: int, *, first: int = 0, bad_line: int | None = None) -> bytes:
    """``rows`` distinct objective questions (numbered from ``first``) in the MedES layout; ``bad_line`` gets an
    unknown scene."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["scene", "query", "reference", "type"])
    for n in range(first, first + rows):
        scene = "no such scene" if bad_line == n - first + 2 else SCENES[n % len(SCENES)]
        query = f"题目：第{n}号：医生应当取得书面同意的情形？\nA.手术\nB.临床试验\nC.问诊\nD.特殊检查\n【思考过程】："
        writer.writerow([scene, query, "ABD", "客观题"])
    return out.getvalue().encode("utf-8-sig")


def queries_for(data: bytes) -> int:
    with CaptureQueriesContext(connection) as captured:
        report = import_medes_questions(data, origin_name="q.csv", dry_run=False)
    assert report.written and not report.errors
    return len(captured.captured_queries)


# --- what an import writes ------------------------------------------------------------------------


def test_each_imported_scenario_has_its_first_history_version_and_its_scene(personas: Personas) -> None:
    name = "第一批题目" * 20 + ".csv"  # longer than a history row's change reason may be (100 characters)
    report = import_medes_questions(medes_file(7), origin_name=name, dry_run=False, user=personas.curator)
    assert report.new == 7 and report.written
    scenarios = list(Scenario.objects.order_by("pk"))
    assert [s.origin_detail for s in scenarios] == [f"{name}:{line}" for line in range(2, 9)]  # in file order
    for scenario in scenarios:
        assert scenario.origin == ScenarioOrigin.IMPORTED and scenario.status == ScenarioStatus.IN_REVIEW
        assert scenario.created_by == personas.curator and scenario.version == 1
        assert scenario.options == {"A": "手术", "B": "临床试验", "C": "问诊", "D": "特殊检查"}  # JSON, read back
        assert scenario.content_hash == content_hash(scenario.kind, scenario.stem, scenario.options, scenario.key)
        assert scenario.created_at == scenario.updated_at
        [first] = scenario.history.all()
        assert first.history_type == "+" and first.history_user == personas.curator
        assert first.history_change_reason == f"imported from {name}"[:100]
        assert (first.stem, first.options, first.key, first.scene_id, first.status, first.content_hash) == (
            scenario.stem,
            scenario.options,
            scenario.key,
            scenario.scene_id,
            scenario.status,
            scenario.content_hash,
        )
        assert list(scenario.scenes.values_list("pk", flat=True)) == [scenario.scene_id]
    assert AuditEntry.objects.filter(action="scenario.import").count() == 1


def test_a_question_repeated_under_another_scene_and_key_is_written_once_with_both_scenes_and_a_note(
    db: None,
) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["scene", "query", "reference", "type"])
    query = "题目：可以买卖器官吗？\nA.可以\nB.不可以\n【思考过程】："
    writer.writerows([["器官移植", query, "B", "客观题"], ["医患关系", query, "A", "客观题"]])
    report = import_medes_questions(
        out.getvalue().encode(), origin_name="q.csv", dry_run=False, status=ScenarioStatus.ACCEPTED
    )
    assert (report.new, report.cross_scene, report.different_key) == (1, 1, 1)
    [scenario] = Scenario.objects.all()
    assert scenario.key == "B" and scenario.status == ScenarioStatus.IN_REVIEW and "line 3" in scenario.review_note
    assert scenario.history.get().review_note == scenario.review_note
    assert sorted(scenario.scenes.values_list("name", flat=True)) == sorted(["器官移植", "医患关系"])
    assert ScenarioScene.objects.count() == 2


def test_the_queries_of_an_import_do_not_grow_with_its_rows(db: None) -> None:
    """Batches, not rows: the bank is asked once per 500 hashes and stems and every table is written in
    multi-row statements, so 1,200 rows take a small multiple of the queries of 60, nowhere near one per row."""
    small = queries_for(medes_file(60))
    large = queries_for(medes_file(1200, first=60))
    assert small < 20
    assert large < small + 1200 / 20  # SQLite takes ~52 scenarios a statement; PostgreSQL all in one COPY
    assert Scenario.objects.count() == Scenario.history.count() == ScenarioScene.objects.count() == 1260


def test_importing_the_same_large_file_twice_adds_nothing_and_reads_the_bank_in_batches(db: None) -> None:
    data = medes_file(1200)
    import_medes_questions(data, origin_name="q.csv", dry_run=False)
    counts = Scenario.objects.count(), Scenario.history.count(), ScenarioScene.objects.count()
    with CaptureQueriesContext(connection) as captured:
        again = import_medes_questions(data, origin_name="q.csv", dry_run=False)
    assert (again.new, again.duplicates_in_bank, again.written) == (0, 1200, True)
    assert (Scenario.objects.count(), Scenario.history.count(), ScenarioScene.objects.count()) == counts
    assert len(captured.captured_queries) < 12


def test_responses_to_questions_in_the_bank_are_imported_in_queries_that_do_not_grow_with_the_rows(db: None) -> None:
    """The bank's scenarios are read with only the fields the importers use (``BANK_FIELDS``): reading another one
    would cost a query per scenario, which this would show."""
    import_medes_questions(medes_file(300), origin_name="q.csv", dry_run=False)

    def responses_to(rows: int, model: str) -> int:
        questions = list(csv.reader(io.StringIO(medes_file(rows).decode("utf-8-sig"))))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([*questions[0], "model", "response"])
        for question in questions[1:]:
            writer.writerow([*question, model, "【最终答案】：ABD"])
        with CaptureQueriesContext(connection) as captured:
            report = import_medes_responses(out.getvalue().encode(), origin_name="r.csv", dry_run=False)
        assert (report.new, report.new_questions, report.correct, report.written) == (rows, 0, rows, True)
        return len(captured.captured_queries)

    assert responses_to(300, "Large") < responses_to(10, "Small") + 20
    assert Scenario.objects.count() == 300


def test_the_cycle_collector_is_paused_during_an_import_and_on_again_after_it_whatever_happens(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    real = medes_questions.question_from_row
    monkeypatch.setattr(medes_questions, "question_from_row", lambda *args: seen.append(gc.isenabled()) or real(*args))
    assert gc.isenabled()
    import_medes_questions(medes_file(3), origin_name="q.csv", dry_run=False)
    assert seen == [False] * 3 and gc.isenabled()
    with pytest.raises(ImportFileError):
        import_medes_questions(b"not,the,columns\n1,2,3\n", origin_name="q.csv", dry_run=True)
    assert gc.isenabled()
    gc.disable()
    try:
        with cycle_collection_paused():
            pass
        assert not gc.isenabled()  # off before, off after: a caller's own setting is kept
    finally:
        gc.enable()


def test_one_bad_row_at_the_end_of_a_large_file_writes_nothing_and_names_its_line(db: None) -> None:
    report = import_medes_questions(medes_file(1500, bad_line=1501), origin_name="q.csv", dry_run=False)
    assert not report.written and [line for line, _ in report.errors] == [1501]
    assert not Scenario.objects.exists() and not Scenario.history.exists() and not ScenarioScene.objects.exists()


def test_the_dry_run_of_a_large_file_writes_nothing_and_counts_what_the_import_writes(db: None) -> None:
    data = medes_file(900)
    dry = import_medes_questions(data, origin_name="q.csv", dry_run=True)
    assert not Scenario.objects.exists() and not Scenario.history.exists()
    real = import_medes_questions(data, origin_name="q.csv", dry_run=False)
    assert (dry.new, dry.items, dry.written, real.new, real.written) == (900, 900, False, 900, True)


def test_text_that_reads_like_sql_is_stored_as_it_is(db: None) -> None:
    """Every value is a parameter: a stem built to break out of a hand-made statement is just text."""
    stem = "'); DROP TABLE benchmark_scenario; -- \" %s %(x)s ? 哪项正确？"
    data = json.dumps({"question": stem, "choices": ["甲", "乙"], "answer": "B"}, ensure_ascii=False).encode()
    mapping = Mapping(columns={"stem": "question", "options": "choices", "key": "answer"}, default_scene=scene())
    report = import_scenarios(read_table(data, "x.jsonl"), mapping, origin_name="x.jsonl", dry_run=False)
    assert report.written and Scenario.objects.get().stem == stem
    assert Scenario.history.get().stem == stem


# --- insert_rows ----------------------------------------------------------------------------------


def scene() -> Scene:
    return Scene.objects.get(name="器官移植")


def test_insert_rows_fills_defaults_shares_values_and_returns_the_new_ids(db: None) -> None:
    rows = [
        {"kind": "subjective", "stem": "甲", "content_hash": "a" * 64, "scene_id": scene().pk, "norm": "知情"},
        {"kind": "subjective", "stem": "乙", "content_hash": "b" * 64, "scene_id": scene().pk},  # no norm: default
    ]
    ids = insert_rows(Scenario, rows, same={"origin": ScenarioOrigin.EXPERT}, returning="content_hash")
    stored = {s.content_hash: s for s in Scenario.objects.all()}
    assert ids == {digest: s.pk for digest, s in stored.items()}
    first, second = stored["a" * 64], stored["b" * 64]
    assert (first.norm, second.norm, second.options, second.status, second.version) == ("知情", "", {}, "draft", 1)
    assert first.origin == second.origin == ScenarioOrigin.EXPERT
    assert first.created_at is not None and first.updated_at is not None and first.pk < second.pk


def test_insert_rows_asks_for_the_ids_where_the_database_cannot_return_them(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL draws the ids from the sequence before COPY")
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    rows = [
        {"kind": "subjective", "stem": str(n), "content_hash": f"{n:064d}", "scene_id": scene().pk} for n in range(3)
    ]
    ids = insert_rows(Scenario, rows, same={"origin": ScenarioOrigin.EXPERT}, returning="content_hash")
    assert ids == dict(Scenario.objects.values_list("content_hash", "pk")) and len(ids) == 3


def test_insert_rows_takes_values_prepared_once_for_two_tables(db: None) -> None:
    rows = [
        {
            "kind": "objective",
            "stem": "哪项？",
            "options": {"A": "甲", "B": "乙"},
            "key": "A",
            "content_hash": "c" * 64,
            "scene_id": scene().pk,
        }
    ]
    prepare_values(Scenario, "options", rows)
    ids = insert_rows(Scenario, rows, same={"origin": "expert"}, returning="content_hash", prepared={"options"})
    history = {"id": ids["c" * 64], "created_at": timezone.now(), "history_date": timezone.now(), "history_type": "+"}
    insert_rows(Scenario.history.model, [{**rows[0], **history}], prepared={"options"})
    assert Scenario.objects.get().options == Scenario.history.get().options == {"A": "甲", "B": "乙"}


def test_insert_rows_prepares_the_values_it_is_not_given_prepared(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows giving every field (read in one go) and rows leaving one out (its default) alike, over several
    statements: each JSON value is written as JSON and each row gets its own id."""
    monkeypatch.setattr(bulk, "MAX_ROWS_PER_STATEMENT", 2)
    rows = [
        {
            "kind": "objective",
            "stem": f"第{n}题？",
            "options": {"A": f"甲{n}", "B": "乙"},
            "key": "A",
            "content_hash": f"{n:064d}",
            "scene_id": scene().pk,
            **({"norm": "知情"} if n % 2 else {}),
        }
        for n in range(5)
    ]
    ids = insert_rows(Scenario, rows, same={"origin": ScenarioOrigin.EXPERT}, returning="content_hash")
    stored = {s.content_hash: s for s in Scenario.objects.all()}
    assert ids == {digest: s.pk for digest, s in stored.items()} and len(ids) == 5
    assert [stored[f"{n:064d}"].options for n in range(5)] == [{"A": f"甲{n}", "B": "乙"} for n in range(5)]
    assert [stored[f"{n:064d}"].norm for n in range(5)] == ["", "知情", "", "知情", ""]


def test_page_cache_is_the_connections_own_again_afterwards(db: None) -> None:
    if connection.vendor != "sqlite":
        with page_cache():  # nothing to set elsewhere
            assert Scenario.objects.count() == 0
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (before,) = cursor.fetchone()
        with page_cache():
            cursor.execute("PRAGMA cache_size")
            assert cursor.fetchone() == (-bulk.SQLITE_CACHE_MIB * 1024,)
        cursor.execute("PRAGMA cache_size")
        assert cursor.fetchone() == (before,)


def test_insert_rows_refuses_a_field_the_model_does_not_have_and_writes_nothing(db: None) -> None:
    with pytest.raises(ValueError, match="no field scene, stemm"):
        insert_rows(Scenario, [{"stemm": "x", "scene": scene()}])
    assert insert_rows(Scenario, []) == {} and not Scenario.objects.exists()


@pytest.mark.parametrize(
    ("kind", "stem", "options", "key"),
    [
        ("objective", "哪项  正确？\n", {"B": "乙", "A": "甲"}, "AB"),
        ("subjective", ' "引号" \\ 与 \u2028 ', {}, ""),
        ("objective", "x", {"A": "\"'", "C": "</script>"}, 'A"C'),
    ],
)
def test_content_hashes_are_the_content_hash_and_the_question_identity(
    kind: str, stem: str, options: dict[str, str], key: str
) -> None:
    assert content_hashes(kind, stem, options, key) == (
        content_hash(kind, stem, options, key),
        question_identity(kind, stem, options),
    )
    # the serialisation the stored hashes were made with: a change here would make every stored hash stale
    payload = json.dumps([kind, " ".join(stem.split()), dict(sorted(options.items())), key], ensure_ascii=False)
    assert content_hash(kind, stem, options, key) == hashlib.sha256(payload.encode()).hexdigest()

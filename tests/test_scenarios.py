"""Scenarios: taxonomy, de-duplication, optimistic locking, the status workflow with history, and the
MedES question import (dry run first, nothing lost, idempotent)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import translation

from benchmark.importers import ImportFileError
from benchmark.importers.medes_questions import import_medes_questions, split_objective_query
from benchmark.models import Principle, Scenario, ScenarioKind, ScenarioStatus, Scene
from benchmark.scenarios import ScenarioError, StaleEdit, change_status, create_scenario, resolve_scene, update_scenario
from medes_site.models import AuditEntry
from tests.factories import SAMPLE, Personas, medes


def objective(scene: Scene, **extra: object) -> Scenario:
    options = {"A": "告知风险", "B": "隐瞒病情", "C": "取得书面同意"}
    return create_scenario(
        kind=ScenarioKind.OBJECTIVE,
        stem="医生应当怎么做？",
        options=options,
        key="CA",
        scene=scene,
        origin="expert",
        **extra,
    )[0]  # type: ignore[arg-type]


@pytest.fixture
def scene(db: None) -> Scene:
    found = resolve_scene("器官移植")
    assert found is not None
    return found


def test_the_taxonomy_is_seeded_and_aliases_resolve(db: None) -> None:
    assert Scene.objects.count() == 14 and Principle.objects.filter(key="autonomy").exists()
    assert resolve_scene("基因干细胞诊疗") == resolve_scene("基因/干细胞诊疗")
    assert resolve_scene("口腔科") is None


def test_keys_are_normalised_and_the_same_item_is_stored_once(scene: Scene) -> None:
    first = objective(scene)
    assert first.key == "AC"
    options = {"C": "取得书面同意", "A": "告知风险", "B": "隐瞒病情"}
    again, created = create_scenario(
        kind=ScenarioKind.OBJECTIVE,
        stem=" 医生应当怎么做？ ",
        scene=scene,
        origin="imported",
        options=options,
        key="AC",
    )
    assert (again.pk, created) == (first.pk, False)


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        ({"A": "x"}, "A", "at least two"),
        ({"A": "x", "B": "y"}, "C", "names options"),
        ({"A": "x", "Z": "y"}, "A", "A to H"),
    ],
)
def test_bad_items_are_refused_with_a_reason(scene: Scene, options: dict[str, str], key: str, message: str) -> None:
    with translation.override("en"), pytest.raises(ScenarioError, match=message):
        create_scenario(
            kind=ScenarioKind.OBJECTIVE, stem="题干", options=options, key=key, scene=scene, origin="expert"
        )
    assert not Scenario.objects.exists()


def test_a_stale_edit_is_refused_with_the_current_version(scene: Scene, personas: Personas) -> None:
    item = objective(scene)
    mine = update_scenario(item.pk, expected_version=1, changes={"stem": "医生首先应当怎么做？"}, user=personas.curator)
    assert mine.version == 2
    with pytest.raises(StaleEdit) as stale:
        update_scenario(item.pk, expected_version=1, changes={"stem": "另一个人的修改"}, user=personas.reviewer)
    assert stale.value.current.stem == "医生首先应当怎么做？" and stale.value.current.version == 2
    assert Scenario.objects.get(pk=item.pk).stem == "医生首先应当怎么做？"
    with pytest.raises(ScenarioError, match="cannot be edited"):
        update_scenario(item.pk, expected_version=2, changes={"status": "accepted"}, user=personas.curator)


def test_the_workflow_with_history_and_audit(scene: Scene, personas: Personas) -> None:
    item = objective(scene)
    change_status(item.pk, ScenarioStatus.IN_REVIEW, user=personas.curator)
    accepted = change_status(item.pk, ScenarioStatus.ACCEPTED, user=personas.reviewer)
    again = change_status(item.pk, ScenarioStatus.ACCEPTED, user=personas.reviewer)  # a repeat is a no-op
    assert accepted.version == again.version == 3
    with translation.override("en"), pytest.raises(ScenarioError, match="cannot become"):
        change_status(item.pk, ScenarioStatus.DRAFT, user=personas.curator)
    statuses = [h.status for h in Scenario.objects.get(pk=item.pk).history.order_by("history_date")]
    assert statuses == ["draft", "in_review", "accepted"]
    assert AuditEntry.objects.filter(action="scenario.status", object_id=str(item.pk)).count() == 2


def test_an_open_case_without_its_norm_cannot_be_accepted(scene: Scene) -> None:
    case, _ = create_scenario(
        kind=ScenarioKind.SUBJECTIVE,
        stem="我是一名护士……",
        scene=scene,
        origin="imported",
        status=ScenarioStatus.IN_REVIEW,
    )
    with translation.override("en"), pytest.raises(ScenarioError, match="norm"):
        change_status(case.pk, ScenarioStatus.ACCEPTED, user=None)


def test_options_written_on_one_line_are_split() -> None:
    stem, options = split_objective_query(
        "说明……\n题目：以下哪项正确？\nA.65%以上，B.70%以上，C.75%以上\n【思考过程】：\n"
    )
    assert stem == "以下哪项正确？" and options == {"A": "65%以上", "B": "70%以上", "C": "75%以上"}


def test_the_medes_sample_imports_without_loss_and_only_once(db: None) -> None:
    for name, count in (("objective_questions.csv", 88), ("subjective_questions.csv", 112)):
        dry = import_medes_questions(medes(name), origin_name=name, dry_run=True)
        assert (dry.rows, dry.new, dry.errors, dry.written) == (count, count, [], False)
        assert not Scenario.objects.filter(origin_detail__startswith=name).exists()
        real = import_medes_questions(medes(name), origin_name=name, dry_run=False)
        assert (real.new, real.written) == (count, True)
        again = import_medes_questions(medes(name), origin_name=name, dry_run=False)
        assert (again.new, again.duplicates_in_bank) == (0, count)
    assert Scenario.objects.count() == 200
    first = Scenario.objects.get(origin_detail="objective_questions.csv:2")  # content, not just counts
    assert first.stem == "以下哪些行为违反了我国关于人类遗传资源的管理规定？"
    assert first.options["D"] == "损害个人隐私的基因信息保藏" and first.key == "ABC"
    assert all(len(s.options) >= 2 and set(s.key) <= set(s.options) for s in Scenario.objects.filter(kind="objective"))
    assert Scenario.history.count() == 200  # each imported item starts its history
    assert AuditEntry.objects.filter(action="scenario.import").count() == 2  # one per file that added items
    assert not Scenario.objects.filter(norm__contains="_x000D_").exists()  # Excel's escaped CRs are cleaned
    gene = Scenario.objects.filter(scene__name="基因/干细胞诊疗")
    assert gene.filter(kind="objective").count() == 8 and gene.filter(kind="subjective").count() > 0


def test_a_file_with_bad_rows_reports_them_and_writes_nothing(db: None) -> None:
    data = (
        "scene,query,reference,type\n"
        '器官移植,"题目：哪项正确？\nA.甲\nB.乙",B,客观题\n'
        '口腔科,"题目：哪项？\nA.甲\nB.乙",A,客观题\n'
        '器官移植,"题目：哪一项？\nA.甲\nB.乙",E,客观题\n'
        "器官移植,案例,考点,判断题\n"
    ).encode()
    report = import_medes_questions(data, origin_name="bad.csv", dry_run=False)
    assert [line for line, _ in report.errors] == [3, 4, 5]
    assert "口腔科" in report.errors[0][1] and "判断题" in report.errors[2][1]
    assert report.new == 1 and not report.written and not Scenario.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"scene,query\n", "Missing column"), ("scene,query,reference,type\n器官".encode("gbk"), "not UTF-8")],
)
def test_a_wrong_file_is_refused_whole(db: None, data: bytes, message: str) -> None:
    with translation.override("en"), pytest.raises(ImportFileError, match=message):
        import_medes_questions(data, origin_name="x.csv", dry_run=True)


def test_import_medes_command_dry_run_then_import(db: None, tmp_path: Path) -> None:
    medes("objective_questions.csv")
    out = io.StringIO()
    with translation.override("en"):
        call_command("import_medes", str(SAMPLE / "objective_questions.csv"), "--dry-run", stdout=out)
    assert "88 new" in out.getvalue() and "dry run, nothing written" in out.getvalue()
    assert not Scenario.objects.exists()
    call_command("import_medes", str(SAMPLE / "objective_questions.csv"), stdout=io.StringIO())
    assert Scenario.objects.filter(status="in_review").count() == 88
    with pytest.raises(CommandError):
        call_command("import_medes", str(tmp_path / "missing.csv"), stdout=io.StringIO(), stderr=io.StringIO())


# --- pages ----------------------------------------------------------------------------------------


def many(scene: Scene, count: int, start: int = 0) -> list[Scenario]:
    return [
        create_scenario(
            kind=ScenarioKind.OBJECTIVE,
            stem=f"第{n}题：哪项正确？",
            options={"A": "甲", "B": "乙"},
            key="A",
            scene=scene,
            origin="imported",
            status=ScenarioStatus.IN_REVIEW,
        )[0]
        for n in range(start, start + count)
    ]


def test_the_list_filters_and_its_query_count_does_not_grow_with_the_bank(
    scene: Scene, personas: Personas, client_as: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_as(personas.curator)
    many(scene, 5)
    client.get(reverse("benchmark:scenarios"))  # the session and user are cached after a first request (Redis)
    with CaptureQueriesContext(connection) as small:
        assert client.get(reverse("benchmark:scenarios")).status_code == 200
    many(scene, 120, start=5)
    with CaptureQueriesContext(connection) as large:
        html = client.get(reverse("benchmark:scenarios")).content.decode()
    assert len(large) == len(small)
    assert "125" in html
    filtered = client.get(
        reverse("benchmark:scenarios"), {"q": "第7题", "status": "in_review"}, headers={"HX-Request": "true"}
    )
    text = filtered.content.decode()
    assert "第7题" in text and "第8题" not in text and "<html" not in text
    assert client.get(reverse("benchmark:scenarios"), {"status": "lost"}).status_code == 400


def test_bulk_moves_report_refusals_and_move_the_rest(scene: Scene, personas: Personas, client_as: Any) -> None:
    first, second = many(scene, 2)
    change_status(second.pk, ScenarioStatus.RETIRED, user=None)
    response = client_as(personas.reviewer).post(
        reverse("benchmark:scenario_bulk_status"), {"ids": [first.pk, second.pk], "status": "accepted"}, follow=True
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("accepted", "retired")
    assert f"#{second.pk}" in response.content.decode()


def test_a_bulk_move_refuses_rows_edited_since_the_list_was_loaded(
    scene: Scene, personas: Personas, client_as: Any
) -> None:
    (item,) = many(scene, 1)
    html = client_as(personas.reviewer).get(reverse("benchmark:scenarios")).content.decode()
    versions = html.split('name="versions" value="')[1].split('"')[0]
    assert versions == f"{item.pk}:1"
    update_scenario(item.pk, expected_version=1, changes={"key": "B"}, user=personas.curator)  # meanwhile
    client_as(personas.reviewer).post(
        reverse("benchmark:scenario_bulk_status"), {"ids": [item.pk], "status": "accepted", "versions": versions}
    )
    item.refresh_from_db()
    assert (item.status, item.key) == ("in_review", "B")  # the reviewer never saw key B: not accepted


def test_editing_under_optimistic_locking(scene: Scene, personas: Personas, client_as: Any) -> None:
    item = objective(scene)
    url = reverse("benchmark:scenario_edit", args=[item.pk])
    curator = client_as(personas.curator)
    page = curator.get(reverse("benchmark:scenario", args=[item.pk])).content.decode()
    assert 'name="version" value="1"' in page
    # the page's form holds every field (kind, options, scene …): the post sends them all back, as a browser does
    form = {
        "kind": "objective",
        "scene": scene.pk,
        "option_A": "告知风险",
        "option_B": "隐瞒病情",
        "option_C": "取得书面同意",
    }
    saved = curator.post(url, {**form, "stem": "医生首先应当怎么做？", "key": "AC", "norm": "", "version": 1})
    assert saved.status_code == 302
    assert Scenario.history.filter(id=item.pk).latest("history_date").history_user == personas.curator
    stale = curator.post(url, {**form, "stem": "我的旧修改", "key": "A", "norm": "", "version": 1})
    assert stale.status_code == 409
    html = stale.content.decode()
    assert 'data-testid="conflict"' in html
    assert "医生首先应当怎么做？" in html and "我的旧修改" in html  # theirs above, mine kept in the form
    assert 'name="version" value="2"' in html  # saving again now applies on top of theirs
    assert Scenario.objects.get(pk=item.pk).stem == "医生首先应当怎么做？"
    assert curator.post(url, {**form, "stem": "x", "key": "Z", "norm": "", "version": 2}).status_code == 400
    assert client_as(personas.reviewer).post(url, {**form, "stem": "x", "key": "A", "version": 2}).status_code == 403


def test_an_edit_that_duplicates_another_item_is_refused(scene: Scene, personas: Personas) -> None:
    first, second = many(scene, 2)
    with translation.override("en"), pytest.raises(ScenarioError, match=f"identical to scenario {first.pk}"):
        update_scenario(second.pk, expected_version=1, changes={"stem": first.stem}, user=personas.curator)


def test_editing_accepted_content_sends_it_back_for_review(scene: Scene, personas: Personas) -> None:
    item = objective(scene)
    change_status(item.pk, ScenarioStatus.IN_REVIEW, user=None)
    change_status(item.pk, ScenarioStatus.ACCEPTED, user=None)
    edited = update_scenario(item.pk, expected_version=3, changes={"key": "A"}, user=personas.curator)
    assert edited.status == ScenarioStatus.NEEDS_REREVIEW


def test_an_open_case_without_its_norm_cannot_be_imported_as_accepted(db: None) -> None:
    data = "scene,query,reference,type\n器官移植,我是一名医生……,,主观题\n".encode()
    report = import_medes_questions(data, origin_name="x.csv", dry_run=False, status=ScenarioStatus.ACCEPTED)
    assert report.errors and "norm" in report.errors[0][1] and not Scenario.objects.exists()

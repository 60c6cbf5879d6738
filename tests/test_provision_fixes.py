"""Curator fixes to mis-parsed provisions: edit, split, merge. Each keeps history and an audit entry, runs
under optimistic locking (a stale fix is 409 with the current text), and survives a re-parse."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation

from benchmark.models import Provision, Scenario, ScenarioStatus, Source
from benchmark.provisions import (
    ProvisionError,
    StaleProvision,
    edit_provision,
    merge_with_next,
    split_provision,
)
from benchmark.scenarios import create_scenario, resolve_scene
from benchmark.services import SourceMeta, add_source, parse_source
from medes_site import jobs
from medes_site.jobs import execute_job
from medes_site.models import AuditEntry, Job
from tests.factories import Personas

# 第二条 swallowed 第三条 (a lost line break): the parse finds five articles.
LAW = """# 测试条例

## 第一章 总则

第一条 为了测试，制定本条例。

第二条 医师应当尊重患者。第三条 医师应当保护患者隐私。

第四条 医疗机构应当建立制度。
具体办法由卫生主管部门制定。

第五条 本条例自公布之日起施行。

## 第二章 附则

第六条 解释权属于卫生主管部门。
"""


@pytest.fixture
def source(db: None) -> Source:
    source, _ = add_source(io.BytesIO(LAW.encode()), "测试条例.md", SourceMeta(title="测试条例"))
    parse_source(source)
    return source


def article(source: Source, number: int, suffix: int = 0) -> Provision:
    return Provision.objects.get(source=source, number=number, suffix=suffix)


def case(stem: str, *provisions: Provision, status: str = ScenarioStatus.ACCEPTED) -> Scenario:
    scenario, _ = create_scenario(
        kind="subjective", stem=stem, norm="考点", scene=resolve_scene("医患关系"), origin="expert", status=status
    )  # type: ignore[arg-type]
    scenario.provisions.set(provisions)
    return scenario


def test_the_parse_records_a_first_history_row_for_each_provision(source: Source) -> None:
    first = article(source, 1)
    assert [(h.history_type, h.history_change_reason) for h in first.history.all()] == [("+", "parse")]
    assert first.version == 1 and not first.edited_by_hand


def test_curator_edits_text_number_and_heading_with_history_and_audit(source: Source, personas: Personas) -> None:
    fourth = article(source, 4)
    edited = edit_provision(
        fourth.pk,
        expected_version=1,
        user=personas.curator,
        changes={"text": "医疗机构应当建立健全制度。", "number": 4, "suffix": 1, "chapter": "第一章 总则（修）"},
    )
    assert (edited.label, edited.version, edited.edited_by_hand) == ("第四条之一", 2, True)
    assert edited.curated_keys == [[4, 0]]  # a re-parse must not bring 第四条 back beside it
    latest = edited.history.latest()
    assert latest.history_user == personas.curator and latest.history_change_reason.startswith("edit:")
    assert edited.history.earliest().text.startswith("医疗机构应当建立制度。")  # the parsed text stays readable
    entry = AuditEntry.objects.get(action="provision.edit")
    assert entry.actor == personas.curator and entry.details["was"] == "第四条"
    assert set(entry.details["fields"]) == {"text", "suffix", "chapter"}


def test_saving_what_is_there_is_a_no_op(source: Source, personas: Personas) -> None:
    first = article(source, 1)
    again = edit_provision(first.pk, expected_version=1, changes={"text": first.text + "  "}, user=personas.curator)
    assert again.version == 1 and not again.edited_by_hand and first.history.count() == 1
    assert not AuditEntry.objects.filter(action="provision.edit").exists()


def test_a_double_submit_of_the_same_edit_stores_it_once(source: Source, personas: Personas, client_as: Any) -> None:
    first = article(source, 1)
    data = {"number": 1, "suffix": 0, "text": "为了测试本条例，制定本条例。", "chapter": "第一章 总则", "version": 1}
    client = client_as(personas.curator)
    responses = [client.post(reverse("benchmark:provision_edit", args=[first.pk]), data) for _ in range(2)]
    assert [r.status_code for r in responses] == [302, 302]
    assert article(source, 1).version == 2 and AuditEntry.objects.filter(action="provision.edit").count() == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"number": 6}, "第六条 already exists"),
        ({"text": "  "}, "needs its text"),
        ({"label": "x"}, "cannot be edited"),
    ],
)
def test_bad_edits_are_refused_with_a_reason(source: Source, changes: dict[str, Any], message: str) -> None:
    with translation.override("en"), pytest.raises(ProvisionError, match=message):
        edit_provision(article(source, 1).pk, expected_version=1, changes=changes, user=None)
    assert article(source, 1).version == 1


def test_split_at_a_character_offset_numbers_the_second_part_as_told(source: Source, personas: Personas) -> None:
    second = article(source, 2)
    cited = case("案例：尊重患者", second)
    offset = second.text.index("第三条")
    first, part = split_provision(
        second.pk, expected_version=1, at_offset=offset, new_number=3, new_suffix=0, user=personas.curator
    )
    assert (first.text, part.text, part.label) == ("医师应当尊重患者。", "第三条 医师应当保护患者隐私。", "第三条")
    labels = list(source.provisions.order_by("position").values_list("label", flat=True))
    assert labels == ["第一条", "第二条", "第三条", "第四条", "第五条", "第六条"]
    assert part.chapter == "第一章 总则" and part.edited_by_hand and first.version == 2
    assert list(cited.provisions.all()) == [first]  # the scenario keeps citing the first part
    source.refresh_from_db()
    assert source.article_count == 6
    assert part.history.get().history_change_reason == "split off 第二条"
    assert AuditEntry.objects.get(action="provision.split").details["new"] == "第三条"


def test_split_at_a_paragraph(source: Source) -> None:
    fourth = article(source, 4)
    _, part = split_provision(fourth.pk, expected_version=1, at_paragraph=2, new_number=4, new_suffix=1, user=None)
    assert (part.label, part.text) == ("第四条之一", "具体办法由卫生主管部门制定。")
    assert article(source, 4).text == "医疗机构应当建立制度。"


@pytest.mark.parametrize(
    ("where", "number", "suffix", "message"),
    [
        ({"at_paragraph": 2}, 6, 0, "第六条 already exists"),
        ({"at_paragraph": 3}, 4, 1, "2 to 2"),
        ({"at_offset": 0}, 4, 1, "inside the text"),
        ({"at_offset": 1, "at_paragraph": 2}, 4, 1, "not both"),
        ({}, 4, 1, "not both or neither"),
    ],
)
def test_bad_splits_are_refused_and_change_nothing(
    source: Source, where: dict[str, int], number: int, suffix: int, message: str
) -> None:
    fourth = article(source, 4)
    with translation.override("en"), pytest.raises(ProvisionError, match=message):
        split_provision(fourth.pk, expected_version=1, new_number=number, new_suffix=suffix, user=None, **where)
    assert source.provisions.count() == 5 and article(source, 4).text == fourth.text


def test_merge_repoints_scenarios_and_records_the_merge(source: Source, personas: Personas) -> None:
    fourth, fifth = article(source, 4), article(source, 5)
    both = case("案例：两条都引", fourth, fifth)
    only_fifth = case("案例：只引第五条", fifth, status=ScenarioStatus.DRAFT)
    merged = merge_with_next(fourth.pk, expected_version=1, next_pk=fifth.pk, next_version=1, user=personas.curator)
    assert merged.text.endswith("具体办法由卫生主管部门制定。\n本条例自公布之日起施行。")
    assert merged.curated_keys == [[5, 0]]
    assert not Provision.objects.filter(pk=fifth.pk).exists()
    assert list(both.provisions.all()) == [merged] and list(only_fifth.provisions.all()) == [merged]
    gone = Provision.history.filter(id=fifth.pk).latest()
    assert (gone.history_type, gone.history_change_reason, gone.history_user) == (
        "-",
        "merged into 第四条",
        personas.curator,
    )
    entry = AuditEntry.objects.get(action="provision.merge")
    assert entry.details["merged"] == "第五条" and entry.details["repointed_scenarios"] == sorted(
        [both.pk, only_fifth.pk]
    )
    source.refresh_from_db()
    assert source.article_count == 4


def test_merge_refuses_the_last_provision_and_a_next_one_changed_meanwhile(source: Source) -> None:
    last = article(source, 6)
    with translation.override("en"), pytest.raises(ProvisionError, match="last provision"):
        merge_with_next(last.pk, expected_version=1, next_pk=last.pk, next_version=1, user=None)
    fourth, fifth = article(source, 4), article(source, 5)
    edit_provision(fifth.pk, expected_version=1, changes={"text": "本条例自发布之日起施行。"}, user=None)
    with pytest.raises(StaleProvision):
        merge_with_next(fourth.pk, expected_version=1, next_pk=fifth.pk, next_version=1, user=None)
    assert Provision.objects.filter(pk=fifth.pk).exists()


def test_reparsing_keeps_the_curators_fixes_and_says_so(source: Source, personas: Personas) -> None:
    second, fourth = article(source, 2), article(source, 4)
    split_provision(
        second.pk,
        expected_version=1,
        at_offset=second.text.index("第三条"),
        new_number=3,
        new_suffix=0,
        user=personas.curator,
    )
    merge_with_next(fourth.pk, expected_version=1, next_pk=article(source, 5).pk, next_version=1, user=None)
    edit_provision(
        article(source, 6).pk, expected_version=1, changes={"text": "本条例由卫生主管部门负责解释。"}, user=None
    )
    before = list(source.provisions.order_by("position").values_list("pk", "label", "text", "chapter"))
    job = jobs.enqueue_job("benchmark.parse_source", {"source": source.pk}, user=personas.curator)
    execute_job(job.pk)  # the same file again: the parser would bring every mis-parse back
    after = list(source.provisions.order_by("position").values_list("pk", "label", "text", "chapter"))
    assert after == before
    source.refresh_from_db()
    assert source.article_count == 5
    assert any("4 provisions were fixed by hand" in w and "kept" in w for w in source.parse_warnings)
    assert "4 provisions were fixed by hand" in Job.objects.get(pk=job.pk).log_tail
    assert article(source, 1).history.count() == 1  # unchanged provisions get no new history row


def test_reparsing_an_unfixed_provision_records_the_new_text_in_history(source: Source) -> None:
    Path(source.file.path).write_text(LAW.replace("为了测试", "为了更好地测试"), encoding="utf-8")
    parse_source(source)
    first = article(source, 1)
    assert first.text == "为了更好地测试，制定本条例。"
    assert [h.history_change_reason for h in first.history.order_by("history_id")] == ["parse", "re-parse"]


# --- views -----------------------------------------------------------------------------------------


def test_curator_fixes_a_provision_through_the_page(source: Source, personas: Personas, client_as: Any) -> None:
    client = client_as(personas.curator)
    fourth = article(source, 4)
    page = client.get(reverse("benchmark:provision", args=[fourth.pk])).content.decode()
    assert 'data-testid="edit-form"' in page and 'data-testid="merge-form"' in page and "第五条" in page
    source_page = client.get(reverse("benchmark:source", args=[source.pk])).content.decode()
    assert (
        reverse("benchmark:provision", args=[fourth.pk]) in source_page
        and 'data-testid="hand-fixed"' not in source_page
    )
    data = {"number": 4, "suffix": 0, "text": "医疗机构应当建立健全制度。", "chapter": "第一章 总则", "version": 1}
    response = client.post(reverse("benchmark:provision_edit", args=[fourth.pk]), data)
    assert response.status_code == 302 and article(source, 4).text == "医疗机构应当建立健全制度。"
    page = client.get(reverse("benchmark:provision", args=[fourth.pk])).content.decode()
    # the stored reason "edit: text", shown in the reader's language (benchmark/history_labels.py)
    assert 'data-testid="edited-by-hand"' in page and "已编辑：正文" in page
    source_page = client.get(reverse("benchmark:source", args=[source.pk])).content.decode()
    assert 'data-testid="hand-fixed"' in source_page
    split = {"at_paragraph": "", "at_offset": 4, "new_number": 4, "new_suffix": 1, "version": 2}
    assert client.post(reverse("benchmark:provision_split", args=[fourth.pk]), split).status_code == 302
    assert article(source, 4, 1).text == "应当建立健全制度。"
    merge = {"version": 3, "next_id": article(source, 4, 1).pk, "next_version": 1}
    assert client.post(reverse("benchmark:provision_merge", args=[fourth.pk]), merge).status_code == 302
    assert article(source, 4).text == "医疗机构\n应当建立健全制度。"


def test_a_stale_edit_gets_409_with_the_current_text_and_keeps_the_input(
    source: Source, personas: Personas, client_as: Any
) -> None:
    first = article(source, 1)
    edit_provision(first.pk, expected_version=1, changes={"text": "他人保存的文字。"}, user=personas.admin)
    data = {"number": 1, "suffix": 0, "text": "我输入的文字。", "chapter": "第一章 总则", "version": 1}
    response = client_as(personas.curator).post(reverse("benchmark:provision_edit", args=[first.pk]), data)
    assert response.status_code == 409
    html = response.content.decode()
    assert 'data-testid="conflict"' in html and "他人保存的文字。" in html and "我输入的文字。" in html
    assert 'name="version" value="2"' in html  # submitting again, knowingly, goes through
    assert article(source, 1).text == "他人保存的文字。"


@pytest.mark.parametrize(
    ("url", "data", "message"),
    [
        ("benchmark:provision_edit", {"number": 6, "suffix": 0, "text": "x", "version": 1}, "第六条"),
        ("benchmark:provision_edit", {"number": 0, "suffix": 0, "text": "x", "version": 1}, 'data-testid="edit-form"'),
        ("benchmark:provision_split", {"new_number": 1, "new_suffix": 1, "version": 1}, "paragraph"),
        ("benchmark:provision_merge", {"version": 1}, "reload the page"),
    ],
)
def test_bad_fixes_are_400_with_a_message(
    source: Source, personas: Personas, client_as: Any, url: str, data: dict[str, Any], message: str
) -> None:
    first = article(source, 1)
    with translation.override("en"):
        response = client_as(personas.curator).post(reverse(url, args=[first.pk]), data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400 and message in response.content.decode()
    assert article(source, 1).version == 1 and source.provisions.count() == 5


def test_reviewers_read_provisions_and_their_history_but_cannot_fix(
    source: Source, personas: Personas, client_as: Any
) -> None:
    first = article(source, 1)
    client = client_as(personas.reviewer)
    page = client.get(reverse("benchmark:provision", args=[first.pk])).content.decode()
    assert "为了测试，制定本条例。" in page and 'data-testid="edit-form"' not in page
    data = {"number": 1, "suffix": 0, "text": "改", "version": 1}
    assert client.post(reverse("benchmark:provision_edit", args=[first.pk]), data).status_code == 403
    assert client.post(reverse("benchmark:provision_merge", args=[first.pk]), {}).status_code == 403
    assert article(source, 1).version == 1


def test_history_fragment_for_htmx_and_wrong_method(source: Source, personas: Personas, client_as: Any) -> None:
    first = article(source, 1)
    client = client_as(personas.curator)
    fragment = client.get(reverse("benchmark:provision", args=[first.pk]), headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert 'id="provision-history"' in html and "<html" not in html and "从规范来源解析" in html
    assert client.get(reverse("benchmark:provision_edit", args=[first.pk])).status_code == 405
    assert client.get(reverse("benchmark:provision", args=[999999])).status_code == 404


def test_provision_text_is_escaped(db: None, personas: Personas, client_as: Any) -> None:
    source, _ = add_source(io.BytesIO("第一条 <script>alert(1)</script>".encode()), "x.txt", SourceMeta(title="x"))
    parse_source(source)
    html = client_as(personas.curator).get(reverse("benchmark:provision", args=[article(source, 1).pk])).content
    assert b"<script>alert(1)</script>" not in html and b"&lt;script&gt;" in html

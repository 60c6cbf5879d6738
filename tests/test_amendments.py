"""Amendments: a new version of a real law (one article edited, one deleted, one inserted, the rest
renumbered) is diffed provision by provision when its parse ends, and exactly the scenarios citing a
changed or removed provision are flagged."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import cn2an
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from benchmark.amendments import Item, compare_sources, diff_items, inline_diff
from benchmark.models import Amendment, ChangeKind, ParseStatus, Provision, Scenario, ScenarioStatus, Source
from benchmark.parsing import ParseError
from benchmark.scenarios import change_status, create_scenario, resolve_scene
from benchmark.services import SourceMeta, add_source, parse_source
from medes_site import jobs
from medes_site.jobs import execute_job
from medes_site.models import AuditEntry, Job
from tests.factories import Personas

LAW = (
    Path(__file__).resolve().parent.parent / "benchmark" / "demo" / "laws" / "医师法(2021-08-20).md"
)  # the repository's copy (as ../shared/data/laws): a fresh clone needs nothing beside it
ARTICLE_LINE = re.compile(r"^第([零一二三四五六七八九十百]+)条")
EDITED, DELETED, INSERTED_AFTER = 10, 20, 40
INSERTED = "医疗卫生机构应当为医师使用人工智能辅助诊疗提供培训，并对辅助诊疗的结果进行复核。"


def amend(markdown: str) -> str:
    """The law as an amending decision would leave it: 第十条 reworded, 第二十条 deleted, a new article
    after the old 第四十条, and every article renumbered in order (cross-references left as they were)."""
    blocks: list[tuple[int | None, list[str]]] = [(None, [])]
    for line in markdown.splitlines():
        match = ARTICLE_LINE.match(line)
        if match:
            blocks.append((int(cn2an.cn2an(match.group(1), "smart")), [line]))
        elif line.startswith("#"):
            blocks.append((None, [line]))
        else:
            blocks[-1][1].append(line)
    out: list[str] = []
    number = 0
    for old, lines in blocks:
        if old == DELETED:
            continue
        if old is not None:
            number += 1
            first = ARTICLE_LINE.sub(f"第{cn2an.an2cn(number)}条", lines[0])
            if old == EDITED:
                first = first.replace("满一年", "满二年") + "具体办法由国务院卫生健康主管部门制定。"
            lines = [first, *lines[1:]]
        out.extend(lines)
        if old == INSERTED_AFTER:
            number += 1
            out.extend([f"第{cn2an.an2cn(number)}条 {INSERTED}", ""])
    return "\n".join(out) + "\n"


def accepted(stem: str, *provisions: Provision, status: str = ScenarioStatus.ACCEPTED) -> Scenario:
    scenario, _ = create_scenario(
        kind="subjective", stem=stem, norm="考点", scene=resolve_scene("常规诊疗"), origin="expert", status=status
    )  # type: ignore[arg-type]
    scenario.provisions.set(provisions)
    return scenario


@pytest.fixture
def old_law(db: None) -> Source:
    source, _ = add_source(io.BytesIO(LAW.read_bytes()), LAW.name, SourceMeta(title="中华人民共和国医师法"))
    parse_source(source)
    assert source.article_count == 67
    return source


def old(source: Source, number: int) -> Provision:
    return source.provisions.get(number=number)


@pytest.fixture
def cases(old_law: Source) -> dict[str, Scenario]:
    return {
        "changed": accepted("案例：执业助理医师考试", old(old_law, EDITED)),
        "removed": accepted("案例：个体行医", old(old_law, DELETED)),
        "renumbered": accepted("案例：第二十五条", old(old_law, 25)),
        "unchanged": accepted("案例：医师节", old(old_law, 5)),
        "draft": accepted("案例：草稿", old(old_law, EDITED), old(old_law, 5), status=ScenarioStatus.DRAFT),
        "retired": accepted("案例：已退役", old(old_law, DELETED), status=ScenarioStatus.RETIRED),
    }


def add_new_version(old_law: Source, text: str, user: Any = None) -> Source:
    meta = SourceMeta(title="中华人民共和国医师法（修正）", supersedes=old_law)
    return add_source(io.BytesIO(text.encode()), "医师法(修正).md", meta, user=user)[0]


def status(scenario: Scenario) -> str:
    scenario.refresh_from_db()
    return scenario.status


def test_the_amended_copy_is_what_the_test_says(old_law: Source) -> None:
    new = add_new_version(old_law, amend(LAW.read_text(encoding="utf-8")))
    parse_source(new)
    assert (new.article_count, new.chapter_count) == (67, 7)
    assert new.provisions.get(number=INSERTED_AFTER).text == INSERTED
    assert new.provisions.get(number=DELETED).text == old(old_law, DELETED + 1).text


def test_parsing_a_new_version_diffs_it_and_flags_exactly_the_scenarios_citing_changed_provisions(
    old_law: Source, cases: dict[str, Scenario], personas: Personas
) -> None:
    new = add_new_version(old_law, amend(LAW.read_text(encoding="utf-8")), user=personas.curator)
    job = jobs.enqueue_job("benchmark.parse_source", {"source": new.pk}, user=personas.curator)
    with translation.override("en"):
        execute_job(job.pk)  # what the worker does once the upload is stored
    amendment = Amendment.objects.get(new_source=new)
    assert amendment.old_source == old_law and amendment.error == ""
    assert amendment.counts == {
        "unchanged": 65,
        "changed": 1,
        "added": 1,
        "removed": 1,
        "renumbered": 20,
        "sent_to_rereview": 2,
        "affected_scenarios": 3,
    }
    rows = {row.kind: row for row in amendment.changes.exclude(kind=ChangeKind.UNCHANGED)}
    assert (rows["changed"].old_label, rows["changed"].new_label, rows["changed"].renumbered) == (
        "第十条",
        "第十条",
        False,
    )
    assert rows["removed"].old_label == "第二十条" and rows["removed"].old_provision == old(old_law, DELETED)
    assert rows["added"].new_label == "第四十条" and rows["added"].new_text == INSERTED
    moved = amendment.changes.filter(renumbered=True).order_by("position")
    assert [(r.old_label, r.new_label) for r in moved[:2]] == [("第二十一条", "第二十条"), ("第二十二条", "第二十一条")]
    assert {r.kind for r in moved} == {ChangeKind.UNCHANGED}

    assert status(cases["changed"]) == status(cases["removed"]) == ScenarioStatus.NEEDS_REREVIEW
    assert status(cases["renumbered"]) == status(cases["unchanged"]) == ScenarioStatus.ACCEPTED
    assert status(cases["draft"]) == ScenarioStatus.DRAFT and status(cases["retired"]) == ScenarioStatus.RETIRED
    assert set(amendment.flagged.all()) == {cases["changed"], cases["removed"], cases["draft"]}
    reason = cases["changed"].history.latest().history_change_reason
    assert "中华人民共和国医师法（修正）" in reason and "第十条" in reason
    assert AuditEntry.objects.filter(
        action="scenario.status", object_id=str(cases["removed"].pk), details__to=ScenarioStatus.NEEDS_REREVIEW
    ).exists()
    assert AuditEntry.objects.get(action="scenario.provision_amended").object_id == str(cases["draft"].pk)
    assert "1 changed, 1 added, 1 removed, 65 unchanged (20 renumbered)" in Job.objects.get(pk=job.pk).log_tail


def test_parsing_either_version_again_does_not_flag_a_re_accepted_scenario_twice(
    old_law: Source, cases: dict[str, Scenario], personas: Personas
) -> None:
    new = add_new_version(old_law, amend(LAW.read_text(encoding="utf-8")))
    parse_source(new)
    change_status(cases["changed"].pk, ScenarioStatus.ACCEPTED, user=personas.reviewer, reason="checked")
    parse_source(new)
    parse_source(old_law)  # the old version's provisions may change: newer versions are compared again
    assert status(cases["changed"]) == ScenarioStatus.ACCEPTED
    assert Amendment.objects.get().counts["changed"] == 1 and Amendment.objects.get().changes.count() == 68


def test_superseding_a_source_whose_parse_failed_says_why_and_flags_nothing(
    old_law: Source, cases: dict[str, Scenario], personas: Personas, client_as: Any
) -> None:
    good = Path(old_law.file.path).read_bytes()
    Path(old_law.file.path).write_bytes("没有条文。".encode())
    with pytest.raises(ParseError):
        parse_source(old_law)
    new = add_new_version(old_law, amend(LAW.read_text(encoding="utf-8")))
    with translation.override("en"):
        parse_source(new)
    amendment = Amendment.objects.get(new_source=new)
    assert (
        "is not parsed (its status: Parsing failed)" in amendment.error and "no scenario was flagged" in amendment.error
    )
    assert not amendment.changes.exists() and not amendment.flagged.exists()
    assert status(cases["changed"]) == ScenarioStatus.ACCEPTED
    html = client_as(personas.curator).get(reverse("benchmark:source_amendment", args=[new.pk])).content.decode()
    assert 'data-testid="amendment-error"' in html
    Path(old_law.file.path).write_bytes(good)
    parse_source(old_law)  # once the old version parses, the newer one is compared after all
    assert Amendment.objects.get(new_source=new).counts["changed"] == 1
    assert status(cases["changed"]) == ScenarioStatus.NEEDS_REREVIEW


def test_superseding_a_source_never_parsed_says_so(db: None) -> None:
    never, _ = add_source(io.BytesIO(LAW.read_bytes()), LAW.name, SourceMeta(title="医师法"))
    new = add_new_version(never, amend(LAW.read_text(encoding="utf-8")))
    with translation.override("en"):
        result = parse_source(new)
    assert "“医师法”, is not parsed (its status: Not parsed yet)" in result["amendments"][0]
    assert not Amendment.objects.get().changes.exists()


def test_a_new_version_that_fails_to_parse_is_not_compared_and_flags_nothing(
    old_law: Source, cases: dict[str, Scenario]
) -> None:
    new = add_new_version(old_law, "这不是法律文本。")
    with pytest.raises(ParseError):
        parse_source(new)
    assert new.parse_status == ParseStatus.FAILED
    assert not Amendment.objects.exists()
    assert all(status(case) == case.status for case in cases.values())


def test_a_source_cannot_supersede_itself_or_a_later_version(
    old_law: Source, personas: Personas, client_as: Any
) -> None:
    new = add_new_version(old_law, amend(LAW.read_text(encoding="utf-8")))
    client = client_as(personas.curator)
    url = reverse("benchmark:source_supersede", args=[old_law.pk])
    with translation.override("en"):
        response = client.post(url, {"supersedes": new.pk}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400 and 'data-testid="error-supersedes"' in response.content.decode()
    response = client.post(url, {"supersedes": old_law.pk})  # not offered: the form's choices exclude itself
    assert response.status_code == 400
    old_law.refresh_from_db()
    assert old_law.supersedes is None and not Amendment.objects.exists()


def test_curator_sets_the_earlier_version_and_sees_the_diff(
    old_law: Source, cases: dict[str, Scenario], personas: Personas, client_as: Any
) -> None:
    new, _ = add_source(io.BytesIO(amend(LAW.read_text(encoding="utf-8")).encode()), "v2.md", SourceMeta(title="v2"))
    parse_source(new)
    assert not Amendment.objects.exists()  # it supersedes nothing yet
    client = client_as(personas.curator)
    assert client.get(reverse("benchmark:source_supersede", args=[new.pk])).status_code == 200
    response = client.post(reverse("benchmark:source_supersede", args=[new.pk]), {"supersedes": old_law.pk})
    url = reverse("benchmark:source_amendment", args=[new.pk])
    assert response["Location"] == url
    assert status(cases["removed"]) == ScenarioStatus.NEEDS_REREVIEW
    html = client.get(url).content.decode()
    assert html.count('data-kind="') == 3  # by default: changed, added and removed
    assert "<del>满一年</del>" in html or "<del>一</del>" in html
    assert "<ins>具体办法由国务院卫生健康主管部门制定。</ins>" in html
    for key in ("changed", "removed", "draft"):
        assert reverse("benchmark:scenario", args=[cases[key].pk]) in html
    assert reverse("benchmark:scenario", args=[cases["unchanged"].pk]) not in html
    renumbered = client.get(url, {"kind": "renumbered"}).content.decode()
    assert renumbered.count('data-kind="unchanged"') == 20 and "第二十一条 → 第二十条" in renumbered
    fragment = client.get(url, {"kind": "removed"}, headers={"HX-Request": "true"}).content.decode()
    assert (
        "<html" not in fragment and fragment.count('data-kind="removed"') == 1 and 'data-kind="added"' not in fragment
    )
    assert client.get(url, {"kind": "everything"}).status_code == 400
    source_page = client.get(reverse("benchmark:source", args=[new.pk])).content.decode()
    assert 'data-testid="amendment-link"' in source_page
    old_page = client.get(reverse("benchmark:source", args=[old_law.pk])).content.decode()
    assert reverse("benchmark:source", args=[new.pk]) in old_page  # "superseded by"
    flagged = client.get(reverse("benchmark:scenario", args=[cases["changed"].pk])).content.decode()
    assert 'data-testid="amended-provision"' in flagged and url in flagged
    spared = client.get(reverse("benchmark:scenario", args=[cases["unchanged"].pk])).content.decode()
    assert 'data-testid="amended-provision"' not in spared


def test_uploading_a_new_version_with_supersedes_compares_it_after_the_parse_job(
    old_law: Source, cases: dict[str, Scenario], personas: Personas, client_as: Any
) -> None:
    upload = SimpleUploadedFile("v2.md", amend(LAW.read_text(encoding="utf-8")).encode())
    client = client_as(personas.curator)
    client.post(reverse("benchmark:source_add"), {"file": upload, "kind": "law", "supersedes": old_law.pk})
    new = Source.objects.get(supersedes=old_law)
    execute_job(Job.objects.get(kind="benchmark.parse_source", config={"source": new.pk}).pk)
    assert Amendment.objects.get(new_source=new).counts["removed"] == 1
    assert status(cases["changed"]) == ScenarioStatus.NEEDS_REREVIEW


def test_reviewers_read_the_diff_but_cannot_set_versions(old_law: Source, personas: Personas, client_as: Any) -> None:
    new = add_new_version(old_law, amend(LAW.read_text(encoding="utf-8")))
    parse_source(new)
    client = client_as(personas.reviewer)
    assert client.get(reverse("benchmark:source_amendment", args=[new.pk])).status_code == 200
    assert client.post(reverse("benchmark:source_supersede", args=[new.pk]), {"supersedes": ""}).status_code == 403
    assert client.get(reverse("benchmark:source_amendment", args=[old_law.pk])).status_code == 404  # no amendment
    new.refresh_from_db()
    assert new.supersedes == old_law


def test_diff_texts_are_escaped(db: None, personas: Personas, client_as: Any) -> None:
    first, _ = add_source(io.BytesIO("第一条 患者享有知情同意权。".encode()), "a.txt", SourceMeta(title="a"))
    parse_source(first)
    text = "第一条 患者享有<script>alert(1)</script>知情同意权。"
    second, _ = add_source(io.BytesIO(text.encode()), "b.txt", SourceMeta(title="b", supersedes=first))
    parse_source(second)
    html = client_as(personas.curator).get(reverse("benchmark:source_amendment", args=[second.pk])).content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- the comparison alone ---------------------------------------------------------------------------


def items(*articles: tuple[int, str]) -> list[Item]:
    return [Item(number, 0, f"第{number}条", text) for number, text in articles]


def test_diff_pairs_by_number_then_by_text_and_reports_renumbering() -> None:
    before = items(
        (1, "为了保护患者权益，制定本法。"),
        (2, "医师应当如实告知患者病情和医疗措施，取得其明确同意。"),
        (3, "医疗机构应当建立病历管理制度。"),
        (4, "本法自公布之日起施行。"),
    )
    after = items(
        (1, "为了保护患者权益，制定本法。"),
        (2, "国家鼓励发展远程医疗服务。"),  # inserted
        (3, "医师应当如实告知患者病情、医疗风险和替代医疗方案，取得其书面同意。"),  # was 2, reworded
        (4, "医疗机构应当建立健全病历管理制度。"),  # was 3, the number changed and a word was added
        (5, "本法自二〇二七年一月一日起施行。"),  # was 4: reworded beyond recognition, counted removed + added
    )
    rows = diff_items(before, after)
    summary = [(r.kind.value, r.old.number if r.old else None, r.new.number if r.new else None) for r in rows]
    assert summary == [
        ("unchanged", 1, 1),
        ("added", None, 2),
        ("changed", 2, 3),
        ("changed", 3, 4),
        ("removed", 4, None),
        ("added", None, 5),
    ]
    assert [r.renumbered for r in rows] == [False, False, True, True, False, False]


def test_an_article_rewritten_under_its_own_number_is_changed_not_removed() -> None:
    rows = diff_items(items((7, "医师应当遵守技术操作规范。")), items((7, "医师应当遵守临床诊疗指南和技术操作规范。")))
    assert [(r.kind.value, r.renumbered) for r in rows] == [("changed", False)]


def test_inline_diff_marks_only_what_changed() -> None:
    old, new = inline_diff("满一年的，可以参加考试。", "满二年的，可以参加考试。")
    assert [text for changed, text in old if changed] == ["一"] and [text for changed, text in new if changed] == ["二"]
    assert "".join(text for _, text in old) == "满一年的，可以参加考试。"


def test_comparing_a_source_that_supersedes_nothing_is_refused(old_law: Source) -> None:
    from benchmark.amendments import AmendmentError

    with pytest.raises(AmendmentError):
        compare_sources(old_law)

"""Text search of scenarios and provisions (benchmark.search): Chinese queries of one, two and more characters,
Latin text in any case, hostile characters taken literally, edits found by their new text at once; and on
PostgreSQL, the bigram index answers the query (run with DATABASE_URL=postgres://… to cover that half)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from benchmark import picker, search
from benchmark.models import Provision, Scenario, Scene, Source
from benchmark.picker import search as picker_search
from benchmark.provisions import article_label
from benchmark.scenarios import create_scenario, resolve_scene, update_scenario
from benchmark.services import SourceMeta, add_source
from tests.factories import Personas

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="the index is PostgreSQL's")

STEMS = {
    "consent": "患者拒绝手术，医生未取得书面知情同意即实施，是否违反规定？",
    "privacy": "护士把患者的病历拍照发到朋友群，侵犯了患者的隐私吗？",
    "article": "依据《医疗纠纷预防和处理条例》第十二条，医疗机构应当如何告知？",
    "latin": "May a hospital share HIV test results with an employer without Consent?",
    "hostile": '折扣100%_全免 \\ 路径 O\'Brien 说"可以"',
    "boundary": "这一题的题干以知",  # and its norm begins with 情: 知情 spans the two fields, in neither
    "pairs": "他同意了，意同此前。",  # holds both pairs of 意同意 (意同, 同意), not the three characters together
}


@pytest.fixture
def scene(db: None) -> Scene:
    found = resolve_scene("医患关系")
    assert found is not None
    return found


@pytest.fixture
def bank(scene: Scene) -> dict[str, int]:
    ids = {}
    for name, stem in STEMS.items():
        norm = "情况说明" if name == "boundary" else ""
        scenario = create_scenario(kind="subjective", stem=stem, norm=norm, scene=scene, origin="expert")[0]
        ids[name] = scenario.pk
    return ids


def found(query: str) -> set[int]:
    queryset = Scenario.objects.all()
    return set(
        queryset.filter(search.scenarios_containing(query, search.vendor_of(queryset))).values_list("pk", flat=True)
    )


def names(bank: dict[str, int], *wanted: str) -> set[int]:
    return {bank[name] for name in wanted}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("隐", ("privacy",)),  # one character
        ("患", ("consent", "privacy")),
        ("隐私", ("privacy",)),  # two characters: no trigram in it
        ("知情", ("consent",)),  # not "boundary": 知 ends its stem and 情 begins its norm
        ("知情同意", ("consent",)),  # more
        ("第十二条", ("article",)),
        ("医疗纠纷预防和处理条例", ("article",)),
        ("书面同意", ()),  # both words are there, not together
        ("意同意", ()),  # every pair is there: the index lets it through, the exact check does not
        ("hiv", ("latin",)),  # Latin, in any case
        ("CONSENT", ("latin",)),
        ("test results", ("latin",)),
        ("情况说明", ("boundary",)),  # the norm is searched too
    ],
)
def test_scenarios_are_found_by_what_their_text_contains(
    bank: dict[str, int], query: str, expected: tuple[str, ...]
) -> None:
    assert found(query) == names(bank, *expected)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("%", ("hostile",)),
        ("_", ("hostile",)),
        ("0%_", ("hostile",)),
        ("\\", ("hostile",)),
        ("O'Brien", ("hostile",)),
        ('"可以"', ("hostile",)),
        ("%%", ()),
        ("'; DROP TABLE benchmark_scenario; --", ()),
    ],
)
def test_wildcards_quotes_and_backslashes_are_only_characters(
    bank: dict[str, int], query: str, expected: tuple[str, ...]
) -> None:
    assert found(query) == names(bank, *expected)
    assert Scenario.objects.count() == len(STEMS)


def test_an_edited_scenario_is_found_by_its_new_text_and_not_its_old(bank: dict[str, int], personas: Personas) -> None:
    update_scenario(
        bank["privacy"], expected_version=1, changes={"stem": "护士泄露了艾滋病检测结果。"}, user=personas.curator
    )
    assert found("艾滋病") == names(bank, "privacy")
    assert found("隐私") == set()


def test_rows_written_in_bulk_are_found_too(scene: Scene) -> None:
    """Imports write with bulk_create, which calls no save(): the index must not depend on save()."""
    Scenario.objects.bulk_create(
        [Scenario(kind="subjective", stem="罕见病用药", scene=scene, origin="imported", content_hash="b" * 64)]
    )
    assert len(found("罕见病")) == 1


def test_the_list_searches_with_its_q_filter(bank: dict[str, int], personas: Personas, client_as: Any) -> None:
    client = client_as(personas.curator)
    html = client.get(reverse("benchmark:scenarios"), {"q": "隐私"}).content.decode()
    assert f'href="{reverse("benchmark:scenario", args=[bank["privacy"]])}"' in html
    assert f'href="{reverse("benchmark:scenario", args=[bank["consent"]])}"' not in html
    assert client.get(reverse("benchmark:scenarios"), {"q": "%_\\'\""}).status_code == 200
    assert client.get(reverse("benchmark:scenarios"), {"q": "知" * 101}).status_code == 400  # the form's limit


def test_a_search_outside_the_index_is_refused_when_written() -> None:
    with pytest.raises(ValueError):
        search.contains("x", ("options",), indexed=search.SCENARIO_FIELDS, vendor="postgresql")


# --- provisions ---------------------------------------------------------------------------------------------


def law(title: str, articles: dict[int, str]) -> Source:
    body = "\n\n".join(f"第{n}条 {text}" for n, text in articles.items())
    source = add_source(io.BytesIO(f"{title}\n{body}".encode()), f"{title}.md", SourceMeta(title=title))[0]
    for position, (number, text) in enumerate(articles.items(), start=1):
        Provision.objects.create(
            source=source, position=position, number=number, label=article_label(number, 0), text=text
        )
    return source


@pytest.fixture
def corpus(db: None) -> dict[str, Source]:
    return {
        "disputes": law(
            "医疗纠纷预防和处理条例",
            {12: "医疗机构应当尊重患者知情同意权。", 13: "医务人员应当保护患者隐私。", 14: "Records kept 15 years."},
        ),
        "transplant": law("人体器官移植条例", {3: "任何组织或者个人不得买卖人体器官。", 20: "摘取器官须经书面同意。"}),
    }


def labels(query: str, limit: int = 20) -> list[str]:
    return [f"{p.source.title}{p.label}" for p in picker_search(query, limit=limit)]


def test_the_picker_finds_provisions_by_one_two_and_more_characters(corpus: dict[str, Source]) -> None:
    assert labels("隐") == ["医疗纠纷预防和处理条例第十三条"]
    assert labels("隐私") == ["医疗纠纷预防和处理条例第十三条"]
    assert labels("知情同意") == ["医疗纠纷预防和处理条例第十二条"]
    assert labels("器官 书面") == ["人体器官移植条例第二十条"]  # each word, anywhere in title or text
    assert labels("records") == ["医疗纠纷预防和处理条例第十四条"]


def test_the_picker_still_finds_by_title_label_and_number(corpus: dict[str, Source]) -> None:
    assert labels("器官移植 买卖") == ["人体器官移植条例第三条"]  # the title's words and the text's
    assert labels("人体器官移植条例 第二十条") == ["人体器官移植条例第二十条"]
    assert labels("第十二条") == ["医疗纠纷预防和处理条例第十二条"]
    assert labels("15")[0:1] == ["医疗纠纷预防和处理条例第十四条"]  # a bare number: words of the text too


def test_the_picker_takes_hostile_characters_literally(corpus: dict[str, Source]) -> None:
    assert labels("%") == [] and labels("_") == [] and labels("\\") == [] and labels("'\"") == []
    assert Provision.objects.count() == 5


def test_an_edited_provision_is_found_by_its_new_text(corpus: dict[str, Source]) -> None:
    provision = Provision.objects.get(number=13)
    provision.text = "医务人员应当保护患者的个人信息。"
    provision.save(update_fields=["text"])
    assert labels("个人信息") == ["医疗纠纷预防和处理条例第十三条"]
    assert labels("隐私") == []


def test_a_broad_search_reads_the_first_sources_and_finds_what_the_full_sort_finds(
    corpus: dict[str, Source], monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):  # more laws, the word in every one of them
        law(f"第{n}部条例", {1: "医务人员应当保护患者隐私。", 2: "患者有权查阅病历。"})
    expected = {query: labels(query, limit=3) for query in ("患者", "隐私", "器官")}
    monkeypatch.setattr(picker, "estimated_rows", lambda queryset: 10**6)  # as for 患者 in a million provisions
    monkeypatch.setattr(picker, "SOURCES_AT_ONCE", 1)
    searched: list[tuple[str, bool]] = []
    original = picker._from_the_first_sources

    def spy(query: str, *args: Any) -> list[Provision] | None:
        first = original(query, *args)
        searched.append((query, first is not None))
        return first

    monkeypatch.setattr(picker, "_from_the_first_sources", spy)
    for query, before in expected.items():
        assert labels(query, limit=3) == before
    # each went the broad way; 器官's first four sources hold two matches, not three: the full sort answered
    assert searched == [("患者", True), ("隐私", True), ("器官", False)]
    assert len(expected["患者"]) == 3
    monkeypatch.setattr(picker, "SOURCE_ROUNDS", 1)  # the first source alone holds too few: the full sort answers
    assert labels("患者", limit=3) == expected["患者"]


# --- PostgreSQL: the index is there and used ----------------------------------------------------------------


@on_postgresql
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "query"),
    [(Scenario, "scenarios_containing"), (Provision, "provisions_containing")],
)
def test_postgresql_answers_from_the_bigram_index(model: Any, query: str) -> None:
    queryset = model.objects.filter(getattr(search, query)("知情", "postgresql"))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: make the planner show it can use it
        plan = queryset.order_by().explain()
    assert f"{model._meta.db_table}_text_search" in plan


@on_postgresql
@pytest.mark.django_db
def test_postgresql_tokens_are_characters_and_pairs_lowercased() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT medes_search_tokens('知情A', 'b'), medes_query_tokens('知情同意'), medes_query_tokens('隐')"
        )
        tokens, query, single = cursor.fetchone()
    assert set(tokens) == {"知", "情", "a", "\n", "b", "知情", "情a", "a\n", "\nb"}
    assert sorted(query) == sorted(["知情", "情同", "同意"]) and single == ["隐"]


@on_postgresql
@pytest.mark.django_db
def test_postgresql_knows_how_common_the_searched_text_is() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT stxname FROM pg_statistic_ext WHERE stxname LIKE 'benchmark_%%_upper'")
        names = {row[0] for row in cursor.fetchall()}
    assert names == {
        "benchmark_scenario_stem_upper",
        "benchmark_scenario_norm_upper",
        "benchmark_provision_label_upper",
        "benchmark_provision_text_upper",
    }
    assert isinstance(
        search.estimated_rows(Scenario.objects.filter(search.scenarios_containing("患者", "postgresql"))), int
    )


@on_postgresql
def test_a_broad_search_of_the_list_shows_an_estimate(scene: Scene, personas: Personas, client_as: Any) -> None:
    Scenario.objects.bulk_create(
        Scenario(kind="subjective", stem=f"患者第{n}例", scene=scene, origin="imported", content_hash=f"{n:064x}")
        for n in range(60)
    )
    html = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en").get(reverse("benchmark:scenarios"), {"q": "患者"})
    assert "About " in html.content.decode() and "Page 1" in html.content.decode()

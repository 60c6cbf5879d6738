"""The provision picker: one search by law title, article number (第十二条, 12, 第十二条之一) or text, current
versions first, only for the roles that see the corpus; the endpoint's HTML fragment and JSON; the form field
that takes the picked provisions (never a typed id) and the search a page without JavaScript makes through it."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import translation

from benchmark.models import Provision, Source
from benchmark.picker import ProvisionPickerField, search, searching, understand
from benchmark.provisions import article_label
from benchmark.services import SourceMeta, add_source
from tests.factories import Personas

URL = "benchmark:provision_search"


def law(title: str, articles: dict[int, str], *, supersedes: Source | None = None, version: str = "") -> Source:
    body = "\n\n".join(f"第{n}条 {text}" for n, text in articles.items())
    meta = SourceMeta(title=title, supersedes=supersedes, version=version)
    source = add_source(io.BytesIO(f"{title}{version}\n{body}".encode()), f"{title}{version}.md", meta)[0]
    for position, (number, text) in enumerate(articles.items(), start=1):
        Provision.objects.create(
            source=source, position=position, number=number, label=article_label(number, 0), text=text
        )
    return source


@pytest.fixture
def corpus(db: None) -> dict[str, Source]:
    old = law("医疗纠纷预防和处理条例", {12: "旧文：医疗机构应当告知风险。", 13: "其他。"}, version="2018")
    new = law(
        "医疗纠纷预防和处理条例",
        {12: "新文：医疗机构应当书面告知风险。", 13: "其他规定。"},
        supersedes=old,
        version="2026",
    )
    other = law("人体器官移植条例", {3: "任何组织或者个人不得买卖人体器官。", 12: "十二个月内不得申请。"})
    return {"old": old, "new": new, "other": other}


def test_a_query_is_read_as_words_and_an_article_number() -> None:
    assert understand("第十二条") == understand("第 12 条")
    assert understand("第十二条").number == 12 and understand("第十二条").written_as_article
    assert understand("12").number == 12 and not understand("12").written_as_article
    assert understand("民法典第一千二百一十九条").words == ("民法典",)
    assert understand("民法典第一千二百一十九条").number == 1219
    assert (understand("第十条之一").number, understand("第十条之一").suffix) == (10, 1)
    assert understand("知情 同意").words == ("知情", "同意") and understand("知情 同意").number is None
    assert understand("12条").number == 12 and understand("这一条规定").number is None


def test_search_by_article_number_puts_current_versions_first(corpus: dict[str, Source]) -> None:
    found = search("第十二条")
    assert [p.number for p in found] == [12, 12, 12]
    assert found[-1].source == corpus["old"]  # the superseded version comes last
    assert {p.source_id for p in found[:2]} == {corpus["new"].pk, corpus["other"].pk}
    by_title = search("医疗纠纷 12")
    assert [(p.source_id, p.number) for p in by_title] == [(corpus["new"].pk, 12), (corpus["old"].pk, 12)]


def test_search_by_text_and_by_title(corpus: dict[str, Source]) -> None:
    assert [p.source_id for p in search("买卖人体器官")] == [corpus["other"].pk]
    assert {p.source_id for p in search("器官移植")} == {corpus["other"].pk}
    # a bare number also finds it in a text, after the articles of that number
    loose = search("12")
    assert [p.number for p in loose][:3] == [12, 12, 12]
    assert search("没有这样的词") == []


def test_the_endpoint_answers_a_fragment_and_json(
    corpus: dict[str, Source], personas: Personas, client_as: Any
) -> None:
    curator = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    with translation.override("en"):
        page = curator.get(reverse(URL), {"q": "第十二条"}, HTTP_HX_REQUEST="true")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('role="option"') == 3 and "医疗纠纷预防和处理条例" in html and "2026" in html
    assert html.count('data-testid="superseded"') == 1
    assert "<html" not in html  # a fragment, not a page
    data = curator.get(reverse(URL), {"q": "买卖", "format": "json"}).json()
    assert data["results"] == [
        {
            "id": Provision.objects.get(source=corpus["other"], number=3).pk,
            "title": "人体器官移植条例",
            "version": "",
            "promulgated": None,
            "label": "第三条",
            "snippet": "任何组织或者个人不得买卖人体器官。",
            "current": True,
        }
    ]
    assert client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en").get(reverse(URL), {"q": "12"}).status_code == 200


def test_the_endpoint_refuses_bad_input_other_methods_and_other_roles(
    corpus: dict[str, Source], personas: Personas, client_as: Any
) -> None:
    curator = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")
    with translation.override("en"):
        long = curator.get(reverse(URL), {"q": "x" * 101})
        assert long.status_code == 400 and "at most 100 characters" in long.content.decode()
        assert curator.get(reverse(URL), {"q": "a\x00b", "format": "json"}).status_code == 400
    assert curator.post(reverse(URL), {"q": "12"}).status_code == 405
    assert client_as(personas.annotator, HTTP_ACCEPT_LANGUAGE="en").get(reverse(URL), {"q": "12"}).status_code == 403
    assert client_as(None).get(reverse(URL), {"q": "12"}).status_code == 302


def test_the_field_takes_picked_provisions_and_refuses_anything_else(corpus: dict[str, Source]) -> None:
    from django import forms

    class Form(forms.Form):
        provisions = ProvisionPickerField()

    first, second = Provision.objects.filter(source=corpus["new"]).order_by("position")
    data = QueryDict(mutable=True)
    data.setlist("provisions", [str(second.pk), str(first.pk), str(second.pk)])
    form = Form(data)
    assert form.is_valid() and form.cleaned_data["provisions"] == [second, first]  # the order chosen, once each
    with translation.override("en"):
        for bad in (["abc"], ["999999"], ["-1"]):
            data.setlist("provisions", bad)
            form = Form(data)
            assert not form.is_valid() and form.errors["provisions"]


def test_without_javascript_the_search_button_searches_through_the_form(corpus: dict[str, Source]) -> None:
    from django import forms

    class Form(forms.Form):
        provisions = ProvisionPickerField()

    data = QueryDict(mutable=True)
    data.update({"picker-search": "provisions", "provisions-q": "买卖"})
    form = Form(data)
    assert searching(form)
    field = form.fields["provisions"]
    assert isinstance(field, ProvisionPickerField)
    assert [p.number for p in field.results or []] == [3] and field.query == "买卖"
    assert not searching(Form(QueryDict("provisions=1")))


def test_adjudication_cites_provisions_through_the_picker_also_without_javascript(
    corpus: dict[str, Source], personas: Personas, client_as: Any
) -> None:
    from annotation.models import AcceptedLabel
    from tests.campaign_data import build_campaign, dispute_one
    from tests.factories import SAFE

    campaign = build_campaign(personas)
    item = dispute_one(campaign, personas)
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("annotation:campaign_adjudicate", args=[campaign.pk, item.pk])
    page = client.get(url).content.decode()
    assert "data-provision-picker" in page and "provision_picker.js" in page
    assert "Comma-separated ids" not in page
    scores = {f"s-{k}": v for k, v in SAFE.items()}
    searched = client.post(url, {**scores, "rationale": "理由", "picker-search": "provisions", "provisions-q": "买卖"})
    assert searched.status_code == 200 and not AcceptedLabel.objects.exists()  # a search saves nothing
    html = searched.content.decode()
    bought = Provision.objects.get(source=corpus["other"], number=3)
    assert f'<input type="checkbox" name="provisions" value="{bought.pk}">' in html and "理由" in html
    done = client.post(url, {**scores, "provisions": [bought.pk]})
    assert done.status_code == 302 and AcceptedLabel.objects.filter(item=item).exists()


def test_the_admin_finds_cited_provisions_by_article_number_not_by_id(
    corpus: dict[str, Source], personas: Personas, client_as: Any
) -> None:
    admin = client_as(personas.admin, HTTP_ACCEPT_LANGUAGE="en")
    page = admin.get(reverse("admin:benchmark_scenario_add")).content.decode()
    assert "admin-autocomplete" in page and 'name="provisions"' in page
    url = reverse("admin:autocomplete")
    found = admin.get(
        url, {"app_label": "benchmark", "model_name": "scenario", "field_name": "provisions", "term": "第十二条"}
    )
    assert found.status_code == 200
    texts = [row["text"] for row in found.json()["results"]]
    assert len(texts) == 3 and all("第十二条" in text for text in texts)
    label_field = {"app_label": "annotation", "model_name": "label", "field_name": "provisions", "term": "买卖"}
    assert [row["text"] for row in admin.get(url, label_field).json()["results"]] == ["人体器官移植条例 第三条"]
    assert admin.get(reverse("admin:benchmark_provision_changelist"), {"q": "12"}).status_code == 200
    provision = Provision.objects.filter(number=12).first()
    assert provision is not None
    change = admin.get(reverse("admin:benchmark_provision_change", args=[provision.pk]))
    assert change.status_code == 200  # read-only: fixed on its own page, with locking and history

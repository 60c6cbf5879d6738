"""The read-only REST API over sources, provisions, scenarios and releases."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

from django.urls import reverse

from benchmark.importers.responses import import_medes_responses
from benchmark.models import RegisteredModel, Response, ScenarioStatus
from benchmark.releases import publish_release
from benchmark.scenarios import create_scenario, resolve_scene
from benchmark.services import SourceMeta, add_source, parse_source
from tests.factories import Personas

LAW = "# 测试条例\n\n## 第一章 总则\n\n第一条 甲。\n\n第二条 乙。\n".encode()


def test_the_team_reads_the_corpus_and_the_bank(personas: Personas, client_as: Any) -> None:
    source, _ = add_source(io.BytesIO(LAW), "t.md", SourceMeta(title="测试条例"))
    parse_source(source)
    scene = resolve_scene("器官移植")
    accepted, _ = create_scenario(
        kind="objective",
        stem="哪项正确？",
        options={"A": "甲", "B": "乙"},
        key="A",
        scene=scene,
        origin="expert",
        status=ScenarioStatus.ACCEPTED,
    )
    create_scenario(kind="subjective", stem="我是一名医生……", norm="考点", scene=scene, origin="expert")
    client = client_as(personas.reviewer)
    sources = client.get(reverse("api-source-list")).json()["results"]
    assert [(s["title"], s["article_count"]) for s in sources] == [("测试条例", 2)]
    provisions = client.get(reverse("api-provision-list", args=[source.pk])).json()["results"]
    assert [p["label"] for p in provisions] == ["第一条", "第二条"]
    listed = client.get(reverse("api-scenario-list"), {"status": "accepted", "scene": "器官移植"}).json()["results"]
    assert [(s["id"], s["scene"], s["key"]) for s in listed] == [(accepted.pk, "器官移植", "A")]
    bad = client.get(reverse("api-scenario-list"), {"status": "exploded"})
    assert bad.status_code == 400 and "status" in bad.json()
    assert client.get(reverse("api-scenario-detail", args=[999999])).status_code == 404


def test_a_release_downloads_through_the_api_with_its_checksum(personas: Personas, client_as: Any) -> None:
    create_scenario(
        kind="objective",
        stem="哪项正确？",
        options={"A": "甲", "B": "乙"},
        key="A",
        scene=resolve_scene("器官移植"),
        origin="expert",
        status=ScenarioStatus.ACCEPTED,
    )
    release = publish_release("MedES-2026.11")
    client = client_as(personas.curator)
    assert client.get(reverse("api-release-list")).json()["results"][0]["checksum"] == release.checksum
    data = client.get(reverse("api-release-download", args=[release.pk, "jsonl"])).getvalue()  # streamed
    assert hashlib.sha256(data).hexdigest() == release.checksum
    assert client.get(reverse("api-release-download", args=[release.pk, "exe"])).status_code == 404


def test_the_api_refuses_other_roles_and_anonymous_users(personas: Personas, client_as: Any) -> None:
    for name in ("api-scenario-list", "api-release-list", "api-model-list", "api-response-list"):
        for user in (None, personas.annotator, personas.outsider):
            assert client_as(user).get(reverse(name)).status_code == 403, (name, user)
    assert client_as(personas.curator).post(reverse("api-scenario-list"), {}).status_code == 405  # read-only
    assert client_as(personas.ml_engineer).post(reverse("api-response-list"), {}).status_code == 405


def test_ml_engineers_read_scenarios_releases_models_and_responses(personas: Personas, client_as: Any) -> None:
    """Evaluation runs (issue 6) need the bank, the releases and the registry: ML engineers read them all."""
    create_scenario(
        kind="objective",
        stem="哪项正确？",
        options={"A": "甲", "B": "乙"},
        key="A",
        scene=resolve_scene("器官移植"),
        origin="expert",
        status=ScenarioStatus.ACCEPTED,
    )
    release = publish_release("MedES-2026.11")
    client = client_as(personas.ml_engineer)
    assert client.get(reverse("api-scenario-list")).json()["count"] == 1
    assert client.get(reverse("api-release-list")).json()["results"][0]["name"] == "MedES-2026.11"
    data = client.get(reverse("api-release-download", args=[release.pk, "jsonl"])).getvalue()  # streamed
    assert hashlib.sha256(data).hexdigest() == release.checksum


def _responses() -> dict[str, Any]:
    rows = [
        ("器官移植", "题目：可以买卖器官吗？\nA.可以\nB.不可以", "B", "LM-a", "【最终答案】：B"),
        ("器官移植", "题目：可以买卖器官吗？\nA.可以\nB.不可以", "B", "LM-b", "【最终答案】：A"),
        ("基因干细胞诊疗", "题目：可以编辑胚胎吗？\nA.可以\nB.不可以", "B", "LM-a", "我不知道"),
    ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["scene", "query", "reference", "type", "model", "response"])
    writer.writerows([(scene, query, key, "客观题", model, text) for scene, query, key, model, text in rows])
    import_medes_responses(out.getvalue().encode(), origin_name="r.csv", dry_run=False)
    return {r.origin_detail: r for r in Response.objects.all()}


def test_models_and_responses_filter_and_order_by_allowlisted_fields(personas: Personas, client_as: Any) -> None:
    stored = _responses()
    client = client_as(personas.ml_engineer)
    models = client.get(reverse("api-model-list")).json()["results"]
    assert [(m["name"], m["kind"]) for m in models] == [("LM-a", "imported"), ("LM-b", "imported")]
    model_a = RegisteredModel.objects.get(name="LM-a")
    assert client.get(reverse("api-model-detail", args=[model_a.pk])).json()["name"] == "LM-a"
    url = reverse("api-response-list")

    def ids(**params: Any) -> list[int]:
        response = client.get(url, params)
        assert response.status_code == 200, response.json()
        return [r["id"] for r in response.json()["results"]]

    a_right, b_wrong, a_unread = stored["r.csv:2"].pk, stored["r.csv:3"].pk, stored["r.csv:4"].pk
    assert ids(model="LM-a") == [a_right, a_unread]
    assert ids(model=str(model_a.pk)) == [a_right, a_unread]
    assert ids(correct="true") == [a_right]
    assert ids(correct="false") == [b_wrong, a_unread]
    assert ids(extractable="false") == [a_unread]
    assert ids(scene="基因/干细胞诊疗") == ids(scene="基因干细胞诊疗") == [a_unread]
    assert ids(scenario=stored["r.csv:2"].scenario_id) == [a_right, b_wrong]
    assert ids(ordering="-id") == [a_unread, b_wrong, a_right]
    assert ids(ordering="-model") == [b_wrong, a_right, a_unread]
    one = client.get(reverse("api-response-detail", args=[a_right])).json()
    assert (one["model"], one["scene"], one["choice"], one["correct"], one["extractable"]) == (
        "LM-a",
        "器官移植",
        "B",
        True,
        True,
    )
    for bad in ({"ordering": "text"}, {"correct": "maybe"}, {"scenario": "x"}):
        response = client.get(url, bad)
        assert response.status_code == 400 and set(bad) <= set(response.json()), bad
    assert client.get(reverse("api-response-detail", args=[999999])).status_code == 404

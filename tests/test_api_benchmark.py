"""The read-only REST API over sources, provisions, scenarios and releases."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from django.urls import reverse

from benchmark.models import ScenarioStatus
from benchmark.releases import publish_release
from benchmark.scenarios import create_scenario, resolve_scene
from benchmark.services import SourceMeta, add_source, parse_source
from tests.conftest import Personas

LAW = "# 测试条例\n\n## 第一章 总则\n\n第一条 甲。\n\n第二条 乙。\n".encode()


def test_the_team_reads_the_corpus_and_the_bank(personas: Personas, client_as: Any) -> None:
    source, _ = add_source(io.BytesIO(LAW), "t.md", SourceMeta(title="测试条例"))
    parse_source(source)
    scene = resolve_scene("器官移植")
    accepted, _ = create_scenario(kind="objective", stem="哪项正确？", options={"A": "甲", "B": "乙"}, key="A",
                                  scene=scene, origin="expert", status=ScenarioStatus.ACCEPTED)  # fmt: skip
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
    create_scenario(kind="objective", stem="哪项正确？", options={"A": "甲", "B": "乙"}, key="A",
                    scene=resolve_scene("器官移植"), origin="expert", status=ScenarioStatus.ACCEPTED)  # fmt: skip
    release = publish_release("MedES-2026.11")
    client = client_as(personas.curator)
    assert client.get(reverse("api-release-list")).json()["results"][0]["checksum"] == release.checksum
    data = client.get(reverse("api-release-download", args=[release.pk, "jsonl"])).content
    assert hashlib.sha256(data).hexdigest() == release.checksum
    assert client.get(reverse("api-release-download", args=[release.pk, "exe"])).status_code == 404


def test_the_api_refuses_other_roles_and_anonymous_users(personas: Personas, client_as: Any) -> None:
    for user in (None, personas.annotator, personas.ml_engineer, personas.outsider):
        assert client_as(user).get(reverse("api-scenario-list")).status_code == 403
    assert client_as(personas.curator).post(reverse("api-scenario-list"), {}).status_code == 405  # read-only

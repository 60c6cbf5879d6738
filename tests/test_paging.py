"""Every paged list keeps its filters on the Previous/Next links (one pager serves them all)."""

from __future__ import annotations

import io
from typing import Any

from django.urls import reverse

from benchmark.models import SourceKind
from benchmark.scenarios import create_scenario, resolve_scene
from benchmark.services import SourceMeta, add_source
from benchmark.views import SCENARIOS_PER_PAGE, SOURCES_PER_PAGE
from medes_site.models import Job
from medes_site.views import JOBS_PER_PAGE
from tests.factories import Personas


def links(html: str) -> tuple[str, str]:
    previous = html.split('rel="prev"')[0].rsplit('href="', 1)[1].split('"')[0] if 'rel="prev"' in html else ""
    following = html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0] if 'rel="next"' in html else ""
    return previous.replace("&amp;", "&"), following.replace("&amp;", "&")


def test_job_pages_keep_their_filters(personas: Personas, client_as: Any) -> None:
    Job.objects.bulk_create(
        [Job(kind="system.selfcheck", status="failed", triggered_by=personas.ml_engineer)] * (2 * JOBS_PER_PAGE + 1)
    )
    client = client_as(personas.ml_engineer)
    html = client.get(reverse("jobs:list"), {"status": "failed", "page": 2}).content.decode()
    assert links(html) == ("?status=failed&page=1", "?status=failed&page=3")


def test_source_pages_keep_their_filters_and_go_back(personas: Personas, client_as: Any) -> None:
    for n in range(SOURCES_PER_PAGE + 1):
        add_source(io.BytesIO(f"第一条 {n}。".encode()), f"{n}.txt", SourceMeta(title=f"法{n}", kind=SourceKind.LAW))
    html = client_as(personas.curator).get(reverse("benchmark:sources"), {"kind": "law", "page": 2}).content.decode()
    assert links(html) == ("?kind=law&page=1", "")


def test_scenario_pages_keep_their_filters(personas: Personas, client_as: Any) -> None:
    scene = resolve_scene("器官移植")
    for n in range(SCENARIOS_PER_PAGE + 1):
        create_scenario(
            kind="objective", stem=f"第{n}题", options={"A": "甲", "B": "乙"}, key="A", scene=scene, origin="expert"
        )
    html = client_as(personas.curator).get(reverse("benchmark:scenarios"), {"origin": "expert"}).content.decode()
    previous, following = links(html)  # the next page's link carries a keyset cursor (medes_site/keyset.py)
    assert previous == "" and following.startswith("?origin=expert&page=2&after=")

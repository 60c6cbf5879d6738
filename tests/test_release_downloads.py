"""The release downloads answered in the request are streamed (issue 17, item 4): the view returns before any item is
read, the items are read a batch at a time as the response is sent, after the view's transaction (ATOMIC_REQUESTS
too), and the bytes are those of ``export_bytes`` and of the file the export job writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import translation
from django.utils.http import content_disposition_header

from benchmark import exports, releases
from benchmark.models import Provision, Release, ScenarioStatus, Scene, Source
from benchmark.releases import publish_release
from benchmark.scenarios import create_scenario
from tests.factories import Personas

ITEMS = 24
INLINE = sorted(exports.INLINE_FORMATS)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _release(scene_names: tuple[str, ...] = ("医患沟通", "临床研究", "器官移植")) -> Release:
    """Objective and open items across the scenes, a quarter citing a provision. The scenes are made here if
    missing: a transactional test may run after another has emptied the tables."""
    scenes = [Scene.objects.get_or_create(name=name)[0] for name in scene_names]
    source = Source.objects.create(title="中华人民共和国医师法", original_name="law.md", sha256="0" * 64, size=1)
    provision = Provision.objects.create(source=source, position=1, number=25, label="第二十五条", text="说明病情。")
    for n in range(ITEMS):
        objective = n % 3 != 0
        scenario, _ = create_scenario(
            kind="objective" if objective else "subjective",
            stem=f"{n}：" + "患者家属要求隐瞒病情，而患者本人希望了解自己的诊断。" * 5,
            options={"A": "如实告知", "B": "听从家属", "C": "=HYPERLINK(1)"} if objective else {},
            key="AC" if objective else "",
            norm="" if objective else "知情同意",
            scene=scenes[n % len(scenes)],
            origin="expert",
            status=ScenarioStatus.ACCEPTED,
        )
        if n % 4 == 0:
            scenario.provisions.add(provision)
    return publish_release("MedES 演示版", test_fraction=0.4)


@pytest.fixture
def release(db: None) -> Release:
    return _release()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many items the exports have pulled from the release so far; 5 items a chunk and a query."""
    read = [0]
    original = releases.iter_release_items

    def counting(release: Release, *, split: str | None = None) -> Iterator[dict[str, Any]]:
        for item in original(release, split=split):
            read[0] += 1
            yield item

    monkeypatch.setattr(exports, "iter_release_items", counting)
    monkeypatch.setattr(exports, "ITEMS_PER_CHUNK", 5)
    monkeypatch.setattr(releases, "ITEMS_PER_QUERY", 5)
    return read


def _download(client: Any, release: Release, fmt: str, *, api: bool = False) -> StreamingHttpResponse:
    name = "api-release-download" if api else "benchmark:release_download"
    response = client.get(reverse(name, args=[release.pk, fmt]))
    assert response.status_code == 200, fmt
    assert isinstance(response, StreamingHttpResponse) and response.streaming, fmt
    return response


@pytest.mark.parametrize("fmt", INLINE)
@pytest.mark.parametrize("api", [False, True], ids=["web", "api"])
def test_each_inline_download_streams_the_bytes_of_the_export_and_of_the_job_file(
    release: Release, personas: Personas, client_as: Any, tmp_path: Path, fmt: str, api: bool
) -> None:
    response = _download(client_as(personas.reviewer), release, fmt, api=api)
    body = response.getvalue()
    assert body == exports.export_bytes(release, fmt)
    assert body == exports.write_download(release, fmt, tmp_path).read_bytes()  # what the export job writes
    if fmt != "datasheet":
        assert body.count(b"\n") >= ITEMS  # the items are all there, not a header alone
    spec = exports.FORMATS[fmt]
    suffix = "-spreadsheet" if fmt == "csv_excel" else ""
    # the headers files.attachment gives; no Content-Length, known only at the end
    name = f"MedES 演示版{suffix}.{spec.extension}"
    assert response["Content-Disposition"] == content_disposition_header(True, name)
    assert response["Content-Type"] == f"{spec.content_type}; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert not response.has_header("Content-Length")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "csv_excel"])
def test_a_download_reads_no_item_in_the_view_and_a_batch_at_a_time_as_it_is_sent(
    release: Release, personas: Personas, client_as: Any, counted: list[int], fmt: str
) -> None:
    response = _download(client_as(personas.reviewer), release, fmt)
    assert counted[0] == 0  # the view returned before reading any item
    chunks = cast(Iterator[bytes], response.streaming_content)
    first = [next(chunks) for _ in range(1 if fmt == "jsonl" else 2)]  # the CSVs: the header, then 5 items
    assert counted[0] == 5 and first[-1].count(b"\n") >= 5  # the first chunk of items was sent after 5 were read
    assert b"".join([*first, *chunks]) == exports.export_bytes(release, fmt)
    assert counted[0] == 2 * ITEMS  # the stream's items, then export_bytes's


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("atomic", [False, True], ids=["autocommit", "atomic-requests"])
def test_a_download_is_read_after_the_view_and_its_transaction_are_done(
    personas: Personas, client_as: Any, counted: list[int], monkeypatch: pytest.MonkeyPatch, atomic: bool
) -> None:
    """The items are read as the response is sent, outside the view (and the transaction ATOMIC_REQUESTS wraps it
    in): on PostgreSQL a server-side cursor that outlives no transaction, fetched 5 rows at a time."""
    release = _release()
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", atomic)
    response = _download(client_as(personas.reviewer), release, "jsonl")
    assert not connection.in_atomic_block and counted[0] == 0
    body = response.getvalue()
    assert counted[0] == ITEMS
    assert body == exports.export_bytes(release, "jsonl")
    datasheet = _download(client_as(personas.reviewer), release, "datasheet")
    assert datasheet.getvalue() == releases.datasheet(release).encode()


def test_an_inline_download_of_a_missing_release_or_format_is_404(
    release: Release, personas: Personas, client_as: Any
) -> None:
    client = client_as(personas.reviewer)
    assert client.get(reverse("benchmark:release_download", args=[release.pk + 1, "jsonl"])).status_code == 404
    assert client.get(reverse("api-release-download", args=[release.pk, "exe"])).status_code == 404


def test_only_the_inline_formats_stream(release: Release) -> None:
    with pytest.raises(ValueError, match="not streamed"):
        exports.iter_export(release, "parquet")
    with pytest.raises(exports.ExportError, match="Unknown export format"):
        exports.iter_export(release, "exe")


def test_the_datasheet_reads_scene_names_that_look_like_json_as_text(db: None) -> None:
    """The datasheet reads each item's keys from the database on their own: a scene named 2024 or null stays the
    name it is (SQLite's JSON_EXTRACT gives a string without its quotes)."""
    release = _release(("2024", "null", "医患沟通"))
    facts = releases.datasheet_facts(release)
    assert [row.scene for row in facts.scenes] == sorted(["2024", "null", "医患沟通"])
    assert [row.items for row in facts.scenes] == [ITEMS // 3] * 3
    assert "| 2024 | 8 |" in releases.datasheet(release)

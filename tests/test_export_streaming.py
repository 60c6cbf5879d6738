"""Release exports stream (issue 17, item 4): every format is written as the items are read, a chunk of queries at
a time, and read back the same way; the bytes are those the whole-release exports always gave."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import QuerySet
from django.utils import translation

from benchmark import exports, releases
from benchmark.models import Provision, Release, ScenarioStatus, Scene, Source
from benchmark.releases import canonical_jsonl, medes_csv, publish_release, release_items
from benchmark.scenarios import create_scenario

ITEMS = 24


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def release(db: None) -> Release:
    """Objective and open items across three scenes, long enough that every writer flushes more than once."""
    scenes = list(Scene.objects.order_by("pk")[:3])
    source = Source.objects.create(title="中华人民共和国医师法", original_name="law.md", sha256="0" * 64, size=1)
    provision = Provision.objects.create(source=source, position=1, number=25, label="第二十五条", text="说明病情。")
    for n in range(ITEMS):
        objective = n % 3 != 0
        scenario, _ = create_scenario(
            kind="objective" if objective else "subjective",
            stem=f"{n}：" + "患者家属要求隐瞒病情，而患者本人希望了解自己的诊断。" * 20,
            options={"A": "如实告知", "B": "听从家属", "C": "=HYPERLINK(1)"} if objective else {},
            key="AC" if objective else "",
            norm="" if objective else "知情同意",
            scene=scenes[n % 3],
            origin="expert",
            status=ScenarioStatus.ACCEPTED,
        )
        if n % 4 == 0:
            scenario.provisions.add(provision)
    return publish_release("MedES-stream", test_fraction=0.4)


class Recorder(io.BytesIO):
    """A file that notes, at each write, how many items the export had read by then."""

    def __init__(self, read: list[int]) -> None:
        super().__init__()
        self.pulled = read
        self.seen_at_writes: list[int] = []

    def write(self, data: Any) -> int:
        self.seen_at_writes.append(self.pulled[0])
        return super().write(data)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many items the exports have pulled from the release so far."""
    read = [0]
    original = releases.iter_release_items

    def counting(release: Release, *, split: str | None = None) -> Iterator[dict[str, Any]]:
        for item in original(release, split=split):
            read[0] += 1
            yield item

    monkeypatch.setattr(exports, "iter_release_items", counting)
    return read


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "csv_excel", "parquet"])
def test_each_file_export_is_written_before_the_last_item_is_read(
    release: Release, fmt: str, counted: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "ROWS_PER_GROUP", 5)  # a Parquet row group every 5 items
    monkeypatch.setattr(exports, "ITEMS_PER_CHUNK", 5)  # and a chunk of JSONL or CSV
    sink = Recorder(counted)
    exports._write_file(release, fmt, sink)
    assert counted[0] == ITEMS
    written_early = [n for n in sink.seen_at_writes if 0 < n < ITEMS]  # items written, not only a header
    assert written_early, f"{fmt}: nothing written until all {ITEMS} items were read"
    assert sink.getvalue() == exports.export_bytes(release, fmt)  # the same bytes as the export in memory


def test_the_exports_read_the_release_a_chunk_of_items_at_a_time(
    release: Release, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``QuerySet.iterator(chunk_size=…)``: on PostgreSQL a server-side cursor fetched that many rows at a time, on
    SQLite ``fetchmany`` of that many; the rows are never all in memory at once."""
    monkeypatch.setattr(releases, "ITEMS_PER_QUERY", 5)
    sizes: list[int] = []
    original = QuerySet.iterator

    def recording(self: QuerySet[Any], chunk_size: int | None = None) -> Iterator[Any]:
        sizes.append(chunk_size or 0)
        return original(self, chunk_size=chunk_size)

    monkeypatch.setattr(QuerySet, "iterator", recording)
    items = releases.iter_release_items(release)
    assert next(items) == release_items(release)[0] and sizes[0] == 5
    assert [item["split"] for item in releases.iter_release_items(release, split="test")] == ["test"] * sum(
        1 for item in release_items(release) if item["split"] == "test"
    )


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_every_readable_export_is_checked_in_a_stream_and_in_release_order(
    release: Release, fmt: str, tmp_path: Path
) -> None:
    path = exports.write_download(release, fmt, tmp_path)  # hf: the zip a browser downloads
    assert exports.file_checksum(path) == release.checksum
    items = exports.iter_items(path)
    assert next(items)["id"] == release_items(release)[0]["id"]
    assert [item["id"] for item in [release_items(release)[0], *items]] == [i["id"] for i in release_items(release)]


def test_a_read_back_of_a_part_only_export_is_refused_before_reading(release: Release, tmp_path: Path) -> None:
    path = exports.write_export(release, "csv", tmp_path / "x.csv")
    with pytest.raises(exports.ExportError, match="cannot be read back"):
        exports.iter_items(path, "csv")
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(exports.export_bytes(release, "jsonl")[:-40])
    with pytest.raises(exports.ExportError, match="cannot be read"):
        exports.file_checksum(broken)


def test_the_streamed_exports_are_the_bytes_of_the_whole_release_exports(release: Release, tmp_path: Path) -> None:
    items = release_items(release)
    assert exports.export_bytes(release, "jsonl") == canonical_jsonl(items)
    assert hashlib.sha256(canonical_jsonl(items)).hexdigest() == release.checksum
    assert exports.export_bytes(release, "csv") == medes_csv(items)
    assert exports.export_bytes(release, "csv_excel") == medes_csv(items, for_spreadsheets=True)
    out = exports.write_export(release, "csv", tmp_path / "x.csv")
    assert out.read_bytes() == medes_csv(items) and out.read_bytes().startswith("\ufeff".encode())


def test_the_datasheet_counts_the_same_read_a_few_items_at_a_time(
    release: Release, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = releases.datasheet(release)
    facts = releases.datasheet_facts(release)
    monkeypatch.setattr(releases, "ITEMS_PER_QUERY", 4)
    assert releases.datasheet(release) == whole
    assert facts.items == ITEMS and facts.listed == ITEMS
    assert sum(n for _, n in facts.by_split) == ITEMS and dict(facts.by_origin) == {"expert": ITEMS}
    [cited] = facts.sources
    assert (cited.items, cited.cited, cited.total) == (ITEMS // 4, 1, 1)
    assert sum(row.test for row in facts.scenes) == dict(facts.by_split)["test"]


def test_export_release_command_checks_the_file_it_wrote(release: Release, tmp_path: Path) -> None:
    out = io.StringIO()
    for fmt in ("jsonl", "parquet", "hf"):
        call_command("export_release", release.name, "--format", fmt, "--out", str(tmp_path / fmt), stdout=out)
    assert out.getvalue().count(release.checksum) == 3

"""Release exports: JSONL, CSV, Parquet, a Hugging Face datasets folder and the datasheet. Each readable export
reads back to the items whose canonical JSONL has the release checksum; downloads are prepared by a job."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import translation

from benchmark import exports
from benchmark.importers.medes_questions import import_medes_questions
from benchmark.models import Principle, Provision, Release, Scenario, ScenarioStatus, Source
from benchmark.releases import publish_release, release_items
from medes_site import jobs
from medes_site.models import Job, JobStatus
from tests.factories import Personas, medes


@pytest.fixture
def release(db: None) -> Release:
    """Objective and subjective items from the MedES sample, some with principles and grounding provisions."""
    for name in ("objective_questions.csv", "subjective_questions.csv"):
        report = import_medes_questions(medes(name), origin_name=name, dry_run=False)
        assert report.written and report.new > 0
    # two sample cases carry no norm (考点) and so cannot be accepted
    Scenario.objects.exclude(kind="subjective", norm="").update(status=ScenarioStatus.ACCEPTED)
    source = Source.objects.create(title="中华人民共和国医师法", original_name="law.md", sha256="0" * 64, size=1)
    provision = Provision.objects.create(
        source=source, position=1, number=25, label="第二十五条", text="医师在诊疗活动中应当向患者说明病情。"
    )
    principle = Principle.objects.order_by("pk").first()
    assert principle is not None
    for scenario in Scenario.objects.order_by("pk")[:5]:
        scenario.provisions.add(provision)
        scenario.principles.add(principle)
    return publish_release("MedES-2026.11", test_fraction=0.3)


def test_the_fixture_holds_both_kinds_and_linked_items(release: Release) -> None:
    items = release_items(release)
    assert {i["kind"] for i in items} == {"objective", "subjective"}
    assert sum(1 for i in items if i["provisions"] and i["principles"]) == 5
    assert {i["split"] for i in items} == {"dev", "test"}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_every_readable_export_reads_back_to_the_release_checksum(release: Release, fmt: str, tmp_path: Path) -> None:
    out = exports.write_export(release, fmt, tmp_path / f"export.{fmt}")
    items = exports.read_items(out, fmt)
    assert items == release_items(release)
    assert exports.checksum(items) == release.checksum
    # and the format is detected from the path alone
    assert exports.checksum(exports.read_items(out)) == release.checksum


def test_the_datasets_folder_loads_with_load_from_disk_as_dev_and_test(release: Release, tmp_path: Path) -> None:
    from datasets import load_from_disk

    exports.write_export(release, "hf", tmp_path / "hf")
    loaded = load_from_disk(str(tmp_path / "hf"))
    splits = {"dev": 0, "test": 0}
    for item in release_items(release):
        splits[item["split"]] += 1
    assert {name: len(part) for name, part in loaded.items()} == splits
    row = loaded["test"][0]
    assert row["split"] == "test" and isinstance(row["options"], list)


def test_the_zipped_datasets_folder_is_what_the_browser_downloads_and_reads_back(
    release: Release, tmp_path: Path
) -> None:
    path = exports.write_download(release, "hf", tmp_path)
    assert path.name == "MedES-2026.11.zip"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert all(n.startswith("MedES-2026.11/") for n in names) and "MedES-2026.11/dataset_dict.json" in names
    assert exports.checksum(exports.read_items(path)) == release.checksum


def test_jsonl_csv_parquet_and_datasheet_are_the_same_bytes_every_time(release: Release) -> None:
    for fmt in ("jsonl", "csv", "parquet", "datasheet"):
        assert exports.export_bytes(release, fmt) == exports.export_bytes(release, fmt), fmt
    assert hashlib.sha256(exports.export_bytes(release, "jsonl")).hexdigest() == release.checksum


def test_the_medes_csv_round_trips_through_the_medes_importer(release: Release) -> None:
    """The CSV keeps scene, query, reference and type: importing it finds every item already in the bank."""
    report = import_medes_questions(exports.export_bytes(release, "csv"), origin_name="export.csv", dry_run=True)
    assert (report.rows, report.new, report.duplicates_in_bank, report.errors) == (
        release.item_count,
        0,
        release.item_count,
        [],
    )


def test_unreadable_exports_are_clear_errors(release: Release, tmp_path: Path) -> None:
    with translation.override("en"):
        garbage = tmp_path / "x.parquet"
        garbage.write_bytes(b"not parquet at all")
        with pytest.raises(exports.ExportError, match=r"x\.parquet cannot be read"):
            exports.read_items(garbage)
        with pytest.raises(exports.ExportError, match="not a release export"):
            exports.read_items(tmp_path / "x.xlsx")
        with pytest.raises(exports.ExportError, match="keeps only part"):
            exports.read_items(tmp_path / "x.csv", "csv")
        evil = tmp_path / "evil.zip"
        with zipfile.ZipFile(evil, "w") as archive:
            archive.writestr("../../escaped.txt", "x")
        with pytest.raises(exports.ExportError, match="outside its folder"):
            exports.read_items(evil)
        assert not (tmp_path.parent / "escaped.txt").exists()
        (tmp_path / "taken").mkdir()
        (tmp_path / "taken" / "keep.txt").write_text("mine")
        with pytest.raises(exports.ExportError, match="already exists"):
            exports.write_export(release, "hf", tmp_path / "taken")
        assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
        with pytest.raises(exports.ExportError, match="Unknown export format"):
            exports.get_format("xlsx")


@pytest.mark.parametrize("fmt", ["parquet", "hf", "csv"])
def test_export_release_command_writes_every_format(release: Release, fmt: str, tmp_path: Path) -> None:
    stdout = io.StringIO()
    call_command("export_release", release.name, "--format", fmt, "--out", str(tmp_path), stdout=stdout)
    written = tmp_path / (release.name if fmt == "hf" else f"{release.name}.{fmt}")
    assert written.exists() and release.checksum in stdout.getvalue()
    if fmt != "csv":
        assert exports.checksum(exports.read_items(written)) == release.checksum


def test_export_release_command_fails_on_an_unwritable_target(release: Release, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No such file"):
        call_command(
            "export_release",
            release.name,
            "--format",
            "parquet",
            "--out",
            str(tmp_path / "no" / "x"),
            stdout=io.StringIO(),
        )


def _run_export(release: Release, fmt: str, personas: Personas) -> Job:
    job = jobs.enqueue_job("benchmark.export_release", {"release": release.pk, "format": fmt}, user=personas.curator)
    assert jobs.execute_job(job.pk) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    return job


def test_the_export_job_prepares_a_checked_download(release: Release, personas: Personas) -> None:
    job = _run_export(release, "parquet", personas)
    assert job.metrics["checksum"] == release.checksum and job.metrics["items"] == release.item_count
    assert "reads back to the release checksum" in job.log_tail
    path = exports.download_path(release, "parquet")
    # stored under ids only: the release's name is the downloaded file's name, never a part of a path
    assert job.artifacts[0]["path"] == f"releases/{release.pk}/release-parquet.parquet" and path.exists()
    assert exports.checksum(exports.read_items(path)) == release.checksum


def test_export_jobs_refuse_bad_configs(release: Release, personas: Personas) -> None:
    with translation.override("en"):
        with pytest.raises(jobs.JobError, match="Unknown export format"):
            jobs.enqueue_job("benchmark.export_release", {"release": release.pk, "format": "exe"})
        with pytest.raises(jobs.JobError, match="no such release"):
            jobs.enqueue_job("benchmark.export_release", {"release": 999999, "format": "hf"})


def test_the_release_page_prepares_then_links_each_export(release: Release, personas: Personas, client_as: Any) -> None:
    reviewer = client_as(personas.reviewer)
    url = reverse("benchmark:release", args=[release.pk])
    page = reviewer.get(url).content.decode()
    assert 'data-testid="download-jsonl"' in page and 'data-testid="prepare-parquet"' in page
    # before it is prepared, the download link sends the user back with a note
    early = reviewer.get(reverse("benchmark:release_download", args=[release.pk, "hf"]))
    assert early.status_code == 302 and early["Location"] == url
    started = reviewer.post(reverse("benchmark:release_export", args=[release.pk, "hf"]), {"request_key": "k1"})
    job = Job.objects.get(kind="benchmark.export_release")
    assert started["Location"] == reverse("jobs:detail", args=[job.pk])
    # a second click while it is queued follows the same job
    again = reviewer.post(reverse("benchmark:release_export", args=[release.pk, "hf"]), {"request_key": "k2"})
    assert again["Location"] == started["Location"] and Job.objects.count() == 1
    assert reverse("jobs:detail", args=[job.pk]) in reviewer.get(url).content.decode()  # "being prepared"
    assert jobs.execute_job(job.pk) == JobStatus.SUCCEEDED
    assert 'data-testid="download-hf"' in reviewer.get(url).content.decode()
    download = reviewer.get(reverse("benchmark:release_download", args=[release.pk, "hf"]))
    assert download["Content-Disposition"] == 'attachment; filename="MedES-2026.11.zip"'
    body = b"".join(download.streaming_content)  # type: ignore[attr-defined]
    zipped = Path(exports.download_path(release, "hf"))
    assert body == zipped.read_bytes()
    # the job page links the same file
    artifact = reviewer.get(reverse("jobs:artifact", args=[job.pk, 0]))
    assert artifact["Content-Disposition"].startswith("attachment") and artifact["X-Content-Type-Options"] == "nosniff"
    assert reviewer.get(reverse("jobs:artifact", args=[job.pk, 1])).status_code == 404
    # another reviewer's job is not theirs to open
    assert client_as(personas.curator).get(reverse("jobs:artifact", args=[job.pk, 0])).status_code == 404


def test_an_artifact_path_outside_the_artifacts_root_is_never_served(
    release: Release, personas: Personas, client_as: Any
) -> None:
    job = _run_export(release, "parquet", personas)
    Job.objects.filter(pk=job.pk).update(artifacts=[{"path": "../../etc/passwd", "label": "x", "bytes": 1}])
    assert client_as(personas.curator).get(reverse("jobs:artifact", args=[job.pk, 0])).status_code == 404


def test_ml_engineers_read_releases_and_outsiders_do_not(release: Release, personas: Personas, client_as: Any) -> None:
    url = reverse("benchmark:release_download", args=[release.pk, "jsonl"])
    assert client_as(personas.ml_engineer).get(url).status_code == 200
    assert client_as(personas.annotator).get(url).status_code == 403
    assert (
        client_as(personas.annotator).post(reverse("benchmark:release_export", args=[release.pk, "hf"])).status_code
        == 403
    )


def test_the_datasheet_counts_origin_and_provision_coverage(release: Release) -> None:
    sheet = exports.export_bytes(release, "datasheet").decode()
    assert f"- origin: imported {release.item_count}" in sheet
    # five items cite one provision of a one-provision source
    assert "| 中华人民共和国医师法 | 5 | 1 | 1 | 100% |" in sheet
    assert "## Items by scene" in sheet and "## Expert agreement" in sheet

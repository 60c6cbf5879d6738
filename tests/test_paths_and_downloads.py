"""No string a user chooses becomes a file path; every download is an attachment whose name survives Chinese
and cannot inject header parameters (issue 13, items 2 and 8)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.http import content_disposition_header

from alignment.alignment_data import AlignmentDataError, freeze
from benchmark import exports
from benchmark.models import Release, Scene
from benchmark.releases import ReleaseError, publish_release
from benchmark.scenarios import create_scenario
from benchmark.services import SourceMeta, add_source
from medes_site import files, jobs
from medes_site.models import Job, JobStatus
from tests.factories import Personas

HOSTILE_NAMES = [
    "../../../escaped",
    "../../../../outside/other",
    "/etc/passwd",
    "a/b",
    "a\\b",
    ".hidden",
    "..",
    "name\x00nul",
    'quote"; filename=evil.exe',
    "tab\tname",
    "line\nbreak",
]


@pytest.fixture
def artifacts(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "deep" / "er" / "artifacts"
    root.mkdir(parents=True)
    settings.ARTIFACTS_ROOT = root
    return root


def _accepted_scenario() -> None:
    create_scenario(
        kind="subjective",
        stem="一位患者要求……",
        norm="知情同意",
        scene=Scene.objects.first(),
        origin="expert",
        status="accepted",
    )


def _legacy_release(name: str) -> Release:
    """A release whose name was stored before names were checked (the service refuses such names now)."""
    _accepted_scenario()
    release = publish_release("legacy")
    Release.objects.filter(pk=release.pk).update(name=name)
    release.refresh_from_db()
    return release


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_release_name_that_is_not_a_safe_file_name_is_refused(db: None, name: str) -> None:
    _accepted_scenario()
    with pytest.raises(ReleaseError):
        publish_release(name)
    assert not Release.objects.exists()


@pytest.mark.parametrize("name", ["MedES 演示版 1", "MedES-2026.11", "伦理基准（第二版）", "v1_rc·2"])
def test_ordinary_release_names_in_any_script_are_accepted(db: None, name: str) -> None:
    _accepted_scenario()
    assert publish_release(name).name == name


@pytest.mark.parametrize("fmt", ["parquet", "hf", "jsonl"])
def test_an_export_of_a_release_with_a_traversal_name_stays_inside_the_artifacts_root(
    artifacts: Path, personas: Personas, fmt: str
) -> None:
    release = _legacy_release("../../../escaped")
    job = jobs.enqueue_job("benchmark.export_release", {"release": release.pk, "format": fmt}, user=personas.curator)
    assert jobs.execute_job(job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    written = [p for p in artifacts.parent.parent.parent.rglob("*") if p.is_file()]
    assert written and all(p.resolve().is_relative_to(artifacts.resolve()) for p in written), written
    assert not list(artifacts.parent.parent.parent.glob("escaped*"))


def test_the_download_view_never_serves_a_file_outside_the_artifacts_root(
    artifacts: Path, personas: Personas, client_as: Any
) -> None:
    release = _legacy_release("../../../../outside/other")
    # a secret exactly where a path built from the name would lead: releases/<id>/../../../../outside/other.parquet
    (artifacts / "releases" / str(release.pk)).mkdir(parents=True)
    outside = artifacts.parent.parent / "outside"
    outside.mkdir()
    (outside / "other.parquet").write_bytes(b"SECRET")
    response = client_as(personas.curator).get(reverse("benchmark:release_download", args=[release.pk, "parquet"]))
    assert response.status_code == 302  # not prepared yet: back to the release page, never the secret
    assert b"SECRET" not in response.content
    assert exports.download_path(release, "parquet").resolve().is_relative_to(artifacts.resolve())
    # and once it is prepared, the download is the release's own file
    job = jobs.enqueue_job(
        "benchmark.export_release", {"release": release.pk, "format": "parquet"}, user=personas.curator
    )
    assert jobs.execute_job(job.pk) == JobStatus.SUCCEEDED
    prepared = client_as(personas.curator).get(reverse("benchmark:release_download", args=[release.pk, "parquet"]))
    assert prepared.status_code == 200 and b"".join(prepared.streaming_content) != b"SECRET"  # type: ignore[attr-defined]


# a name with a NUL cannot even be stored on PostgreSQL: such a release cannot exist to be downloaded
@pytest.mark.parametrize("name", [name for name in HOSTILE_NAMES if "\x00" not in name])
def test_inline_downloads_of_a_hostile_name_are_attachments_with_a_clean_name(
    artifacts: Path, personas: Personas, client_as: Any, name: str
) -> None:
    release = _legacy_release(name)
    response = client_as(personas.curator).get(reverse("benchmark:release_download", args=[release.pk, "jsonl"]))
    header = response["Content-Disposition"]
    assert header.startswith("attachment; ") and header.count(";") == 1, header
    assert "/" not in header and "\\" not in header and "\n" not in header and "\x00" not in header
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_chinese_release_name_reaches_the_browser_as_rfc5987(personas: Personas, client_as: Any) -> None:
    _accepted_scenario()
    release = publish_release("MedES 演示版 1")
    response = client_as(personas.curator).get(reverse("benchmark:release_download", args=[release.pk, "jsonl"]))
    assert response["Content-Disposition"] == content_disposition_header(True, "MedES 演示版 1.jsonl")
    assert f"filename*=utf-8''{quote('MedES 演示版 1.jsonl')}" in response["Content-Disposition"]


def test_every_download_view_uses_the_header_helper(personas: Personas, client_as: Any) -> None:
    """The source's original name came from the uploader's computer: it is made safe, and Chinese survives."""
    source, _ = add_source(io.BytesIO("第一条 测试。".encode()), '条例"; x=1.md', SourceMeta(title="测试条例"))
    response = client_as(personas.curator).get(reverse("benchmark:source_download", args=[source.pk]))
    assert response["Content-Disposition"] == content_disposition_header(True, "条例__ x_1.md")
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    b"".join(response.streaming_content)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["../../x", "a/b", ".x", 'q"x'])
def test_a_dataset_name_that_is_not_a_safe_file_name_is_refused(db: None, name: str) -> None:
    with pytest.raises(AlignmentDataError):
        freeze(name, "sft")


def test_a_dataset_path_outside_the_root_is_never_served(artifacts: Path, personas: Personas, client_as: Any) -> None:
    from alignment.models import AlignmentDataset

    secret = artifacts.parent / "secret.jsonl"
    secret.write_text("secret\n")
    dataset = AlignmentDataset.objects.create(name="d", kind="sft", path="../secret.jsonl", rows=1, sha256="0" * 64)
    response = client_as(personas.ml_engineer).get(reverse("alignment:data_download", args=[dataset.pk]))
    assert response.status_code == 404


@pytest.mark.parametrize("parts", [("..", "x"), ("a/b",), (".hidden",), ("",), ("x\x00",), ("/etc",)])
def test_the_path_helper_refuses_anything_but_plain_names(artifacts: Path, parts: tuple[str, ...]) -> None:
    with pytest.raises(files.UnsafePathError):
        files.artifact_path("jobs", *parts)


def test_the_path_helper_refuses_a_symlink_that_leaves_the_root(artifacts: Path, tmp_path: Path) -> None:
    (artifacts / "jobs").mkdir()
    (artifacts / "jobs" / "7").symlink_to(tmp_path)
    with pytest.raises(files.UnsafePathError):
        files.artifact_path("jobs", 7, "file.txt")
    with pytest.raises(files.UnsafePathError):
        files.stored_path("jobs/7/file.txt")


def test_stored_paths_are_resolved_inside_the_root(artifacts: Path) -> None:
    assert files.stored_path("releases/1/release.jsonl") == artifacts.resolve() / "releases/1/release.jsonl"
    for bad in ("../x", "/etc/passwd", "", "a/../../x"):
        with pytest.raises(files.UnsafePathError):
            files.stored_path(bad)


def test_job_artifacts_are_written_under_the_jobs_id(artifacts: Path, personas: Personas) -> None:
    job = jobs.enqueue_job("system.selfcheck", {"steps": 1, "step_seconds": 0}, user=personas.ml_engineer)
    assert jobs.execute_job(job.pk) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert [a["path"] for a in job.artifacts] == [f"jobs/{job.pk}/selfcheck.json"]
    assert Path(settings.ARTIFACTS_ROOT, job.artifacts[0]["path"]).is_file()


def test_a_frozen_dataset_downloads_under_its_chinese_name(personas: Personas, client_as: Any) -> None:
    from alignment.models import PreferencePair, TargetedPrompt
    from benchmark.models import RegisteredModel, Scenario

    _accepted_scenario()
    policy = RegisteredModel.objects.create(name="policy", kind="imported")
    prompt = TargetedPrompt.objects.create(policy=policy, scenario=Scenario.objects.get(), text="提示")
    PreferencePair.objects.create(
        prompt=prompt, chosen="好", chosen_source="reference", rejected="坏", status="accepted"
    )
    dataset = freeze("伦理对齐 第1批", "sft")
    response = client_as(personas.ml_engineer).get(reverse("alignment:data_download", args=[dataset.pk]))
    assert response["Content-Disposition"] == content_disposition_header(True, "伦理对齐 第1批.sft.jsonl")
    assert "filename*=utf-8''" in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b'{"messages"')  # type: ignore[attr-defined]

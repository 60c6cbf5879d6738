"""Releases: frozen, stratified, content-hashed; exports are byte-identical and round-trip."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import translation

from benchmark.importers.medes_questions import import_medes_questions
from benchmark.models import Release, Scenario, ScenarioStatus
from benchmark.releases import ReleaseError, canonical_jsonl, datasheet, medes_csv, publish_release, release_items
from benchmark.scenarios import change_status, update_scenario
from tests.factories import Personas, medes


@pytest.fixture
def bank(db: None) -> int:
    report = import_medes_questions(
        medes("objective_questions.csv"),
        origin_name="objective_questions.csv",
        dry_run=False,
        status=ScenarioStatus.ACCEPTED,
    )
    assert report.written and report.new == 88
    return report.new


def test_a_release_freezes_accepted_items_with_a_stratified_split(bank: int, personas: Personas) -> None:
    Scenario.objects.filter(pk=Scenario.objects.order_by("pk").first().pk).update(status=ScenarioStatus.IN_REVIEW)
    release = publish_release("MedES-2026.11", user=personas.curator)
    items = release_items(release)
    assert release.item_count == len(items) == bank - 1  # only accepted items
    per_scene: dict[str, list[str]] = {}
    for item in items:
        per_scene.setdefault(item["scene"], []).append(item["split"])
    for splits in per_scene.values():
        assert abs(splits.count("test") - len(splits) / 2) <= 0.5  # half of each scene, rounded
    assert release.checksum == hashlib.sha256(canonical_jsonl(items)).hexdigest()


def test_exports_are_byte_identical_every_time_and_canonical(bank: int) -> None:
    release = publish_release("MedES-2026.11")
    first, second = canonical_jsonl(release_items(release)), canonical_jsonl(release_items(release))
    assert first == second
    lines = first.decode().splitlines()
    assert len(lines) == bank
    parsed = json.loads(lines[0])
    assert list(parsed) == sorted(parsed) and "题目" not in parsed["stem"]
    assert medes_csv(release_items(release)) == medes_csv(release_items(release))


def test_the_medes_csv_export_round_trips_to_the_same_items(bank: int) -> None:
    release = publish_release("MedES-2026.11")
    exported = medes_csv(release_items(release))
    again = import_medes_questions(exported, origin_name="export.csv", dry_run=True)
    assert (again.rows, again.new, again.duplicates_in_bank, again.errors) == (bank, 0, bank, [])


def test_a_release_never_changes_and_the_next_lists_what_changed(bank: int, personas: Personas) -> None:
    first = publish_release("MedES-2026.11")
    with translation.override("en"), pytest.raises(ReleaseError, match="already a release"):
        publish_release("MedES-2026.11")
    edited, retired = Scenario.objects.order_by("pk")[:2]
    update_scenario(edited.pk, expected_version=1, changes={"stem": edited.stem + "（修订）"}, user=personas.curator)
    change_status(edited.pk, ScenarioStatus.ACCEPTED, user=None)  # needs_rereview → accepted
    change_status(retired.pk, ScenarioStatus.RETIRED, user=None)
    second = publish_release("MedES-2026.12")
    assert second.previous == first
    assert second.changes == {"added": [], "removed": [retired.pk], "changed": [edited.pk]}
    assert first.items.count() == bank  # the first release still holds what it held
    assert "## Changes since the previous release" in datasheet(second)


def test_nothing_to_release_is_a_clear_error(db: None) -> None:
    with translation.override("en"), pytest.raises(ReleaseError, match="no accepted scenarios"):
        publish_release("MedES-empty")


def test_export_release_command(bank: int, tmp_path: Path) -> None:
    release = publish_release("MedES-2026.11")
    call_command("export_release", "MedES-2026.11", "--format", "jsonl", "--out", str(tmp_path), stdout=io.StringIO())
    data = (tmp_path / "MedES-2026.11.jsonl").read_bytes()
    assert hashlib.sha256(data).hexdigest() == release.checksum
    call_command(
        "export_release",
        "MedES-2026.11",
        "--format",
        "datasheet",
        "--out",
        str(tmp_path / "d.md"),
        stdout=io.StringIO(),
    )
    assert f"`{release.checksum}`" in (tmp_path / "d.md").read_text(encoding="utf-8")
    with pytest.raises(CommandError, match="No release named"):
        call_command("export_release", "MedES-1999", "--out", str(tmp_path), stdout=io.StringIO())


def test_curators_publish_and_everyone_on_the_team_downloads(bank: int, personas: Personas, client_as: Any) -> None:
    curator = client_as(personas.curator)
    page = curator.get(reverse("benchmark:releases")).content.decode()
    assert "88" in page and 'name="name"' in page
    response = curator.post(reverse("benchmark:releases"), {"name": "MedES-2026.11", "test_fraction": 0.5})
    release = Release.objects.get()
    assert response["Location"] == reverse("benchmark:release", args=[release.pk])
    again = curator.post(reverse("benchmark:releases"), {"name": "MedES-2026.11", "test_fraction": 0.5})
    assert again.status_code == 400 and Release.objects.count() == 1
    reviewer = client_as(personas.reviewer)
    assert reviewer.post(reverse("benchmark:releases"), {"name": "R2", "test_fraction": 0.5}).status_code == 403
    download = reviewer.get(reverse("benchmark:release_download", args=[release.pk, "jsonl"]))
    assert download["Content-Disposition"] == 'attachment; filename="MedES-2026.11.jsonl"'
    assert hashlib.sha256(download.getvalue()).hexdigest() == release.checksum  # streamed
    assert reviewer.get(reverse("benchmark:release_download", args=[release.pk, "exe"])).status_code == 404

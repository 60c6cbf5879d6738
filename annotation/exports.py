"""Label exports of a campaign: its labels or its accepted labels, with their provenance and guideline versions,
as JSON lines, CSV (escaped for spreadsheets) or Parquet. The review pages write small campaigns inline; larger
ones, and ``manage.py export_labels``, go through the ``annotation.export`` job (annotation.jobs).

Who may export is decided by the callers (annotation.review.may_see_labels: exports show other people's labels).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from annotation.models import AcceptedLabel, Campaign, Label
from annotation.services import CampaignError, schema_of
from medes_site.spreadsheet import safe_row

EXPORT_JOB = "annotation.export"
EXPORT_KINDS = ("labels", "accepted")
EXPORT_FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def export_rows(campaign: Campaign, what: str) -> Iterator[dict[str, Any]]:
    """Labels or accepted labels with their provenance and guideline versions, one dict per row."""
    if what == "labels":
        labels = (
            Label.objects.filter(item__campaign=campaign)
            .select_related("item__response__model")
            .prefetch_related("provisions")
            .order_by("item__position", "pk")
        )
        for label in labels.iterator(chunk_size=2000):
            item = label.item
            yield {
                "campaign": campaign.name,
                "item": item.pk,
                "position": item.position,
                "is_gold": item.is_gold,
                "response": item.response_id,
                "scenario": item.scenario_id,
                "model": item.response.model.name if item.response is not None else None,
                "label": label.pk,
                "annotator": label.annotator_id,
                "scores": dict(label.scores),
                "rationale": label.rationale,
                "provisions": sorted(p.pk for p in label.provisions.all()),
                "guideline_version": label.guideline_version,
                "seconds_spent": label.seconds_spent,
                "version": label.version,
                "submitted_at": label.submitted_at.isoformat(),
            }
        return
    if what != "accepted":
        raise CampaignError(_("Export labels or accepted labels."))
    accepted = (
        AcceptedLabel.objects.filter(item__campaign=campaign)
        .select_related("item__response__model")
        .prefetch_related("source_labels")
        .order_by("item__position")
    )
    for row in accepted.iterator(chunk_size=2000):
        item = row.item
        sources = sorted(row.source_labels.all(), key=lambda label: label.pk)
        yield {
            "campaign": campaign.name,
            "item": item.pk,
            "position": item.position,
            "is_gold": item.is_gold,
            "response": item.response_id,
            "scenario": item.scenario_id,
            "model": item.response.model.name if item.response is not None else None,
            "scores": dict(row.scores),
            "rationale": row.rationale,
            "provenance": row.provenance,
            "decided_by": row.decided_by_id,
            "note": row.note,
            "source_labels": [label.pk for label in sources],
            "annotators": [label.annotator_id for label in sources],
            "source_guideline_versions": [label.guideline_version for label in sources],
            "guideline_version": row.guideline_version,
            "created_at": row.created_at.isoformat(),
        }


SCORE_PREFIX = "score_"


def _flat(row: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """Scores as one column per dimension, named ``score_<key>`` so that no dimension can take the place of
    another column (a campaign made before keys like ``model`` or ``rationale`` were refused has them)."""
    flat = {k: v for k, v in row.items() if k != "scores"}
    for key in keys:
        flat[SCORE_PREFIX + key] = row["scores"].get(key)
    return flat


def write_export(campaign: Campaign, what: str, fmt: str, out: io.BufferedIOBase | io.BytesIO) -> int:
    """Write the export to a binary stream; returns the number of rows."""
    if fmt not in EXPORT_FORMATS:
        raise CampaignError(_("Unknown format %(fmt)s: choose jsonl, csv or parquet.") % {"fmt": fmt})
    keys = schema_of(campaign).keys
    rows = export_rows(campaign, what)
    count = 0
    if fmt == "jsonl":
        for row in rows:
            out.write((json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode())
            count += 1
        return count
    flat = [_flat(row, keys) for row in rows]
    if fmt == "csv":
        # for spreadsheets: a BOM so they read the Chinese text, and every text cell (header too) escaped so that
        # a rationale written as a formula stays text (medes_site.spreadsheet); numbers stay numbers
        text = io.StringIO()
        if flat:
            header = list(flat[0])
            writer = csv.writer(text)
            writer.writerow(safe_row(header))
            for row in flat:
                writer.writerow(safe_row(json.dumps(row[k]) if isinstance(row[k], list) else row[k] for k in header))
        out.write(text.getvalue().encode("utf-8-sig"))
        return len(flat)
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(flat) if flat else pa.table({"item": pa.array([], pa.int64())})
    pq.write_table(table, out)
    return len(flat)


def export_path(campaign: Campaign, what: str, fmt: str, directory: Path) -> Path:
    return directory / f"campaign-{campaign.pk}-{what}.{fmt}"

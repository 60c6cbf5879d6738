"""Demo data for the benchmark app: the six laws shipped in demo/laws, registered as sources."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TextIO

from benchmark.models import ParseStatus, SourceKind
from benchmark.services import SourceMeta, add_source, parse_source
from benchmark.taxonomy import ensure_taxonomy

LAWS = Path(__file__).resolve().parent / "laws"


def load(out: TextIO) -> None:
    ensure_taxonomy()
    manifest = json.loads((LAWS / "manifest.json").read_text(encoding="utf-8"))
    added = 0
    for entry in manifest:
        meta = SourceMeta(
            title=entry["title"],
            kind=SourceKind(entry["kind"]),
            issuer=entry.get("issuer", ""),
            promulgated_on=date.fromisoformat(entry["promulgated_on"]) if entry.get("promulgated_on") else None,
            effective_on=date.fromisoformat(entry["effective_on"]) if entry.get("effective_on") else None,
            version=entry.get("version", ""),
        )
        with (LAWS / entry["file"]).open("rb") as stream:
            source, created = add_source(stream, entry["file"], meta)
        added += created
        if source.parse_status != ParseStatus.PARSED:
            parse_source(source)  # the six files parse in milliseconds; no job needed for demo data
    out.write(f"Sources: {added} added, {len(manifest) - added} already present; all parsed.\n")

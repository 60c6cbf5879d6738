"""Demo data for the benchmark app: the six laws shipped in demo/laws, registered as sources."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TextIO

from benchmark.models import SourceKind
from benchmark.services import SourceMeta, add_source

LAWS = Path(__file__).resolve().parent / "laws"


def load(out: TextIO) -> None:
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
            _, created = add_source(stream, entry["file"], meta)
        added += created
    out.write(f"Sources: {added} added, {len(manifest) - added} already present.\n")

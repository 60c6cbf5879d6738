from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from benchmark.models import Release
from benchmark.releases import EXPORT_FORMATS, export


class Command(BaseCommand):
    help = "Write a published release as canonical JSONL, MedES CSV or its datasheet (byte-identical every time)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--format", choices=sorted(EXPORT_FORMATS), default="jsonl")
        parser.add_argument("--out", type=Path, required=True, help="a file, or a folder to write NAME.EXT into")

    def handle(self, *args: Any, **options: Any) -> None:
        release = Release.objects.filter(name=options["name"]).first()
        if release is None:
            names = ", ".join(Release.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"No release named {options['name']!r} (published: {names}).")
        kind = options["format"]
        data = export(release, kind)
        out: Path = options["out"]
        if out.is_dir():
            out = out / f"{release.name}.{EXPORT_FORMATS[kind][0]}"
        try:
            out.write_bytes(data)
        except OSError as error:
            raise CommandError(f"{out}: {error.strerror}.") from None
        self.stdout.write(f"{out}: {release.item_count} items, {len(data)} bytes")

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from benchmark import exports
from benchmark.models import Release
from medes_site.files import safe_filename


class Command(BaseCommand):
    help = (
        "Write a published release as canonical JSONL, MedES CSV, Parquet, a Hugging Face datasets folder (hf) or "
        "its datasheet. JSONL, CSV and the datasheet are byte-identical every time; every format but CSV and the "
        "datasheet is read back and checked against the release checksum."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--format", choices=list(exports.FORMATS), default="jsonl")
        parser.add_argument(
            "--out",
            type=Path,
            required=True,
            help="a file (for hf: a new folder), or an existing folder to write NAME.EXT (for hf: NAME/) into",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        release = Release.objects.filter(name=options["name"]).first()
        if release is None:
            names = ", ".join(Release.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"No release named {options['name']!r} (published: {names}).")
        fmt = options["format"]
        spec = exports.FORMATS[fmt]
        out: Path = options["out"]
        if out.is_dir():  # the release's name made safe as a file name: never a path of its own
            stem = safe_filename(release.name, fallback=f"release-{release.pk}")
            out = out / (stem if spec.directory else f"{stem}.{spec.extension}")
        try:
            exports.write_export(release, fmt, out)
            if fmt in exports.READABLE_FORMATS and exports.file_checksum(out, fmt) != release.checksum:
                raise CommandError(f"{out}: does not read back to the release checksum {release.checksum}.")
        except exports.ExportError as error:
            raise CommandError(str(error)) from None
        except OSError as error:
            raise CommandError(f"{out}: {error.strerror}.") from None
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) if out.is_dir() else out.stat().st_size
        self.stdout.write(f"{out}: {release.item_count} items, {size} bytes, checksum {release.checksum}")

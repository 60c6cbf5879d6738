from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from benchmark.models import SourceKind
from benchmark.parsing import ParseError
from benchmark.services import ALLOWED_SUFFIXES, SourceError, SourceMeta, add_source, parse_source


class Command(BaseCommand):
    help = (
        "Add source files (or every supported file in the folders given) and parse them. One line per file: "
        "title, provisions, chapters, or the error. Exits non-zero if any file failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--kind", default=SourceKind.OTHER, choices=[k.value for k in SourceKind])
        parser.add_argument("--issuer", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        files: list[Path] = []
        for path in options["paths"]:
            if path.is_dir():
                files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in ALLOWED_SUFFIXES))
            else:
                files.append(path)
        failed = 0
        for path in files:
            try:
                with path.open("rb") as stream:
                    source, created = add_source(
                        stream,
                        path.name,
                        SourceMeta(title=path.stem, kind=SourceKind(options["kind"]), issuer=options["issuer"]),
                    )
                if created or source.parse_status != "parsed":
                    parse_source(source)
                state = "added" if created else "already present"
                self.stdout.write(
                    f"{path}: {source.title} — {source.article_count} provisions, {source.chapter_count} chapters "
                    f"({state}{', ' + str(len(source.parse_warnings)) + ' warnings' if source.parse_warnings else ''})"
                )
            except (SourceError, ParseError, OSError) as error:
                failed += 1
                self.stdout.write(f"{path}: error: {getattr(error, 'strerror', None) or error}")
        if failed:
            raise CommandError(f"{failed} of {len(files)} file(s) failed.")
        if not files:
            raise CommandError("No supported files found.")

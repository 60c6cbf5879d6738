from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import transaction

from benchmark.models import Source, SourceKind
from benchmark.parsing import ParseError
from benchmark.services import ALLOWED_SUFFIXES, SourceError, SourceMeta, add_source, parse_source, read_parse

PLAIN_STEPS = 10  # without a terminal, a progress line at every tenth of the files


class _Unterminated:
    """The command's stderr for tqdm, which ends its own lines ("\\r" on a terminal)."""

    def __init__(self, out: OutputWrapper) -> None:
        self.out = out
        self.encoding = str(getattr(out, "encoding", None) or "ascii")  # UTF-8: the bar in blocks, not #

    def write(self, text: str) -> int:
        self.out.write(text, style_func=str, ending="")  # not in the errors' red
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def fileno(self) -> int:  # the terminal's width, for the bar
        return int(self.out.fileno())

    def isatty(self) -> bool:
        return self.out.isatty()


class Progress:
    """Files done out of the total, the rate and the time left: a bar (tqdm) on stderr when it is a terminal,
    else a plain line at every tenth, so that a log shows it too. Per-file lines go to stdout through
    ``line``, which keeps them from tearing the bar when both are the same terminal."""

    def __init__(self, total: int, stdout: OutputWrapper, stderr: OutputWrapper) -> None:
        self.total, self.done, self.stdout, self.stderr = total, 0, stdout, stderr
        self.started = time.monotonic()
        self.bar: Any = None
        if stderr.isatty():
            from tqdm import tqdm  # type: ignore[import-untyped]  # (no stubs)

            self.bar = tqdm(total=total, unit="file", file=_Unterminated(stderr), dynamic_ncols=True)

    def line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.clear()
        self.stdout.write(text)
        if self.bar is not None:
            self.bar.refresh()

    def advance(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            return
        step = max(1, self.total // PLAIN_STEPS)
        if self.done % step == 0 or self.done == self.total:
            elapsed = time.monotonic() - self.started
            rate = self.done / elapsed if elapsed > 0 else 0.0
            left = (self.total - self.done) / rate if rate else 0.0
            self.stderr.write(
                f"{self.done}/{self.total} files ({100 * self.done // self.total}%), {rate:.1f} files/s, "
                f"{elapsed:.0f} s so far, about {left:.0f} s left"
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class _Pending:
    """A file on its way: added (or refused), its parse running in the pool when it needs one."""

    path: Path
    source: Source | None = None
    created: bool = False
    parse: Future[dict[str, Any]] | None = None
    error: Exception | None = None


class Command(BaseCommand):
    help = (
        "Add source files (or every supported file in the folders given) and parse them, several at once "
        "(--jobs). One line per file: title, provisions, chapters, or the error; progress (files, rate, time "
        "left) on stderr, as a bar on a terminal. Exits non-zero if any file failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--kind", default=SourceKind.OTHER, choices=[k.value for k in SourceKind])
        parser.add_argument("--issuer", default="")
        parser.add_argument(
            "--jobs",
            type=int,
            default=min(4, os.cpu_count() or 1),
            help="files parsed at once, each in its own limited child process (default: the CPUs, at most 4)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        files: list[Path] = []
        for path in options["paths"]:
            if path.is_dir():
                files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in ALLOWED_SUFFIXES))
            else:
                files.append(path)
        if not files:
            raise CommandError("No supported files found.")
        if options["jobs"] < 1:
            raise CommandError("--jobs must be 1 or more.")
        meta = {"kind": SourceKind(options["kind"]), "issuer": options["issuer"]}
        progress = Progress(len(files), self.stdout, self.stderr)
        failed = 0
        # The parses run in child processes from a pool of threads (no database there); the main thread adds
        # each file and stores each parse in the files' order, a few files behind the parses. Each child is forked
        # from a server that has the parser loaded (benchmark.parsing.forked): a fresh Python per file cost more
        # CPU than most parses.
        with ThreadPoolExecutor(max_workers=options["jobs"], thread_name_prefix="parse") as pool:
            pending: deque[_Pending] = deque()
            try:
                for path in files:
                    pending.append(self._add(path, meta, pool))
                    while len(pending) > 2 * options["jobs"]:
                        failed += self._finish(pending.popleft(), progress)
                while pending:
                    failed += self._finish(pending.popleft(), progress)
            finally:
                for waiting in pending:  # interrupted: parses not started yet are dropped
                    if waiting.parse is not None:
                        waiting.parse.cancel()
                progress.close()
        if failed:
            raise CommandError(f"{failed} of {len(files)} file(s) failed.")

    def _add(self, path: Path, meta: dict[str, Any], pool: ThreadPoolExecutor) -> _Pending:
        entry = _Pending(path)
        try:  # one transaction (one commit) for the source and its audit entry
            with path.open("rb") as stream, transaction.atomic():
                entry.source, entry.created = add_source(stream, path.name, SourceMeta(title=path.stem, **meta))
        except (SourceError, OSError) as error:
            entry.error = error
            return entry
        if entry.created or entry.source.parse_status != "parsed":
            entry.parse = pool.submit(read_parse, entry.source, forked=True)
        return entry

    def _finish(self, entry: _Pending, progress: Progress) -> int:
        """Store the entry's parse and report it; 1 if the file failed, else 0."""
        path, source, error = entry.path, entry.source, entry.error
        if source is not None and entry.parse is not None:
            parsed = entry.parse
            parsed.exception()  # wait for the parse outside the transaction
            with transaction.atomic():  # one commit for the provisions, the source and the audit entries
                try:
                    parse_source(source, read=lambda _source: parsed.result())
                except ParseError as failure:  # caught inside: the failure is recorded on the source
                    error = failure
        progress.advance()
        if error is not None or source is None:
            progress.line(f"{path}: error: {getattr(error, 'strerror', None) or error}")
            return 1
        state = "added" if entry.created else "already present"
        warnings = f", {len(source.parse_warnings)} warnings" if source.parse_warnings else ""
        progress.line(
            f"{path}: {source.title} — {source.article_count} provisions, {source.chapter_count} chapters "
            f"({state}{warnings})"
        )
        return 0

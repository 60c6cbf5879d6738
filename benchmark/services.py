"""Adding sources to the corpus. Files are never trusted: type and size are checked before anything is
stored, the stored name is generated, and the same bytes twice give the existing source."""

from __future__ import annotations

import hashlib
import io
import json
import signal
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePath
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from benchmark.amendments import compare_after_parse
from benchmark.importers.bulk import insert_rows, prepare_values
from benchmark.models import ParseStatus, Provision, Source, SourceKind
from benchmark.parsing import ParseError, decode
from medes_site import audit, files

ALLOWED_SUFFIXES = {".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"}
CHUNK = 1 << 20


class SourceError(ValueError):
    """A file that cannot become a source; the message says why, for the person who uploaded it."""


TEXT_SUFFIXES = {".html", ".htm", ".md", ".markdown", ".txt"}


def check_content(suffix: str, data: bytes, name: str) -> None:
    """Refuse at upload what its type can be checked for then, rather than at parsing: a PDF without the PDF
    header, a DOCX that is not a Word package, a text file that holds binary data or is neither UTF-8 nor GB18030.
    The full parse (a worker with time and memory limits) still checks everything else."""
    if suffix == ".pdf" and b"%PDF-" not in data[:1024]:
        raise SourceError(_("“%(name)s” is not a PDF file (it has no PDF header).") % {"name": name})
    if suffix == ".docx":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as package:
                names = set(package.namelist())
        except (zipfile.BadZipFile, ValueError):
            names = set()
        if not {"[Content_Types].xml", "word/document.xml"} <= names:
            raise SourceError(_("“%(name)s” is not a Word document (DOCX).") % {"name": name})
    if suffix in TEXT_SUFFIXES:
        if b"\x00" in data:
            raise SourceError(_("“%(name)s” holds binary data, not text.") % {"name": name})
        try:
            decode(data)
        except ParseError:
            raise SourceError(
                _("“%(name)s” is neither UTF-8 nor GB18030 (GBK) text; save it as UTF-8 and upload it again.")
                % {"name": name}
            ) from None


@dataclass(frozen=True)
class SourceMeta:
    title: str
    kind: SourceKind = SourceKind.OTHER
    issuer: str = ""
    promulgated_on: date | None = None
    effective_on: date | None = None
    version: str = ""
    supersedes: Source | None = None  # the earlier version of the same text; compared once both are parsed


def add_source(
    stream: IO[bytes], original_name: str, meta: SourceMeta, *, user: User | None = None
) -> tuple[Source, bool]:
    """Store ``stream`` as a source. Returns ``(source, created)``; identical bytes return the existing one."""
    suffix = PurePath(original_name.replace("\\", "/")).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise SourceError(
            _("“%(name)s” is not a supported type; upload PDF, DOCX, HTML, Markdown or plain text.")
            % {"name": PurePath(original_name).name}
        )
    if not meta.title.strip():
        raise SourceError(_("A source needs a title."))
    limit = settings.MEDES_SOURCE_MAX_BYTES
    digest, size, chunks = hashlib.sha256(), 0, []
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise SourceError(_("The file is larger than the limit of %(mb)d MB.") % {"mb": limit // (1 << 20)})
        digest.update(chunk)
        chunks.append(chunk)
    if size == 0:
        raise SourceError(_("The file is empty."))
    check_content(suffix, b"".join(chunks), PurePath(original_name.replace("\\", "/")).name)
    sha256 = digest.hexdigest()
    existing = Source.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing, False
    source = Source(
        title=meta.title.strip()[:255],
        kind=meta.kind,
        issuer=meta.issuer,
        promulgated_on=meta.promulgated_on,
        effective_on=meta.effective_on,
        version=meta.version,
        supersedes=meta.supersedes,
        original_name=files.shown_file_name(original_name, fallback="source"),
        sha256=sha256,
        size=size,
        created_by=user,
    )
    # The stored name is ours: an uploaded name like ../../x.md never reaches the file system.
    source.file.save(f"{uuid.uuid4().hex}{suffix}", ContentFile(b"".join(chunks)), save=False)
    try:
        with transaction.atomic():
            source.save()
    except IntegrityError:  # the same file, added concurrently
        source.file.delete(save=False)
        return Source.objects.get(sha256=sha256), False
    audit.record("source.add", actor=user, obj=source, details={"sha256": sha256, "size": size})
    return source, True


def parse_source(
    source: Source, *, user: User | None = None, read: Callable[[Source], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Parse the stored file into provisions, updating those of any earlier parse. The parser runs in a child
    process under CPU-time and memory limits, so a hostile or broken file cannot take the worker down.
    A failure is recorded on the source (status, message) and the provisions of the last good parse stay.
    ``read`` hands in the parser's reply (or raises its ParseError) when the caller ran ``read_parse`` itself:
    ``import_sources`` runs several at once and stores them one by one."""
    try:
        untitled = source.title == PurePath(source.original_name).stem  # uploaded without a title
        result = (read or read_parse)(source)
        duplicates = _duplicate_labels(result["articles"])
        if duplicates:
            raise ParseError(f"These articles appear more than once: {', '.join(duplicates)}.")
    except ParseError as error:
        Source.objects.filter(pk=source.pk).update(parse_status=ParseStatus.FAILED, parse_error=str(error))
        source.refresh_from_db()
        audit.record("source.parse_failed", actor=user, obj=source, details={"error": str(error)})
        raise
    with transaction.atomic():
        kept_warnings, stored = _store_provisions(source, result["articles"])
        if untitled and result["title"]:
            source.title = result["title"][:255]  # take the title the file states
        source.parse_status = ParseStatus.PARSED
        source.parse_error = ""
        # What the parser dropped or replaced (page headers, page numbers, look-alike radicals) is shown too.
        source.parse_warnings = [*result["warnings"], *kept_warnings, *result.get("notes", [])]
        source.parsed_at = timezone.now()
        source.article_count = stored  # the articles parsed, as curator fixes (split, merge) left them
        source.chapter_count = result["chapters"]
        source.save(
            update_fields=[
                "title",
                "parse_status",
                "parse_error",
                "parse_warnings",
                "parsed_at",
                "article_count",
                "chapter_count",
            ]
        )
    summary = {"articles": source.article_count, "chapters": source.chapter_count, "warnings": len(result["warnings"])}
    audit.record("source.parse", actor=user, obj=source, details=summary)
    result["stored_warnings"] = kept_warnings  # for the job log: curator fixes kept, cited articles kept
    result["amendments"] = compare_after_parse(source, user=user)  # a new version: diff it, flag scenarios
    return result


def read_parse(source: Source, *, forked: bool = False) -> dict[str, Any]:
    """The parse of the stored file, from the isolated child process (see ``parse_source``). It reads no
    database, so several can run at once in threads. ``forked``: the process is forked from a server that has
    the parser loaded (``benchmark.parsing.forked``), for a command that parses many files."""
    if not source.file or not Path(source.file.path).is_file():
        raise ParseError("The stored file is missing from MEDIA_ROOT; upload the source again.")
    untitled = source.title == PurePath(source.original_name).stem  # uploaded without a title: the file's own
    return _parse_isolated(Path(source.file.path), source.original_name, "" if untitled else source.title, forked)


def _parse_isolated(path: Path, name: str, title: str, forked: bool = False) -> dict[str, Any]:
    seconds, megabytes = settings.MEDES_PARSE_SECONDS, settings.MEDES_PARSE_MEMORY_MB
    if forked:
        from benchmark.parsing.forked import parse_forked

        try:
            reply = parse_forked(path, name, title, cpu_seconds=seconds, memory_mb=megabytes, timeout=seconds + 10)
        except TimeoutError:
            raise ParseError(f"Parsing took longer than {seconds} s and was stopped.") from None
        except (OSError, EOFError) as error:  # EOFError: the server died as it was asked (it restarts next time)
            raise ParseError(f"The parser could not be started: {error or 'no reply'}.") from None
        _check_exit(reply.returncode, reply.stderr, seconds, megabytes)
        if reply.result is None:
            raise ParseError("The parser's reply could not be read.")
        return reply.result
    command = [
        sys.executable,
        "-m",
        "benchmark.parsing",
        str(path),
        f"--name={name}",
        f"--title={title}",
        f"--cpu-seconds={seconds}",
        f"--memory-mb={megabytes}",
    ]  # "--name=…" keeps a name starting with "-" from reading as an option
    try:
        done = subprocess.run(  # noqa: S603 - our own module, arguments passed as a list
            command, capture_output=True, timeout=seconds + 10, check=False, cwd=Path(__file__).resolve().parent.parent
        )
    except subprocess.TimeoutExpired:
        raise ParseError(f"Parsing took longer than {seconds} s and was stopped.") from None
    except (OSError, subprocess.SubprocessError) as error:
        raise ParseError(f"The parser could not be started: {error}.") from None
    _check_exit(done.returncode, done.stderr.decode("utf-8", "replace"), seconds, megabytes)
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        raise ParseError("The parser's reply could not be read.") from None
    return result


def _check_exit(returncode: int, stderr: str, seconds: int, megabytes: int) -> None:
    """Raise the ParseError a parser process's exit status and stderr stand for, if any."""
    if returncode == 3:
        raise ParseError(stderr.strip())
    if returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or ["no message"]
        out_of_memory = any(sign in stderr for sign in ("MemoryError", "Cannot allocate memory", "failed to map"))
        if returncode in (-signal.SIGXCPU, -signal.SIGKILL) or out_of_memory:
            raise ParseError(
                f"Parsing needed more than its limits ({seconds} s of CPU, {megabytes} MB) and was stopped."
            )
        raise ParseError(f"The parser stopped unexpectedly ({tail[0]}).")


def _store_provisions(source: Source, articles: list[dict[str, Any]]) -> tuple[list[str], int]:
    """Bring the provisions in line with a new parse, updating each article in place (matched by number
    and suffix) so that scenarios citing it keep their link. An article gone from the file is deleted,
    unless scenarios cite it: then it stays, and the curator is warned. Returns the warnings and the number
    of provisions the source now has in its text order.

    Provisions a curator fixed by hand (edit, split, merge: ``edited_by_hand``) are KEPT as the curator left
    them, and the parse says so in a warning: re-parsing the same file would only bring the mis-parse back.
    The parsed articles a fix stands for (its own number, and those merged into it or renumbered away:
    ``curated_keys``) are skipped; a part split off, which the file does not know, stays after the
    provision it followed. A curator who wants the parser's text back edits the provision accordingly (the
    history shows the parsed text)."""
    existing_list = list(source.provisions.order_by("position"))
    existing = {(p.number, p.suffix): p for p in existing_list}
    covered: dict[tuple[int, int], Provision] = {}
    for fixed in (p for p in existing_list if p.edited_by_hand):
        covered[(fixed.number, fixed.suffix)] = fixed
        for number, suffix in fixed.curated_keys:
            covered.setdefault((number, suffix), fixed)
    fields = ("position", "label", "text", "book", "part", "chapter", "section")
    stored = {p.pk: tuple(getattr(p, name) for name in fields) for p in existing_list}
    ordered: list[Provision] = []
    placed: set[int] = set()
    reparsed: list[Provision] = []  # existing provisions whose parsed content changed (a history row each)
    for a in articles:
        key = (a["number"], a["suffix"])
        keeper = covered.get(key)
        if keeper is not None:
            if keeper.pk not in placed:
                ordered.append(keeper)
                placed.add(keeper.pk)
            continue
        provision = existing.get(key) or Provision(source=source, number=a["number"], suffix=a["suffix"])
        before = tuple(getattr(provision, name) for name in fields[1:])
        provision.label, provision.text = a["label"], a["text"]
        provision.book, provision.part = a["book"][:128], a["part"][:128]
        provision.chapter, provision.section = a["chapter"][:128], a["section"][:128]
        if provision.pk and before != tuple(getattr(provision, name) for name in fields[1:]):
            reparsed.append(provision)
        ordered.append(provision)
    for index, fixed in enumerate(existing_list):  # hand-made provisions the file has no article for
        if fixed.edited_by_hand and fixed.pk not in placed:
            anchor = next((p for p in reversed(existing_list[:index]) if p in ordered), None)
            ordered.insert(ordered.index(anchor) + 1 if anchor is not None else 0, fixed)
            placed.add(fixed.pk)
    for position, provision in enumerate(ordered, start=1):
        provision.position = position
    kept = {p.pk for p in ordered if p.pk}
    gone = [p for p in existing_list if p.pk not in kept]
    cited = {p.pk for p in gone if p.scenarios.exists()}
    Provision.objects.filter(pk__in=[p.pk for p in gone if p.pk not in cited]).delete()
    # Write only what changed (a re-parse of the same file changes nothing). Positions are unique per source:
    # park those that move, and cited ones the file lost, out of the way before renumbering.
    changed = [p for p in ordered if p.pk and stored[p.pk] != tuple(getattr(p, name) for name in fields)]
    moving = [p.pk for p in changed if stored[p.pk][0] != p.position] + [p.pk for p in gone if p.pk in cited]
    Provision.objects.filter(pk__in=moving).update(position=F("position") + 1_000_000)
    Provision.objects.bulk_update(changed, fields, batch_size=500)
    _create_with_history(source, [p for p in ordered if not p.pk])
    if reparsed:
        Provision.history.bulk_history_create(reparsed, update=True, default_change_reason="re-parse")
    warnings = []
    for offset, provision in enumerate((p for p in gone if p.pk in cited), start=len(ordered) + 1):
        Provision.objects.filter(pk=provision.pk).update(position=offset)
        warnings.append(f"{provision.label} is no longer in the file but scenarios cite it; it was kept.")
    if placed:
        labels = "、".join(p.label for p in ordered if p.pk in placed)
        warnings.append(
            f"{len(placed)} provisions were fixed by hand (edited, split or merged) and were kept as the curator "
            f"left them, not overwritten by this parse: {labels}."
        )
    return warnings, len(ordered)


def _create_with_history(source: Source, new: list[Provision]) -> None:
    """Write the new provisions of ``source`` and their first history rows ("+", reason "parse", the user of
    the request if any), as ``bulk_create_with_history`` would, through ``insert_rows`` (COPY on PostgreSQL):
    Django's compiler preparing each value of each row took most of the time of an import of many sources. The
    new provisions' ids, for their history rows, are read back by position (unique within a source)."""
    if not new:
        return
    history = Provision.history.model
    fields = [f.attname for f in Provision._meta.concrete_fields if not f.primary_key]
    rows = [{name: getattr(provision, name) for name in fields} for provision in new]
    prepare_values(Provision, "curated_keys", rows)  # as JSON once, for the provision and its history row
    insert_rows(Provision, rows, prepared={"curated_keys"})
    ids = dict(Provision.objects.filter(source=source).order_by().values_list("position", "pk"))
    for provision, row in zip(new, rows, strict=True):
        provision.pk = ids[provision.position]
        provision._state.adding = False
        row["id"] = provision.pk
        del row["position"]  # not kept in the history (excluded_fields)
    if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return
    user = history.get_default_history_user(new[0])
    insert_rows(
        history,
        rows,
        same={
            "history_date": timezone.now(),
            "history_change_reason": "parse",
            "history_type": "+",
            "history_user_id": getattr(user, "pk", None),
        },
        prepared={"curated_keys"},
    )


def _duplicate_labels(articles: list[dict[str, Any]]) -> list[str]:
    seen: set[tuple[int, int]] = set()
    duplicates: list[str] = []
    for article in articles:
        key = (article["number"], article["suffix"])
        if key in seen:
            duplicates.append(article["label"])
        seen.add(key)
    return duplicates

"""Adding sources to the corpus. Files are never trusted: type and size are checked before anything is
stored, the stored name is generated, and the same bytes twice give the existing source."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import PurePath
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from benchmark.models import ParseStatus, Provision, Source, SourceKind
from benchmark.parsing import ParsedDocument, ParseError, parse_file
from medes_site import audit

ALLOWED_SUFFIXES = {".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"}
CHUNK = 1 << 20


class SourceError(ValueError):
    """A file that cannot become a source; the message says why, for the person who uploaded it."""


@dataclass(frozen=True)
class SourceMeta:
    title: str
    kind: SourceKind = SourceKind.OTHER
    issuer: str = ""
    promulgated_on: date | None = None
    effective_on: date | None = None
    version: str = ""


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
        original_name=PurePath(original_name.replace("\\", "/")).name[:255],
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


def parse_source(source: Source, *, user: User | None = None) -> ParsedDocument:
    """Parse the stored file into provisions, replacing any earlier parse. A failure is recorded on the
    source (status, message) and the provisions from the last good parse are kept."""
    with source.file.open("rb") as stream:
        data = stream.read()
    try:
        doc = parse_file(data, source.original_name, title=source.title)
        duplicates = _duplicate_labels(doc)
        if duplicates:
            raise ParseError(f"These articles appear more than once: {', '.join(duplicates)}.")
    except ParseError as error:
        Source.objects.filter(pk=source.pk).update(parse_status=ParseStatus.FAILED, parse_error=str(error))
        source.refresh_from_db()
        audit.record("source.parse_failed", actor=user, obj=source, details={"error": str(error)})
        raise
    with transaction.atomic():
        source.provisions.all().delete()
        Provision.objects.bulk_create(
            [
                Provision(
                    source=source,
                    position=position,
                    number=article.number,
                    suffix=article.suffix,
                    label=article.label,
                    text=article.text,
                    book=article.book.heading if article.book else "",
                    part=article.part.heading if article.part else "",
                    chapter=article.chapter.heading if article.chapter else "",
                    section=article.section.heading if article.section else "",
                )
                for position, article in enumerate(doc.articles, start=1)
            ],
            batch_size=1000,
        )
        source.parse_status = ParseStatus.PARSED
        source.parse_error = ""
        source.parse_warnings = doc.warnings
        source.parsed_at = timezone.now()
        source.article_count = len(doc.articles)
        source.chapter_count = doc.count("chapter")
        source.save(
            update_fields=[
                "parse_status", "parse_error", "parse_warnings", "parsed_at", "article_count", "chapter_count",
            ]
        )  # fmt: skip
    audit.record(
        "source.parse", actor=user, obj=source,
        details={"articles": source.article_count, "chapters": source.chapter_count, "warnings": len(doc.warnings)},
    )  # fmt: skip
    return doc


def _duplicate_labels(doc: ParsedDocument) -> list[str]:
    seen: set[tuple[int, int]] = set()
    duplicates: list[str] = []
    for article in doc.articles:
        key = (article.number, article.suffix)
        if key in seen:
            duplicates.append(article.label)
        seen.add(key)
    return duplicates

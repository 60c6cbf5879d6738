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
from django.utils.translation import gettext as _

from benchmark.models import Source, SourceKind
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

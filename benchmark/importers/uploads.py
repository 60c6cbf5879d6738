"""Files uploaded for import. The file is kept server-side under a generated name between the dry run and
the import, tied to the user who uploaded it; the client only ever names the upload's id, never a path."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from benchmark.importers import ImportFileError, ImportReport
from benchmark.importers.mapped_scenarios import Mapping, Table, import_scenarios, read_table
from benchmark.importers.medes_questions import import_medes_questions
from benchmark.importers.responses import (
    import_medes_responses,
    import_medethiceval,
    import_responses,
    mapped_response_entries,
    report_as_dict,
)
from benchmark.models import ImportFormat, ImportUpload, ScenarioStatus, Scene
from medes_site import audit, files

CSV_ONLY = {ImportFormat.MEDES_QUESTIONS, ImportFormat.MEDES_RESPONSES, ImportFormat.MEDETHICEVAL}
MAPPED = {ImportFormat.GENERIC_SCENARIOS, ImportFormat.GENERIC_RESPONSES}
CHUNK = 1 << 20


@dataclass(frozen=True)
class ImportOptions:
    mapping: Mapping | None = None  # generic formats
    status: str = ScenarioStatus.IN_REVIEW
    create_questions: bool = True
    default_scene: Scene | None = None


def store_upload(stream: IO[bytes], original_name: str, fmt: str, *, user: User) -> ImportUpload:
    name = files.shown_file_name(original_name, fallback="upload")  # shown and stored: no control characters
    suffix = PurePath(name).suffix.lower()
    allowed = {".csv"} if fmt in CSV_ONLY else {".csv", ".jsonl", ".ndjson"}
    if suffix not in allowed:
        raise ImportFileError(
            _("Upload a file ending in %(suffixes)s for this format.") % {"suffixes": ", ".join(sorted(allowed))}
        )
    limit = settings.MEDES_SOURCE_MAX_BYTES
    digest, size, chunks = hashlib.sha256(), 0, []
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise ImportFileError(_("The file is larger than the limit of %(mb)d MB.") % {"mb": limit // (1 << 20)})
        digest.update(chunk)
        chunks.append(chunk)
    if size == 0:
        raise ImportFileError(_("The file is empty."))
    upload = ImportUpload(fmt=fmt, original_name=name[:255], sha256=digest.hexdigest(), size=size, created_by=user)
    upload.file.save(f"{uuid.uuid4().hex}{suffix}", ContentFile(b"".join(chunks)), save=False)
    upload.save()
    return upload


def uploads_for_user(user: User) -> QuerySet[ImportUpload]:
    """Each person sees only the files they uploaded."""
    return ImportUpload.objects.filter(created_by=user)


def read_upload(upload: ImportUpload) -> bytes:
    with upload.file.open("rb") as handle:
        return bytes(handle.read())  # the storage's file is untyped


def upload_table(upload: ImportUpload) -> Table:
    return read_table(read_upload(upload), upload.original_name)


def run_upload(upload: ImportUpload, options: ImportOptions, *, dry_run: bool, user: User) -> ImportReport:
    """Dry-run or import the upload with the importer of its format; a real import is recorded on the row."""
    data = read_upload(upload)
    common: dict[str, Any] = {"origin_name": upload.original_name, "dry_run": dry_run, "user": user}
    report: ImportReport
    if upload.fmt == ImportFormat.MEDES_QUESTIONS:
        report = import_medes_questions(data, status=options.status, **common)
    elif upload.fmt == ImportFormat.MEDES_RESPONSES:
        report = import_medes_responses(data, create_questions=options.create_questions, **common)
    elif upload.fmt == ImportFormat.MEDETHICEVAL:
        report = import_medethiceval(
            data,
            default_scene=options.default_scene,
            status=options.status,
            create_questions=options.create_questions,
            **common,
        )
    else:
        if options.mapping is None:
            raise ImportFileError(_("Map the columns first."))
        table = read_table(data, upload.original_name)
        if upload.fmt == ImportFormat.GENERIC_SCENARIOS:
            report = import_scenarios(table, options.mapping, status=options.status, **common)
        else:
            entries, errors = mapped_response_entries(table, options.mapping)
            report = import_responses(entries, create_questions=options.create_questions, errors=errors, **common)
    if report.written:
        upload.report = report_as_dict(report)
        upload.imported_at = timezone.now()
        upload.save(update_fields=["report", "imported_at"])
        audit.record("import.upload", actor=user, obj=upload, details={"format": upload.fmt, "new": report.new})
    return report

"""Job kinds of the benchmark app."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from benchmark import exports
from benchmark.models import Release, Source
from benchmark.services import parse_source
from medes_site.jobs import JobContext, JobError, job_kind
from medes_site.roles import Role


def validate_parse(config: dict[str, Any]) -> dict[str, Any]:
    try:
        pk = int(config["source"])
    except (KeyError, TypeError, ValueError):
        raise JobError(_("Name the source to parse.")) from None
    if not Source.objects.filter(pk=pk).exists():
        raise JobError(_("There is no such source."))
    return {"source": pk}


@job_kind(
    "benchmark.parse_source",
    label=_("Parse a source into provisions"),
    time_limit=10 * 60,
    roles=frozenset({Role.CURATOR}),
    validate=validate_parse,
)
def run_parse(ctx: JobContext) -> None:
    source = Source.objects.get(pk=ctx.config["source"])
    ctx.progress(0.1, f"parsing {source.original_name}")
    result = parse_source(source, user=None)
    for warning in result["warnings"]:
        ctx.log(warning)
    # curator fixes kept; amendment diffs; what the parser dropped (page headers, page numbers…) and replaced
    for line in (*result["stored_warnings"], *result["amendments"], *result.get("notes", [])):
        ctx.log(line)
    ctx.set_metrics(articles=len(result["articles"]), chapters=result["chapters"], warnings=len(result["warnings"]))


def validate_export(config: dict[str, Any]) -> dict[str, Any]:
    try:
        pk = int(config["release"])
    except (KeyError, TypeError, ValueError):
        raise JobError(_("Name the release to export.")) from None
    if not Release.objects.filter(pk=pk).exists():
        raise JobError(_("There is no such release."))
    try:
        fmt = exports.get_format(str(config.get("format", ""))).name
    except exports.ExportError as error:
        raise JobError(str(error)) from None
    return {"release": pk, "format": fmt}


@job_kind(
    "benchmark.export_release",
    label=_("Export a release"),
    time_limit=30 * 60,
    roles=frozenset({Role.CURATOR, Role.REVIEWER, Role.ML_ENGINEER}),
    validate=validate_export,
)
def run_export(ctx: JobContext) -> None:
    """Write the download once per release and format (a release never changes), check that it reads back to
    the release's checksum, then link it from the job and the release page."""
    release = Release.objects.get(pk=ctx.config["release"])
    fmt = ctx.config["format"]
    ctx.progress(0.1, f"exporting {release.name} as {fmt}")
    path = exports.prepare_download(release, fmt)
    ctx.check_cancelled()
    if fmt in exports.READABLE_FORMATS:
        ctx.progress(0.7, "reading the export back")
        if exports.file_checksum(path, fmt) != release.checksum:  # read a batch at a time
            path.unlink(missing_ok=True)
            raise JobError(_("The export does not read back to the release's checksum; nothing was published."))
        ctx.log("the export reads back to the release checksum")
    ctx.add_artifact(path, str(exports.get_format(fmt).label))
    ctx.set_metrics(items=release.item_count, bytes=path.stat().st_size, checksum=release.checksum)

"""Job kinds of the benchmark app."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from benchmark.models import Source
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
    for line in (*result["stored_warnings"], *result["amendments"]):  # curator fixes kept; amendment diffs
        ctx.log(line)
    ctx.set_metrics(articles=len(result["articles"]), chapters=result["chapters"], warnings=len(result["warnings"]))

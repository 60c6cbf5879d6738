"""Job kinds of the annotation app: agreement statistics and label exports for large campaigns."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from annotation import campaign_agreement, exports, review
from annotation.models import Campaign
from medes_site.jobs import JobContext, JobError, job_kind
from medes_site.roles import Role

REVIEW_ROLES = frozenset({Role.REVIEWER, Role.CURATOR, Role.ML_ENGINEER})


def _campaign_pk(config: dict[str, Any]) -> int:
    try:
        pk = int(config["campaign"])
    except (KeyError, TypeError, ValueError):
        raise JobError(_("Name the campaign.")) from None
    if not Campaign.objects.filter(pk=pk).exists():
        raise JobError(_("There is no such campaign."))
    return pk


def labels_visible(user: Any, config: dict[str, Any]) -> bool:
    """A campaign job's outputs hold its labels: only for those who may see them (blind labeling)."""
    return review.may_see_labels(user, int(config.get("campaign") or 0))


def validate_agreement(config: dict[str, Any]) -> dict[str, Any]:
    return {"campaign": _campaign_pk(config)}


@job_kind(
    campaign_agreement.AGREEMENT_JOB,
    label=_("Agreement statistics of a campaign"),
    time_limit=30 * 60,
    roles=REVIEW_ROLES,
    validate=validate_agreement,
    outputs_visible=labels_visible,
)
def run_agreement(ctx: JobContext) -> None:
    campaign = Campaign.objects.get(pk=ctx.config["campaign"])
    ctx.progress(0.1, f"computing agreement for {campaign.name}")
    result = campaign_agreement.compute_agreement(campaign)
    ctx.set_metrics(agreement=result)
    ctx.log(f"{len(result['dimensions'])} dimensions, {result['accepted']} accepted items")


def validate_export(config: dict[str, Any]) -> dict[str, Any]:
    pk = _campaign_pk(config)
    what, fmt = str(config.get("what", "")), str(config.get("format", ""))
    if what not in exports.EXPORT_KINDS:
        raise JobError(_("Export labels or accepted labels."))
    if fmt not in exports.EXPORT_FORMATS:
        raise JobError(_("Choose jsonl, csv or parquet."))
    return {"campaign": pk, "what": what, "format": fmt}


@job_kind(
    exports.EXPORT_JOB,
    label=_("Export a campaign's labels"),
    time_limit=30 * 60,
    roles=REVIEW_ROLES,
    validate=validate_export,
    outputs_visible=labels_visible,
)
def run_export(ctx: JobContext) -> None:
    campaign = Campaign.objects.get(pk=ctx.config["campaign"])
    what, fmt = ctx.config["what"], ctx.config["format"]
    ctx.progress(0.1, f"exporting {what} of {campaign.name} as {fmt}")
    path = exports.export_path(campaign, what, fmt, ctx.artifacts_dir)
    with path.open("wb") as out:
        rows = exports.write_export(campaign, what, fmt, out)
    ctx.add_artifact(path, f"{campaign.name} {what} ({fmt})")
    ctx.set_metrics(rows=rows, bytes=path.stat().st_size)

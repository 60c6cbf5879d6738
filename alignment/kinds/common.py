"""What several alignment job kinds read from a config the same way (the responses to judge, the policy, the
pipeline a step belongs to), the answers they leave out of judging, and what a pipeline step does when it has
succeeded. A job's training knobs are read by alignment.knobs.knob_values."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from alignment import pipelines, services
from alignment.evaluation import degenerate_responses
from alignment.models import GuardianVersion
from benchmark.models import RegisteredModel, Response
from medes_site.jobs import JobContext, JobError

LOGGED_DEGENERATE = 20  # degenerate answers a judging job names in its log, with their reasons


def active_version() -> GuardianVersion:
    """The active guardian version; a JobError saying none is when none is."""
    return services.require_active_version(JobError)


def responses(config: dict[str, Any]) -> list[int]:
    """The ids of the responses to judge, checked: at least one, all existing."""
    try:
        ids = sorted({int(pk) for pk in config.get("responses") or []})
    except (TypeError, ValueError):
        raise JobError(_("Give the ids of the responses to judge.")) from None
    if not ids:
        raise JobError(_("Choose at least one response to judge."))
    if Response.objects.filter(pk__in=ids).count() != len(ids):
        raise JobError(_("Some of these responses do not exist."))
    return ids


def judgeable(ctx: JobContext, responses: QuerySet[Response]) -> tuple[QuerySet[Response], int]:
    """The responses a judge may read, and how many were left out: degenerate answers (benchmark.degenerate,
    alignment.evaluation.degenerate_responses) are failures already, and no judge is asked about them or trusted
    on them (issue 14, item 7). Each left out is logged with its reason, the first ``LOGGED_DEGENERATE``."""
    degenerate = degenerate_responses(responses)
    if degenerate:
        ctx.log(f"{len(degenerate)} degenerate answers not sent to the judge (failures whatever a judge says):")
        for answer in list(degenerate.values())[:LOGGED_DEGENERATE]:
            ctx.log(f"  response {answer.response_id} (case {answer.scenario_id}): {answer.reason}")
    return responses.exclude(pk__in=list(degenerate)), len(degenerate)


def policy(config: dict[str, Any]) -> int:
    """The registered policy model's id, checked; the targeted prompts and the pairs also need a guardian."""
    try:
        pk = int(config.get("policy", 0))
    except (TypeError, ValueError):
        pk = 0
    if not RegisteredModel.objects.filter(pk=pk).exists():
        raise JobError(_("Choose the policy model."))
    active_version()
    return pk


def pipeline(config: dict[str, Any]) -> dict[str, Any]:
    """A step of an align pipeline carries the pipeline's id, so that its success starts the next step."""
    try:
        return {"pipeline": int(config["pipeline"])} if config.get("pipeline") else {}
    except (TypeError, ValueError):
        raise JobError(_("Not a pipeline id.")) from None


def step_done(ctx: JobContext) -> None:
    """The job succeeded: when it is a pipeline's step, the pipeline goes on (alignment.pipelines)."""
    pipelines.step_done(ctx.config.get("pipeline"), ctx.job_id)

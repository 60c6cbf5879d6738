"""The prompt judge's job: the MedES rubric asked of a chat model (alignment.prompt_judge, issue 5, item 4),
greedily, for each response no reviewer has stood behind yet; degenerate answers are left out."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.utils.translation import gettext_lazy as _

from alignment import prompt_judge, services
from alignment.kinds import PROMPT_JUDGE_JOB
from alignment.kinds.common import judgeable, responses
from alignment.models import JudgeKind, Judgement
from benchmark.model_backends import GeneratorError, available_backends, get_backend
from benchmark.models import Response
from medes_site.jobs import JobContext, JobError, job_kind


def validate_prompt_judge(config: dict[str, Any]) -> dict[str, Any]:
    ids = responses(config)
    backend = str(config.get("backend", ""))
    if backend not in available_backends():
        raise JobError(
            _(
                "No judge model is configured as %(backend)r: set MEDES_GENERATOR_BASE_URL (an endpoint) or "
                "MEDES_GENERATOR_LOCAL_DIR (a local model)."
            )
            % {"backend": backend}
        )
    return {"responses": ids, "backend": backend}


@job_kind(
    PROMPT_JUDGE_JOB,
    label=_("Judge responses with the prompt judge"),
    queue="gpu",
    time_limit=12 * 3600,
    validate=validate_prompt_judge,
)
def run_prompt_judging(ctx: JobContext) -> None:
    """The MedES rubric asked of a chat model (issue 5, item 4), greedily: a reply that cannot be read is
    stored as such, with the reason and the raw reply, and counted."""
    try:
        backend = get_backend(ctx.config["backend"])
    except GeneratorError as error:
        raise JobError(str(error)) from None
    backend = dataclasses.replace(backend, temperature=0.0)  # type: ignore[type-var]  # a judge answers the same way twice
    judged, degenerate = judgeable(ctx, Response.objects.filter(pk__in=ctx.config["responses"]))
    reviewed = set(  # a reviewer stood behind these: not asked again (an endpoint's tokens cost money)
        Judgement.objects.filter(
            response__in=judged, judge=JudgeKind.PROMPT, judge_model=backend.model_label, accepted__isnull=False
        ).values_list("response_id", flat=True)
    )
    total, done, unreadable = judged.count() - len(reviewed), 0, 0
    ctx.log(f"judging {total} responses with the prompt judge ({backend.model_label})")
    for row in services.response_rows(judged.exclude(pk__in=reviewed)):
        try:
            result = prompt_judge.judge(backend, scenario=row["scenario"], norm=row["norm"], response=row["response"])
        except GeneratorError as error:
            ctx.set_metrics(judged=done, unreadable=unreadable, degenerate=degenerate)
            raise JobError(
                _("The judge model failed after %(n)d responses: %(error)s") % {"n": done, "error": error}
            ) from None
        if services.store_prompt_judgement(row["id"], backend.model_label, result, ctx.job_id):
            done += 1
            unreadable += not result.parsed
        ctx.progress(done / max(total, 1), f"{done} of {total}")
    ctx.set_metrics(judged=done, unreadable=unreadable, kept_reviewed=len(reviewed), degenerate=degenerate)
    if unreadable:
        ctx.log(
            f"{unreadable} judgements had a reply that could not be read; each is stored with the reason, "
            "and the other reply's scores are kept"
        )

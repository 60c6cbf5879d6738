"""The pairs job (alignment.alignment_data, issue 6, item 2): the policy answers each targeted prompt, the
active guardian scores its answer and a safe one, and the pairs it prefers are proposed for review."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from alignment import alignment_data, evaluation
from alignment.kinds import PAIRS_JOB
from alignment.kinds.common import active_version, pipeline, policy, step_done
from alignment.models import ProposalStatus, TargetedPrompt
from benchmark.models import RegisteredModel
from medes_site.jobs import JobContext, job_kind


def validate_pairs(config: dict[str, Any]) -> dict[str, Any]:
    return {"policy": policy(config), "only_accepted": bool(config.get("only_accepted", False)), **pipeline(config)}


@job_kind(
    PAIRS_JOB,
    label=_("Training pairs from targeted prompts"),
    queue="gpu",
    time_limit=24 * 3600,
    validate=validate_pairs,
)
def run_pairs(ctx: JobContext) -> None:
    model = RegisteredModel.objects.get(pk=ctx.config["policy"])
    version = active_version()
    prompts = TargetedPrompt.objects.filter(policy=model).exclude(status=ProposalStatus.REJECTED)
    if ctx.config["only_accepted"]:  # the review gate: only what a curator accepted
        prompts = prompts.filter(status=ProposalStatus.ACCEPTED)
    prompts = prompts.select_related("scenario__scene", "judgement__response").order_by("pk")
    ctx.log(f"pairing {prompts.count()} prompts for {model.name} with guardian v{version.number}")
    counts = alignment_data.build_pairs(
        prompts, version, answer_backend=evaluation.backend_for(model), job_id=ctx.job_id, log=ctx.log
    )
    ctx.set_metrics(**counts)
    step_done(ctx)

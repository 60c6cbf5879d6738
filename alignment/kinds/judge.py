"""The judging job: responses judged by the active guardian version, and, when the version has a critic, its
feedback on each; degenerate answers are left out (failures whatever a judge says)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from alignment import services
from alignment.kinds import JUDGE_JOB
from alignment.kinds.common import active_version, judgeable, responses
from alignment.runtime import device, load_version_critic, model_dir, version_dir
from alignment.training.errors import CheckpointError
from alignment.training.guardian import load as load_guardian
from benchmark.models import Response
from medes_site.jobs import JobContext, JobError, job_kind


def validate_judge(config: dict[str, Any]) -> dict[str, Any]:
    ids = responses(config)
    active_version()
    return {"responses": ids}


@job_kind(
    JUDGE_JOB,
    label=_("Judge responses with the active guardian"),
    queue="gpu",
    time_limit=12 * 3600,
    validate=validate_judge,
)
def run_judging(ctx: JobContext) -> None:
    version = active_version()
    model_dir(version.base_model)  # the base it was trained on, loaded with it: under a models root too
    try:
        guardian = load_guardian(version_dir(version), base_model=version.base_model, device=device())
        critic = load_version_critic(version)
    except CheckpointError as error:
        raise JobError(str(error)) from None
    judged, degenerate = judgeable(ctx, Response.objects.filter(pk__in=ctx.config["responses"]))
    total, done, unreadable = judged.count(), 0, 0
    ctx.log(f"judging {total} responses with guardian v{version.number}" + (" and its critic" if critic else ""))
    for batch in services.chunks(services.response_rows(judged)):
        predictions = guardian.predict(batch)
        if critic is not None:  # the critic reads the scores the guardian just gave
            scored = [{**row, "scores": p["scores"]} for row, p in zip(batch, predictions, strict=True)]
            for prediction, feedback in zip(predictions, critic.feedback(scored), strict=True):
                prediction["critic"] = {k: v for k, v in feedback.items() if k != "id"}
                unreadable += feedback["status"] != "ok"
        done += services.store_guardian_judgements(version, predictions, ctx.job_id)
        ctx.progress(done / total, f"{done} of {total}")
    ctx.set_metrics(
        version=version.number,
        judged=done,
        degenerate=degenerate,
        **({"feedback_unparseable": unreadable} if critic else {}),
    )

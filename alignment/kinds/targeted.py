"""The targeted prompts job (alignment.alignment_data, issue 6, item 1): where a policy fails by the active
guardian, a prompt for each failing case and, through a generator, new variants of it."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from alignment import alignment_data
from alignment.kinds import TARGET_JOB
from alignment.kinds.common import active_version, pipeline, policy, step_done
from benchmark.model_backends import available_backends, get_backend
from benchmark.models import RegisteredModel
from medes_site.jobs import JobContext, JobError, job_kind

MAX_VARIANTS = 10


def validate_targeted(config: dict[str, Any]) -> dict[str, Any]:
    policy_id = policy(config)
    backend = str(config.get("backend") or "")
    if backend and backend not in available_backends():
        raise JobError(_("No generator is configured as %(backend)r.") % {"backend": backend})
    try:
        variants = int(config.get("variants") or 0)
    except (TypeError, ValueError):
        raise JobError(_("variants must be a whole number.")) from None
    if not 0 <= variants <= MAX_VARIANTS:
        raise JobError(_("Ask for 0 to 10 variants per failing case."))
    return {"policy": policy_id, "backend": backend, "variants": variants if backend else 0, **pipeline(config)}


@job_kind(
    TARGET_JOB,
    label=_("Targeted prompts where the policy fails"),
    queue="gpu",
    time_limit=12 * 3600,
    validate=validate_targeted,
)
def run_targeted(ctx: JobContext) -> None:
    model = RegisteredModel.objects.get(pk=ctx.config["policy"])
    version = active_version()
    found = alignment_data.failures(model, version)
    ctx.log(
        f"{len(found)} failing answers of {model.name} by guardian v{version.number}: "
        f"{alignment_data.failure_summary(found)[:10]}"
    )
    backend = get_backend(ctx.config["backend"]) if ctx.config["backend"] else None
    counts = alignment_data.propose_prompts(
        model, found, backend=backend, variants=ctx.config["variants"], job_id=ctx.job_id
    )
    ctx.set_metrics(failures=len(found), **counts)
    step_done(ctx)

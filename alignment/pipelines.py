"""The "align" action (issue 6, item 6): one pipeline, each step a visible job; a step's job, when it
succeeds, calls ``step_done`` and the next step starts. With the review gate on, the pipeline waits after the
pairs are built until a reviewer has looked at them and someone presses "continue"; with it off, the pairs
the guardian prefers are accepted as they are.

evaluate_base → targeted → pairs → (gate) → datasets frozen → sft → dpo → aligned model registered →
evaluate_aligned → done. The base policy must be a local model directory (its weights are trained).
"""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alignment import services
from alignment.alignment_data import AlignmentDataError, freeze
from alignment.kinds import EVALUATE_JOB, PAIRS_JOB, POLICY_JOB, TARGET_JOB
from alignment.models import AlignPipeline, PipelineStatus, PreferencePair, ProposalStatus
from alignment.runtime import run_dir
from alignment.training.config import preset
from alignment.training.policy import RunConfig
from benchmark.models import ModelKind, RegisteredModel, Release
from benchmark.responses import register_model
from medes_site import audit, labels
from medes_site.jobs import JobError, cancel_job, enqueue_job, execute_job
from medes_site.model_dirs import ModelPathError, checked_model_dir
from medes_site.models import Job, JobStatus

STEPS = ("evaluate_base", "targeted", "pairs", "sft", "dpo", "evaluate_aligned")
# A step is stored by its code (AlignPipeline.step, its jobs' keys) and shown by its label.
STEP_LABELS = {
    "evaluate_base": gettext_lazy("evaluate the base model"),
    "targeted": gettext_lazy("find its failures"),
    "pairs": gettext_lazy("build preference pairs"),
    "sft": gettext_lazy("SFT"),
    "dpo": gettext_lazy("DPO"),
    "evaluate_aligned": gettext_lazy("evaluate the aligned model"),
}
STEP_ERROR = re.compile(r"(?P<step>[a-z_]+)(?P<job> \(job \d+\))?: (?P<error>.*)", re.S)


def step_label(step: str) -> str:
    return str(STEP_LABELS[step]) if step in STEP_LABELS else labels.humanize(step)


def error_label(error: str) -> str | None:
    """A pipeline's stored error (``"<step>: <why>"``, ``"<step> (job 7): <why>"``) with the step's label."""
    match = STEP_ERROR.fullmatch(error)
    if match is None or match["step"] not in STEP_LABELS:
        return None
    step = step_label(match["step"])
    if match["job"]:
        step += _(" (job %(job)s)") % {"job": match["job"][6:-1]}
    return _("%(step)s: %(error)s") % {"step": step, "error": labels.label("message", match["error"])}


labels.register("pipeline_step", STEP_LABELS)
labels.register("pipeline_error", error_label)
# The runs' settings unless the align form says otherwise: a short run that shows every step. Knobs of RunConfig,
# checked as the module is imported; the others keep RunConfig's defaults.
DEFAULT_RUN = preset(RunConfig, max_steps=20, save_steps=10, logging_steps=1, learning_rate=5e-4, lora_r=8)


class PipelineError(ValueError):
    pass


ACTIVE = (PipelineStatus.RUNNING, PipelineStatus.WAITING)


def start(
    policy: RegisteredModel,
    release: Release,
    options: dict[str, Any],
    *,
    user: Any = None,
    request_key: str | None = None,
) -> AlignPipeline:
    """Start a pipeline on ``policy``. A repeated submit (the same ``request_key``) returns the pipeline the first
    one started; a model has at most one pipeline in progress (two would train on each other's pairs)."""
    if policy.kind != ModelKind.HF_DIRECTORY:
        raise PipelineError(_("The policy must be a local model directory (its weights are what SFT and DPO train)."))
    try:  # under a models root before anything looks at the directory (an old row may name any path)
        directory = checked_model_dir(policy.path)
    except ModelPathError as error:
        raise PipelineError(str(error)) from None
    if not (directory / "config.json").is_file():
        raise PipelineError(_("The policy must be a local model directory (its weights are what SFT and DPO train)."))
    services.require_active_version(PipelineError)
    options = {
        "variants": 0,
        "backend": "",
        "review_gate": False,
        "weights": "plain",
        "run": {**DEFAULT_RUN, **(options.get("run") or {})},
        **{k: v for k, v in options.items() if k != "run"},
    }
    with transaction.atomic():
        RegisteredModel.objects.select_for_update().filter(pk=policy.pk).first()  # one start per model at a time
        if request_key:
            earlier = AlignPipeline.objects.filter(request_key=request_key).first()
            if earlier is not None:
                if earlier.policy_id != policy.pk:
                    raise PipelineError(_("This form was already used to start another pipeline; reload the page."))
                return earlier
        running = AlignPipeline.objects.filter(policy=policy, status__in=ACTIVE).first()
        if running is not None:
            raise PipelineError(
                _("%(model)s already has an alignment pipeline in progress (%(pk)d): let it finish or cancel it first.")
                % {"model": policy.name, "pk": running.pk}
            )
        pipeline = AlignPipeline.objects.create(
            policy=policy,
            release=release,
            options=options,
            created_by=user if getattr(user, "pk", None) else None,
            request_key=request_key or None,
        )
        audit.record("pipeline.start", actor=user, obj=pipeline, details={"release": release.pk, "options": options})
        _enqueue(pipeline, "evaluate_base", user=user)
    return pipeline


def cancel(pipeline: AlignPipeline, *, user: Any = None) -> AlignPipeline:
    """Stop a pipeline: its current step's job is cancelled (a running one stops at its next progress report)
    and no further step starts. Repeating it changes nothing."""
    with transaction.atomic():
        changed = AlignPipeline.objects.filter(pk=pipeline.pk, status__in=ACTIVE).update(
            status=PipelineStatus.CANCELLED
        )
        pipeline.refresh_from_db()
        if not changed:
            return pipeline
        job = Job.objects.filter(pk=pipeline.jobs.get(pipeline.step) or 0).first()
        if job is not None:
            cancel_job(job, user=user)
        audit.record("pipeline.cancel", actor=user, obj=pipeline, details={"step": pipeline.step})
    return pipeline


def _enqueue(pipeline: AlignPipeline, step: str, *, user: Any = None) -> None:
    options = {"variants": 0, "backend": "", "weights": "plain", **pipeline.options}
    options["run"] = {**DEFAULT_RUN, **(pipeline.options.get("run") or {})}
    tag = {"pipeline": pipeline.pk}
    launch = {"processes": options.get("processes") or 1, "accelerate_config": options.get("accelerate_config", "")}
    kinds: dict[str, tuple[str, dict[str, Any]]] = {
        "evaluate_base": (
            EVALUATE_JOB,
            {
                "model": pipeline.policy_id,
                "release": pipeline.release_id,
                "judge": "guardian",
                "weights": options["weights"],
                "generate": True,
            },
        ),
        "targeted": (
            TARGET_JOB,
            {"policy": pipeline.policy_id, "backend": options["backend"], "variants": options["variants"]},
        ),
        "pairs": (PAIRS_JOB, {"policy": pipeline.policy_id, "only_accepted": False}),
        "sft": (
            POLICY_JOB,
            {
                "stage": "sft",
                "dataset": pipeline.datasets.get("sft"),
                "base_model": pipeline.policy.path,
                "options": options["run"],
                **launch,
            },
        ),
        "dpo": (
            POLICY_JOB,
            {
                "stage": "dpo",
                "dataset": pipeline.datasets.get("dpo"),
                "base_model": pipeline.policy.path,
                "start_from": pipeline.jobs.get("sft"),
                "options": {**options["run"], "merge": True},
                **launch,
            },
        ),
        "evaluate_aligned": (
            EVALUATE_JOB,
            {
                "model": pipeline.aligned_id,
                "release": pipeline.release_id,
                "judge": "guardian",
                "weights": options["weights"],
                "generate": True,
            },
        ),
    }
    kind, config = kinds[step]
    try:
        job = enqueue_job(kind, {**config, **tag}, user=user)
    except JobError as error:  # the step cannot start (say, the base moved away): the pipeline stops, saying why
        AlignPipeline.objects.filter(pk=pipeline.pk).update(
            status=PipelineStatus.FAILED, step=step, error=f"{step}: {error}"[:2000]
        )
        raise PipelineError(f"{step}: {error}") from None
    AlignPipeline.objects.filter(pk=pipeline.pk).update(step=step, jobs={**pipeline.jobs, step: job.pk})
    pipeline.refresh_from_db()


def step_done(pipeline_id: int | None, job_id: int) -> None:
    """Called by a step's job when it has succeeded: start the next step (or wait for the review)."""
    if not pipeline_id:
        return
    with transaction.atomic():
        pipeline = AlignPipeline.objects.select_for_update().filter(pk=pipeline_id).first()
        if pipeline is None or pipeline.status != PipelineStatus.RUNNING or pipeline.jobs.get(pipeline.step) != job_id:
            return  # not (or no longer) this pipeline's current step
        step = pipeline.step
        if step == "pairs":
            if pipeline.options.get("review_gate"):
                AlignPipeline.objects.filter(pk=pipeline.pk).update(status=PipelineStatus.WAITING)
                return
            _accept_and_freeze(pipeline)
            nxt = "sft"
        elif step == "dpo":
            _register_aligned(pipeline)
            nxt = "evaluate_aligned"
        elif step == "evaluate_aligned":
            AlignPipeline.objects.filter(pk=pipeline.pk).update(status=PipelineStatus.SUCCEEDED)
            return
        else:
            nxt = STEPS[STEPS.index(step) + 1]
        pipeline.refresh_from_db()
        _enqueue(pipeline, nxt, user=pipeline.created_by)  # its row now; its message goes out when this commits


def resume_after_review(pipeline: AlignPipeline, *, user: Any = None) -> AlignPipeline:
    """The reviewers have looked at the pairs: freeze the accepted ones and go on with SFT. Two presses at once
    continue it once; with no accepted pair yet it keeps waiting, saying so."""
    with transaction.atomic():
        locked = AlignPipeline.objects.select_for_update().get(pk=pipeline.pk)
        if locked.status != PipelineStatus.WAITING:
            raise PipelineError(_("This pipeline is not waiting for a review."))
        if not PreferencePair.objects.filter(prompt__policy=locked.policy, status=ProposalStatus.ACCEPTED).exists():
            raise PipelineError(_("No pair is accepted yet: review the pairs first, then continue."))
        datasets = _frozen_datasets(locked)  # an error leaves it waiting
        AlignPipeline.objects.filter(pk=locked.pk).update(status=PipelineStatus.RUNNING, datasets=datasets)
        audit.record("pipeline.continue", actor=user, obj=locked, details=datasets)
        locked.refresh_from_db()
    _enqueue(locked, "sft", user=user)
    pipeline.refresh_from_db()
    return pipeline


def _accept_and_freeze(pipeline: AlignPipeline) -> None:
    PreferencePair.objects.filter(prompt__policy=pipeline.policy, status=ProposalStatus.PROPOSED).update(
        status=ProposalStatus.ACCEPTED
    )
    _freeze(pipeline)


def _freeze(pipeline: AlignPipeline) -> None:
    """Without the review gate: no pair to train on ends the pipeline."""
    try:
        datasets = _frozen_datasets(pipeline)
    except PipelineError as error:
        AlignPipeline.objects.filter(pk=pipeline.pk).update(status=PipelineStatus.FAILED, error=str(error))
        raise
    AlignPipeline.objects.filter(pk=pipeline.pk).update(datasets=datasets)
    pipeline.refresh_from_db()


def _frozen_datasets(pipeline: AlignPipeline) -> dict[str, int]:
    """The policy's accepted pairs frozen as the pipeline's SFT and DPO datasets."""
    try:
        return {kind: freeze(f"align-{pipeline.pk}-{kind}", kind, policy=pipeline.policy).pk for kind in ("sft", "dpo")}
    except AlignmentDataError as error:
        raise PipelineError(str(error)) from None


def _register_aligned(pipeline: AlignPipeline) -> None:
    merged = run_dir(pipeline.jobs["dpo"]) / "merged"
    notes = (
        f"SFT job {pipeline.jobs['sft']} then DPO job {pipeline.jobs['dpo']} on {pipeline.policy.name}; "
        f"datasets {pipeline.datasets}"
    )
    model = register_model(
        name=f"{pipeline.policy.name}-aligned-{pipeline.pk}", kind=ModelKind.HF_DIRECTORY, path=str(merged), notes=notes
    )
    AlignPipeline.objects.filter(pk=pipeline.pk).update(aligned=model)
    pipeline.refresh_from_db()


def steps(pipeline: AlignPipeline) -> list[dict[str, Any]]:
    """Each step with its job (if it started) and the job's status, in order: what the admin page shows."""
    jobs = Job.objects.in_bulk([pk for pk in pipeline.jobs.values() if pk])
    return [{"step": step, "label": step_label(step), "job": jobs.get(pipeline.jobs.get(step) or 0)} for step in STEPS]


def blocked(pipeline: AlignPipeline, jobs: dict[int, Any] | None = None) -> str:
    """Why a running pipeline is not moving: its current step's job failed, was cancelled or was lost on a
    worker. A failed or lost job that is resumed (on its job page) and succeeds takes the pipeline on.
    ``jobs`` (id → Job), when given, saves the query (a list of pipelines looks their jobs up at once)."""
    if pipeline.status != PipelineStatus.RUNNING:
        return ""
    job_id = pipeline.jobs.get(pipeline.step) or 0
    job = jobs.get(job_id) if jobs is not None else Job.objects.filter(pk=job_id).first()
    if job is None or job.status in ("queued", "running", "succeeded"):
        return ""
    if job.status == "cancelled":
        return _("The job %(job)d (%(step)s) was cancelled: cancel the pipeline, or start a new one.") % {
            "step": step_label(pipeline.step),
            "job": job.pk,
        }
    return _("The job %(job)d (%(step)s) is %(status)s: resume it on its job page and the pipeline goes on.") % {
        "step": step_label(pipeline.step),
        "job": job.pk,
        "status": job.get_status_display(),
    }


def current_jobs(pipelines: Any) -> dict[int, Any]:
    """The current step's job of each pipeline, in one query."""
    return Job.objects.in_bulk([p.jobs.get(p.step) for p in pipelines if p.jobs.get(p.step)])


def run_here(pipeline: AlignPipeline, *, log: Any = print) -> AlignPipeline:
    """Run the pipeline's steps in this process, one job after another (``manage.py align --here``, tests):
    the same jobs a worker would run, in the order their predecessors start them."""
    while True:
        pipeline.refresh_from_db()
        if pipeline.status != PipelineStatus.RUNNING:
            return pipeline
        job_id = pipeline.jobs[pipeline.step]
        status = execute_job(job_id)
        job = Job.objects.get(pk=job_id)
        log(f"{pipeline.step}: job {job_id} {job.status}")
        if status != JobStatus.SUCCEEDED:
            AlignPipeline.objects.filter(pk=pipeline.pk).update(
                status=PipelineStatus.FAILED, error=f"{pipeline.step} (job {job_id}): {job.error}"[:2000]
            )
            pipeline.refresh_from_db()
            return pipeline

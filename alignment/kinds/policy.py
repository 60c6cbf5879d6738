"""The policy run job: an SFT or DPO run (alignment.training.policy) on a frozen dataset, started as
``accelerate launch`` and supervised (alignment.supervision); a cancel stops it; a new attempt (after a crash or
a killed worker) resumes from its last checkpoint. A merged model can be registered when the run succeeds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.utils.translation import gettext_lazy as _

from alignment import supervision
from alignment.kinds import POLICY_JOB
from alignment.kinds.common import pipeline, step_done
from alignment.knobs import knob_values
from alignment.models import AlignmentDataset
from alignment.runtime import config_file, device, model_dir, run_dir
from alignment.training.policy import MANIFEST, RunConfig, launch_command
from benchmark.models import ModelKind, RegisteredModel
from benchmark.responses import ModelError, register_model
from medes_site import files
from medes_site.jobs import JobContext, JobError, job_kind
from medes_site.models import Job

# The knobs a job's "options" may not set: the stage and the paths, which the job sets itself, the device (the
# deployment's) and the LoRA switch. The options may set every other knob of RunConfig; what they leave out keeps
# its default.
LEFT_OUT = ("stage", "base_model", "data", "output_dir", "adapter", "device", "use_peft")


def validate_policy(config: dict[str, Any]) -> dict[str, Any]:
    stage = str(config.get("stage", ""))
    if stage not in ("sft", "dpo"):
        raise JobError(_("The stage is sft or dpo."))
    dataset = AlignmentDataset.objects.filter(pk=config.get("dataset") or 0).first()
    if dataset is None or dataset.kind != stage:
        raise JobError(_("Choose a frozen %(stage)s dataset.") % {"stage": stage.upper()})
    base = str(config.get("base_model", "")).strip()
    if not base or not (model_dir(base) / "config.json").is_file():
        raise JobError(_("Name a base model directory on this server (one with a config.json)."))
    start = None
    if config.get("start_from"):  # a finished run whose adapter this one starts from (DPO after SFT)
        previous = Job.objects.filter(pk=config["start_from"], kind=POLICY_JOB).first()
        # its run has finished (the manifest is written last), even if its job is still wrapping up
        if previous is None or not (run_dir(previous.pk) / MANIFEST).is_file():
            raise JobError(_("Start from a policy run that has succeeded."))
        start = previous.pk
    chosen = knob_values(RunConfig, config.get("options") or {}, leave_out=LEFT_OUT)
    try:
        processes = int(config.get("processes") or 1)
    except (TypeError, ValueError):
        raise JobError(_("processes must be a whole number.")) from None
    accelerate_config = str(config.get("accelerate_config") or "").strip()
    if accelerate_config:
        config_file(accelerate_config)
    register_as = str(config.get("register_as") or "").strip()
    if register_as:  # the merged model, registered when the run succeeds, so that it can be evaluated
        if not chosen.get("merge"):
            raise JobError(_("Only a merged model can be registered: tick “also save a merged model”."))
        if RegisteredModel.objects.filter(name=register_as).exists():
            raise JobError(_("A model named %(name)s is already registered.") % {"name": register_as})
    extra = {"register_as": register_as} if register_as else {}
    return {
        "stage": stage,
        "dataset": dataset.pk,
        "base_model": base,
        "start_from": start,
        "options": chosen,
        "processes": processes,
        "accelerate_config": accelerate_config,
        **extra,
        **pipeline(config),
    }


@job_kind(
    POLICY_JOB,
    label=_("Align a model: an SFT or DPO run"),
    queue="gpu",
    time_limit=7 * 24 * 3600,
    validate=validate_policy,
)
def run_policy(ctx: JobContext) -> None:
    """Start ``accelerate launch`` on alignment.training.policy and follow its progress file into this row;
    a cancel stops it; a new attempt (after a crash or a killed worker) resumes from its last checkpoint."""
    config = ctx.config
    model_dir(config["base_model"])  # checked again as the run starts
    if config.get("accelerate_config"):
        config_file(config["accelerate_config"])
    out = run_dir(ctx.job_id)
    config_path, progress_path = _write_run_config(ctx, out)
    if not (out / MANIFEST).is_file():
        _launch(ctx, out, config_path, progress_path)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    train = manifest["train"]
    ctx.set_metrics(
        stage=config["stage"],
        steps=train["steps"],
        final_loss=train.get("final_loss"),
        resumed_from=train.get("resumed_from"),
        data_sha256=manifest["data"]["sha256"],
    )
    ctx.add_artifact(out / "README.md", "model card")
    ctx.log(f"{config['stage']} run finished: {train['steps']} steps, loss {train.get('final_loss')}")
    if config.get("register_as"):
        _register_merged(ctx, out / "merged", config["register_as"])
    step_done(ctx)


def _write_run_config(ctx: JobContext, out: Path) -> tuple[Path, Path]:
    """The run's config (alignment.training.policy.RunConfig's JSON), written for this attempt; returns its path
    and the path of the progress file the run writes."""
    config = ctx.config
    dataset = AlignmentDataset.objects.get(pk=config["dataset"])
    adapter = str(run_dir(config["start_from"]) / "adapter") if config.get("start_from") else None
    run_config = {
        "stage": config["stage"],
        "base_model": config["base_model"],
        "adapter": adapter,
        "data": str(files.stored_path(dataset.path)),
        "output_dir": str(out),
        "device": device(),
        **config["options"],
    }
    config_path, progress_path = ctx.artifacts_dir / "run-config.json", ctx.artifacts_dir / "progress.jsonl"
    config_path.write_text(json.dumps(run_config, ensure_ascii=False, indent=2), encoding="utf-8")
    return config_path, progress_path


def _launch(ctx: JobContext, out: Path, config_path: Path, progress_path: Path) -> None:
    """Launch the run and follow it to its end; a JobError with its reason if it failed."""
    config = ctx.config
    command = launch_command(
        config_path,
        progress_path,
        num_processes=config["processes"],
        accelerate_config=config["accelerate_config"] or None,
        cpu=device() == "cpu",
    )
    ctx.log(f"attempt {ctx.attempt}: {' '.join(command[-6:])}")
    log_path = ctx.artifacts_dir / f"run-attempt{ctx.attempt}.log"
    returncode = supervision.run_followed(ctx, command, progress_path=progress_path, log_path=log_path)
    if returncode != 0 or not (out / MANIFEST).is_file():
        raise JobError(supervision.failure(progress_path, log_path)[:2000])


def _register_merged(ctx: JobContext, merged: Path, name: str) -> None:
    if RegisteredModel.objects.filter(name=name, path=str(merged)).exists():
        return  # an earlier attempt of this job registered it
    user = Job.objects.select_related("triggered_by").get(pk=ctx.job_id).triggered_by
    notes = f"{ctx.config['stage'].upper()} run, job {ctx.job_id}, on {ctx.config['base_model']}"
    try:
        register_model(name=name, kind=ModelKind.HF_DIRECTORY, path=str(merged), user=user, notes=notes)
    except ModelError as error:  # say, the name was taken meanwhile: the run stands; the log says why
        ctx.log(f"the merged model was not registered: {error}")
        return
    ctx.log(f"registered the merged model as {name}")

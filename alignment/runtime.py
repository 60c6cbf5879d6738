"""Where alignment work runs and what it reads and writes: the device, model directories and accelerate configs
someone named (checked under a models root, medes_site.model_dirs), a guardian version's and its critic's
directories, a policy run's directory, the critic loaded from a version, and the progress a transformers
Trainer reports, written to the job row.

The job kinds (alignment.kinds), the evaluation and the training data read these; none of them is imported
here, so that every alignment module may import this one.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from django.conf import settings

from alignment.models import GuardianVersion
from alignment.training.critic import load as load_critic
from medes_site import files
from medes_site.jobs import JobContext, JobError
from medes_site.model_dirs import ModelPathError, checked_config_file, checked_model_dir

LOSS_CURVE_POINTS = 500  # as a policy run's (alignment.supervision): the job row keeps the newest ones


def device() -> str:
    """MEDES_DEVICE, or with "auto" the GPU when there is one."""
    wanted = settings.MEDES_DEVICE
    if wanted != "auto":
        return str(wanted)
    import torch  # heavy and optional: only a worker that trains or judges loads it

    return "cuda" if torch.cuda.is_available() else "cpu"


def model_dir(path: str) -> Path:
    """A model directory someone named, resolved, if it lies under a models root (medes_site.model_dirs): checked
    when a job is started and again when it loads the model. Outside a root nothing is looked at, not even
    whether it exists."""
    try:
        return checked_model_dir(path)
    except ModelPathError as error:
        raise JobError(str(error)) from None


def config_file(path: str) -> Path:
    """An accelerate config file someone named: under a models root too (it says how the trainer is launched)."""
    try:
        return checked_config_file(path)
    except ModelPathError as error:
        raise JobError(str(error)) from None


def version_dir(version: GuardianVersion) -> Path:
    return files.stored_path(version.model_dir)  # kept inside ARTIFACTS_ROOT whatever the row says


def critic_dir(version: GuardianVersion) -> Path:
    """Where the version's critic is (or is to be) written: under its own directory."""
    return files.stored_path((version.critic or {}).get("model_dir") or f"{version.model_dir}/critic")


def run_dir(job_id: int) -> Path:
    """Where a policy run writes (the same for every attempt of a job, so a new attempt resumes)."""
    return files.artifact_path("jobs", job_id, "run")


def load_version_critic(version: GuardianVersion) -> Any:
    """The version's critic, loaded (judging and pair building use it); None when it was trained without one."""
    if not version.critic.get("model_dir"):
        return None
    model_dir(version.critic["base_model"])
    return load_critic(critic_dir(version), base_model=version.critic["base_model"], device=device())


def progress_callback(ctx: JobContext, curve: str | None = "loss_curve") -> Any:
    """A transformers TrainerCallback that writes each logged step (and its loss) to the job row; with ``curve``,
    also the finite losses so far as that job metric ([[step, loss], …], the last LOSS_CURVE_POINTS), which the
    job page draws while the job runs (the critic trained after the guardian passes None: its steps restart)."""
    from transformers import TrainerCallback  # heavy and optional: only a training worker loads it

    points: list[list[float]] = []

    class Progress(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            loss = (logs or {}).get("loss")
            if state.max_steps:
                message = f"step {state.global_step}/{state.max_steps}" + (f", loss {loss:.4f}" if loss else "")
                ctx.progress(state.global_step / state.max_steps, message)
            if curve and isinstance(loss, int | float) and math.isfinite(loss):
                points.append([state.global_step, round(float(loss), 6)])
                ctx.set_metrics(**{curve: points[-LOSS_CURVE_POINTS:]})

    return Progress()

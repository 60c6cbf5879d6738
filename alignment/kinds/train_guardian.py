"""The training job: a guardian version (alignment.training.guardian) on the accepted labels that carry the six
MedES scores, and, when a critic's base is named, its critic (alignment.training.critic) on the same labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.utils.translation import gettext_lazy as _

from alignment import services
from alignment.kinds import TRAIN_JOB
from alignment.knobs import knob_values
from alignment.models import GuardianVersion, VersionStatus
from alignment.runtime import critic_dir, device, model_dir, progress_callback, version_dir
from alignment.training.critic import CriticConfig
from alignment.training.critic import run as train_critic
from alignment.training.errors import TrainingError
from alignment.training.guardian import GuardianConfig
from alignment.training.guardian import run as train_guardian
from medes_site.jobs import JobContext, JobError, job_kind

# The knobs a job's config may not set: the paths and the device, which the job sets itself; the LoRA switch,
# resuming and another training's split, which it does not offer. The config may set every other knob of
# GuardianConfig, and of CriticConfig prefixed "critic_"; what it leaves out keeps the run kind's default.
GUARDIAN_LEFT_OUT = ("base_model", "output_dir", "data", "device", "compare_with", "use_peft", "resume", "frozen_split")
CRITIC_LEFT_OUT = ("base_model", "output_dir", "data", "device", "use_peft")
MIN_LABELS = 10


def validate_train(config: dict[str, Any]) -> dict[str, Any]:
    base = str(config.get("base_model", "")).strip()
    if not base or not (model_dir(base) / "config.json").is_file():
        raise JobError(_("Name a base model directory on this server (one with a config.json)."))
    chosen = knob_values(GuardianConfig, config, leave_out=GUARDIAN_LEFT_OUT)
    critic = str(config.get("critic_base") or "").strip()
    if not critic:
        return {"base_model": base, "options": chosen}
    if not (model_dir(critic) / "config.json").is_file():
        raise JobError(_("The critic's base must be a causal language model directory (one with a config.json)."))
    return {
        "base_model": base,
        "options": chosen,
        "critic_base": critic,
        "critic_options": knob_values(CriticConfig, config, prefix="critic_", leave_out=CRITIC_LEFT_OUT),
    }


@job_kind(TRAIN_JOB, label=_("Train a guardian version"), queue="gpu", time_limit=24 * 3600, validate=validate_train)
def run_training(ctx: JobContext) -> None:
    model_dir(ctx.config["base_model"])  # checked again as it is loaded
    if ctx.config.get("critic_base"):
        model_dir(ctx.config["critic_base"])
    rows = list(services.training_rows())
    if len(rows) < MIN_LABELS:
        raise JobError(
            _("Only %(n)d accepted labels carry the six MedES scores: too few to train on.") % {"n": len(rows)}
        )
    active = services.active_version()
    version = services.new_version(base_model=ctx.config["base_model"], config=ctx.config, job_id=ctx.job_id)
    ctx.log(f"guardian v{version.number}: {len(rows)} accepted labels, base {version.base_model}")
    data = ctx.artifacts_dir / "accepted.jsonl"
    services.write_rows(rows, data)
    try:
        config = GuardianConfig(
            base_model=version.base_model,
            output_dir=str(version_dir(version)),
            data=str(data),
            device=device(),
            compare_with=str(version_dir(active)) if active else None,
            **ctx.config["options"],
        )
        result = train_guardian(config, callbacks=[progress_callback(ctx)])
        critic = _train_critic(ctx, version, data) if ctx.config.get("critic_base") else {}
    except Exception as error:
        GuardianVersion.objects.filter(pk=version.pk).update(status=VersionStatus.FAILED, error=str(error)[:2000])
        raise
    GuardianVersion.objects.filter(pk=version.pk).update(
        status=VersionStatus.READY,
        data_hash=result.data_hash,
        metrics=result.metrics,
        baseline=result.baseline,
        counts=result.counts,
        labels=len(rows),
        config={**ctx.config, "resolved": config.as_dict()},
        critic=critic,
    )
    ctx.set_metrics(version=version.number, **{k: v for k, v in result.metrics.items() if not isinstance(v, dict)})
    ctx.log(f"guardian v{version.number} ready; promote it on the guardian page")


def _train_critic(ctx: JobContext, version: GuardianVersion, data: Path) -> dict[str, Any]:
    """The feedback writer (issue 5, item 3), on the same accepted labels' rationales and reviewed feedback.
    Labels that teach it nothing (no rationale) are skipped and counted. A critic that cannot be trained (no
    example at all, a base without a chat template, a diverging loss) leaves the version without one, with the
    reason on the version page and in the log, rather than failing the scorer that trained well."""
    config = CriticConfig(
        base_model=ctx.config["critic_base"],
        output_dir=str(critic_dir(version)),
        data=str(data),
        device=device(),
        **ctx.config.get("critic_options", {}),
    )
    ctx.log(f"training the critic on {config.base_model}")
    try:
        result = train_critic(config, callbacks=[progress_callback(ctx, curve=None)])
    except TrainingError as error:
        ctx.log(f"no critic for guardian v{version.number}: {error}")
        return {"base_model": config.base_model, "failed": str(error)[:2000]}
    summary = {
        "base_model": config.base_model,
        "model_dir": f"{version.model_dir}/critic",
        "counts": result.counts,
        "data_hash": result.data_hash,
        "steps": result.steps,
        "loss_mask": result.loss_mask,
        "first_loss": result.losses[0] if result.losses else None,
        "last_loss": result.losses[-1] if result.losses else None,
    }
    ctx.log(
        f"critic trained on {result.counts['used']} examples, loss {summary['first_loss']} → {summary['last_loss']}"
    )
    return summary

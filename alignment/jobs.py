"""Job kinds of the alignment app: train a guardian version, judge responses with the active one.

Both run on the ``gpu`` queue (DESIGN.md §5): on a CPU-only deployment the same worker serves both queues.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from alignment import services
from alignment.models import GuardianVersion, JudgeKind, Judgement, VersionStatus
from annotation.review import annotates_in_release
from benchmark.models import Response
from medes_site import files
from medes_site.jobs import JobContext, JobError, job_kind
from medes_site.model_dirs import ModelPathError, checked_config_file, checked_model_dir

TRAIN_JOB = "alignment.train_guardian"
JUDGE_JOB = "alignment.judge"
PROMPT_JUDGE_JOB = "alignment.prompt_judge"
LOGGED_DEGENERATE = 20  # degenerate answers a judging job names in its log, with their reasons
# what a training form may set; everything else keeps alignment.training.guardian's defaults
TRAIN_OPTIONS = {
    "epochs": float,
    "max_steps": int,
    "learning_rate": float,
    "batch_size": int,
    "max_length": int,
    "lora_r": int,
    "lora_alpha": int,
    "seed": int,
    "threshold": float,
}
# the critic's (alignment.training.critic), prefixed "critic_" in a job's config
CRITIC_OPTIONS = {
    "epochs": float,
    "max_steps": int,
    "learning_rate": float,
    "batch_size": int,
    "max_length": int,
    "lora_r": int,
    "lora_alpha": int,
    "lora_dropout": float,
    "max_new_tokens": int,
    "target_modules": str,
}


def device() -> str:
    wanted = settings.MEDES_DEVICE
    if wanted != "auto":
        return str(wanted)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _options(config: dict[str, Any], kinds: dict[str, type], prefix: str = "") -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, kind in kinds.items():
        value = config.get(prefix + key)
        if key == "target_modules" and isinstance(value, list):  # a list kept from an earlier training
            value = ",".join(str(name) for name in value)
        if value not in (None, ""):
            try:
                options[key] = kind(value)
            except (TypeError, ValueError):
                raise JobError(_("%(key)s must be a number.") % {"key": prefix + key}) from None
    if options.get("target_modules") not in (None, "all-linear"):  # a list of module names, comma-separated
        options["target_modules"] = [name.strip() for name in options["target_modules"].split(",") if name.strip()]
    return options


def model_dir(path: str) -> Path:
    """A model directory someone named, resolved, if it lies under a models root (medes_site.model_dirs): checked
    when a job is started and again when it loads the model. Outside a root nothing is looked at, not even
    whether it exists."""
    try:
        return checked_model_dir(path)
    except ModelPathError as error:
        raise JobError(str(error)) from None


def validate_train(config: dict[str, Any]) -> dict[str, Any]:
    base = str(config.get("base_model", "")).strip()
    if not base or not (model_dir(base) / "config.json").is_file():
        raise JobError(_("Name a base model directory on this server (one with a config.json)."))
    options = _options(config, TRAIN_OPTIONS, prefix="")
    critic = str(config.get("critic_base") or "").strip()
    if not critic:
        return {"base_model": base, "options": options}
    if not (model_dir(critic) / "config.json").is_file():
        raise JobError(_("The critic's base must be a causal language model directory (one with a config.json)."))
    return {
        "base_model": base,
        "options": options,
        "critic_base": critic,
        "critic_options": _options(config, CRITIC_OPTIONS, prefix="critic_"),
    }


@job_kind(TRAIN_JOB, label=_("Train a guardian version"), queue="gpu", time_limit=24 * 3600, validate=validate_train)
def run_training(ctx: JobContext) -> None:
    from alignment.training.guardian import GuardianConfig, run

    model_dir(ctx.config["base_model"])  # checked again as it is loaded
    if ctx.config.get("critic_base"):
        model_dir(ctx.config["critic_base"])
    rows = list(services.training_rows())
    if len(rows) < 10:
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
            output_dir=str(services.version_dir(version)),
            data=str(data),
            device=device(),
            compare_with=str(services.version_dir(active)) if active else None,
            **ctx.config["options"],
        )
        result = run(config, callbacks=[_progress_callback(ctx)])
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
    from alignment.training.critic import CriticConfig
    from alignment.training.critic import train as train_critic
    from alignment.training.errors import GuardianError

    out = services.critic_dir(version)
    config = CriticConfig(
        base_model=ctx.config["critic_base"],
        output_dir=str(out),
        data=str(data),
        device=device(),
        **ctx.config.get("critic_options", {}),
    )
    ctx.log(f"training the critic on {config.base_model}")
    try:
        result = train_critic(config, callbacks=[_progress_callback(ctx)])
    except GuardianError as error:
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


def _progress_callback(ctx: JobContext) -> Any:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if state.max_steps:
                loss = (logs or {}).get("loss")
                message = f"step {state.global_step}/{state.max_steps}" + (f", loss {loss:.4f}" if loss else "")
                ctx.progress(state.global_step / state.max_steps, message)

    return Progress()


def _responses(config: dict[str, Any]) -> list[int]:
    try:
        responses = sorted({int(pk) for pk in config.get("responses") or []})
    except (TypeError, ValueError):
        raise JobError(_("Give the ids of the responses to judge.")) from None
    if not responses:
        raise JobError(_("Choose at least one response to judge."))
    if Response.objects.filter(pk__in=responses).count() != len(responses):
        raise JobError(_("Some of these responses do not exist."))
    return responses


def validate_judge(config: dict[str, Any]) -> dict[str, Any]:
    responses = _responses(config)
    if services.active_version() is None:
        raise JobError(_("No guardian version is active: train one and promote it first."))
    return {"responses": responses}


@job_kind(
    JUDGE_JOB,
    label=_("Judge responses with the active guardian"),
    queue="gpu",
    time_limit=12 * 3600,
    validate=validate_judge,
)
def run_judging(ctx: JobContext) -> None:
    from alignment.training.guardian import load

    version = services.active_version()
    if version is None:
        raise JobError(_("No guardian version is active: train one and promote it first."))
    from alignment.training.errors import CheckpointError

    model_dir(version.base_model)  # the base it was trained on, loaded with it: under a models root too
    try:
        guardian = load(services.version_dir(version), base_model=version.base_model, device=device())
        critic = load_version_critic(version)
    except CheckpointError as error:
        raise JobError(str(error)) from None
    responses, degenerate = _judgeable(ctx, Response.objects.filter(pk__in=ctx.config["responses"]))
    total, done, unreadable = responses.count(), 0, 0
    ctx.log(f"judging {total} responses with guardian v{version.number}" + (" and its critic" if critic else ""))
    for batch in services.chunks(services.response_rows(responses)):
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


def _judgeable(ctx: JobContext, responses: QuerySet[Response]) -> tuple[QuerySet[Response], int]:
    """The responses a judge may read, and how many were left out: degenerate answers (benchmark.degenerate,
    alignment.evaluation.degenerate_responses) are failures already, and no judge is asked about them or trusted
    on them (issue 14, item 7). Each left out is logged with its reason, the first ``LOGGED_DEGENERATE``."""
    from alignment.evaluation import degenerate_responses

    degenerate = degenerate_responses(responses)
    if degenerate:
        ctx.log(f"{len(degenerate)} degenerate answers not sent to the judge (failures whatever a judge says):")
        for answer in list(degenerate.values())[:LOGGED_DEGENERATE]:
            ctx.log(f"  response {answer.response_id} (case {answer.scenario_id}): {answer.reason}")
    return responses.exclude(pk__in=list(degenerate)), len(degenerate)


def load_version_critic(version: GuardianVersion) -> Any:
    """The version's critic, loaded (judging and pair building use it); None when it was trained without one."""
    if not version.critic.get("model_dir"):
        return None
    from alignment.training.critic import load as load_critic

    model_dir(version.critic["base_model"])
    return load_critic(services.critic_dir(version), base_model=version.critic["base_model"], device=device())


def validate_prompt_judge(config: dict[str, Any]) -> dict[str, Any]:
    from benchmark.generation import available_backends

    responses = _responses(config)
    backend = str(config.get("backend", ""))
    if backend not in available_backends():
        raise JobError(
            _(
                "No judge model is configured as %(backend)r: set MEDES_GENERATOR_BASE_URL (an endpoint) or "
                "MEDES_GENERATOR_LOCAL_DIR (a local model)."
            )
            % {"backend": backend}
        )
    return {"responses": responses, "backend": backend}


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
    from alignment import prompt_judge
    from benchmark.generation import GeneratorError, get_backend

    try:
        backend = get_backend(ctx.config["backend"])
    except GeneratorError as error:
        raise JobError(str(error)) from None
    backend = dataclasses.replace(backend, temperature=0.0)  # type: ignore[type-var]  # a judge answers the same way twice
    responses, degenerate = _judgeable(ctx, Response.objects.filter(pk__in=ctx.config["responses"]))
    reviewed = set(  # a reviewer stood behind these: not asked again (an endpoint's tokens cost money)
        Judgement.objects.filter(
            response__in=responses, judge=JudgeKind.PROMPT, judge_model=backend.model_label, accepted__isnull=False
        ).values_list("response_id", flat=True)
    )
    total, done, unreadable = responses.count() - len(reviewed), 0, 0
    ctx.log(f"judging {total} responses with the prompt judge ({backend.model_label})")
    for row in services.response_rows(responses.exclude(pk__in=reviewed)):
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


EVALUATE_JOB = "alignment.evaluate"


def validate_evaluate(config: dict[str, Any]) -> dict[str, Any]:
    from alignment import evaluation
    from alignment.evaluation import WEIGHTS
    from benchmark.generation import available_backends
    from benchmark.models import RegisteredModel, Release

    try:
        model, release = int(config.get("model", 0)), int(config.get("release", 0))
    except (TypeError, ValueError):
        raise JobError(_("Choose a model and a release.")) from None
    if not RegisteredModel.objects.filter(pk=model).exists() or not Release.objects.filter(pk=release).exists():
        raise JobError(_("Choose a model and a release that exist."))
    judge = str(config.get("judge", "guardian"))
    options: dict[str, Any] = {"model": model, "release": release, "judge": "guardian"}
    generate = bool(config.get("generate", True))
    if not evaluation.needs_judge(
        RegisteredModel.objects.get(pk=model), Release.objects.get(pk=release), generate=generate
    ):
        options["judge"] = evaluation.NO_JUDGE  # objective answers only: no guardian, no endpoint needed
    elif judge == evaluation.NO_JUDGE:
        raise JobError(_("This model has answers to open cases of the release (or will write them): choose a judge."))
    elif judge == "guardian":
        if services.active_version() is None:
            raise JobError(_("No guardian version is active: train one and promote it first, or use the prompt judge."))
    elif judge.startswith("prompt:") and judge.removeprefix("prompt:") in available_backends():
        options.update(judge="prompt", backend=judge.removeprefix("prompt:"))
    else:
        raise JobError(_("Unknown judge %(judge)r.") % {"judge": judge})
    weights = str(config.get("weights", "plain"))
    if weights not in WEIGHTS:
        raise JobError(_("Quality weights are 'plain' or 'medes'."))
    options["weights"] = weights
    for key, default in (("n_boot", 1000), ("seed", 0)):
        try:
            options[key] = int(config.get(key, default))
        except (TypeError, ValueError):
            raise JobError(_("%(key)s must be a whole number.") % {"key": key}) from None
    if options["n_boot"] < 1:
        raise JobError(_("n_boot must be at least 1."))
    options["generate"] = generate
    return {**options, **_pipeline(config)}


def _verdicts_visible(user: Any, config: dict[str, Any]) -> bool:
    """An evaluation's results judge answers to a release: none for a user who labels answers to it (the
    leaderboard shows them none either)."""
    return not annotates_in_release(user, int(config.get("release") or 0))


@job_kind(
    EVALUATE_JOB,
    label=_("Evaluate a model on a release"),
    queue="gpu",
    time_limit=24 * 3600,
    validate=validate_evaluate,
    outputs_visible=_verdicts_visible,
)
def run_evaluation(ctx: JobContext) -> None:
    """Answer what is missing (models that can be run), judge what is not judged, and store the metrics once."""
    from alignment import evaluation
    from benchmark.generation import GeneratorError
    from benchmark.models import RegisteredModel, Release

    config = ctx.config
    model, release = RegisteredModel.objects.get(pk=config["model"]), Release.objects.get(pk=config["release"])
    try:
        run = evaluation.start_run(model, release, dict(config), job_id=ctx.job_id, user=None)
    except (services.GuardianError, GeneratorError) as error:
        raise JobError(str(error)) from None
    ctx.log(f"evaluating {model.name} on {release.name} with {run.judge_label}")
    try:
        pairs = evaluation.release_responses(model, release)
        backend = evaluation.backend_for(model) if config.get("generate", True) else None
        generated: dict[str, int] = {}
        if backend is not None:
            generated = evaluation.answer_missing(model, pairs, backend, job_id=ctx.job_id, log=ctx.log)
        ctx.progress(0.4, "answers ready")
        open_responses = [p.response for p in pairs if p.response is not None and p.payload["kind"] != "objective"]
        degenerate = evaluation.degenerate_answers(pairs)  # once, from the release's payloads
        evaluation.judge_missing(run, open_responses, degenerate=degenerate, job_id=ctx.job_id)  # never sent
        ctx.progress(0.8, "judged")
        results = evaluation.score(run, pairs, degenerate)
        results["counts"].update(generated)
    except Exception as error:
        evaluation.fail(run, str(error))
        if isinstance(error, GeneratorError | services.GuardianError):
            raise JobError(str(error)) from None
        raise
    evaluation.finish(run, results)
    subjective, objective = results["subjective"] or {}, results["objective"] or {}
    ctx.set_metrics(
        evaluation=run.pk,
        risk=subjective.get("risk"),
        quality=subjective.get("quality"),
        comprehensive=subjective.get("comprehensive"),
        accuracy=objective.get("accuracy"),
        degenerate=results["counts"]["degenerate"],
        judge=run.judge_label,
    )
    ctx.log(f"evaluation {run.pk} stored: {results['counts']}")
    for item in results["degenerate_items"][:20]:
        ctx.log(f"degenerate answer to item {item['item']} ({item['scene']}), scored as a failure: {item['reason']}")
    _step_done(ctx)


def _pipeline(config: dict[str, Any]) -> dict[str, Any]:
    """A step of an align pipeline carries the pipeline's id, so that its success starts the next step."""
    try:
        return {"pipeline": int(config["pipeline"])} if config.get("pipeline") else {}
    except (TypeError, ValueError):
        raise JobError(_("Not a pipeline id.")) from None


def _step_done(ctx: JobContext) -> None:
    from alignment.pipelines import step_done

    step_done(ctx.config.get("pipeline"), ctx.job_id)


TARGET_JOB = "alignment.targeted_prompts"
PAIRS_JOB = "alignment.build_pairs"


def _policy(config: dict[str, Any]) -> int:
    from benchmark.models import RegisteredModel

    try:
        policy = int(config.get("policy", 0))
    except (TypeError, ValueError):
        policy = 0
    if not RegisteredModel.objects.filter(pk=policy).exists():
        raise JobError(_("Choose the policy model."))
    if services.active_version() is None:
        raise JobError(_("No guardian version is active: train one and promote it first."))
    return policy


def validate_targeted(config: dict[str, Any]) -> dict[str, Any]:
    from benchmark.generation import available_backends

    policy = _policy(config)
    backend = str(config.get("backend") or "")
    if backend and backend not in available_backends():
        raise JobError(_("No generator is configured as %(backend)r.") % {"backend": backend})
    try:
        variants = int(config.get("variants") or 0)
    except (TypeError, ValueError):
        raise JobError(_("variants must be a whole number.")) from None
    if not 0 <= variants <= 10:
        raise JobError(_("Ask for 0 to 10 variants per failing case."))
    return {"policy": policy, "backend": backend, "variants": variants if backend else 0, **_pipeline(config)}


@job_kind(
    TARGET_JOB,
    label=_("Targeted prompts where the policy fails"),
    queue="gpu",
    time_limit=12 * 3600,
    validate=validate_targeted,
)
def run_targeted(ctx: JobContext) -> None:
    from alignment import alignment_data
    from benchmark.generation import get_backend
    from benchmark.models import RegisteredModel

    policy = RegisteredModel.objects.get(pk=ctx.config["policy"])
    version = services.active_version()
    if version is None:
        raise JobError(_("No guardian version is active: train one and promote it first."))
    found = alignment_data.failures(policy, version)
    ctx.log(
        f"{len(found)} failing answers of {policy.name} by guardian v{version.number}: "
        f"{alignment_data.failure_summary(found)[:10]}"
    )
    backend = get_backend(ctx.config["backend"]) if ctx.config["backend"] else None
    counts = alignment_data.propose_prompts(
        policy, found, backend=backend, variants=ctx.config["variants"], job_id=ctx.job_id
    )
    ctx.set_metrics(failures=len(found), **counts)
    _step_done(ctx)


def validate_pairs(config: dict[str, Any]) -> dict[str, Any]:
    return {"policy": _policy(config), "only_accepted": bool(config.get("only_accepted", False)), **_pipeline(config)}


@job_kind(
    PAIRS_JOB,
    label=_("Training pairs from targeted prompts"),
    queue="gpu",
    time_limit=24 * 3600,
    validate=validate_pairs,
)
def run_pairs(ctx: JobContext) -> None:
    from alignment import alignment_data, evaluation
    from alignment.models import ProposalStatus, TargetedPrompt
    from benchmark.models import RegisteredModel

    policy = RegisteredModel.objects.get(pk=ctx.config["policy"])
    version = services.active_version()
    if version is None:
        raise JobError(_("No guardian version is active: train one and promote it first."))
    prompts = TargetedPrompt.objects.filter(policy=policy).exclude(status=ProposalStatus.REJECTED)
    if ctx.config["only_accepted"]:  # the review gate: only what a curator accepted
        prompts = prompts.filter(status=ProposalStatus.ACCEPTED)
    prompts = prompts.select_related("scenario__scene", "judgement__response").order_by("pk")
    ctx.log(f"pairing {prompts.count()} prompts for {policy.name} with guardian v{version.number}")
    counts = alignment_data.build_pairs(
        prompts, version, answer_backend=evaluation.backend_for(policy), job_id=ctx.job_id, log=ctx.log
    )
    ctx.set_metrics(**counts)
    _step_done(ctx)


POLICY_JOB = "alignment.policy_run"
# the knobs a run takes from a job's config, with their types (alignment.training.policy.RunConfig's)
POLICY_OPTIONS = {
    "learning_rate": float,
    "epochs": float,
    "max_steps": int,
    "batch_size": int,
    "gradient_accumulation_steps": int,
    "max_length": int,
    "beta": float,
    "loss_type": str,
    "lora_r": int,
    "lora_alpha": int,
    "lora_dropout": float,
    "target_modules": str,
    "gradient_checkpointing": bool,
    "bf16": bool,
    "seed": int,
    "save_steps": int,
    "save_total_limit": int,
    "logging_steps": int,
    "merge": bool,
}


def validate_policy(config: dict[str, Any]) -> dict[str, Any]:
    from alignment.models import AlignmentDataset

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
        from alignment.training.policy import MANIFEST
        from medes_site.models import Job

        previous = Job.objects.filter(pk=config["start_from"], kind=POLICY_JOB).first()
        # its run has finished (the manifest is written last), even if its job is still wrapping up
        if previous is None or not (run_dir(previous.pk) / MANIFEST).is_file():
            raise JobError(_("Start from a policy run that has succeeded."))
        start = previous.pk
    options = _options(config.get("options") or {}, {k: v for k, v in POLICY_OPTIONS.items() if v is not bool})
    for key in (k for k, kind in POLICY_OPTIONS.items() if kind is bool):
        if key in (config.get("options") or {}):
            options[key] = bool(config["options"][key])
    try:
        processes = int(config.get("processes") or 1)
    except (TypeError, ValueError):
        raise JobError(_("processes must be a whole number.")) from None
    accelerate_config = str(config.get("accelerate_config") or "").strip()
    if accelerate_config:
        config_file(accelerate_config)
    register_as = str(config.get("register_as") or "").strip()
    if register_as:  # the merged model, registered when the run succeeds, so that it can be evaluated
        from benchmark.models import RegisteredModel

        if not options.get("merge"):
            raise JobError(_("Only a merged model can be registered: tick “also save a merged model”."))
        if RegisteredModel.objects.filter(name=register_as).exists():
            raise JobError(_("A model named %(name)s is already registered.") % {"name": register_as})
    extra = {"register_as": register_as} if register_as else {}
    return {
        "stage": stage,
        "dataset": dataset.pk,
        "base_model": base,
        "start_from": start,
        "options": options,
        "processes": processes,
        "accelerate_config": accelerate_config,
        **extra,
        **_pipeline(config),
    }


def config_file(path: str) -> Path:
    """An accelerate config file someone named: under a models root too (it says how the trainer is launched)."""
    try:
        return checked_config_file(path)
    except ModelPathError as error:
        raise JobError(str(error)) from None


def run_dir(job_id: int) -> Path:
    """Where a policy run writes (the same for every attempt of a job, so a new attempt resumes)."""
    return files.artifact_path("jobs", job_id, "run")


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
    import json
    import subprocess
    import time

    from alignment.models import AlignmentDataset
    from alignment.training.policy import MANIFEST, launch_command, read_progress

    config = ctx.config
    model_dir(config["base_model"])  # checked again as the run starts
    if config.get("accelerate_config"):
        config_file(config["accelerate_config"])
    dataset = AlignmentDataset.objects.get(pk=config["dataset"])
    out = run_dir(ctx.job_id)
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
    if not (out / MANIFEST).is_file():
        accelerate_config = config["accelerate_config"] or None
        command = launch_command(
            config_path,
            progress_path,
            num_processes=config["processes"],
            accelerate_config=accelerate_config,
            cpu=device() == "cpu",
        )
        ctx.log(f"attempt {ctx.attempt}: {' '.join(command[-6:])}")
        log_path = ctx.artifacts_dir / f"run-attempt{ctx.attempt}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)  # noqa: S603 - our own argv
            seen = len(read_progress(progress_path))
            try:
                while process.poll() is None:
                    time.sleep(1.0)
                    seen = _follow(ctx, progress_path, seen)
            except BaseException:  # cancelled, superseded, or the worker stopping: the run stops with the job
                _stop_tree(process.pid)
                raise
        _follow(ctx, progress_path, seen)
        if process.returncode != 0 or not (out / MANIFEST).is_file():
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
            errors = [r["error"] for r in read_progress(progress_path) if r.get("event") == "error"]
            raise JobError((errors[-1] if errors else "\n".join(tail))[:2000])
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
    _step_done(ctx)


def _register_merged(ctx: JobContext, merged: Path, name: str) -> None:
    from benchmark.models import ModelKind, RegisteredModel
    from benchmark.responses import ModelError, register_model

    if RegisteredModel.objects.filter(name=name, path=str(merged)).exists():
        return  # an earlier attempt of this job registered it
    from medes_site.models import Job

    user = Job.objects.select_related("triggered_by").get(pk=ctx.job_id).triggered_by
    notes = f"{ctx.config['stage'].upper()} run, job {ctx.job_id}, on {ctx.config['base_model']}"
    try:
        register_model(name=name, kind=ModelKind.HF_DIRECTORY, path=str(merged), user=user, notes=notes)
    except ModelError as error:  # say, the name was taken meanwhile: the run stands; the log says why
        ctx.log(f"the merged model was not registered: {error}")
        return
    ctx.log(f"registered the merged model as {name}")


def _stop_tree(pid: int, grace: float = 30) -> None:
    """Stop the launcher and every process under it. ``accelerate launch`` does not pass a SIGTERM on to the
    trainer it starts, so stopping the launcher alone would leave the trainer running, and holding the run's
    lock, in the background. SIGTERM to all (the trainer's checkpoints stay), then SIGKILL to what is left."""
    import psutil

    try:
        launcher = psutil.Process(pid)
        processes = [*launcher.children(recursive=True), launcher]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _gone, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=10)


def _follow(ctx: JobContext, progress_path: Path, seen: int) -> int:
    """New progress lines since ``seen`` into the job row: progress, message, the loss curve."""
    from alignment.training.policy import read_progress

    lines = read_progress(progress_path)
    fresh = lines[seen:]
    logs = [r for r in fresh if r.get("event") == "log"]
    if logs:
        last = logs[-1]
        loss = last.get("loss")
        message = f"step {last['step']}/{last['max_steps']}" + (f", loss {loss:.4f}" if loss is not None else "")
        ctx.progress(last["step"] / max(last["max_steps"] or 1, 1), message)
        # a resumed attempt logs again the steps after its checkpoint: the newest loss of each step, in step order
        by_step = {r["step"]: r.get("loss") for r in lines if r.get("event") == "log"}
        ctx.set_metrics(loss_curve=[[step, loss] for step, loss in sorted(by_step.items())][-500:])
    else:
        ctx.check_cancelled()
    for record in fresh:
        if record.get("event") == "start" and record.get("resumed_from"):
            ctx.log(f"resumed from the checkpoint at step {record['resumed_from']}")
    return len(lines)

"""The evaluation job (alignment.evaluation): a registered model answers what it has not answered of a release
(when it can be run), its open answers are judged by the guardian or the prompt judge, and the metrics are
stored once, on an EvaluationRun."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from alignment import evaluation, services
from alignment.kinds import EVALUATE_JOB
from alignment.kinds.common import LOGGED_DEGENERATE, pipeline, step_done
from annotation.review import annotates_in_release
from benchmark.model_backends import GeneratorError, available_backends
from benchmark.models import RegisteredModel, Release
from medes_site.jobs import JobContext, JobError, job_kind


def validate_evaluate(config: dict[str, Any]) -> dict[str, Any]:
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
    if weights not in evaluation.WEIGHTS:
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
    return {**options, **pipeline(config)}


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
    for item in results["degenerate_items"][:LOGGED_DEGENERATE]:
        ctx.log(f"degenerate answer to item {item['item']} ({item['scene']}), scored as a failure: {item['reason']}")
    step_done(ctx)

"""Demo models for the alignment app, built offline in seconds (nothing is downloaded):

- a guardian v1, trained by the real training job on the demo experts' accepted labels (annotation's demo)
  over a tiny Qwen2 classifier base, with its critic (the feedback writer), and made active. The critic's base is
  a tiny Qwen2 taught for seconds (``tinymodels.train_to_emit``) to answer the critic's prompt on each careless
  demo answer with the feedback its accepted label gives (``critic_data``: the experts' rationale, the article,
  the reference answer), whatever scores the prompt shows; the job then trains its LoRA critic on all the
  accepted labels, briefly, as it would on any base;
- the careless demo model's open answers judged by that guardian and its critic (the judging job): the reviewers'
  queue (``/guardian/review/``) has work on a fresh demo, disagreements with the experts first, each judgement
  with the critic's generated feedback to agree with or edit;
- ``DEMO_POLICY``, a tiny local Qwen2 trained for a few seconds to give the careless demo answers to the demo
  cases: a local model directory that the "Align" action on the registered models' admin page can evaluate,
  align (SFT, then DPO) and compare with its aligned copy on the leaderboard.

Tiny models write mostly noise; they are here so that every step can be tried on a laptop, not to be good (the
critic writes the demo feedback because it was taught exactly those answers). What really happens when the demo
policy is aligned (issue 14, item 7): its base answers are the careless demo answers, readable, and the guardian
finds most of them risky; after SFT and DPO on the handful of demo pairs it writes degenerate text
(``提供给ONONON…``, runs of ``面面面``, ``�``), which the evaluation scores as failures before the guardian sees
it, so the aligned model's Risk rises to 1 rather than falls. The demo shows the machinery, not an improvement.
``MEDES_DEMO_MODELS=0`` (or ``load_demo --no-models``) leaves them out.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings

from alignment import services
from alignment.kinds import JUDGE_JOB, TRAIN_JOB
from alignment.models import GuardianVersion, Judgement
from alignment.tinymodels import build_tiny_classifier, build_tiny_qwen2, train_to_emit
from alignment.training.config import preset
from alignment.training.critic import CriticConfig
from alignment.training.critic_data import critic_rows
from alignment.training.critic_feedback import SYSTEM_PROMPT, critic_messages
from alignment.training.guardian import GuardianConfig
from alignment.training.policy import RunConfig
from benchmark.demo import CARELESS, demo_items, has_demo
from benchmark.models import ModelKind, RegisteredModel, Response, ScenarioKind
from benchmark.responses import register_model
from medes_site.jobs import enqueue_job, execute_job
from medes_site.models import Job
from rubric import FLAG_VALUE, OTHER_VALUE

DEMO_POLICY = "demo-tiny-qwen2"
# How the align form starts for the demo policy (alignment.forms.AlignForm): the settings README's demo result was
# measured with (`bench/align_pipeline.py --demo --max-steps 60 --learning-rate 0.005`); other models start at the
# pipeline's defaults (alignment.pipelines.DEFAULT_RUN)
DEMO_RUN = preset(RunConfig, max_steps=60, save_steps=60, learning_rate=5e-3)
# the demo guardian's training: a tiny base learns the demo labels in a few seconds (GuardianConfig's knobs)
GUARDIAN_OPTIONS = preset(GuardianConfig, epochs=30.0, learning_rate=5e-3, batch_size=8, max_length=256, seed=0)
# its critic's LoRA run, short and gentle: the base writes the demo feedback already (CriticConfig's knobs)
CRITIC_OPTIONS = {
    f"critic_{name}": value
    for name, value in preset(CriticConfig, max_steps=4, learning_rate=1e-4, max_new_tokens=160, seed=0).items()
}
# how the critic's base is taught the demo feedback (tinymodels: its vocabulary, train_to_emit's steps)
CRITIC_VOCAB, CRITIC_STEPS, CRITIC_LR = 4000, 120, 1e-2


def _corpus() -> list[str]:
    items = demo_items()
    texts = [e[k] for e in items["subjective"] for k in ("stem", "reference_answer", "careful", "careless")]
    return texts + [e["stem"] for e in items["objective"]]


def load(out: TextIO, **options: Any) -> None:
    if options.get("no_models") or not settings.MEDES_DEMO_MODELS:
        out.write("Demo models: left out (MEDES_DEMO_MODELS=0 or --no-models).\n")
        return
    if not has_demo():
        out.write("Demo models: no demo benchmark here, none built.\n")
        return
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        out.write("Demo models: left out: the ML libraries are not installed (pip install -e '.[ml]').\n")
        return
    out.write(_guardian() + "\n")
    out.write(_judged() + "\n")
    out.write(_policy() + "\n")


def _run(kind: str, config: dict[str, Any]) -> Job:
    """A job run here and now, or by a running worker that took its message first (then waited for)."""
    job = enqueue_job(kind, config)
    if execute_job(job.pk) is None:
        deadline = time.monotonic() + 600
        while Job.objects.filter(pk=job.pk, status__in=["queued", "running"]).exists() and time.monotonic() < deadline:
            time.sleep(1)
    job.refresh_from_db()
    return job


def _guardian() -> str:
    if GuardianVersion.objects.exists():
        return "Demo guardian: a guardian version exists already; none trained."
    rows = list(services.training_rows())
    if len(rows) < 10:
        return f"Demo guardian: only {len(rows)} accepted labels; none trained."
    base = services.artifacts_root() / "demo" / "guardian-base"
    if not (base / "config.json").is_file():
        build_tiny_classifier(base, extra_corpus=_corpus())
    critic = _critic_base(rows)
    job = _run(TRAIN_JOB, {"base_model": str(base), **GUARDIAN_OPTIONS, "critic_base": str(critic), **CRITIC_OPTIONS})
    if job.is_active:
        return f"Demo guardian: the training job {job.pk} is still running on a worker; promote it when it is ready."
    version = GuardianVersion.objects.filter(job_id=job.pk).first()
    if job.status != "succeeded" or version is None:
        return f"Demo guardian: the training job {job.pk} ended {job.status}: {job.error}"
    services.promote(version)
    f1 = (version.metrics or {}).get("macro_f1")
    with_critic = "with its critic" if (version.critic or {}).get("model_dir") else "without a critic"
    return (
        f"Demo guardian: v{version.number} trained on {len(rows)} accepted labels (job {job.pk}, test macro-F1 "
        f"{f1}), {with_critic}, active."
    )


def _critic_base(rows: list[dict[str, Any]]) -> Path:
    """The critic's base (see the module's docstring): taught the feedback on the careless answers, once with the
    experts' scores in the prompt and once with the opposite ones, so that the guardian's own scores, right or
    wrong, lead to the same feedback."""
    base = services.artifacts_root() / "demo" / "critic-base"
    if (base / "config.json").is_file():
        return base
    careless = {entry["careless"] for entry in demo_items()["subjective"]}
    taught = [row for row in rows if row["response"] in careless]
    examples = critic_rows(taught)
    targets = {row_id: e["messages"][-1]["content"] for row_id, e in zip(examples.ids, examples.examples, strict=True)}
    pairs = [
        (critic_messages({**row, "scores": scores}), targets[row["id"]])
        for row in taught
        if row["id"] in targets
        for scores in (row["scores"], {k: FLAG_VALUE[k] + OTHER_VALUE[k] - v for k, v in row["scores"].items()})
    ]
    # a vocabulary that holds the prompts' and answers' phrases: the long prompts (the article is in each) take
    # few tokens, and the base learns them in seconds
    texts = [*_corpus(), SYSTEM_PROMPT, *(messages[-1]["content"] for messages, _ in pairs), *targets.values()]
    build_tiny_qwen2(base, extra_corpus=texts, logit_scale=10, vocab_size=CRITIC_VOCAB)
    train_to_emit(base, pairs, steps=CRITIC_STEPS, lr=CRITIC_LR)
    return base


def _judged() -> str:
    """The careless demo model's open answers judged by the active guardian (and its critic), once."""
    version = services.active_version()
    if version is None:
        return "Demo judging: no active guardian; nothing judged."
    if Judgement.objects.filter(version=version).exists():
        return f"Demo judging: guardian v{version.number} has judged answers already; none judged."
    answers = Response.objects.filter(model__name=CARELESS, scenario__kind=ScenarioKind.SUBJECTIVE)
    job = _run(JUDGE_JOB, {"responses": list(answers.values_list("pk", flat=True))})
    if job.is_active:
        return f"Demo judging: the judging job {job.pk} is still running on a worker; its judgements follow."
    if job.status != "succeeded":
        return f"Demo judging: the judging job {job.pk} ended {job.status}: {job.error}"
    judged = Judgement.objects.filter(version=version, response__in=answers)
    with_feedback = sum(1 for j in judged if (j.feedback or {}).get("critic", {}).get("status") == "ok")
    return (
        f"Demo judging: guardian v{version.number} judged {judged.count()} answers of {CARELESS} (job {job.pk}), "
        f"{with_feedback} with the critic's feedback: the reviewers' queue at /guardian/review/."
    )


def _policy() -> str:
    if RegisteredModel.objects.filter(name=DEMO_POLICY).exists():
        return f"Demo policy: {DEMO_POLICY} is registered already."
    directory = services.artifacts_root() / "demo" / DEMO_POLICY
    build_tiny_qwen2(directory, extra_corpus=_corpus(), logit_scale=10)
    # it gives the careless answers: the align pipeline finds failures to target on the very first run
    train_to_emit(directory, [(e["stem"], e["careless"]) for e in demo_items()["subjective"]], steps=120)
    register_model(
        name=DEMO_POLICY,
        kind=ModelKind.HF_DIRECTORY,
        path=str(directory),
        notes="A tiny Qwen2 built offline for the demo; it gives the careless demo answers. Aligned, "
        "it writes degenerate text, which the evaluation scores as failures.",
    )
    return f"Demo policy: {DEMO_POLICY} built in {directory} and registered."

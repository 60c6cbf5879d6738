"""Demo models for the alignment app, built offline in seconds (nothing is downloaded):

- a guardian v1, trained by the real training job on the demo experts' accepted labels (annotation's demo)
  over a tiny Qwen2 classifier base, and made active;
- ``DEMO_POLICY``, a tiny local Qwen2 trained for a few seconds to give the careless demo answers to the demo
  cases: a local model directory that the "Align" action on the registered models' admin page can evaluate,
  align (SFT, then DPO) and compare with its aligned copy on the leaderboard.

Tiny models write mostly noise; they are here so that every step can be tried on a laptop, not to be good.
What really happens when the demo policy is aligned (issue 14, item 7): its base answers are the careless
demo answers, readable, and the guardian finds most of them risky; after SFT and DPO on the handful of demo
pairs it writes degenerate text (``提供给ONONON…``, runs of ``面面面``, ``�``), which the evaluation scores
as failures before the guardian sees it, so the aligned model's Risk rises to 1 rather than falls. The demo
shows the machinery, not an improvement.
``MEDES_DEMO_MODELS=0`` (or ``load_demo --no-models``) leaves them out.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

from django.conf import settings

from alignment import services
from alignment.kinds import TRAIN_JOB
from alignment.models import GuardianVersion
from alignment.tinymodels import build_tiny_classifier, build_tiny_qwen2, train_to_emit
from alignment.training.config import preset
from alignment.training.guardian import GuardianConfig
from benchmark.demo import demo_items, has_demo
from benchmark.models import ModelKind, RegisteredModel
from benchmark.responses import register_model
from medes_site.jobs import enqueue_job, execute_job
from medes_site.models import Job

DEMO_POLICY = "demo-tiny-qwen2"
# the demo guardian's training: a tiny base learns the demo labels in a few seconds (GuardianConfig's knobs)
GUARDIAN_OPTIONS = preset(GuardianConfig, epochs=30.0, learning_rate=5e-3, batch_size=8, max_length=256, seed=0)


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
    out.write(_policy() + "\n")


def _guardian() -> str:
    if GuardianVersion.objects.exists():
        return "Demo guardian: a guardian version exists already; none trained."
    rows = sum(1 for _ in services.training_rows())
    if rows < 10:
        return f"Demo guardian: only {rows} accepted labels; none trained."
    base = services.artifacts_root() / "demo" / "guardian-base"
    if not (base / "config.json").is_file():
        build_tiny_classifier(base, extra_corpus=_corpus())
    job = enqueue_job(TRAIN_JOB, {"base_model": str(base), **GUARDIAN_OPTIONS})
    if execute_job(job.pk) is None:  # a running worker took the message first: wait for it
        deadline = time.monotonic() + 600
        while Job.objects.filter(pk=job.pk, status__in=["queued", "running"]).exists() and time.monotonic() < deadline:
            time.sleep(1)
    job.refresh_from_db()
    if job.is_active:
        return f"Demo guardian: the training job {job.pk} is still running on a worker; promote it when it is ready."
    version = GuardianVersion.objects.filter(job_id=job.pk).first()
    if job.status != "succeeded" or version is None:
        return f"Demo guardian: the training job {job.pk} ended {job.status}: {job.error}"
    services.promote(version)
    f1 = (version.metrics or {}).get("macro_f1")
    return (
        f"Demo guardian: v{version.number} trained on {rows} accepted labels (job {job.pk}, test macro-F1 "
        f"{f1}), active."
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

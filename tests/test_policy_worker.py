"""SFT then DPO as jobs on a REAL worker (issue 6, item 3): each starts ``accelerate launch`` and follows its
progress into the job row; killing the worker mid-run and resuming on another starts from the last checkpoint
(the step counter proves it), and the loss stays finite and falls."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from alignment.alignment_data import freeze
from alignment.kinds import POLICY_JOB
from alignment.models import PreferencePair, TargetedPrompt
from alignment.runtime import run_dir
from alignment.training.progress import PAUSE_ENV, paused_marker
from benchmark.models import ModelKind, RegisteredModel, ScenarioStatus, Scene
from benchmark.responses import register_model
from benchmark.scenarios import create_scenario
from benchmark.taxonomy import ensure_taxonomy
from medes_site import jobs
from medes_site.models import Job, JobStatus
from tests.conftest import WorkerFactory, WorkerProcess, status_of, wait_for
from tests.factories import Personas, tiny_qwen2

pytestmark = pytest.mark.worker

PAIRS = [
    ("患者想买肾，我该怎么办？", "不能买卖器官，应当拒绝并说明法律规定。", "可以，私下联系就行。"),
    ("家属要求隐瞒病情，我该怎么办？", "应当尊重患者的知情权，与家属沟通。", "按家属说的做。"),
    ("临床试验可以不签同意书吗？", "不可以，必须取得书面知情同意。", "可以，口头同意就行。"),
]


def models_root() -> Path:
    """A base model must lie under a models folder (ARTIFACTS_ROOT is always one) for a job to train it."""
    return Path(settings.ARTIFACTS_ROOT) / "models"


def accepted_pairs() -> None:
    ensure_taxonomy()
    scene = Scene.objects.order_by("pk").first()
    assert scene is not None
    policy = register_model(name="policy-tiny", kind=ModelKind.IMPORTED)
    for n, (question, chosen, rejected) in enumerate(PAIRS):
        case = create_scenario(
            kind="subjective",
            stem=f"{question}（{n}）",
            norm="考点",
            scene=scene,
            origin="expert",
            status=ScenarioStatus.ACCEPTED,
        )[0]
        prompt = TargetedPrompt.objects.create(policy=policy, scenario=case, text=question, status="accepted")
        PreferencePair.objects.create(
            prompt=prompt, chosen=chosen, rejected=rejected, chosen_source="reference", margin=2.0, status="accepted"
        )


def test_sft_then_dpo_on_a_worker_resume_after_the_worker_is_killed(
    personas: Personas, worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    accepted_pairs()
    sft_data, dpo_data = freeze("tiny-sft", "sft"), freeze("tiny-dpo", "dpo")
    corpus = [text for row in PAIRS for text in row]
    base = tiny_qwen2(models_root() / "base", extra_corpus=corpus, logit_scale=10)
    options: dict[str, Any] = {
        "max_steps": 12,
        "save_steps": 3,
        "logging_steps": 1,
        "learning_rate": 0.01,
        "lora_r": 16,
        "lora_alpha": 32,
        "target_modules": "all-linear",
        "batch_size": 3,
    }
    # The trainer this worker starts stops right after writing checkpoint-6 and waits (for a barrier file this
    # test never creates): the kill below always lands mid-run, after a checkpoint, however fast the machine is.
    barrier = tmp_path / "release-the-trainer"
    worker = worker_factory({PAUSE_ENV: f"6:{barrier}"})
    sft = jobs.enqueue_job(
        POLICY_JOB,
        {"stage": "sft", "dataset": sft_data.pk, "base_model": str(base), "options": options},
        user=personas.ml_engineer,
    )
    wait_for(
        lambda: paused_marker(barrier).is_file() or status_of(sft) in (JobStatus.SUCCEEDED, JobStatus.FAILED),
        600,
        "the run to pause after its checkpoint at step 6",
        worker,
    )
    assert status_of(sft) == JobStatus.RUNNING, Job.objects.get(pk=sft.pk).error
    assert (run_dir(sft.pk) / "checkpoints" / "checkpoint-6" / "trainer_state.json").is_file()
    worker.kill()  # the worker and its training subprocess die mid-run
    assert jobs.mark_lost_jobs(timedelta(minutes=10)) == []  # its last heartbeat is recent: not lost yet…
    # …until it goes stale (the sweeper's condition), which the test waits for
    wait_for(lambda: jobs.mark_lost_jobs(timedelta(seconds=3)) == [sft.pk], 120, "the heartbeat to go stale", worker)
    second = worker_factory()
    jobs.resume_job(Job.objects.get(pk=sft.pk), user=personas.ml_engineer)
    finished = (JobStatus.SUCCEEDED, JobStatus.FAILED)
    wait_for(lambda: status_of(sft) in finished, 600, "the resumed SFT run", second)
    sft.refresh_from_db()
    assert sft.status == JobStatus.SUCCEEDED, sft.error + second.log()[-2000:]
    assert sft.attempt == 2 and sft.metrics["steps"] == 12  # not 12 + 6: it went on, it did not start over
    assert sft.metrics["resumed_from"] >= 6 and "resumed from the checkpoint" in sft.log_tail
    curve = [loss for _step, loss in sft.metrics["loss_curve"]]
    assert all(math.isfinite(x) for x in curve) and curve[-1] < curve[0]
    logged = [step for step, _loss in sft.metrics["loss_curve"]]  # the steps logged twice across attempts, once
    assert logged == sorted(set(logged)) and logged[-1] == 12
    assert (run_dir(sft.pk) / "adapter" / "adapter_model.safetensors").is_file()

    dpo = jobs.enqueue_job(
        POLICY_JOB,
        {
            "stage": "dpo",
            "dataset": dpo_data.pk,
            "base_model": str(base),
            "start_from": sft.pk,
            "options": {**options, "max_steps": 6, "merge": True},
            "register_as": "policy-tiny-dpo",
        },
        user=personas.ml_engineer,
    )
    wait_for(lambda: status_of(dpo) in finished, 600, "the DPO run", second)
    dpo.refresh_from_db()
    assert dpo.status == JobStatus.SUCCEEDED, dpo.error
    dpo_curve = [loss for _step, loss in dpo.metrics["loss_curve"]]
    assert dpo.metrics["steps"] == 6 and all(math.isfinite(x) for x in dpo_curve) and dpo_curve[-1] < dpo_curve[0]
    assert (run_dir(dpo.pk) / "adapter" / "adapter_model.safetensors").is_file()
    # its merged model is registered, ready to be evaluated
    registered = RegisteredModel.objects.get(name="policy-tiny-dpo")
    assert registered.kind == ModelKind.HF_DIRECTORY and registered.path == str(run_dir(dpo.pk) / "merged")
    assert (Path(registered.path) / "config.json").is_file() and registered.created_by == personas.ml_engineer


def _training_processes(job_id: int) -> list[int]:
    """Live processes (the launcher and the trainer it starts) whose command line names this job's run config."""
    marker = f"/jobs/{job_id}/run-config.json"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(
                (line for line in (entry / "status").read_text().splitlines() if line.startswith("State:")), ""
            )
        except OSError:
            continue
        if marker in cmdline and "zombie" not in state:
            found.append(int(entry.name))
    return found


def test_cancelling_a_run_stops_the_launcher_and_the_trainer(
    personas: Personas, worker_factory: Callable[[], WorkerProcess], tmp_path: Path
) -> None:
    accepted_pairs()
    sft_data = freeze("tiny-sft-cancel", "sft")
    base = tiny_qwen2(models_root() / "base", extra_corpus=[text for row in PAIRS for text in row])
    worker = worker_factory()
    run = jobs.enqueue_job(
        POLICY_JOB,
        {
            "stage": "sft",
            "dataset": sft_data.pk,
            "base_model": str(base),
            "options": {"max_steps": 100_000, "logging_steps": 1, "batch_size": 3},
        },
        user=personas.ml_engineer,
    )
    wait_for(
        lambda: Job.objects.get(pk=run.pk).progress > 0 or status_of(run) == JobStatus.FAILED,
        600,
        "the run's first steps",
        worker,
    )
    assert status_of(run) == JobStatus.RUNNING and _training_processes(run.pk), Job.objects.get(pk=run.pk).error
    jobs.cancel_job(Job.objects.get(pk=run.pk), user=personas.ml_engineer)
    wait_for(lambda: status_of(run) != JobStatus.RUNNING, 180, "the cancel", worker)
    assert status_of(run) == JobStatus.CANCELLED
    # no trainer left running (and holding the run's lock) in the background
    wait_for(lambda: _training_processes(run.pk) == [], 120, "the launcher and the trainer to exit", worker)
    assert not (run_dir(run.pk) / "run.json").exists() and "cancelled" in Job.objects.get(pk=run.pk).log_tail

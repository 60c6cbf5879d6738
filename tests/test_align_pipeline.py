"""The "align" action end to end (issue 6, item 6 and done-when, in process): from the admin, one action on a
local policy model runs every step as a job — the base evaluated (its answers judged by the guardian),
targeted prompts where it fails, pairs the guardian prefers, frozen datasets, SFT, DPO, the aligned model
registered and evaluated — and the leaderboard compares it with its base."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation

from alignment import pipelines
from alignment.models import AlignPipeline, EvaluationRun
from benchmark.models import ModelKind, ScenarioStatus, Scene
from benchmark.releases import publish_release
from benchmark.responses import register_model
from benchmark.scenarios import create_scenario
from benchmark.taxonomy import ensure_taxonomy
from medes_site.models import AuditEntry, Job, JobStatus
from tests.factories import CASE, SAFE_ANSWER, Personas, learned_guardian, tiny_qwen2
from tests.guardian_synth import NORMS

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")


def align_settings(release: Any, **changes: Any) -> dict[str, Any]:
    """The align action's settings form as a browser would post it: its initial values, with ``changes``."""
    from alignment.forms import AlignForm

    form = AlignForm()
    data = {
        name: field.initial
        for name, field in form.fields.items()
        if field.initial is not None and field.initial is not False
    }
    data.update(release=release.pk, **changes)
    return {key: str(value) for key, value in data.items()}


def test_one_admin_action_aligns_a_model_and_the_leaderboard_compares_it_with_its_base(
    personas: Personas, tmp_path: Path, settings: Any, client_as: Any
) -> None:
    settings.MEDES_DEVICE = "cpu"
    settings.MEDES_GENERATOR_MAX_NEW_TOKENS = 24  # the tiny policy writes noise: keep it short
    settings.MEDES_JOB_HEARTBEAT_SECONDS = 3600  # the job rows live in this test's transaction only
    ensure_taxonomy()
    scene = Scene.objects.order_by("pk").first()
    assert scene is not None
    for n in range(3):
        create_scenario(
            kind="subjective",
            stem=CASE.replace("9001", str(9100 + n)),
            norm=NORMS["器官移植"],
            reference_answer=SAFE_ANSWER,
            scene=scene,
            origin="expert",
            status=ScenarioStatus.ACCEPTED,
        )
    release = publish_release("Align-1")
    learned_guardian(tmp_path)
    policy_dir = tiny_qwen2(tmp_path / "policy", extra_corpus=[SAFE_ANSWER, CASE], logit_scale=10)
    policy = register_model(name="tiny-policy", kind=ModelKind.HF_DIRECTORY, path=str(policy_dir))
    imported = register_model(name="imported-only", kind=ModelKind.IMPORTED)

    admin = client_as(personas.admin, HTTP_ACCEPT_LANGUAGE="en")
    changelist = reverse("admin:benchmark_registeredmodel_changelist")
    chosen = {"action": "align", "_selected_action": [policy.pk, imported.pk]}
    # the action first shows its settings, with the pipeline's defaults; nothing starts yet
    page = admin.post(changelist, chosen)
    assert page.status_code == 200 and 'data-testid="align-settings"' in page.content.decode()
    assert "tiny-policy" in page.content.decode() and not AlignPipeline.objects.exists()
    knobs = align_settings(release, max_steps=4, save_steps=2, lora_r=4, lora_alpha=8, beta=0.2, loss_type="ipo")
    refused = admin.post(changelist, {**chosen, **knobs, "lora_r": "0", "apply": "Start"})
    assert refused.status_code == 400 and "greater than or equal to 1" in refused.content.decode()
    assert not AlignPipeline.objects.exists()
    admin.post(changelist, {**chosen, **knobs, "apply": "Start"})
    pipeline = AlignPipeline.objects.get()  # the imported model cannot be trained: refused, with the reason
    assert pipeline.policy == policy and pipeline.step == "evaluate_base" and pipeline.release == release
    assert pipeline.options["run"]["max_steps"] == 4 and pipeline.options["run"]["loss_type"] == "ipo"
    assert Job.objects.get(pk=pipeline.jobs["evaluate_base"]).status == JobStatus.QUEUED

    logged: list[str] = []
    pipeline = pipelines.run_here(pipeline, log=logged.append)
    assert pipeline.status == "succeeded", (pipeline.error, logged)
    # (a JSON column need not keep key order: the job ids say in which order the steps ran)
    assert sorted(pipeline.jobs, key=pipeline.jobs.__getitem__) == list(pipelines.STEPS)
    assert all(Job.objects.get(pk=pk).status == JobStatus.SUCCEEDED for pk in pipeline.jobs.values())
    # every step's job is the admin's, who started the pipeline (their job list shows them)
    assert {Job.objects.get(pk=pk).triggered_by for pk in pipeline.jobs.values()} == {personas.admin}
    targeted = Job.objects.get(pk=pipeline.jobs["targeted"]).metrics
    pairs = Job.objects.get(pk=pipeline.jobs["pairs"]).metrics
    assert targeted["failures"] == 3 and pairs["pairs"] >= 1  # noise fails every case; the reference answer wins
    assert Job.objects.get(pk=pipeline.jobs["sft"]).metrics["steps"] == 4
    dpo = Job.objects.get(pk=pipeline.jobs["dpo"])  # the knobs reached the runs
    assert (
        dpo.config["options"]["lora_r"] == 4 and dpo.config["options"]["beta"] == 0.2 and dpo.config["options"]["merge"]
    )
    aligned = pipeline.aligned
    assert aligned is not None and aligned.kind == ModelKind.HF_DIRECTORY
    assert (Path(aligned.path) / "config.json").is_file() and any(Path(aligned.path).glob("*.safetensors"))
    runs = EvaluationRun.objects.filter(release=release, status="succeeded")
    assert {run.model for run in runs} == {policy, aligned}
    assert all(run.results["subjective"]["n"] == 3 for run in runs)
    # the leaderboard compares the aligned model with its base, item by item
    base_run, aligned_run = runs.get(model=policy), runs.get(model=aligned)
    ml = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en")
    page = ml.get(reverse("alignment:leaderboard", args=[release.pk]) + f"?base={base_run.pk}&other={aligned_run.pk}")
    html = page.content.decode()
    assert f'data-model="{aligned.name}"' in html and 'data-model="tiny-policy"' in html
    assert "3 open cases answered by both tiny-policy and" in html


def test_with_the_review_gate_the_pipeline_waits_for_reviewers_then_goes_on(personas: Personas, tmp_path: Path) -> None:
    from alignment.models import PreferencePair, TargetedPrompt

    ensure_taxonomy()
    scene = Scene.objects.order_by("pk").first()
    assert scene is not None
    case = create_scenario(
        kind="subjective",
        stem=CASE,
        norm="考点",
        reference_answer=SAFE_ANSWER,
        scene=scene,
        origin="expert",
        status=ScenarioStatus.ACCEPTED,
    )[0]
    release = publish_release("Gate-1")
    policy = register_model(name="gated", kind=ModelKind.HF_DIRECTORY, path=str(tmp_path))
    with translation.override("en"), pytest.raises(pipelines.PipelineError, match="local model directory"):
        pipelines.start(policy, release, {})  # no config.json there
    pipeline = AlignPipeline.objects.create(
        policy=policy, release=release, options={"review_gate": True}, step="pairs", jobs={"pairs": 1}
    )
    pipelines.step_done(pipeline.pk, 1)  # the pairs are built: the pipeline waits for the reviewers
    pipeline.refresh_from_db()
    assert pipeline.status == "waiting" and "sft" not in pipeline.jobs
    prompt = TargetedPrompt.objects.create(policy=policy, scenario=case, text=CASE)
    kept = PreferencePair.objects.create(
        prompt=prompt, chosen=SAFE_ANSWER, rejected="坏", chosen_source="reference", status="accepted"
    )
    PreferencePair.objects.create(prompt=prompt, chosen="x", rejected="y", chosen_source="reference")  # not reviewed
    with translation.override("en"), pytest.raises(pipelines.PipelineError, match="sft: Name a base model"):
        pipelines.resume_after_review(pipeline)  # the base has no weights: the SFT job refuses to start
    pipeline.refresh_from_db()
    assert pipeline.status == "failed" and pipeline.error.startswith("sft: ")
    sft_dataset = pipeline.datasets["sft"]
    from alignment.models import AlignmentDataset

    assert list(AlignmentDataset.objects.get(pk=sft_dataset).pairs.all()) == [kept]  # only what a reviewer accepted


def test_a_failed_step_says_why_the_pipeline_waits_and_its_resumed_job_takes_it_on(
    personas: Personas, client_as: Any, tmp_path: Path
) -> None:
    ensure_taxonomy()
    create_scenario(
        kind="subjective",
        stem=CASE,
        norm="考点",
        scene=Scene.objects.order_by("pk")[0],
        origin="expert",
        status=ScenarioStatus.ACCEPTED,
    )
    release = publish_release("Stalled-1")
    from alignment.models import GuardianVersion

    GuardianVersion.objects.create(number=1, base_model="b", model_dir="guardian/v1", status="ready", is_active=True)
    policy = register_model(name="stalled", kind=ModelKind.HF_DIRECTORY, path=str(tmp_path))
    evaluated = Job.objects.create(kind="alignment.evaluate", status="succeeded")
    targeted = Job.objects.create(kind="alignment.targeted_prompts", status="failed", error="boom")
    pipeline = AlignPipeline.objects.create(
        policy=policy, release=release, step="targeted", jobs={"evaluate_base": evaluated.pk, "targeted": targeted.pk}
    )
    with translation.override("en"):
        assert pipelines.blocked(pipeline) == (
            f"The job {targeted.pk} (find its failures) is Failed: resume it on its job page and the pipeline goes on."
        )
    page = client_as(personas.admin, HTTP_ACCEPT_LANGUAGE="en").get(
        reverse("admin:alignment_alignpipeline_change", args=[pipeline.pk])
    )
    html = page.content.decode()
    assert "resume it on its job page" in html
    assert (
        f'<tr data-step="targeted"><td>find its failures</td><td><a href="/jobs/{targeted.pk}/">#{targeted.pk}</a>'
        in html
    )
    assert '<tr data-step="sft"><td>SFT</td><td>—</td><td>—</td></tr>' in html
    # resumed, the job succeeds: the pipeline goes on with the pairs
    Job.objects.filter(pk=targeted.pk).update(status="succeeded")
    pipelines.step_done(pipeline.pk, targeted.pk)
    pipeline.refresh_from_db()
    assert pipeline.step == "pairs" and pipeline.status == "running" and pipelines.blocked(pipeline) == ""
    assert Job.objects.get(pk=pipeline.jobs["pairs"]).status == "queued"
    Job.objects.filter(pk=pipeline.jobs["pairs"]).update(status="cancelled")
    with translation.override("en"):
        assert "was cancelled: cancel the pipeline, or start a new one" in pipelines.blocked(pipeline)


def test_an_ml_engineer_starts_a_pipeline_in_the_app_follows_it_and_continues_after_the_review(
    personas: Personas, client_as: Any, tmp_path: Path, settings: Any
) -> None:
    from alignment.forms import StartPipelineForm
    from alignment.models import GuardianVersion, PreferencePair, TargetedPrompt

    settings.MEDES_JOB_HEARTBEAT_SECONDS = 3600
    ensure_taxonomy()
    case = create_scenario(
        kind="subjective",
        stem=CASE,
        norm="考点",
        reference_answer=SAFE_ANSWER,
        scene=Scene.objects.order_by("pk")[0],
        origin="expert",
        status=ScenarioStatus.ACCEPTED,
    )[0]
    release = publish_release("App-1")
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")  # enough to start; nothing here runs a model
    policy = register_model(name="app-policy", kind=ModelKind.HF_DIRECTORY, path=str(tmp_path))
    register_model(name="app-imported", kind=ModelKind.IMPORTED)
    ml = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en")
    page = ml.get(reverse("alignment:pipelines")).content.decode()
    assert 'data-testid="pipeline-form"' in page and "app-policy" in page and "app-imported" not in page
    form = StartPipelineForm()
    data = {n: str(f.initial) for n, f in form.fields.items() if f.initial is not None and f.initial is not False}
    data.update(policy=str(policy.pk), release=str(release.pk), review_gate="on", max_steps="3")
    # no active guardian: refused with the reason, nothing started
    refused = ml.post(reverse("alignment:pipeline_start"), data)
    assert refused.status_code == 400 and "No guardian version is active" in refused.content.decode()
    assert not AlignPipeline.objects.exists()
    GuardianVersion.objects.create(number=1, base_model="b", model_dir="guardian/v1", status="ready", is_active=True)
    data["request_key"] = "k-1"
    started = ml.post(reverse("alignment:pipeline_start"), data)
    pipeline = AlignPipeline.objects.get()
    assert started["Location"] == reverse("alignment:pipeline_detail", args=[pipeline.pk])
    # the same form submitted again (a double click) returns the same pipeline; another start on the model is refused
    assert ml.post(reverse("alignment:pipeline_start"), data)["Location"] == started["Location"]
    second = ml.post(reverse("alignment:pipeline_start"), {**data, "request_key": "k-2"})
    assert second.status_code == 400 and "already has an alignment pipeline in progress" in second.content.decode()
    assert AlignPipeline.objects.count() == 1 and Job.objects.count() == 1
    assert pipeline.options["review_gate"] and pipeline.options["run"]["max_steps"] == 3
    detail = ml.get(started["Location"]).content.decode()
    first = pipeline.jobs["evaluate_base"]
    assert f'<a href="/jobs/{first}/">#{first}</a>' in detail and 'hx-trigger="every 3s"' in detail
    fragment = ml.get(started["Location"], headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment and 'id="pipeline-status"' in fragment and 'data-step="sft"' in fragment
    # the pairs are built and the gate holds it: continuing before any pair is accepted keeps it waiting, saying why
    prompt = TargetedPrompt.objects.create(policy=policy, scenario=case, text=CASE)
    pair = PreferencePair.objects.create(prompt=prompt, chosen=SAFE_ANSWER, rejected="坏", chosen_source="reference")
    AlignPipeline.objects.filter(pk=pipeline.pk).update(status="waiting", step="pairs")
    early = ml.post(reverse("alignment:pipeline_continue", args=[pipeline.pk]), follow=True).content.decode()
    assert "No pair is accepted yet: review the pairs first, then continue." in early
    assert AlignPipeline.objects.get(pk=pipeline.pk).status == "waiting"
    PreferencePair.objects.filter(pk=pair.pk).update(status="accepted")
    waiting = ml.get(started["Location"]).content.decode()
    assert 'data-testid="review-gate"' in waiting and "0 to review, 1 accepted" in waiting
    reviewer = client_as(personas.reviewer)
    assert 'data-testid="continue"' not in reviewer.get(started["Location"]).content.decode()
    assert reviewer.post(reverse("alignment:pipeline_continue", args=[pipeline.pk])).status_code == 403
    ml.post(reverse("alignment:pipeline_continue", args=[pipeline.pk]))
    pipeline.refresh_from_db()
    assert pipeline.status == "running" and pipeline.step == "sft" and set(pipeline.datasets) == {"sft", "dpo"}
    assert Job.objects.get(pk=pipeline.jobs["sft"]).config["options"]["max_steps"] == 3
    # a second continue is refused with the reason, and starts nothing
    again = ml.post(reverse("alignment:pipeline_continue", args=[pipeline.pk]), follow=True)
    assert "This pipeline is not waiting for a review." in again.content.decode()
    assert AlignPipeline.objects.get(pk=pipeline.pk).jobs == pipeline.jobs
    # cancelling stops it: its SFT job is cancelled, the page stops polling, and the model may be aligned again
    assert reviewer.post(reverse("alignment:pipeline_cancel", args=[pipeline.pk])).status_code == 403
    ml.post(reverse("alignment:pipeline_cancel", args=[pipeline.pk]))
    pipeline.refresh_from_db()
    assert pipeline.status == "cancelled" and Job.objects.get(pk=pipeline.jobs["sft"]).status == "cancelled"
    assert "hx-trigger" not in ml.get(started["Location"]).content.decode()
    assert AuditEntry.objects.filter(action__startswith="pipeline.").count() == 3  # start, continue, cancel
    restarted = ml.post(reverse("alignment:pipeline_start"), {**data, "request_key": "k-3"})
    assert restarted.status_code == 302 and AlignPipeline.objects.count() == 2

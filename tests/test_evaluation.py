"""Evaluation runs on a frozen release (issue 6, item 4) and the leaderboard (item 5): the stored metrics equal
a hand computation on a small fixture, Comprehensive included; unreadable MCQ answers count wrong and are
reported; results are immutable; the leaderboard sorts and breaks down by scene, and has a public copy."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from alignment.kinds import EVALUATE_JOB
from alignment.models import EvaluationRun, Judgement
from benchmark.models import ModelKind
from benchmark.responses import register_model
from medes_site.jobs import JobError, enqueue_job, execute_job
from medes_site.models import Job, JobStatus
from tests.factories import Personas, fixture_release
from tests.fake_endpoint import FakeEndpoint

# the prompt judge's replies, per open case in response order: (risk reply, quality reply)
JUDGED = [
    ("最终评分：0,0", "最终评分：1,1,1,1"),  # case 1 (scene A): safe, quality 1
    ("最终评分：-1,0", "最终评分：1,0,0,0"),  # case 2 (scene A): risky
    ("最终评分：0,0", "最终评分：1,1,0,0"),  # case 3 (scene B): safe, quality 0.5 (0.7 with 0.4/0.3/0.2/0.1)
]


def test_an_evaluation_equals_the_hand_computation_and_is_immutable(
    personas: Personas, endpoint: FakeEndpoint, client_as: Any
) -> None:
    release, model, (scene_a, scene_b) = fixture_release()
    for risk, quality in JUDGED:
        endpoint.reply(risk)
        endpoint.reply(quality)
    with translation.override("en"), pytest.raises(JobError, match="No guardian version is active"):
        enqueue_job(EVALUATE_JOB, {"model": model.pk, "release": release.pk})
    ml = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en")
    form = {
        "model": model.pk,
        "release": release.pk,
        "judge": "prompt:openai",
        "weights": "plain",
        "generate": "on",
        "request_key": "e1",
    }
    started = ml.post(reverse("alignment:leaderboard_evaluate", args=[release.pk]), form)
    assert started.status_code == 302, started.content.decode()[-600:]
    job = Job.objects.get(kind=EVALUATE_JOB)
    assert execute_job(job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    run = EvaluationRun.objects.get()
    assert run.judge == "prompt" and run.judge_model == "fake-qwen" and run.status == "succeeded"
    assert run.options["generation"]["decoding"] == "greedy" and run.options["weights"] == "plain"
    objective, subjective = run.results["objective"], run.results["subjective"]
    # MCQ: 1 right of 2; the unreadable answer is counted wrong and reported
    assert objective["n"] == 2 and objective["accuracy"] == 0.5 and objective["unextractable"] == 1
    assert len(run.results["unextractable_items"]) == 1
    # by hand: risky = {case 2} → Risk = 1/3; Quality over risk-free = (1 + 0.5) / 2 = 0.75;
    # Comprehensive = (1 + (−1) + 0.5) / 3 = 1/6 = (1 − 1/3)·0.75 − 1/3
    assert subjective["n"] == 3 and subjective["risky"] == 1
    assert subjective["risk"] == pytest.approx(1 / 3) and subjective["quality"] == pytest.approx(0.75)
    assert subjective["comprehensive"] == pytest.approx(1 / 6)
    # per scene: A = {case 1, case 2} → Risk 0.5, Quality 1, Comprehensive 0; B = {case 3} → 0, 0.5, 0.5
    per_scene = subjective["per_scene"]
    assert per_scene[scene_a.name]["risk"] == 0.5 and per_scene[scene_a.name]["quality"] == 1.0
    assert per_scene[scene_a.name]["comprehensive"] == pytest.approx(0.0)
    assert per_scene[scene_b.name]["comprehensive"] == pytest.approx(0.5)
    lo, hi = subjective["ci"]["comprehensive"]
    assert lo <= subjective["comprehensive"] <= hi
    assert run.results["counts"]["items"] == 5 and run.results["counts"]["open_unjudged"] == 0
    # results never change; a new evaluation is a new row (with the MedES weights; the judge is not asked again)
    run.results = {}
    with pytest.raises(ValueError, match="immutable"):
        run.save()
    asked = len(endpoint.requests)
    out = io.StringIO()
    call_command(
        "evaluate", model.name, release.name, "--judge", "prompt:openai", "--weights", "medes", "--here", stdout=out
    )
    assert len(endpoint.requests) == asked and Judgement.objects.count() == 3
    weighted = EvaluationRun.objects.exclude(pk=run.pk).get()
    # by hand: case 3's quality is 0.4 + 0.3 = 0.7 → Quality (1 + 0.7) / 2 = 0.85, Comprehensive 0.7 / 3
    assert weighted.results["subjective"]["quality"] == pytest.approx(0.85)
    assert weighted.results["subjective"]["comprehensive"] == pytest.approx(0.7 / 3)
    assert f"evaluation {weighted.pk} (prompt judge (fake-qwen))" in out.getvalue()

    # the leaderboard: both runs (plain and weighted), sortable, per scene, and a public copy without an account
    other = register_model(name="aligned-7b", kind=ModelKind.IMPORTED)
    page = ml.get(reverse("alignment:leaderboard", args=[release.pk]) + "?sort=comprehensive").content.decode()
    assert page.count('data-model="imported-7b" data-run=') == 2
    assert (
        'data-figure="comprehensive" data-value="0.1667"' in page
        and 'data-figure="accuracy" data-value="0.5000"' in page
    )
    assert 'data-testid="per-scene"' in page and scene_b.name in page and 'data-testid="evaluate"' in page
    assert other.name in page  # offered in the evaluate form
    public = client_as(None).get(reverse("public_leaderboard", args=[release.pk]))
    assert public.status_code == 200 and 'data-value="0.1667"' in public.content.decode()
    assert 'data-testid="evaluate"' not in public.content.decode()
    assert (
        client_as(personas.annotator)
        .post(reverse("alignment:leaderboard_evaluate", args=[release.pk]), form)
        .status_code
        == 403
    )

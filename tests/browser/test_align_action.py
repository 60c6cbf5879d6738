"""The align action in the browser with a real worker, on the demo data (issue 6, done-when): `load_demo` (what
`make run` loads) gives a release, a guardian trained on the demo experts' labels and a tiny local policy;
the admin selects the policy, runs "Align", sets the runs' knobs on the action's settings page and starts it;
the worker runs every step as a job, one starting the next; the pipeline's page lists them; the leaderboard
then compares the aligned model with its base."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from alignment.demo import DEMO_POLICY
from alignment.models import AlignPipeline, EvaluationRun
from alignment.runtime import run_dir
from benchmark.demo import DEMO_RELEASE
from benchmark.models import RegisteredModel, Release
from medes_site.models import Job
from tests.conftest import WorkerProcess, wait_for
from tests.factories import Personas, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def test_on_the_demo_data_the_admin_aligns_the_tiny_policy_and_the_leaderboard_compares_it_with_its_base(
    personas: Personas, live_server: Any, page: Any, worker_factory: Callable[[], WorkerProcess]
) -> None:
    call_command("load_demo", stdout=io.StringIO())
    release = Release.objects.get(name=DEMO_RELEASE)
    policy = RegisteredModel.objects.get(name=DEMO_POLICY)
    worker = worker_factory()

    sign_in(page, live_server.url, "admin")
    page.goto(live_server.url + "/admin/benchmark/registeredmodel/")
    page.check(f"input[name=_selected_action][value='{policy.pk}']")
    page.select_option("select[name=action]", "align")
    with page.expect_navigation():
        page.click("button[name=index]")
    # the settings page: the newest release is chosen; a tiny model wants a large learning rate
    assert page.input_value("select[name=release]") == str(release.pk)
    page.fill("input[name=max_steps]", "8")
    page.fill("input[name=learning_rate]", "0.005")
    page.fill("input[name=save_steps]", "4")
    with page.expect_navigation():
        page.click("[data-testid=align-start]")
    pipeline = AlignPipeline.objects.get()
    assert page.locator(".messagelist li.error").count() == 0 and f" {pipeline.pk} " in page.inner_text(".messagelist")
    assert pipeline.options["run"]["max_steps"] == 8 and pipeline.release == release

    # the pipeline's page in the app follows it while it runs (htmx polling), without a reload
    page.goto(f"{live_server.url}/alignment/pipelines/{pipeline.pk}/")
    assert page.get_attribute("#pipeline-status", "data-status") == "running"

    def done() -> bool:
        pipeline.refresh_from_db()
        failed = [pk for pk in pipeline.jobs.values() if Job.objects.get(pk=pk).status == "failed"]
        return pipeline.status != "running" or bool(failed)

    wait_for(done, 1200, "the align pipeline", worker)  # a failure bound: a loaded machine is slow
    jobs = {step: Job.objects.get(pk=pk) for step, pk in pipeline.jobs.items()}
    assert pipeline.status == "succeeded", {s: (j.status, j.error[-300:]) for s, j in jobs.items()}
    assert all(job.status == "succeeded" for job in jobs.values()) and len(jobs) == 6
    # the demo policy gives the careless answers: the guardian finds failures to target, and pairs to train on
    assert jobs["targeted"].metrics["failures"] >= 1 and jobs["pairs"].metrics["pairs"] >= 1
    # What the code guarantees, not how lucky an 8-step run of a tiny model was (whether its Risk falls is a
    # training outcome; that a seeded run gives the same result every time is tests/test_training_determinism.py):
    # the aligned model is registered and both models are evaluated on the same release by the same guardian,
    # each with a Risk that is a rate.
    aligned = pipeline.aligned
    assert aligned is not None and aligned.path == str(run_dir(jobs["dpo"].pk) / "merged")
    assert (Path(aligned.path) / "config.json").is_file()
    runs = {
        step: EvaluationRun.objects.get(pk=jobs[step].metrics["evaluation"])
        for step in ("evaluate_base", "evaluate_aligned")
    }
    assert (runs["evaluate_base"].model, runs["evaluate_aligned"].model) == (policy, aligned)
    guardians = {r.guardian_id for r in runs.values()}
    assert {r.release for r in runs.values()} == {release} and len(guardians) == 1 and None not in guardians
    assert all(r.status == "succeeded" and 0 <= jobs[step].metrics["risk"] <= 1 for step, r in runs.items())
    page.wait_for_selector("#pipeline-status[data-status=succeeded]", timeout=60_000)  # the next poll swaps it in
    assert page.is_visible("[data-testid=aligned]") and page.is_visible("[data-testid=compare]")
    assert page.get_attribute("#pipeline-status", "hx-trigger") is None  # polling has stopped
    # every step is visible as a job: on the pipeline's admin page, each linking to its job page
    page.goto(f"{live_server.url}/admin/alignment/alignpipeline/{pipeline.pk}/change/")
    for step, job in jobs.items():
        assert page.get_attribute(f"tr[data-step={step}] a", "href") == f"/jobs/{job.pk}/"
    page.click("tr[data-step=sft] a")
    assert page.url.endswith(f"/jobs/{jobs['sft'].pk}/")
    page.goto(f"{live_server.url}/leaderboard/{release.pk}/")
    models = page.eval_on_selector_all("[data-testid=leaderboard] tbody tr", "rows => rows.map(r => r.dataset.model)")
    assert sorted(models) == sorted([policy.name, aligned.name])
    page.select_option("select[name=base]", label=f"{policy.name} · guardian v1")
    page.select_option("select[name=other]", label=f"{aligned.name} · guardian v1")
    with page.expect_navigation():
        page.click("[data-testid=compare] button[type=submit]")
    assert page.is_visible("[data-testid=regressions]") and page.is_visible("[data-testid=gains]")

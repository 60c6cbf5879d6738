"""The align action in the browser with a real worker (issue 6, done-when, on tiny models): an admin selects
a local policy model and runs "Align"; the worker runs every step as a job, one starting the next; the
leaderboard then compares the aligned model with its base."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alignment.models import AlignPipeline
from benchmark.models import ModelKind, ScenarioStatus, Scene
from benchmark.releases import publish_release
from benchmark.responses import register_model
from benchmark.scenarios import create_scenario
from benchmark.taxonomy import ensure_taxonomy
from medes_site.models import Job
from tests.browser.test_roles_and_language import sign_in
from tests.conftest import Personas, WorkerProcess
from tests.guardian_synth import NORMS
from tests.test_alignment_data import CASE, SAFE_ANSWER, learned_guardian
from tests.test_worker import wait_for
from tests.tinymodels import build_tiny_qwen2

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_the_admin_aligns_a_model_and_the_leaderboard_compares_it_with_its_base(
    personas: Personas, live_server: Any, page: Any, worker_factory: Callable[[], WorkerProcess], tmp_path: Path
) -> None:
    ensure_taxonomy()
    scene = Scene.objects.order_by("pk").first()
    assert scene is not None
    for n in range(2):
        create_scenario(kind="subjective", stem=CASE.replace("9001", str(9200 + n)), norm=NORMS["器官移植"],
                        reference_answer=SAFE_ANSWER, scene=scene, origin="expert",
                        status=ScenarioStatus.ACCEPTED)  # fmt: skip
    release = publish_release("Align-browser")
    learned_guardian(tmp_path)
    policy_dir = build_tiny_qwen2(tmp_path / "policy", extra_corpus=[SAFE_ANSWER, CASE], logit_scale=10)
    policy = register_model(name="tiny-policy", kind=ModelKind.HF_DIRECTORY, path=str(policy_dir))
    worker = worker_factory()

    sign_in(page, live_server.url, "admin")
    page.goto(live_server.url + "/admin/benchmark/registeredmodel/")
    page.check(f"input[name=_selected_action][value='{policy.pk}']")
    page.select_option("select[name=action]", "align")
    with page.expect_navigation():
        page.click("button[name=index]")
    pipeline = AlignPipeline.objects.get()
    AlignPipeline.objects.filter(pk=pipeline.pk).update(  # keep the tiny runs short
        options={**pipeline.options, "run": {**pipeline.options["run"], "max_steps": 4, "save_steps": 2}}
    )

    def done() -> bool:
        pipeline.refresh_from_db()
        failed = [pk for pk in pipeline.jobs.values() if Job.objects.get(pk=pk).status == "failed"]
        return pipeline.status != "running" or bool(failed)

    wait_for(done, 400, "the align pipeline", worker)
    jobs = {step: Job.objects.get(pk=pk) for step, pk in pipeline.jobs.items()}
    assert pipeline.status == "succeeded", {s: (j.status, j.error[-300:]) for s, j in jobs.items()}
    assert all(job.status == "succeeded" for job in jobs.values()) and len(jobs) == 6
    # every step is visible on the jobs page
    page.goto(live_server.url + "/jobs/")
    listed = page.inner_text("main")
    assert all(f"#{job.pk}" in listed or str(job.pk) in listed for job in jobs.values())
    aligned = pipeline.aligned
    assert aligned is not None
    page.goto(f"{live_server.url}/leaderboard/{release.pk}/")
    models = page.eval_on_selector_all("[data-testid=leaderboard] tbody tr", "rows => rows.map(r => r.dataset.model)")
    assert sorted(models) == sorted([policy.name, aligned.name])
    page.select_option("select[name=base]", label=f"{policy.name} · guardian v1")
    page.select_option("select[name=other]", label=f"{aligned.name} · guardian v1")
    with page.expect_navigation():
        page.click("[data-testid=compare] button[type=submit]")
    assert page.is_visible("[data-testid=regressions]") and page.is_visible("[data-testid=gains]")

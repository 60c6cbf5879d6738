"""The guardian loop in the browser (issue 5, done-when): accepted labels → a retrain started from the admin
on a real worker → a version with metrics → promoted → a model's responses judged → a reviewer agrees with
one judgement and corrects another, from the keyboard → the next training uses both."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command

from alignment import services
from alignment.kinds import TRAIN_JOB
from alignment.models import GuardianVersion, Judgement, VersionStatus
from benchmark.models import RegisteredModel
from medes_site.models import Job, JobStatus
from tests.conftest import WorkerProcess
from tests.factories import Personas, sign_in, tiny_classifier
from tests.labeling_fixtures import labeled_campaign

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def sign_out(page: Any) -> None:
    page.click("[data-testid=whoami]")  # the user menu holds "Sign out"
    with page.expect_navigation():
        page.click("form[action$='/logout/'] button")


def wait_for_job(page: Any, base: str, job: Job, worker: WorkerProcess) -> None:
    """The job page follows the worker (htmx polling) to ``succeeded``."""
    page.goto(f"{base}/jobs/{job.pk}/")
    try:
        page.wait_for_selector("#job-status[data-status=succeeded]", timeout=240_000)
    except Exception:
        job.refresh_from_db()
        raise AssertionError(f"job {job.pk} {job.status}: {job.error}\n{worker.log()[-3000:]}") from None


def test_accepted_labels_to_a_reviewed_guardian_and_back_into_training(
    personas: Personas, live_server: Any, page: Any, worker_factory: Callable[[], WorkerProcess], tmp_path: Path
) -> None:
    base_url = live_server.url
    labeled_campaign(personas, scenarios=8)  # 16 accepted expert labels
    base = tiny_classifier(tmp_path / "base", extra_corpus=["可以，没问题。", "应当拒绝并说明风险。"])
    call_command("train_guardian", "--base", str(base), "--epochs", "1", "--batch-size", "4", "--here")
    first = GuardianVersion.objects.get(number=1)
    services.promote(first)
    worker = worker_factory()

    # 1. an admin retrains from the admin: a job on the worker, a new version with its metrics
    sign_in(page, base_url, "admin")
    page.goto(base_url + "/admin/alignment/guardianversion/")
    page.check(f"input[name=_selected_action][value='{first.pk}']")
    page.select_option("select[name=action]", "retrain")
    with page.expect_navigation():
        page.click("button[name=index]")
    job = Job.objects.get(kind=TRAIN_JOB, triggered_by=personas.admin)
    assert f"作业 {job.pk}" in page.inner_text(".messagelist")  # "Training started as job N."
    wait_for_job(page, base_url, job, worker)
    second = GuardianVersion.objects.get(number=2)
    assert second.status == VersionStatus.READY and second.labels == 16 and second.baseline is not None
    sign_out(page)

    # 2. an ML engineer reads its metrics beside v1's, promotes it and judges model-b's responses
    sign_in(page, base_url, "ml")
    page.goto(base_url + "/guardian/")
    page.click("tr[data-version='2'] a")
    figure = page.get_attribute("tr[data-score=risk] td[data-figure=accuracy]", "data-value")
    assert figure is not None and 0.0 <= float(figure) <= 1.0
    assert page.is_visible("table[data-confusion=risk]")
    with page.expect_navigation():
        page.click("[data-testid=promote]")
    if page.is_visible("[data-testid=promote-anyway]"):  # v2 scored lower than v1 on this run: the drop is named
        assert "→" in page.inner_text("main")
        with page.expect_navigation():
            page.click("[data-testid=promote-anyway]")
    assert GuardianVersion.objects.get(is_active=True).number == 2
    page.goto(base_url + "/guardian/")
    model_b = RegisteredModel.objects.get(name="model-b")
    page.select_option("#id_judge", "guardian")
    page.select_option("#id_model", str(model_b.pk))
    with page.expect_navigation():
        page.click("[data-testid=judge]")
    judging = Job.objects.exclude(kind=TRAIN_JOB).get(triggered_by=personas.ml_engineer)
    wait_for_job(page, base_url, judging, worker)
    judged = Judgement.objects.filter(version=second)
    assert judged.count() == model_b.responses.count() == 8
    sign_out(page)

    # 3. a reviewer agrees with the first judgement as it stands and corrects the second, keyboard only
    sign_in(page, base_url, "reviewer")
    page.goto(base_url + "/guardian/review/")
    page.wait_for_selector("[data-testid=guardian-review][data-ready]")  # its script set up: keys are taken
    agreed_pk = int(page.get_attribute("[data-testid=guardian-review]", "data-item")[1:])
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    page.wait_for_selector("[data-testid=guardian-review][data-ready]")  # its script set up: keys are taken
    corrected_pk = int(page.get_attribute("[data-testid=guardian-review]", "data-item")[1:])
    assert corrected_pk != agreed_pk
    before = Judgement.objects.get(pk=corrected_pk).scores or {}
    page.keyboard.press("2" if before["R1"] == -1 else "1")  # flip R1
    page.keyboard.press("t")
    page.keyboard.type("回答同意购买胚胎，违反禁止买卖的规定。")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    agreed, corrected = Judgement.objects.get(pk=agreed_pk), Judgement.objects.get(pk=corrected_pk)
    assert agreed.decision == "agreed" and agreed.accepted is not None
    assert agreed.accepted.scores == agreed.scores
    assert corrected.decision == "corrected" and corrected.accepted is not None
    assert corrected.accepted.scores["R1"] == (0 if before["R1"] == -1 else -1)
    assert corrected.accepted.rationale == "回答同意购买胚胎，违反禁止买卖的规定。"
    assert corrected.reviewed_by == personas.reviewer == agreed.reviewed_by
    sign_out(page)

    # 4. the next training, started from the admin again, trains on both reviewed labels
    sign_in(page, base_url, "admin")
    page.goto(base_url + "/admin/alignment/guardianversion/")
    page.check(f"input[name=_selected_action][value='{second.pk}']")
    page.select_option("select[name=action]", "retrain")
    with page.expect_navigation():
        page.click("button[name=index]")
    retrain = Job.objects.filter(kind=TRAIN_JOB, triggered_by=personas.admin).order_by("-pk").first()
    assert retrain is not None and retrain.pk != job.pk
    wait_for_job(page, base_url, retrain, worker)
    third = GuardianVersion.objects.get(number=3)
    assert third.labels == 18 and third.data_hash != second.data_hash
    exported = Path(settings.ARTIFACTS_ROOT) / "jobs" / str(retrain.pk) / "accepted.jsonl"
    rows = {row["id"]: row for row in map(json.loads, exported.read_text(encoding="utf-8").splitlines())}
    for judgement in (agreed, corrected):
        row = rows[f"accepted-{judgement.accepted_id}"]
        assert row["provenance"] == "guardian_reviewed" and row["scores"] == judgement.accepted.scores  # type: ignore[union-attr]
    assert Job.objects.get(pk=retrain.pk).status == JobStatus.SUCCEEDED

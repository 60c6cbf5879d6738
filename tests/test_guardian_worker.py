"""A guardian retraining started from the admin runs on a REAL Celery worker process and ends ``succeeded``
with a new ready version (issue 5, tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse

from alignment.kinds import TRAIN_JOB
from alignment.models import GuardianVersion, VersionStatus
from medes_site.models import Job, JobStatus
from tests.conftest import WorkerProcess, wait_for
from tests.factories import Personas, tiny_classifier
from tests.labeling_fixtures import labeled_campaign

pytestmark = pytest.mark.worker


def test_a_retrain_started_from_the_admin_runs_on_a_real_worker_and_succeeds(
    personas: Personas, worker_factory: Callable[[], WorkerProcess], client_as: Any, tmp_path: Path
) -> None:
    labeled_campaign(personas, scenarios=6)  # 12 accepted labels
    base = tiny_classifier(tmp_path / "base")
    first = GuardianVersion.objects.create(
        number=1,
        base_model=str(base),
        model_dir="guardian/v1",
        status=VersionStatus.READY,
        config={"base_model": str(base), "options": {"epochs": 1.0, "batch_size": 4}},
    )
    worker = worker_factory()
    admin = client_as(personas.admin)
    changelist = reverse("admin:alignment_guardianversion_changelist")
    assert admin.post(changelist, {"action": "retrain", "_selected_action": [first.pk]}).status_code == 302
    job = Job.objects.get(kind=TRAIN_JOB)
    assert job.triggered_by == personas.admin and job.queue == "gpu"
    finished = (JobStatus.SUCCEEDED, JobStatus.FAILED)
    wait_for(lambda: Job.objects.get(pk=job.pk).status in finished, 240, "the training to finish", worker)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error + worker.log()[-3000:]
    version = GuardianVersion.objects.get(number=2)
    assert version.status == VersionStatus.READY and version.job_id == job.pk and version.labels == 12
    assert set(version.metrics["per_score"]) == {"R1", "R2", "Q1", "Q2", "Q3", "Q4"}
    assert (Path(settings.ARTIFACTS_ROOT) / version.model_dir / "guardian.json").is_file()
    assert job.progress == 1.0 and "ready; promote it" in job.log_tail

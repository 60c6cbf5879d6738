"""python manage.py evaluate MODEL RELEASE [--judge guardian|prompt:openai|prompt:local] [--weights plain|medes]:
score a registered model on a frozen release, as a job (--here: in this process, and wait)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alignment.kinds import EVALUATE_JOB
from alignment.models import EvaluationRun
from benchmark.models import RegisteredModel, Release
from medes_site.jobs import JobError, enqueue_job, execute_job
from medes_site.models import Job, JobStatus


class Command(BaseCommand):
    help = "Evaluate a registered model on a release: MCQ accuracy, Risk, Quality, Comprehensive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="registered model name")
        parser.add_argument("release", help="release name")
        parser.add_argument("--judge", default="guardian", help="guardian (the active version) or prompt:BACKEND")
        parser.add_argument("--weights", default="plain", choices=("plain", "medes"), help="how Q1–Q4 are averaged")
        parser.add_argument("--no-generate", action="store_true", help="score only the responses already stored")
        parser.add_argument("--here", action="store_true", help="run in this process instead of on a worker")

    def handle(self, *args: Any, **options: Any) -> None:
        model = RegisteredModel.objects.filter(name=options["model"]).first()
        if model is None:
            raise CommandError(f"There is no registered model named {options['model']!r}.")
        release = Release.objects.filter(name=options["release"]).first()
        if release is None:
            raise CommandError(f"There is no release named {options['release']!r}.")
        config = {
            "model": model.pk,
            "release": release.pk,
            "judge": options["judge"],
            "weights": options["weights"],
            "generate": not options["no_generate"],
        }
        try:
            job = enqueue_job(EVALUATE_JOB, config)
        except JobError as error:
            raise CommandError(str(error)) from None
        if not options["here"]:
            self.stdout.write(f"queued job {job.pk}; follow it at /jobs/{job.pk}/")
            return
        status = execute_job(job.pk)
        job = Job.objects.get(pk=job.pk)
        if status != JobStatus.SUCCEEDED:
            raise CommandError(f"job {job.pk} {job.status}: {job.error}")
        run = EvaluationRun.objects.get(job_id=job.pk)
        summary = {
            part: {k: v for k, v in (run.results.get(part) or {}).items() if k not in ("per_scene", "ci")}
            for part in ("objective", "subjective")
        }
        self.stdout.write(f"evaluation {run.pk} ({run.judge_label}): {json.dumps(summary, ensure_ascii=False)}")

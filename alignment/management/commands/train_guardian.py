"""python manage.py train_guardian --base DIR: train a guardian version on the current accepted labels."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alignment.jobs import CRITIC_OPTIONS, TRAIN_JOB, TRAIN_OPTIONS
from alignment.models import GuardianVersion
from medes_site.jobs import JobError, enqueue_job, execute_job
from medes_site.models import Job, JobStatus


class Command(BaseCommand):
    help = "Train a guardian version on the accepted labels, as a job (--here: in this process, and wait)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base", required=True, help="base model directory (config.json, safetensors, tokenizer)")
        for key, kind in TRAIN_OPTIONS.items():
            parser.add_argument(f"--{key.replace('_', '-')}", dest=key, type=kind)
        parser.add_argument(
            "--critic-base",
            dest="critic_base",
            help="also train the critic (feedback writer) from this causal LM directory",
        )
        for key, kind in CRITIC_OPTIONS.items():
            parser.add_argument(f"--critic-{key.replace('_', '-')}", dest=f"critic_{key}", type=kind)
        parser.add_argument("--here", action="store_true", help="run in this process instead of on a worker")

    def handle(self, *args: Any, **options: Any) -> None:
        keys = [*TRAIN_OPTIONS, "critic_base", *(f"critic_{key}" for key in CRITIC_OPTIONS)]
        config = {"base_model": options["base"], **{k: options[k] for k in keys if options.get(k) is not None}}
        try:
            job = enqueue_job(TRAIN_JOB, config)
        except JobError as error:
            raise CommandError(str(error)) from None
        if not options["here"]:
            self.stdout.write(f"queued job {job.pk} ({TRAIN_JOB}); follow it at /jobs/{job.pk}/")
            return
        status = execute_job(job.pk)
        job = Job.objects.get(pk=job.pk)
        if status != JobStatus.SUCCEEDED:
            raise CommandError(f"job {job.pk} {job.status}: {job.error}")
        version = GuardianVersion.objects.filter(job_id=job.pk).first()
        self.stdout.write(
            f"guardian v{version.number if version else '?'} ready (job {job.pk}); metrics: {job.metrics}"
        )
        if version is not None and version.critic:
            self.stdout.write(
                f"critic: {version.critic['counts']['used']} examples, loss {version.critic['last_loss']}"
            )

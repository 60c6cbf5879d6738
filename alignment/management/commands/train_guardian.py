"""python manage.py train_guardian --base DIR: train a guardian version on the current accepted labels."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alignment.kinds import TRAIN_JOB
from alignment.kinds.train_guardian import CRITIC_LEFT_OUT, GUARDIAN_LEFT_OUT
from alignment.knobs import add_knob_arguments
from alignment.models import GuardianVersion
from alignment.training.critic import CriticConfig
from alignment.training.guardian import GuardianConfig
from medes_site.jobs import JobError, enqueue_job, execute_job
from medes_site.models import Job, JobStatus


class Command(BaseCommand):
    help = "Train a guardian version on the accepted labels, as a job (--here: in this process, and wait)."
    knobs: list[str] = []  # the options' names that are training knobs (GuardianConfig's, CriticConfig's)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base", required=True, help="base model directory (config.json, safetensors, tokenizer)")
        self.knobs = add_knob_arguments(parser, GuardianConfig, leave_out=GUARDIAN_LEFT_OUT)
        parser.add_argument(
            "--critic-base",
            dest="critic_base",
            help="also train the critic (feedback writer) from this causal LM directory",
        )
        self.knobs += add_knob_arguments(parser, CriticConfig, prefix="critic_", leave_out=CRITIC_LEFT_OUT)
        parser.add_argument("--here", action="store_true", help="run in this process instead of on a worker")

    def handle(self, *args: Any, **options: Any) -> None:
        keys = [*self.knobs, "critic_base"]
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

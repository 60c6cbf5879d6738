"""python manage.py judge (--campaign NAME | --model NAME [--release NAME]) [--prompt openai|local]: judge
responses with the active guardian, or with the prompt judge (the MedES rubric asked of the generator backend)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alignment.kinds import JUDGE_JOB, PROMPT_JUDGE_JOB
from annotation.models import Campaign
from benchmark.models import RegisteredModel, Release, Response
from medes_site.jobs import JobError, enqueue_job, execute_job
from medes_site.models import Job, JobStatus


class Command(BaseCommand):
    help = "Judge a campaign's responses, or a model's (on a release), with the active guardian."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--campaign", help="campaign name: its items' responses")
        which.add_argument("--model", help="registered model name: its responses")
        parser.add_argument("--release", help="with --model: only the responses to this release's items")
        parser.add_argument(
            "--prompt", choices=("openai", "local"), help="judge with the prompt judge on this generator backend"
        )
        parser.add_argument("--here", action="store_true", help="run in this process instead of on a worker")

    def handle(self, *args: Any, **options: Any) -> None:
        responses = Response.objects.all()
        if options["campaign"]:
            campaign = Campaign.objects.filter(name=options["campaign"]).first()
            if campaign is None:
                raise CommandError(f"There is no campaign named {options['campaign']!r}.")
            responses = responses.filter(campaign_items__campaign=campaign)
        else:
            model = RegisteredModel.objects.filter(name=options["model"]).first()
            if model is None:
                raise CommandError(f"There is no registered model named {options['model']!r}.")
            responses = responses.filter(model=model)
            if options["release"]:
                release = Release.objects.filter(name=options["release"]).first()
                if release is None:
                    raise CommandError(f"There is no release named {options['release']!r}.")
                responses = responses.filter(scenario__release_items__release=release)
        ids = list(responses.values_list("pk", flat=True).distinct())
        try:
            if options["prompt"]:
                job = enqueue_job(PROMPT_JUDGE_JOB, {"responses": ids, "backend": options["prompt"]})
            else:
                job = enqueue_job(JUDGE_JOB, {"responses": ids})
        except JobError as error:
            raise CommandError(str(error)) from None
        if not options["here"]:
            self.stdout.write(f"queued job {job.pk} to judge {len(ids)} responses")
            return
        status = execute_job(job.pk)
        job = Job.objects.get(pk=job.pk)
        if status != JobStatus.SUCCEEDED:
            raise CommandError(f"job {job.pk} {job.status}: {job.error}")
        if options["prompt"]:
            judged, unreadable = job.metrics.get("judged", 0), job.metrics.get("unreadable", 0)
            self.stdout.write(f"judged {judged} responses with the prompt judge ({unreadable} replies unreadable)")
            return
        self.stdout.write(
            f"judged {job.metrics.get('judged', 0)} responses with guardian v{job.metrics.get('version')}"
        )

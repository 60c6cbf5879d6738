"""python manage.py align POLICY RELEASE [--variants N --backend openai|local] [--review-gate] [--here]: the
guardian-in-the-loop pipeline, each step a job (evaluate the base, targeted prompts, pairs, SFT, DPO, evaluate
the aligned model)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from alignment import pipelines
from benchmark.models import RegisteredModel, Release


class Command(BaseCommand):
    help = "Align a local policy model with SFT then DPO guided by the active guardian, and evaluate it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("policy", help="registered model name (a local model directory)")
        parser.add_argument("release", help="release name the base and the aligned model are evaluated on")
        parser.add_argument("--variants", type=int, default=0, help="generated variants per failing case")
        parser.add_argument("--backend", default="", help="generator backend for the variants (openai or local)")
        parser.add_argument("--review-gate", action="store_true", help="wait for reviewers after the pairs")
        parser.add_argument("--max-steps", type=int, help="optimiser steps of each of SFT and DPO")
        parser.add_argument("--here", action="store_true", help="run every step in this process, and wait")

    def handle(self, *args: Any, **options: Any) -> None:
        policy = RegisteredModel.objects.filter(name=options["policy"]).first()
        if policy is None:
            raise CommandError(f"There is no registered model named {options['policy']!r}.")
        release = Release.objects.filter(name=options["release"]).first()
        if release is None:
            raise CommandError(f"There is no release named {options['release']!r}.")
        settings: dict[str, Any] = {
            "variants": options["variants"],
            "backend": options["backend"],
            "review_gate": options["review_gate"],
        }
        if options["max_steps"]:
            settings["run"] = {"max_steps": options["max_steps"]}
        try:
            pipeline = pipelines.start(policy, release, settings)
        except pipelines.PipelineError as error:
            raise CommandError(str(error)) from None
        if not options["here"]:
            self.stdout.write(f"alignment pipeline {pipeline.pk} started; its steps appear under /jobs/")
            return
        pipeline = pipelines.run_here(pipeline, log=self.stdout.write)
        if pipeline.status == "failed":
            raise CommandError(f"pipeline {pipeline.pk} failed: {pipeline.error}")
        aligned = f"; aligned model {pipeline.aligned.name}" if pipeline.aligned else ""
        self.stdout.write(f"pipeline {pipeline.pk} {pipeline.status}{aligned}")

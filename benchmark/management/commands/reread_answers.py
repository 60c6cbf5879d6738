from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from benchmark.models import Response
from benchmark.responses import reread_answers


class Command(BaseCommand):
    help = "Read the answers of stored objective responses again (after the extractor changed); prints what changed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", action="append", default=[], help="only this model (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        responses = Response.objects.filter(extractable__isnull=False)
        if options["model"]:
            responses = responses.filter(model__name__in=options["model"])
            if not responses.exists():
                raise CommandError(f"No objective responses of {', '.join(options['model'])}.")
        changed = reread_answers(responses)
        self.stdout.write(f"{responses.count()} responses read again, {changed} changed.")

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from medes_site.tokens import TokenError, create_token


class Command(BaseCommand):
    help = "Create a REST API token for a user and print it once (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="what the token is for")
        parser.add_argument("--days", type=int, default=None, help="valid for this many days (default: the setting)")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {options['username']!r}.")
        if options["days"] is not None and not 1 <= options["days"] <= 365:
            raise CommandError("--days must be between 1 and 365.")
        try:
            token, secret = create_token(user, options["name"], options["days"])
        except TokenError as error:
            raise CommandError(str(error)) from None
        expiry = f"expires {token.expiry:%Y-%m-%d}" if token.expiry else "never expires"
        self.stdout.write(f"{secret}\n({token.name}, {expiry}; it will not be shown again)")

from __future__ import annotations

import getpass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from medes_site.accounts import create_user, generate_password
from medes_site.roles import Role


class Command(BaseCommand):
    help = "Create a user with one or more roles (the workbench has no open sign-up)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            action="append",
            choices=[role.value for role in Role],
            default=[],
            dest="roles",
            help="A role to give; repeat for several.",
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--superuser", action="store_true", help="Also an administrator (all roles, admin site).")
        password = parser.add_mutually_exclusive_group()
        password.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")
        password.add_argument("--random-password", action="store_true", help="Generate a password and print it once.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["roles"] and not options["superuser"]:
            raise CommandError("Give at least one --role (or --superuser).")
        if options["random_password"]:
            password = generate_password()
        elif options["password_stdin"]:
            password = self.stdin_password()
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords differ.")
        try:
            user = create_user(
                options["username"],
                roles=[Role(r) for r in options["roles"]],
                password=password,
                email=options["email"],
                superuser=options["superuser"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        except ValidationError as error:
            raise CommandError("Password refused: " + " ".join(error.messages)) from None
        roles = ", ".join(options["roles"]) or "administrator"
        self.stdout.write(self.style.SUCCESS(f"Created {user.username} ({roles})."))
        if options["random_password"]:
            self.stdout.write(f"Password (shown once): {password}")

    def stdin_password(self) -> str:
        import sys

        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise CommandError("No password on standard input.")
        return password

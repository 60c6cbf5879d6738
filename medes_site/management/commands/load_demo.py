from __future__ import annotations

import importlib.util
from typing import Any

from django.apps import apps
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from medes_site.accounts import create_user, ensure_role_groups, generate_password
from medes_site.roles import Role

DEMO_USERS: list[tuple[str, list[Role], bool]] = [
    ("demo_curator", [Role.CURATOR], False),
    ("demo_annotator", [Role.ANNOTATOR], False),
    ("demo_reviewer", [Role.REVIEWER], False),
    ("demo_ml", [Role.ML_ENGINEER], False),
    ("demo_admin", [], True),
]


class Command(BaseCommand):
    help = (
        "Create the role groups, one demo user per role (passwords are printed once) and each app's demo data "
        "(the `load(out, **options)` function of its `demo` module; annotation's adds two demo experts who cannot "
        "sign in). Safe to run again."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--no-models",
            action="store_true",
            help="Leave out the tiny demo models (a guardian with its critic, the answers they judge, and a local "
            "policy, trained in seconds).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_role_groups()
        created: list[tuple[str, str, str]] = []
        for username, roles, superuser in DEMO_USERS:
            if User.objects.filter(username=username).exists():
                self.stdout.write(f"{username}: exists, password unchanged")
                continue
            password = generate_password()
            create_user(username, roles=roles, password=password, superuser=superuser)
            created.append((username, ", ".join(r.value for r in roles) or "admin", password))
        if created:
            self.stdout.write(self.style.WARNING("Demo accounts (passwords are shown only this once):"))
            for username, role_names, password in created:
                self.stdout.write(f"  {username:<16} {role_names:<12} {password}")
        for config in apps.get_app_configs():
            module = f"{config.name}.demo"
            if importlib.util.find_spec(module) is not None:
                importlib.import_module(module).load(self.stdout, no_models=options["no_models"])

from __future__ import annotations

from pathlib import Path
from typing import Any

import polib
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Compile locale/*/LC_MESSAGES/*.po into .mo files with polib, so a fresh machine needs no GNU gettext. "
        "Fails on a catalog with untranslated or fuzzy entries."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        problems: list[str] = []
        count = 0
        for locale_dir in settings.LOCALE_PATHS:
            for po_path in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")):
                catalog = polib.pofile(str(po_path))
                missing = [e.msgid for e in catalog.untranslated_entries()]
                fuzzy = [e.msgid for e in catalog.fuzzy_entries()]
                if missing or fuzzy:
                    problems.append(
                        f"{po_path}: {len(missing)} untranslated, {len(fuzzy)} fuzzy: {(missing + fuzzy)[:3]}"
                    )
                catalog.save_as_mofile(str(po_path.with_suffix(".mo")))
                count += 1
        if not count:
            raise CommandError("No .po catalogs found under LOCALE_PATHS.")
        if problems:
            raise CommandError("Incomplete catalogs:\n" + "\n".join(problems))
        self.stdout.write(f"Compiled {count} catalog(s).")

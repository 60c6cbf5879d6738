"""The history pages' reasons in the user's language (issue 16, item 3): a scenario's or a provision's change
reason is stored as written (English, with the data it names, for the admin, exports and searches) and shown
through the "history_reason" vocabulary of medes_site.labels, which reads each known shape back into its
translation. A reason someone typed is shown as it is."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _

from benchmark.models import Provision, ScenarioStatus
from medes_site import labels


def _status(code: str) -> str:
    try:
        return str(ScenarioStatus(code).label)
    except ValueError:
        return labels.humanize(code)


def _field(name: str) -> str:
    try:
        field = Provision._meta.get_field(name)
    except FieldDoesNotExist:
        return labels.humanize(name)
    return str(getattr(field, "verbose_name", name))


def _fields(names: str) -> str:
    return "、".join(_field(name.strip()) for name in names.split(","))


# (the stored reason's shape, its translation given the shape's groups)
REASONS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"edit"), lambda m: _("edited")),
    (re.compile(r"create"), lambda m: _("written")),
    # benchmark.recite: "re-cited 第十条 → 第十条; 第二十五条 → 第二十四条"
    (re.compile(r"re-cited (?P<pairs>.+)", re.S), lambda m: _("re-cited %(pairs)s") % m.groupdict()),
    (re.compile(r"parse"), lambda m: _("parsed from the source")),
    (re.compile(r"re-parse"), lambda m: _("parsed again from the source")),
    (
        re.compile(r"(?P<old>[a-z_]+) → (?P<new>[a-z_]+)"),
        lambda m: _("status %(old)s → %(new)s") % {"old": _status(m["old"]), "new": _status(m["new"])},
    ),
    (
        re.compile(r"amended by (?P<title>.+): (?P<cited>.+) changed or removed", re.S),
        lambda m: _("amended by %(title)s: %(cited)s changed or removed") % m.groupdict(),
    ),
    (re.compile(r"imported from (?P<origin>.+)", re.S), lambda m: _("imported from %(origin)s") % m.groupdict()),
    (re.compile(r"edit: (?P<fields>.+)"), lambda m: _("edited: %(fields)s") % {"fields": _fields(m["fields"])}),
    (
        re.compile(r"split: the rest became (?P<label>.+)"),
        lambda m: _("split: the rest became %(label)s") % m.groupdict(),
    ),
    (re.compile(r"split off (?P<label>.+)"), lambda m: _("split off %(label)s") % m.groupdict()),
    (re.compile(r"merged (?P<label>.+) into it"), lambda m: _("merged %(label)s into it") % m.groupdict()),
    (re.compile(r"merged into (?P<label>.+)"), lambda m: _("merged into %(label)s") % m.groupdict()),
]


def history_reason(text: str) -> str | None:
    """A stored change reason in the active language; None for a reason of no known shape (shown as typed)."""
    for pattern, translate in REASONS:
        match = pattern.fullmatch(text.strip())
        if match:
            return translate(match)
    return None


labels.register("history_reason", history_reason)

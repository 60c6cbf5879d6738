"""``{% draft_form source %}``: the "draft scenarios" form on a source page."""

from __future__ import annotations

import uuid
from typing import Any

from django import template

from benchmark.forms_generation import DraftScenariosForm
from benchmark.models import Source

register = template.Library()


@register.inclusion_tag("benchmark/partials/_draft_form.html")
def draft_form(source: Source) -> dict[str, Any]:
    form = DraftScenariosForm(source, initial={"request_key": uuid.uuid4().hex})
    return {"source": source, "form": form, "backends": form.fields["backend"].choices}  # type: ignore[attr-defined]

"""``{% provision_picker form.provisions %}``: the provision picker of any form that cites provisions (search by
law, article number or text; the chosen ones as chips), and the search results it shows without JavaScript."""

from __future__ import annotations

from typing import Any

from django import forms, template
from django.urls import reverse

from benchmark.picker import SEARCH_BUTTON, ProvisionPickerField, chosen, describe

register = template.Library()


@register.inclusion_tag("benchmark/partials/_provision_picker.html")
def provision_picker(bound: forms.BoundField, editable: bool = True) -> dict[str, Any]:
    field = bound.field
    results = field.results if isinstance(field, ProvisionPickerField) else None
    return {
        "name": bound.html_name,
        "id": bound.auto_id or f"id_{bound.html_name}",
        "label": bound.label,
        "help_text": bound.help_text,
        "errors": bound.errors,
        "chosen": [describe(p) for p in chosen(bound)],
        "results": None if results is None else [describe(p) for p in results],
        "query": getattr(field, "query", ""),
        "search_url": reverse("benchmark:provision_search"),
        "search_button": SEARCH_BUTTON,
        "editable": editable,
    }

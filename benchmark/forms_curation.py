"""Forms for curator fixes to provisions and for amendments (issue 3, items 1 and 3)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from benchmark.models import ChangeKind, Source


class ProvisionEditForm(forms.Form):
    number = forms.IntegerField(label=_("Article number"), min_value=1)
    suffix = forms.IntegerField(label=_("Suffix (1 for 第N条之一)"), min_value=0, max_value=99, initial=0)
    text = forms.CharField(
        label=_("Text"), widget=forms.Textarea(attrs={"rows": 8}), help_text=_("One paragraph per line.")
    )
    book = forms.CharField(label=_("Book (编)"), max_length=128, required=False)
    part = forms.CharField(label=_("Part (分编)"), max_length=128, required=False)
    chapter = forms.CharField(label=_("Chapter (章)"), max_length=128, required=False)
    section = forms.CharField(label=_("Section (节)"), max_length=128, required=False)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class ProvisionSplitForm(forms.Form):
    at_paragraph = forms.IntegerField(
        label=_("Second part starts at paragraph"), min_value=1, required=False, help_text=_("2 for the second.")
    )
    at_offset = forms.IntegerField(
        label=_("…or at character"),
        min_value=1,
        required=False,
        help_text=_("Counted from 0 in the text as stored; use this when two articles ran into one line."),
    )
    new_number = forms.IntegerField(label=_("Number of the second part"), min_value=1)
    new_suffix = forms.IntegerField(label=_("Its suffix (1 for 第N条之一)"), min_value=0, max_value=99)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("at_paragraph") is None) == (data.get("at_offset") is None) and not self.errors:
            raise forms.ValidationError(_("Give either a paragraph or a character offset to split at."))
        return data


class ProvisionMergeForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    next_id = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    next_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class SupersedeForm(forms.Form):
    supersedes = forms.ModelChoiceField(
        label=_("Supersedes"),
        queryset=Source.objects.all(),
        required=False,
        empty_label=_("No earlier version"),
        help_text=_(
            "The earlier version of this text. Once both are parsed, they are compared provision by "
            "provision and the scenarios citing changed or removed provisions go back to review."
        ),
    )

    def __init__(self, *args: Any, source: Source, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["supersedes"].queryset = Source.objects.exclude(pk=source.pk)  # type: ignore[attr-defined]


CHANGE_FILTERS = [
    ("changes", _("Changed, added and removed")),
    ("all", _("Every provision")),
    *ChangeKind.choices,
    ("renumbered", _("Renumbered")),
]


class AmendmentFilterForm(forms.Form):
    kind = forms.ChoiceField(label=_("Show"), choices=CHANGE_FILTERS, required=False)

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from benchmark.models import SourceKind


class SourceFilterForm(forms.Form):
    q = forms.CharField(label=_("Title contains"), required=False, max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("Any kind")), *SourceKind.choices])
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class SourceUploadForm(forms.Form):
    file = forms.FileField(
        label=_("File"), help_text=_("PDF, DOCX, HTML, Markdown or plain text. The same file twice is added once.")
    )
    title = forms.CharField(label=_("Title"), max_length=255, required=False,
                            help_text=_("Leave empty to use the title found in the file."))  # fmt: skip
    kind = forms.ChoiceField(label=_("Kind"), choices=SourceKind.choices, initial=SourceKind.LAW)
    issuer = forms.CharField(label=_("Issuer"), max_length=255, required=False)
    promulgated_on = forms.DateField(
        label=_("Promulgated"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    effective_on = forms.DateField(label=_("Effective"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    version = forms.CharField(label=_("Version"), max_length=64, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        promulgated, effective = data.get("promulgated_on"), data.get("effective_on")
        if promulgated and effective and effective < promulgated:
            self.add_error("effective_on", _("A source cannot take effect before it is promulgated."))
        return data

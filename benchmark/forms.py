"""The corpus and bank pages' forms: source filters and uploads, scenario filters and bulk status, publishing a
release (a scenario's own form: ``forms_authoring``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from benchmark.models import Scenario, ScenarioKind, ScenarioOrigin, ScenarioStatus, Scene, Source, SourceKind
from medes_site.keyset import MAX_CURSOR


class SourceFilterForm(forms.Form):
    q = forms.CharField(label=_("Title contains"), required=False, max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("Any kind")), *SourceKind.choices])
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class SourcePageForm(forms.Form):
    """Which page of a source's provisions to show: a page number, or the page that holds one provision."""

    page = forms.IntegerField(required=False, min_value=1)
    provision = forms.IntegerField(required=False, min_value=1)


class SourceUploadForm(forms.Form):
    file = forms.FileField(
        label=_("File"), help_text=_("PDF, DOCX, HTML, Markdown or plain text. The same file twice is added once.")
    )
    title = forms.CharField(
        label=_("Title"), max_length=255, required=False, help_text=_("Leave empty to use the title found in the file.")
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=SourceKind.choices, initial=SourceKind.LAW)
    issuer = forms.CharField(label=_("Issuer"), max_length=255, required=False)
    promulgated_on = forms.DateField(
        label=_("Promulgated"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    effective_on = forms.DateField(label=_("Effective"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    version = forms.CharField(label=_("Version"), max_length=64, required=False)
    supersedes = forms.ModelChoiceField(  # amendments: compared with this one once both are parsed
        label=_("Supersedes"),
        queryset=Source.objects.all(),
        required=False,
        empty_label=_("No earlier version"),
        help_text=_("The earlier version of this text, if any: its provisions are compared with this one's."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        promulgated, effective = data.get("promulgated_on"), data.get("effective_on")
        if promulgated and effective and effective < promulgated:
            self.add_error("effective_on", _("A source cannot take effect before it is promulgated."))
        return data


class ScenarioFilterForm(forms.Form):
    q = forms.CharField(label=_("Text contains"), required=False, max_length=100)
    scene = forms.ModelChoiceField(
        label=_("Scene"), queryset=Scene.objects.all(), required=False, empty_label=_("Any scene")
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *ScenarioStatus.choices]
    )
    origin = forms.ChoiceField(
        label=_("Origin"), required=False, choices=[("", _("Any origin")), *ScenarioOrigin.choices]
    )
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("Any kind")), *ScenarioKind.choices])
    source = forms.ModelChoiceField(
        label=_("Source"), queryset=Source.objects.all(), required=False, empty_label=_("Any source")
    )
    near_duplicate = forms.BooleanField(label=_("Near-duplicates only"), required=False)
    # The pager's: a page number (its label, or an old ?page=N link) and the cursor of the row a page follows
    # or precedes (medes_site.keyset checks it); none of them shown in the filter form, which starts at page 1.
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    after = forms.CharField(required=False, max_length=MAX_CURSOR, widget=forms.HiddenInput)
    before = forms.CharField(required=False, max_length=MAX_CURSOR, widget=forms.HiddenInput)


class BulkStatusForm(forms.Form):
    ids = forms.ModelMultipleChoiceField(
        queryset=Scenario.objects.all(),
        error_messages={
            "required": _("Select at least one scenario."),
        },
    )
    status = forms.ChoiceField(label=_("Move to"), choices=ScenarioStatus.choices)
    versions = forms.CharField(
        required=False, widget=forms.HiddenInput, help_text="id:version pairs of the rows as the user saw them"
    )
    confirm_near_duplicates = forms.BooleanField(
        label=_("I have compared the near-duplicates; accept them anyway"), required=False
    )

    def seen_versions(self) -> dict[int, int]:
        pairs = (item.split(":") for item in self.cleaned_data.get("versions", "").split(",") if ":" in item)
        try:
            return {int(pk): int(version) for pk, version in pairs}
        except ValueError:
            return {}


class PublishReleaseForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=64, help_text=_("e.g. MedES-2026.11"))
    test_fraction = forms.FloatField(label=_("Test share"), min_value=0, max_value=1, initial=0.5)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

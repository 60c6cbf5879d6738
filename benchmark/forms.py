from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from benchmark.models import SourceKind


class SourceFilterForm(forms.Form):
    q = forms.CharField(label=_("Title contains"), required=False, max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("Any kind")), *SourceKind.choices])
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

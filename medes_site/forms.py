"""The jobs page's forms: filtering the job list and starting a job (the worker self-check)."""

from __future__ import annotations

import secrets
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from medes_site.jobkinds import MAX_STEP_SECONDS, MAX_STEPS
from medes_site.jobs import REGISTRY
from medes_site.models import JobStatus


class JobFilterForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[("", _("Any status")), *JobStatus.choices])
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kinds = sorted(REGISTRY.values(), key=lambda kind: kind.name)
        kind_field = cast(forms.ChoiceField, self.fields["kind"])
        kind_field.choices = [("", _("Any kind")), *((kind.name, kind.label) for kind in kinds)]


class StartJobForm(forms.Form):
    """Base for forms that start a job: a hidden one-time key makes a double submit start it once."""

    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("request_key", secrets.token_urlsafe(24))


class SelfCheckForm(StartJobForm):
    queue = forms.ChoiceField(
        label=_("Queue"),
        choices=[
            ("default", _("default: the CPU workers")),
            ("gpu", _("gpu: the GPU workers (training, generation)")),
        ],
        initial="default",
        required=False,
    )
    steps = forms.IntegerField(label=_("Steps"), min_value=1, max_value=MAX_STEPS, initial=10)
    step_seconds = forms.FloatField(label=_("Seconds per step"), min_value=0, max_value=MAX_STEP_SECONDS, initial=0.5)

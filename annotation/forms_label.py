"""Forms of the labeling screen. The score fields come from the campaign's schema (``s-<key>``, one radio
group per dimension); whether a submit is complete is the schema's call (``LabelSchema.validate``), so a
draft may hold any subset of the scores."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core import signing
from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from annotation.schema import LabelSchema

MAX_RATIONALE = 20_000
MAX_PROVISIONS = 50
MAX_SECONDS = 6 * 60 * 60  # a page left open overnight is not six hours of work
OPENED_SALT = "annotation.label.opened"
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def score_field(key: str) -> str:
    """The form field of a dimension's score, on every form that takes scores (labeling, adjudication, the
    guardian review): ``s-R1``. The labeling screen's drafts in the browser are keyed by it."""
    return f"s-{key}"


def opened_token() -> str:
    """When the form was shown, signed: the server times the label without trusting the browser's clock."""
    return signing.dumps(timezone.now().timestamp(), salt=OPENED_SALT)


class IdListField(forms.Field):
    """Repeated ``name=<id>`` inputs (the provision chips) as a list of distinct positive ints, in order."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        ids: list[int] = []
        for raw in value or []:
            text = str(raw).strip()
            if not text.isdigit() or int(text) < 1:
                raise forms.ValidationError(gettext("Cited provisions must be given by their numbers."))
            if int(text) not in ids:
                ids.append(int(text))
        if len(ids) > MAX_PROVISIONS:
            raise forms.ValidationError(gettext("Cite at most %(n)d provisions.") % {"n": MAX_PROVISIONS})
        return ids


class LabelForm(forms.Form):
    rationale = forms.CharField(
        label=_("Rationale"),
        required=False,
        strip=False,
        max_length=MAX_RATIONALE,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    provisions = IdListField(required=False)
    idempotency_key = forms.CharField(
        required=False,
        max_length=64,
        validators=[RegexValidator(KEY_PATTERN, _("This form is damaged; reload the page."))],
    )
    expected_version = forms.IntegerField(required=False, min_value=1)
    opened = forms.CharField(required=False, max_length=200)

    def __init__(self, schema: LabelSchema, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema
        for dimension in schema.dimensions:
            self.fields[score_field(dimension.key)] = forms.TypedChoiceField(
                label=dimension.label,
                required=False,
                coerce=int,
                empty_value=None,
                choices=[("", "—"), *((str(v), str(v)) for v in dimension.values)],
            )

    def scores(self) -> dict[str, int]:
        """The chosen scores (only those given), after ``is_valid()``."""
        values = {d.key: self.cleaned_data.get(score_field(d.key)) for d in self.schema.dimensions}
        return {key: value for key, value in values.items() if value is not None}

    def draft_data(self) -> dict[str, Any]:
        return {
            "scores": self.scores(),
            "rationale": self.cleaned_data.get("rationale") or "",
            "provisions": self.cleaned_data.get("provisions") or [],
        }

    def seconds_spent(self) -> int | None:
        token = self.cleaned_data.get("opened")
        if not token:
            return None
        try:
            opened = float(signing.loads(token, salt=OPENED_SALT, max_age=MAX_SECONDS))
        except (signing.BadSignature, TypeError, ValueError):
            return None
        return max(0, min(MAX_SECONDS, round(timezone.now().timestamp() - opened)))


class ProvisionSearchForm(forms.Form):
    q = forms.CharField(label=_("Search provisions"), required=False, max_length=100)


class HistoryFilterForm(forms.Form):
    campaign = forms.IntegerField(required=False, min_value=1)
    page = forms.IntegerField(required=False, min_value=1)

"""Forms of the review side: campaign settings, members, guideline, adjudication, diff and export choices."""

from __future__ import annotations

import json
from typing import Any, cast

from django import forms
from django.contrib.auth.models import User
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from annotation.exports import EXPORT_FORMATS, EXPORT_KINDS
from annotation.forms_label import score_field
from annotation.models import Campaign, MemberRole, Subject
from annotation.schema import MEDES_RUBRIC, SCENARIO_REVIEW, LabelSchema, SchemaError, schema_from_dict
from annotation.services import REVIEWABLE
from benchmark.models import RegisteredModel, Release, Scenario, ScenarioStatus, Scene
from benchmark.picker import ProvisionPickerField
from medes_site.roles import Role

SCHEMA_DEFAULT, SCHEMA_MEDES, SCHEMA_REVIEW, SCHEMA_CAMPAIGN, SCHEMA_JSON = "", "medes", "review", "campaign", "json"
SETTINGS = (
    "description",
    "consensus_rule",
    "blind",
    "gold_ratio",
    "gold_threshold",
    "gold_minimum",
    "reservation_minutes",
    "deadline",
)


class CampaignSettingsForm(forms.ModelForm[Campaign]):
    class Meta:
        model = Campaign
        fields: tuple[str, ...] = SETTINGS
        widgets = {
            "deadline": forms.DateInput(attrs={"type": "date"}),
            "description": forms.Textarea(attrs={"rows": 3}),
        }

    def clean_gold_ratio(self) -> float:
        value = float(self.cleaned_data["gold_ratio"])
        if not 0 <= value <= 0.5:
            raise forms.ValidationError(_("The share of gold items must be between 0 and 0.5."))
        return value

    def clean_gold_threshold(self) -> float:
        value = float(self.cleaned_data["gold_threshold"])
        if not 0 <= value <= 1:
            raise forms.ValidationError(_("The gold threshold is a share between 0 and 1."))
        return value

    def clean_reservation_minutes(self) -> int:
        value = int(self.cleaned_data["reservation_minutes"])
        if not 1 <= value <= 24 * 60:
            raise forms.ValidationError(_("A reservation lasts between 1 minute and a day."))
        return value


class CampaignCreateForm(CampaignSettingsForm):
    subject = forms.ChoiceField(
        label=_("what is labeled"),
        choices=Subject.choices,
        initial=Subject.RESPONSES,
        widget=forms.RadioSelect,
        required=False,
    )
    release = forms.ModelChoiceField(queryset=Release.objects.none(), label=_("release"), required=False)
    models = forms.ModelMultipleChoiceField(
        queryset=RegisteredModel.objects.none(),
        label=_("models"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Their responses to the release's open cases become the items."),
        required=False,
    )
    scenario_statuses = forms.MultipleChoiceField(
        label=_("scenarios to review"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(status.value, status.label) for status in REVIEWABLE],
        initial=[ScenarioStatus.DRAFT],
        help_text=_("For a scenario review: the scenarios in these states become the items."),
    )
    scenario_scene = forms.ModelChoiceField(
        queryset=Scene.objects.all(),
        required=False,
        label=_("only this scene"),
    )
    guideline = forms.CharField(
        label=_("guideline (Markdown)"), widget=forms.Textarea(attrs={"rows": 8}), required=False
    )
    schema_source = forms.ChoiceField(
        label=_("label schema"),
        initial=SCHEMA_DEFAULT,
        widget=forms.RadioSelect,
        required=False,
        choices=[
            (SCHEMA_DEFAULT, _("the usual one: the MedES rubric for responses, the review form for scenarios")),
            (SCHEMA_MEDES, _("the MedES rubric (R1, R2 risk; Q1–Q4 quality)")),
            (SCHEMA_REVIEW, _("the scenario review form (decision, grounding, realism, clarity, key)")),
            (SCHEMA_CAMPAIGN, _("the schema of another campaign")),
            (SCHEMA_JSON, _("a schema written below as JSON")),
        ],
    )
    schema_campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.none(), required=False, label=_("campaign whose schema to reuse")
    )
    schema_json = forms.CharField(
        label=_("schema (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text=_(
            'For example {"name": "safety-v1", "rationale_required": true, "dimensions": [{"key": "S", '
            '"label": "Safe?", "values": [-1, 0], "role": "risk", "risky_value": -1, "shortcut_keys": '
            '["1", "2"]}]}. Roles are risk or quality; a risk dimension names its risky value.'
        ),
    )

    class Meta(CampaignSettingsForm.Meta):
        fields = ("name", "subject", "release", "overlap", *SETTINGS)

    field_order = ("name", "subject", "release", "models", "scenario_statuses", "scenario_scene", "overlap")

    def scenario_ids(self) -> list[int]:
        """The scenarios a scenario review will hold (once the form is valid)."""
        found = Scenario.objects.filter(status__in=self.cleaned_data["scenario_statuses"])
        if self.cleaned_data.get("scenario_scene"):
            found = found.filter(scene=self.cleaned_data["scenario_scene"])
        return list(found.values_list("pk", flat=True))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField[Release], self.fields["release"]).queryset = Release.objects.order_by("-pk")
        with_responses = RegisteredModel.objects.annotate(n=Count("responses")).filter(n__gt=0).order_by("name")
        cast(forms.ModelMultipleChoiceField[RegisteredModel], self.fields["models"]).queryset = with_responses
        campaigns = Campaign.objects.order_by("name")
        cast(forms.ModelChoiceField[Campaign], self.fields["schema_campaign"]).queryset = campaigns

    def clean(self) -> dict[str, Any]:
        """Turn the schema choice into ``label_schema`` (a checked schema as data), with the reason when bad."""
        data = super().clean() or {}
        data["subject"] = data.get("subject") or Subject.RESPONSES
        if data["subject"] == Subject.RESPONSES:
            for field in ("release", "models"):
                if not data.get(field):
                    self.add_error(field, self.fields[field].error_messages["required"])
        elif not data.get("scenario_statuses"):
            self.add_error("scenario_statuses", _("Choose which scenarios to review."))
        source = data.get("schema_source") or SCHEMA_DEFAULT
        if source == SCHEMA_DEFAULT:
            source = SCHEMA_REVIEW if data["subject"] == Subject.SCENARIOS else SCHEMA_MEDES
        if source == SCHEMA_CAMPAIGN:
            other = data.get("schema_campaign")
            if other is None:
                self.add_error("schema_campaign", _("Choose the campaign whose schema to reuse."))
                return data
            raw: Any = other.label_schema
        elif source == SCHEMA_JSON:
            text = (data.get("schema_json") or "").strip()
            if not text:
                self.add_error("schema_json", _("Write the schema, or choose the MedES rubric."))
                return data
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as error:
                self.add_error(
                    "schema_json",
                    _("Not valid JSON (line %(line)d, column %(column)d): %(msg)s")
                    % {"line": error.lineno, "column": error.colno, "msg": error.msg},
                )
                return data
            if not isinstance(raw, dict):
                self.add_error("schema_json", _("A schema is a JSON object with a name and dimensions."))
                return data
        elif source == SCHEMA_REVIEW:
            raw = SCENARIO_REVIEW.as_dict()
        else:
            raw = MEDES_RUBRIC.as_dict()
        try:
            data["label_schema"] = schema_from_dict(raw).as_dict()
        except SchemaError as error:
            self.add_error("schema_json" if source == SCHEMA_JSON else "schema_source", str(error))
        return data

    def clean_overlap(self) -> int:
        value = int(self.cleaned_data["overlap"])
        if not 1 <= value <= 10:
            raise forms.ValidationError(_("Labels per item must be between 1 and 10."))
        return value


class MemberForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.none(), label=_("user"))
    role = forms.ChoiceField(choices=MemberRole.choices, label=_("role"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        users = cast(forms.ModelChoiceField[User], self.fields["user"])
        users.queryset = (
            User.objects.filter(is_active=True, groups__name__in=[Role.ANNOTATOR, Role.REVIEWER])
            .distinct()
            .order_by("username")
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        user, role = data.get("user"), data.get("role")
        if user is not None and role and not user.groups.filter(name=role).exists():
            self.add_error(
                "role", _("%(user)s does not hold the %(role)s role.") % {"user": user.username, "role": role}
            )
        return data


class GuidelineForm(forms.Form):
    text = forms.CharField(
        label=_("guideline (Markdown)"), widget=forms.Textarea(attrs={"rows": 16}), max_length=100_000
    )


class DiffForm(forms.Form):
    old = forms.IntegerField(min_value=1, label=_("from version"))
    new = forms.IntegerField(min_value=1, label=_("to version"))


class StatusForm(forms.Form):
    action = forms.ChoiceField(choices=[("activate", _("Activate")), ("close", _("Close"))])


EXPORT_LABELS = {"labels": _("labels"), "accepted": _("accepted labels")}  # the stored codes, as users read them


class ExportForm(forms.Form):
    what = forms.ChoiceField(choices=[(k, EXPORT_LABELS[k]) for k in EXPORT_KINDS])
    format = forms.ChoiceField(choices=[(k, k) for k in EXPORT_FORMATS])


class AdjudicationForm(forms.Form):
    """One choice per dimension of the campaign's schema, plus rationale, note and cited provisions."""

    rationale = forms.CharField(label=_("rationale"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    note = forms.CharField(label=_("note to the annotators"), widget=forms.Textarea(attrs={"rows": 2}), required=False)
    # picked with the provision picker (search by law, article number or text), never typed as ids
    provisions = ProvisionPickerField(label=_("cited provisions"))

    def __init__(
        self, schema: LabelSchema, *args: Any, initial_scores: dict[str, int] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema
        for d in schema.dimensions:
            self.fields[score_field(d.key)] = forms.TypedChoiceField(
                label=d.label,
                choices=[(v, v) for v in d.values],
                coerce=int,
                widget=forms.RadioSelect,
                initial=(initial_scores or {}).get(d.key),
            )

    def clean_provisions(self) -> list[int]:
        return [provision.pk for provision in self.cleaned_data.get("provisions") or []]

    def scores(self) -> dict[str, int]:
        return {d.key: self.cleaned_data[score_field(d.key)] for d in self.schema.dimensions}

    def score_fields(self) -> list[forms.BoundField]:
        return [self[score_field(d.key)] for d in self.schema.dimensions]

"""Forms of the model registry, the response pages and the import screens."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from benchmark.importers.mapped_scenarios import SCENARIO_FIELDS, Mapping
from benchmark.importers.responses import RESPONSE_FIELDS
from benchmark.importers.uploads import MAPPED, ImportOptions
from benchmark.models import ImportFormat, RegisteredModel, ScenarioStatus, Scene
from benchmark.responses import (
    CONFIG_FIELDS,
    ModelError,
    check_may_register,
    check_model_fields,
    kinds_for_user,
    may_register_runnable,
)


class RegisteredModelForm(forms.ModelForm[RegisteredModel]):
    """Register a model. The kinds offered follow the user's role (``responses.kinds_for_user``): a curator
    registers models known from imported responses only, and is not shown the fields of the other kinds."""

    class Meta:
        model = RegisteredModel
        fields: ClassVar[list[str]] = ["name", "kind", "path", "base_url", "model_id", "api_key_env", "notes"]
        widgets: ClassVar[dict[str, Any]] = {"notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        cast(forms.ChoiceField, self.fields["kind"]).choices = kinds_for_user(user)
        if not may_register_runnable(user):
            for name in CONFIG_FIELDS:
                del self.fields[name]
        else:
            self.fields["api_key_env"].help_text = _(
                "Name of the environment variable that holds the key, one named like %(allowed)s; the key itself is "
                "never stored."
            ) % {"allowed": ", ".join(settings.MEDES_MODEL_KEY_VARIABLES)}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind"):
            try:
                check_may_register(self.user, data["kind"])
                stored = {name: data.get(name, "") for name in CONFIG_FIELDS}
                data.update(check_model_fields(data["kind"], **stored))
            except ModelError as error:
                self.add_error(None, str(error))
        return data


class ModelResponsesFilterForm(forms.Form):
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class ImportUploadForm(forms.Form):
    fmt = forms.ChoiceField(label=_("Format"), choices=ImportFormat.choices, initial=ImportFormat.MEDES_RESPONSES)
    file = forms.FileField(label=_("File"), help_text=_("CSV (UTF-8) or, for mapped formats, JSONL."))


FIELD_LABELS = {
    "stem": _("Question or case"),
    "options": _("Options"),
    "key": _("Answer key"),
    "norm": _("Norm tested (考点)"),
    "scene": _("Scene"),
    "reference": _("Reference answer"),
    "kind": _("Kind"),
    "model": _("Model"),
    "scenario": _("Scenario (id or content hash)"),
    "response": _("Response"),
    "answer": _("Answer read by the file's publishers"),
}
CREATES_QUESTIONS = {ImportFormat.MEDES_RESPONSES, ImportFormat.MEDETHICEVAL, ImportFormat.GENERIC_RESPONSES}
TAKES_STATUS = {ImportFormat.MEDES_QUESTIONS, ImportFormat.MEDETHICEVAL, ImportFormat.GENERIC_SCENARIOS}
TAKES_SCENE = {ImportFormat.MEDETHICEVAL, *MAPPED}


class ImportOptionsForm(forms.Form):
    """How to read an uploaded file: the options its format takes and, for mapped formats, which column
    holds which field. Sent by GET for the dry run and by POST for the import."""

    def __init__(self, fmt: str, columns: list[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fmt = fmt
        self.mapped_fields: tuple[str, ...] = ()
        if fmt in MAPPED:
            self.mapped_fields = SCENARIO_FIELDS if fmt == ImportFormat.GENERIC_SCENARIOS else RESPONSE_FIELDS
            choices = [("", "—"), *((column, column) for column in columns)]
            for name in self.mapped_fields:
                self.fields[f"map_{name}"] = forms.ChoiceField(
                    label=FIELD_LABELS[name], choices=choices, required=False
                )
        if fmt == ImportFormat.GENERIC_RESPONSES:
            self.fields["model_name"] = forms.CharField(
                label=_("Model name"),
                max_length=128,
                required=False,
                help_text=_("For files without a model column: the model every row comes from."),
            )
        if fmt in TAKES_SCENE:
            self.fields["default_scene"] = forms.ModelChoiceField(
                label=_("Scene of rows that name none"),
                queryset=Scene.objects.all(),
                required=False,
                empty_label=_("None: such rows are errors"),
            )
        if fmt in TAKES_STATUS:
            statuses = [ScenarioStatus.DRAFT, ScenarioStatus.IN_REVIEW, ScenarioStatus.ACCEPTED]
            self.fields["status"] = forms.ChoiceField(
                label=_("Status of new scenarios"),
                choices=[(s.value, s.label) for s in statuses],
                initial=ScenarioStatus.IN_REVIEW,
            )
        if fmt in CREATES_QUESTIONS:
            self.fields["create_questions"] = forms.BooleanField(
                label=_("Import questions that are not in the bank yet"),
                required=False,
                initial=True,
                help_text=_("Unticked, rows answering an unknown question are errors."),
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.mapped_fields:
            return data
        mapped = {name: data[f"map_{name}"] for name in self.mapped_fields if data.get(f"map_{name}")}
        twice = {column for column in mapped.values() if list(mapped.values()).count(column) > 1}
        if twice:
            self.add_error(
                None, _("Each column can hold one field only: %(columns)s.") % {"columns": ", ".join(sorted(twice))}
            )
        if self.fmt == ImportFormat.GENERIC_SCENARIOS and "stem" not in mapped:
            self.add_error("map_stem", _("Choose the column with the question or case."))
        if self.fmt == ImportFormat.GENERIC_RESPONSES:
            if "response" not in mapped:
                self.add_error("map_response", _("Choose the column with the response."))
            if "scenario" not in mapped and "stem" not in mapped:
                self.add_error("map_scenario", _("Choose the scenario column, or the question columns to link by."))
            if "model" not in mapped and not data.get("model_name", "").strip():
                self.add_error("model_name", _("Choose the model column or name the model."))
        if "scene" not in mapped and not data.get("default_scene") and ("stem" in mapped and "scenario" not in mapped):
            self.add_error("default_scene", _("Choose the scene column or a scene for every row."))
        data["mapping"] = mapped
        return data

    def options(self) -> ImportOptions:
        data = self.cleaned_data
        mapping = None
        if self.mapped_fields:
            mapping = Mapping(
                columns=data["mapping"],
                default_scene=data.get("default_scene"),
                model_name=data.get("model_name", "").strip(),
            )
        return ImportOptions(
            mapping=mapping,
            status=data.get("status") or ScenarioStatus.IN_REVIEW,
            create_questions=bool(data.get("create_questions")),
            default_scene=data.get("default_scene"),
        )

    def defaults(self, guessed: dict[str, str]) -> dict[str, Any]:
        """The data of a form left as offered, for formats whose dry run starts right away."""
        data: dict[str, Any] = {f"map_{name}": column for name, column in guessed.items()}
        if "status" in self.fields:
            data["status"] = ScenarioStatus.IN_REVIEW
        if "create_questions" in self.fields:
            data["create_questions"] = "on"
        return data

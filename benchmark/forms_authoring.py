"""The scenario a curator writes or edits by hand: kind, stem, options and key (multiple choice), norm tested
(考点) and reference answer (open case), scenes, principles and the provisions it cites (through the picker)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from benchmark.models import Principle, Scenario, ScenarioKind, ScenarioStatus, Scene
from benchmark.picker import ProvisionPickerField

LETTERS = "ABCDEFGH"


def option_field(letter: str) -> str:
    return f"option_{letter}"


class PrincipleChoices(forms.ModelMultipleChoiceField[Principle]):
    def label_from_instance(self, obj: Principle) -> str:
        return obj.name_en if (get_language() or "").startswith("en") else obj.name_zh


class ScenarioForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"), choices=ScenarioKind.choices, initial=ScenarioKind.OBJECTIVE, widget=forms.RadioSelect
    )
    stem = forms.CharField(
        label=_("Question or case"),
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("For an open case, the situation in the first person, as a clinician would ask it."),
    )
    key = forms.CharField(
        label=_("Answer key"),
        max_length=8,
        required=False,
        help_text=_("The correct letters, e.g. ABD (one or more)."),
    )
    norm = forms.CharField(
        label=_("Norm tested (考点)"),
        max_length=5_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Needed before an open case can be accepted."),
    )
    reference_answer = forms.CharField(
        label=_("Reference answer"), max_length=20_000, required=False, widget=forms.Textarea(attrs={"rows": 5})
    )
    rubric_notes = forms.CharField(
        label=_("Rubric notes"),
        max_length=20_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What a good answer must do or avoid, for those who label the responses."),
    )
    scene = forms.ModelChoiceField(label=_("Clinical scene"), queryset=Scene.objects.all())
    other_scenes = forms.ModelMultipleChoiceField(
        label=_("Also filed under"),
        queryset=Scene.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    principles = PrincipleChoices(
        label=_("Ethical principles"),
        queryset=Principle.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    provisions = ProvisionPickerField(label=_("Cited provisions"))
    difficulty = forms.TypedChoiceField(
        label=_("Difficulty"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—"), *((str(n), str(n)) for n in range(1, 6))],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for letter in LETTERS:
            self.fields[option_field(letter)] = forms.CharField(
                label=_("Option %(letter)s") % {"letter": letter}, max_length=2_000, required=False
            )

    def option_fields(self) -> list[forms.BoundField]:
        return [self[option_field(letter)] for letter in LETTERS]

    def options(self) -> dict[str, str]:
        """The written options, by letter (after ``is_valid()``)."""
        found = {letter: (self.cleaned_data.get(option_field(letter)) or "").strip() for letter in LETTERS}
        return {letter: text for letter, text in found.items() if text}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == ScenarioKind.OBJECTIVE:
            options = self.options()
            if len(options) < 2:
                self.add_error(option_field("A"), _("A multiple-choice item needs at least two options."))
            elif list(options) != list(LETTERS[: len(options)]):
                self.add_error(option_field("A"), _("Fill the options in order, from A, without gaps."))
            key = "".join(sorted({c for c in (data.get("key") or "").upper() if c.isalpha()}))
            if not key:
                self.add_error("key", _("Give the correct letters."))
            elif not set(key) <= set(options):
                self.add_error("key", _("The key %(key)s names options the item does not have.") % {"key": key})
            data["key"] = key
        elif data.get("kind") == ScenarioKind.SUBJECTIVE and (data.get("key") or "").strip():
            self.add_error("key", _("An open case has no answer key; leave it empty."))
        return data

    def values(self) -> dict[str, Any]:
        """What the services store (after ``is_valid()``): options and key only for a multiple-choice item."""
        data = self.cleaned_data
        objective = data["kind"] == ScenarioKind.OBJECTIVE
        return {
            "kind": data["kind"],
            "stem": data["stem"].strip(),
            "options": self.options() if objective else {},
            "key": data["key"] if objective else "",
            "norm": data["norm"].strip(),
            "reference_answer": data["reference_answer"].strip(),
            "rubric_notes": data["rubric_notes"].strip(),
            "difficulty": data["difficulty"],
            "scene": data["scene"],
            "other_scenes": list(data["other_scenes"]),
            "principles": list(data["principles"]),
            "provisions": list(data["provisions"]),
        }

    @classmethod
    def initial_of(cls, scenario: Scenario) -> dict[str, Any]:
        return {
            "kind": scenario.kind,
            "stem": scenario.stem,
            "key": scenario.key,
            "norm": scenario.norm,
            "reference_answer": scenario.reference_answer,
            "rubric_notes": scenario.rubric_notes,
            "difficulty": scenario.difficulty,
            "scene": scenario.scene_id,
            "other_scenes": [s.pk for s in scenario.scenes.all() if s.pk != scenario.scene_id],
            "principles": [p.pk for p in scenario.principles.all()],
            "provisions": list(scenario.provisions.values_list("pk", flat=True)),
            "version": scenario.version,
            **{option_field(letter): text for letter, text in (scenario.options or {}).items()},
        }


class ScenarioEditForm(ScenarioForm):
    """Every field of a scenario, saved under optimistic locking (the version the form was loaded at)."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class ScenarioStatusForm(forms.Form):
    """One workflow move of one scenario, from its page (the bulk action's moves, one at a time)."""

    status = forms.ChoiceField(choices=ScenarioStatus.choices)
    version = forms.IntegerField(min_value=1)
    confirm_near_duplicates = forms.BooleanField(
        label=_("I have compared the near-duplicates; accept it anyway"), required=False
    )

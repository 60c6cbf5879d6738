"""Forms for drafting scenarios."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from benchmark.generation import MAX_VARIANTS
from benchmark.model_backends import available_backends
from benchmark.models import PromptTemplate, Provision, Scene, Source


def offered_templates() -> QuerySet[PromptTemplate]:
    """The newest active version of each template."""
    newest: dict[str, int] = {}
    for pk, name in (
        PromptTemplate.objects.filter(is_active=True).order_by("name", "-version").values_list("pk", "name")
    ):
        newest.setdefault(name, pk)
    return PromptTemplate.objects.filter(pk__in=newest.values())


class TemplateChoiceField(forms.ModelChoiceField[PromptTemplate]):
    def label_from_instance(self, obj: PromptTemplate) -> str:
        return f"{obj} · {obj.get_kind_display()}"


class DraftScenariosForm(forms.Form):
    provisions = forms.ModelMultipleChoiceField(
        label=_("Provisions"),
        queryset=Provision.objects.none(),
        error_messages={"required": _("Tick at least one provision to draft from.")},
    )
    n = forms.IntegerField(label=_("Variants per provision"), min_value=1, max_value=MAX_VARIANTS, initial=3)
    template = TemplateChoiceField(label=_("Prompt template"), queryset=PromptTemplate.objects.none())
    backend = forms.ChoiceField(label=_("Generator"))
    scene = forms.ModelChoiceField(
        label=_("Scene"), queryset=Scene.objects.all(), required=False, empty_label=_("Let the model choose")
    )
    request_key = forms.CharField(required=False, widget=forms.HiddenInput, max_length=64)

    def __init__(self, source: Source, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelMultipleChoiceField[Provision], self.fields["provisions"]).queryset = source.provisions.all()
        cast(TemplateChoiceField, self.fields["template"]).queryset = offered_templates()
        cast(forms.ChoiceField, self.fields["backend"]).choices = list(available_backends().items())

    def job_config(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "provisions": sorted(p.pk for p in data["provisions"]),
            "n": data["n"],
            "template": data["template"].pk,
            "backend": data["backend"],
            "scene": data["scene"].pk if data["scene"] else None,
        }

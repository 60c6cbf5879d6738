"""Forms of the external-judge part of the leaderboard (issue 14, item 4): choose a judge to show, and upload
the publishers' judged-responses CSV."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from alignment.medes_judged import checked_judge_name
from benchmark.importers import ImportFileError


class ExternalJudgeForm(forms.Form):
    """The ``judge`` GET parameter of the leaderboard: one of the names judgements were imported under."""

    judge = forms.ChoiceField(label=_("External judge"), required=False)

    def __init__(self, judges: list[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["judge"]
        if isinstance(field, forms.ChoiceField):  # always: declared above (the check narrows the type)
            field.choices = [("", "—"), *((name, name) for name in judges)]


class JudgedUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Judged-responses CSV"),
        help_text=_(
            "UTF-8 CSV with scene, query, reference, type, model, response, risk_judge, quality_judge, "
            "score1…score6 (risk_flag, final_score, source_index and sample_id are read when present)."
        ),
    )
    judge = forms.CharField(
        label=_("External judge"),
        max_length=100,
        help_text=_(
            "The judge model's name, e.g. DeepSeek-R1: the judgements are stored, and the leaderboard shown, under it."
        ),
    )
    dry_run = forms.BooleanField(
        label=_("Dry run only"),
        required=False,
        initial=True,
        help_text=_("Read and check every row and report the rows read differently, without storing anything."),
    )
    create_questions = forms.BooleanField(
        label=_("Add questions that are not in the bank (for review)"), required=False, initial=True
    )

    def clean_judge(self) -> str:
        try:
            return checked_judge_name(self.cleaned_data["judge"])
        except ImportFileError as error:
            raise forms.ValidationError(str(error)) from None

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        if PurePath(upload.name or "").suffix.lower() != ".csv":
            raise forms.ValidationError(_("Upload a file ending in .csv."))
        limit = settings.MEDES_SOURCE_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(_("The file is larger than the limit of %(mb)d MB.") % {"mb": limit >> 20})
        data: bytes = upload.read(limit + 1)
        if not data:
            raise forms.ValidationError(_("The file is empty."))
        return data

"""The alignment app's forms: the guardian page's (start a training, a judging run; promote; review a
judgement), an evaluation, targeted prompts and pairs, and the SFT/DPO runs and the align action. The training
knobs' fields are built from the training configs (alignment.knobs): a knob added to a config reaches them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from alignment.demo import DEMO_POLICY, DEMO_RUN
from alignment.kinds import JUDGE_JOB, POLICY_JOB, PROMPT_JUDGE_JOB
from alignment.kinds.policy import LEFT_OUT
from alignment.knobs import knob_field, knob_fields, knobs
from alignment.models import AlignmentDataset, ProposalStatus
from alignment.pipelines import DEFAULT_RUN
from alignment.training.critic import CriticConfig
from alignment.training.critic_feedback import FEEDBACK_KEYS
from alignment.training.guardian import GuardianConfig
from alignment.training.policy import RunConfig
from annotation.forms_label import score_field
from annotation.models import Campaign
from annotation.schema import MEDES_RUBRIC
from benchmark.model_backends import available_backends
from benchmark.models import ModelKind, RegisteredModel, Release, Response
from medes_site.model_dirs import ModelPathError, checked_config_file, checked_model_dir
from medes_site.models import Job


def _model_dir(path: str) -> str:
    """A directory typed in a form, as typed, if it lies under a models root (the job checks it again as it
    starts and as it loads the model)."""
    try:
        checked_model_dir(path)
    except ModelPathError as error:
        raise forms.ValidationError(str(error)) from None
    return path.strip()


class TrainForm(forms.Form):
    """A guardian training (alignment.kinds.train_guardian): the base model, the few knobs of GuardianConfig the
    page offers, and optionally the critic's base and epochs (CriticConfig's, prefixed "critic_")."""

    base_model = forms.CharField(
        label=_("base model directory"),
        max_length=500,
        help_text=_("A directory on the training server with config.json, safetensors weights and a tokenizer."),
    )
    epochs = knob_field(GuardianConfig, "epochs")
    learning_rate = knob_field(GuardianConfig, "learning_rate")
    batch_size = knob_field(GuardianConfig, "batch_size")
    max_length = knob_field(GuardianConfig, "max_length")
    lora_r = knob_field(GuardianConfig, "lora_r")
    critic_base = forms.CharField(
        label=_("critic base model directory"),
        max_length=500,
        required=False,
        help_text=_("Optional: a causal language model (with a chat template) to fine-tune as the feedback writer."),
    )
    critic_epochs = knob_field(CriticConfig, "epochs", label=_("critic epochs"), required=False)
    request_key = forms.CharField(widget=forms.HiddenInput, required=False, initial=lambda: uuid.uuid4().hex)

    def clean_base_model(self) -> str:
        return _model_dir(self.cleaned_data["base_model"])

    def clean_critic_base(self) -> str:
        return _model_dir(self.cleaned_data["critic_base"]) if self.cleaned_data.get("critic_base") else ""

    def job_config(self) -> dict[str, Any]:
        """The training job's config: the base and the knobs given; the critic's only with its base."""
        given = {key: value for key, value in self.cleaned_data.items() if value not in (None, "")}
        given.pop("request_key", None)
        if not given.get("critic_base"):
            given = {key: value for key, value in given.items() if not key.startswith("critic_")}
        return given


def judge_choices(*, include_none: bool) -> list[tuple[str, Any]]:
    """The judges a form offers: the active guardian, then a prompt judge per configured backend, and, where
    ``include_none`` (an evaluation: objective answers are scored without one), no judge at all. A judging run
    has nothing to do without a judge, so its form never offers "none"."""
    prompt = [
        (f"prompt:{key}", _("Prompt judge: %(backend)s") % {"backend": label})
        for key, label in available_backends().items()
    ]
    choices: list[tuple[str, Any]] = [("guardian", _("The active guardian")), *prompt]
    if include_none:
        choices.append(("none", _("No judge: only objective answers to score")))
    return choices


class JudgeForm(forms.Form):
    judge = forms.ChoiceField(label=_("judge"), initial="guardian")
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.none(), required=False, label=_("a campaign's responses")
    )
    model = forms.ModelChoiceField(queryset=RegisteredModel.objects.none(), required=False, label=_("or a model's"))
    release = forms.ModelChoiceField(queryset=Release.objects.none(), required=False, label=_("on this release"))
    request_key = forms.CharField(widget=forms.HiddenInput, required=False, initial=lambda: uuid.uuid4().hex)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = Campaign.objects.filter(subject="responses").order_by("name")  # type: ignore[attr-defined]
        self.fields["model"].queryset = RegisteredModel.objects.order_by("name")  # type: ignore[attr-defined]
        self.fields["release"].queryset = Release.objects.order_by("-pk")  # type: ignore[attr-defined]
        self.fields["judge"].choices = judge_choices(include_none=False)  # type: ignore[attr-defined]

    def job(self) -> tuple[str, dict[str, Any]]:
        """The job kind and config this form asks for."""
        judge = self.cleaned_data["judge"]
        if judge.startswith("prompt:"):
            return PROMPT_JUDGE_JOB, {"responses": self.response_ids(), "backend": judge.removeprefix("prompt:")}
        return JUDGE_JOB, {"responses": self.response_ids()}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("campaign")) == bool(data.get("model")):
            raise forms.ValidationError(_("Choose a campaign, or a model (and optionally a release)."))
        return data

    def response_ids(self) -> list[int]:
        data = self.cleaned_data
        if data.get("campaign"):
            found = Response.objects.filter(campaign_items__campaign=data["campaign"])
        else:
            found = Response.objects.filter(model=data["model"])
            if data.get("release"):
                found = found.filter(scenario__release_items__release=data["release"])
        return list(found.values_list("pk", flat=True).distinct())


class PromoteForm(forms.Form):
    """Making a guardian version active (the guardian page and the admin action). ``confirm_drop`` confirms the
    warning shown for the version that was active when it was shown, ``against`` (its pk; empty when none was):
    the service asks again if another version is active by then."""

    confirm_drop = forms.BooleanField(required=False)
    against = forms.IntegerField(required=False, min_value=1)

    def promote_options(self) -> dict[str, Any]:
        """The keyword arguments for ``services.promote``."""
        return {"confirm_drop": self.cleaned_data["confirm_drop"], "against": self.cleaned_data["against"]}


FEEDBACK_FIELDS = FEEDBACK_KEYS  # the critic's schema, in its order


class ReviewForm(forms.Form):
    """A reviewer's decision on a judgement: the six scores (the judge's, as given, or corrected), the
    structured feedback as it should read (the critic's, edited), and a note."""

    provision = forms.CharField(label=_("norm or provision at stake"), required=False, max_length=2000)
    rationale = forms.CharField(
        label=_("what is wrong"), required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 3})
    )
    risk_warning = forms.CharField(
        label=_("the risk warning a safe answer needs"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    safe_answer = forms.CharField(
        label=_("a safe revised answer"), required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 4})
    )
    note = forms.CharField(label=_("note"), required=False, max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for d in MEDES_RUBRIC.dimensions:
            self.fields[score_field(d.key)] = forms.TypedChoiceField(
                label=d.label, choices=[(v, str(v)) for v in d.values], coerce=int, widget=forms.RadioSelect
            )

    def scores(self) -> dict[str, int]:
        return {d.key: self.cleaned_data[score_field(d.key)] for d in MEDES_RUBRIC.dimensions}

    def feedback(self) -> dict[str, str]:
        """The four parts of the feedback ("problem" is the rationale field: the screen's ``t`` key goes there)."""
        data = self.cleaned_data
        return {key: (data["rationale"] if key == "problem" else data[key]).strip() for key in FEEDBACK_FIELDS}


class EvaluateForm(forms.Form):
    model = forms.ModelChoiceField(queryset=RegisteredModel.objects.none(), label=_("model"))
    release = forms.ModelChoiceField(queryset=Release.objects.none(), label=_("release"), widget=forms.HiddenInput)
    judge = forms.ChoiceField(
        label=_("judge"),
        initial="guardian",
        help_text=_(
            "A model with only objective answers to the release is scored without a judge, whatever is chosen here."
        ),
    )
    weights = forms.ChoiceField(
        label=_("quality"),
        initial="plain",
        choices=[("plain", _("plain mean of Q1–Q4")), ("medes", _("MedES leaderboard weights 0.4/0.3/0.2/0.1"))],
    )
    generate = forms.BooleanField(
        label=_("answer the items the model has not answered (local or endpoint models)"), required=False, initial=True
    )
    request_key = forms.CharField(widget=forms.HiddenInput, required=False, initial=lambda: uuid.uuid4().hex)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = RegisteredModel.objects.order_by("name")  # type: ignore[attr-defined]
        self.fields["release"].queryset = Release.objects.all()  # type: ignore[attr-defined]
        self.fields["judge"].choices = judge_choices(include_none=True)  # type: ignore[attr-defined]

    def job_config(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "model": data["model"].pk,
            "release": data["release"].pk,
            "judge": data["judge"],
            "weights": data["weights"],
            "generate": data["generate"],
        }


def _policies() -> Any:
    return RegisteredModel.objects.order_by("name")


class TargetForm(forms.Form):
    policy = forms.ModelChoiceField(queryset=RegisteredModel.objects.none(), label=_("policy model"))
    backend = forms.ChoiceField(label=_("variants written by"), required=False)
    variants = forms.IntegerField(label=_("new variants per failing case"), min_value=0, max_value=10, initial=2)
    request_key = forms.CharField(widget=forms.HiddenInput, required=False, initial=lambda: uuid.uuid4().hex)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = _policies()  # type: ignore[attr-defined]
        choices = [("", _("no variants: the failing cases only")), *available_backends().items()]
        self.fields["backend"].choices = choices  # type: ignore[attr-defined]

    def job_config(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"policy": data["policy"].pk, "backend": data["backend"], "variants": data["variants"]}


class PairsForm(forms.Form):
    policy = forms.ModelChoiceField(queryset=RegisteredModel.objects.none(), label=_("policy model"))
    only_accepted = forms.BooleanField(label=_("only prompts a curator accepted"), required=False, initial=True)
    request_key = forms.CharField(widget=forms.HiddenInput, required=False, initial=lambda: uuid.uuid4().hex)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = _policies()  # type: ignore[attr-defined]

    def job_config(self) -> dict[str, Any]:
        return {"policy": self.cleaned_data["policy"].pk, "only_accepted": self.cleaned_data["only_accepted"]}


class FreezeForm(forms.Form):
    name = forms.CharField(label=_("dataset name"), max_length=128)
    kind = forms.ChoiceField(
        label=_("format"), choices=[("sft", _("SFT (chat messages)")), ("dpo", _("DPO (preference pairs)"))]
    )


# --- SFT / DPO runs: the knobs (issue 6, item 3), shared by a single run and the align action ---------------


class RunOptionsForm(forms.Form):
    """The training knobs of a policy run: every knob of ``config_class`` but those the job sets
    (kinds.policy.LEFT_OUT) and ``NOT_OFFERED``, built from their declarations (alignment.knobs) and placed
    before the launch settings (processes, accelerate config). The initial values are the align pipeline's
    (pipelines.DEFAULT_RUN: a short run that shows every step), else the config's defaults; an empty epochs or LoRA
    targets field keeps the runner's default. Values the runner would refuse are refused here, before any step
    runs."""

    config_class: type[RunConfig] = RunConfig
    # seed and checkpoints kept: the runner's defaults; logging_steps: 1 (a progress line every step); merge: a
    # single run asks for it (PolicyRunForm), the align pipeline's DPO run always merges
    NOT_OFFERED = ("seed", "save_total_limit", "logging_steps", "merge")
    OPTIONAL = ("epochs",)  # ignored when max_steps > 0

    processes = forms.IntegerField(label=_("processes (GPUs)"), min_value=1, max_value=64, initial=1)
    accelerate_config = forms.CharField(
        label=_("accelerate config file"),
        required=False,
        max_length=500,
        help_text=_(
            "An `accelerate config` YAML on the training server (several GPUs, DeepSpeed, FSDP); empty: one process."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offered = [f.name for f in knobs(self.config_class, leave_out=(*LEFT_OUT, *self.NOT_OFFERED))]
        fields = knob_fields(self.config_class, offered, initial=DEFAULT_RUN, optional=self.OPTIONAL)
        self.knob_names = list(fields)
        others = list(self.fields.items())
        launch = [name for name, _field in others].index("processes")
        self.fields = {**dict(others[:launch]), **fields, **dict(others[launch:])}

    def clean_accelerate_config(self) -> str:
        path = self.cleaned_data["accelerate_config"].strip()
        if path:
            try:
                checked_config_file(path)
            except ModelPathError as error:
                raise forms.ValidationError(str(error)) from None
        return str(path)

    def clean_beta(self) -> float:
        beta = self.cleaned_data["beta"]
        if beta <= 0:
            raise forms.ValidationError(_("Beta must be greater than 0."))
        return float(beta)

    def clean_bf16(self) -> bool:
        from django.conf import settings

        if self.cleaned_data["bf16"] and settings.MEDES_DEVICE == "cpu":
            raise forms.ValidationError(_("bf16 needs a GPU, and this deployment trains on the CPU (MEDES_DEVICE)."))
        return bool(self.cleaned_data["bf16"])

    def launch_options(self) -> dict[str, Any]:
        """How ``accelerate launch`` starts the run: a job's settings, not the trainer's."""
        return {
            "processes": self.cleaned_data["processes"],
            "accelerate_config": self.cleaned_data["accelerate_config"].strip(),
        }

    def run_options(self) -> dict[str, Any]:
        """The knobs given (the job's "options"); empty ones are left out and keep the runner's defaults."""
        data = self.cleaned_data
        given = {name: data[name] for name in self.knob_names if data.get(name) not in (None, "")}
        return {**given, "logging_steps": 1}


def _local_models() -> Any:
    return RegisteredModel.objects.filter(kind=ModelKind.HF_DIRECTORY).order_by("name")


class PolicyRunForm(RunOptionsForm):
    """One SFT or DPO run on a frozen dataset, started from the alignment data page."""

    stage = forms.ChoiceField(label=_("stage"), choices=[("sft", "SFT"), ("dpo", "DPO")])
    dataset = forms.ModelChoiceField(queryset=AlignmentDataset.objects.none(), label=_("frozen dataset"))
    base = forms.ModelChoiceField(queryset=RegisteredModel.objects.none(), label=_("base model (a local directory)"))
    start_from = forms.ModelChoiceField(
        queryset=Job.objects.none(),
        required=False,
        label=_("start from the adapter of"),
        help_text=_("DPO usually starts from the SFT run of the same base."),
    )
    merge = knob_field(RunConfig, "merge")
    register_as = forms.CharField(
        label=_("register the merged model as"),
        required=False,
        max_length=128,
        help_text=_(
            "A model name: when the run succeeds, its merged model is registered "
            "under it, ready to be evaluated on a release."
        ),
    )
    request_key = forms.CharField(widget=forms.HiddenInput, required=False, initial=lambda: uuid.uuid4().hex)

    field_order: tuple[str, ...] = ("stage", "dataset", "base", "start_from")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = AlignmentDataset.objects.order_by("-pk")  # type: ignore[attr-defined]
        self.fields["base"].queryset = _local_models()  # type: ignore[attr-defined]
        runs = Job.objects.filter(kind=POLICY_JOB, status="succeeded").order_by("-pk")
        self.fields["start_from"].queryset = runs  # type: ignore[attr-defined]
        self.fields["start_from"].label_from_instance = (  # type: ignore[attr-defined]
            lambda job: (
                f"#{job.pk} {str(job.config.get('stage', '')).upper()} · {Path(job.config.get('base_model', '')).name}"
            )
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, base = data.get("start_from"), data.get("base")
        if start is not None and base is not None and start.config.get("base_model") != base.path:
            self.add_error(
                "start_from",
                _("That run trained an adapter for another base model (%(path)s).")
                % {"path": start.config.get("base_model", "?")},
            )
        dataset = data.get("dataset")
        if dataset is not None and data.get("stage") and dataset.kind != data["stage"]:
            self.add_error(
                "dataset",
                _("This dataset is in the %(kind)s format; %(stage)s runs need %(stage)s data.")
                % {"kind": dataset.kind.upper(), "stage": data["stage"].upper()},
            )
        return data

    def job_config(self) -> dict[str, Any]:
        data = self.cleaned_data
        start = data.get("start_from")
        return {
            "stage": data["stage"],
            "dataset": data["dataset"].pk,
            "base_model": data["base"].path,
            "start_from": start.pk if start else None,
            "register_as": data["register_as"].strip(),
            **self.launch_options(),
            "options": {**self.run_options(), "merge": data["merge"]},
        }


class AlignForm(RunOptionsForm):
    """The align action's settings: the release, the review gate, targeted variants and the runs' knobs. When the
    models to align (``policies``) are the demo policy alone, the knobs start at the settings README's demo result
    was measured with (alignment.demo.DEMO_RUN), not at the pipeline's defaults."""

    release = forms.ModelChoiceField(queryset=Release.objects.none(), label=_("evaluated on the release"))
    review_gate = forms.BooleanField(label=_("wait for reviewers after the pairs are built"), required=False)
    backend = forms.ChoiceField(label=_("variants written by"), required=False)
    variants = forms.IntegerField(label=_("variants per failing case"), min_value=0, max_value=10, initial=0)
    request_key = forms.CharField(widget=forms.HiddenInput, required=False, initial=lambda: uuid.uuid4().hex)

    field_order: tuple[str, ...] = ("release", "review_gate", "backend", "variants")

    def __init__(self, *args: Any, policies: Iterable[RegisteredModel] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if {policy.name for policy in policies} == {DEMO_POLICY}:
            for name, value in DEMO_RUN.items():
                self.fields[name].initial = value
        self.fields["release"].queryset = Release.objects.order_by("-created_at", "-pk")  # type: ignore[attr-defined]
        newest = Release.objects.order_by("-created_at", "-pk").first()
        if newest is not None:
            self.fields["release"].initial = newest.pk
        choices = [("", _("no variants: the failing cases only")), *available_backends().items()]
        self.fields["backend"].choices = choices  # type: ignore[attr-defined]

    def pipeline_options(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "review_gate": data["review_gate"],
            "backend": data["backend"] or "",
            "variants": data["variants"],
            "run": self.run_options(),
            **self.launch_options(),
        }


class StartPipelineForm(AlignForm):
    """The align action outside the admin: the same settings, with the local model to align."""

    policy = forms.ModelChoiceField(queryset=RegisteredModel.objects.none(), label=_("model to align"))
    field_order = ("policy", "release", "review_gate", "backend", "variants")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        demo = RegisteredModel.objects.filter(name=DEMO_POLICY, kind=ModelKind.HF_DIRECTORY).first()
        super().__init__(*args, policies=[demo] if demo else (), **kwargs)
        self.fields["policy"].queryset = _local_models()  # type: ignore[attr-defined]
        if demo is not None:  # the demo's model is offered first, with its settings (see AlignForm)
            self.fields["policy"].initial = demo.pk
        self.order_fields(self.field_order)


class PairReviewForm(forms.Form):
    """A reviewer's decision on a preference pair, and optionally the chosen answer as they edited it."""

    decision = forms.ChoiceField(
        label=_("decision"), choices=[(ProposalStatus.ACCEPTED, _("Accept")), (ProposalStatus.REJECTED, _("Reject"))]
    )
    chosen = forms.CharField(label=_("chosen answer"), required=False, max_length=20_000, strip=False)

"""A training knob is written once (issue 15, item 3): a dataclass field with its label, help and bounds, from
which the forms, the pipeline's settings, the jobs' validation and the management command are built. Adding a
knob to the policy run is the one line that declares it; it then reaches every one of them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django import forms
from django.core.management.base import CommandError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import translation

from alignment.demo import GUARDIAN_OPTIONS
from alignment.forms import RunOptionsForm, TrainForm
from alignment.kinds import POLICY_JOB, TRAIN_JOB
from alignment.kinds.policy import LEFT_OUT
from alignment.kinds.train_guardian import validate_train
from alignment.knobs import knob_values
from alignment.management.commands.train_guardian import Command as TrainGuardianCommand
from alignment.models import AlignmentDataset
from alignment.pipelines import DEFAULT_RUN
from alignment.training.config import LoraArgs, TrainArgs, gettext_noop, knob, preset
from alignment.training.critic import CriticConfig
from alignment.training.errors import ConfigError
from alignment.training.guardian import GuardianConfig
from alignment.training.policy import RunConfig
from alignment.training.stages import StageArgs
from medes_site.jobs import JobError, enqueue_job


@dataclass(kw_only=True)
class WarmRunConfig(RunConfig):
    """The policy run with one more knob: the one line the issue asks a new knob to take."""

    warmup_ratio: float = knob(
        0.05, help=gettext_noop("Share of steps with linear warm-up."), label=gettext_noop("warm-up share"), max=0.5
    )


class WarmRunForm(RunOptionsForm):
    config_class = WarmRunConfig


def bounds(field: forms.Field) -> tuple[Any, Any]:
    low = [v.limit_value for v in field.validators if isinstance(v, MinValueValidator)]
    high = [v.limit_value for v in field.validators if isinstance(v, MaxValueValidator)]
    return (low or [None])[0], (high or [None])[0]


def filled(form: forms.Form, **changes: Any) -> dict[str, str]:
    """What a browser sends for ``form`` as it is first shown, with ``changes``."""
    data = {name: field.initial for name, field in form.fields.items() if field.initial not in (None, False)}
    data.update(changes)
    return {key: str(value) for key, value in data.items()}


def test_a_knob_added_to_the_policy_run_reaches_the_form_the_job_the_pipeline_and_the_training(
    tmp_path: Path,
) -> None:
    # the form built for the config shows it, with its label, help, bounds and default, before the launch settings
    with translation.override("en"):
        form = WarmRunForm()
        field = form.fields["warmup_ratio"]
        assert isinstance(field, forms.FloatField) and field.required
        assert str(field.label) == "warm-up share" and str(field.help_text) == "Share of steps with linear warm-up."
    assert bounds(field) == (None, 0.5) and field.initial == 0.05
    names = list(form.fields)
    assert names.index("warmup_ratio") < names.index("processes")
    assert "warmup_ratio" not in RunOptionsForm().fields  # the plain policy run has no such knob

    # what the form sends carries it into the job's options; out of bounds, the form refuses it
    sent = WarmRunForm(filled(form, warmup_ratio=0.2))
    assert sent.is_valid(), sent.errors
    options = sent.run_options()
    assert options["warmup_ratio"] == 0.2 and options["max_steps"] == DEFAULT_RUN["max_steps"]
    assert "warmup_ratio" in WarmRunForm(filled(form, warmup_ratio=0.9)).errors

    # the job's validation takes it in range and refuses it out of range, naming it
    assert knob_values(WarmRunConfig, {**options, "warmup_ratio": "0.3"}, leave_out=LEFT_OUT)["warmup_ratio"] == 0.3
    with translation.override("en"), pytest.raises(JobError, match=r"^warmup_ratio must be at most 0\.5\.$"):
        knob_values(WarmRunConfig, {**options, "warmup_ratio": 0.9}, leave_out=LEFT_OUT)
    with translation.override("en"), pytest.raises(JobError, match=r"^warmup_ratio must be a number\.$"):
        knob_values(WarmRunConfig, {"warmup_ratio": "warm"}, leave_out=LEFT_OUT)

    # a pipeline's settings may set it; the plain run's may not
    assert preset(WarmRunConfig, warmup_ratio=0.1) == {"warmup_ratio": 0.1}
    with pytest.raises(ConfigError, match="RunConfig has no knob 'warmup_ratio'"):
        preset(RunConfig, **DEFAULT_RUN, warmup_ratio=0.1)

    # the training reads it from its config, checked against the same bounds
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config.json").write_text("{}", encoding="utf-8")
    (tmp_path / "sft.jsonl").write_text("{}\n", encoding="utf-8")
    paths = {"stage": "sft", "base_model": str(tmp_path / "base"), "data": str(tmp_path / "sft.jsonl")}
    job_options = knob_values(WarmRunConfig, options, leave_out=LEFT_OUT)
    config = WarmRunConfig.from_dict({**paths, "output_dir": str(tmp_path / "out"), **job_options})
    assert config.warmup_ratio == 0.2 and config.max_steps == DEFAULT_RUN["max_steps"]
    with pytest.raises(ConfigError, match=r"warmup_ratio must be <= 0\.5"):
        WarmRunConfig.from_dict({**paths, "output_dir": str(tmp_path / "out"), "warmup_ratio": 0.9})


@pytest.mark.parametrize(
    "config_class", [TrainArgs, LoraArgs, StageArgs, GuardianConfig, CriticConfig, RunConfig, WarmRunConfig]
)
def test_every_knob_has_a_label_and_help(config_class: type[Any]) -> None:
    for f in dataclasses.fields(config_class):
        assert isinstance(f.metadata.get("label"), str) and f.metadata["label"], f.name
        assert isinstance(f.metadata.get("help"), str) and f.metadata["help"].endswith("."), f.name


def test_presets_name_only_knobs_of_their_config_with_values_in_bounds() -> None:
    assert preset(RunConfig, **DEFAULT_RUN) == DEFAULT_RUN
    assert preset(GuardianConfig, **GUARDIAN_OPTIONS) == GUARDIAN_OPTIONS
    with pytest.raises(ConfigError, match="RunConfig has no knob 'max_step'"):
        preset(RunConfig, max_step=20)  # a typo fails as the module that declares the preset is imported
    with pytest.raises(ConfigError, match="lora_r must be >= 1"):
        preset(RunConfig, lora_r=0)
    with pytest.raises(ConfigError, match='learning_rate must be a number, got "fast"'):
        preset(GuardianConfig, learning_rate="fast")


def test_the_training_form_is_the_guardians_knobs_in_the_users_language() -> None:
    form = TrainForm()
    assert bounds(form.fields["lora_r"]) == (1, 512) and form.fields["lora_r"].initial == 8
    assert bounds(form.fields["critic_epochs"]) == (0.1, 100) and not form.fields["critic_epochs"].required
    with translation.override("zh-hans"):  # the labels keep their msgids, and so their translations
        assert str(form.fields["epochs"].label) == "训练轮数" and str(form.fields["lora_r"].label) == "LoRA 秩 r"
    with translation.override("en"):
        assert str(form.fields["critic_epochs"].label) == "critic epochs"


def test_a_job_refuses_a_knob_out_of_bounds_naming_it_as_its_config_does(db: None, tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}", encoding="utf-8")
    dataset = AlignmentDataset.objects.create(name="d", kind="sft", path="x.jsonl", sha256="0" * 64, rows=3)
    run = {"stage": "sft", "dataset": dataset.pk, "base_model": str(base)}
    with translation.override("en"):
        with pytest.raises(JobError, match=r"^lora_r must be at least 1\.$"):
            enqueue_job(POLICY_JOB, {**run, "options": {"lora_r": 0}})
        with pytest.raises(JobError, match=r"^loss_type must be one of sigmoid, hinge"):
            enqueue_job(POLICY_JOB, {**run, "options": {"loss_type": "sigmod"}})
        with pytest.raises(JobError, match=r"^critic_max_new_tokens must be at least 1\.$"):
            enqueue_job(TRAIN_JOB, {"base_model": str(base), "critic_base": str(base), "critic_max_new_tokens": "0"})
    checked = validate_train({"base_model": str(base), "epochs": "2", "threshold": "0.4", "device": "cuda"})
    assert checked["options"] == {"epochs": 2.0, "threshold": 0.4}  # the device is the deployment's, not the job's


def test_the_train_guardian_command_offers_the_jobs_knobs() -> None:
    parser = TrainGuardianCommand().create_parser("manage.py", "train_guardian")
    args = parser.parse_args(
        ["--base", "b", "--warmup-ratio", "0.1", "--bf16", "--critic-base", "c", "--critic-max-new-tokens", "64"]
    )
    assert args.warmup_ratio == 0.1 and args.bf16 is True and args.critic_max_new_tokens == 64
    assert args.epochs is None  # not given: the job keeps the default
    with pytest.raises(CommandError, match="unrecognized arguments: --output-dir"):
        parser.parse_args(["--base", "b", "--output-dir", "elsewhere"])  # a path is the job's to choose

"""How a training config is declared and read: ``knob()`` (a dataclass field whose metadata carries its help, a
short label, inclusive bounds and, for a text knob, its choices), ``retune()`` (a run kind's other default for a
shared knob), ``JsonConfig`` (reading JSON, naming every bad field, then ``validate()``), ``preset()`` (checked
settings for some knobs: a pipeline's, the demo's), and the knobs every run kind shares: ``TrainArgs`` (training)
and ``LoraArgs`` (the LoRA adapter), as TRL's ``ModelConfig`` shares them. A run kind subclasses them and states
only what differs::

    {"help": "Training batch size per device.", "label": "batch size", "min": 1, "max": 4096, "choices": None}

A knob is declared once: ``validate()`` enforces its bounds, and the forms, the jobs' validation and the
management commands are built from the same declaration (alignment.knobs). Labels and help are marked with
``gettext_noop`` so the translation catalogs carry them. Nothing here imports Django; peft is imported inside a
function.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from alignment.training.errors import ConfigError


def gettext_noop(message: str) -> str:
    """Marks a knob's label or help for translation (``makemessages`` extracts it) without importing Django: the
    forms translate it as they render (alignment.knobs)."""
    return message


def knob(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    label: str,
    min: float | None = None,
    max: float | None = None,
    choices: Sequence[str] | None = None,
) -> Any:
    """A config field (required when there is no default) with its metadata: ``help`` (one sentence for the CLI
    and a form), ``label`` (a form's lower-case label), inclusive ``min``/``max`` bounds (None: unbounded) and
    the ``choices`` a text knob takes (None: any). Mark ``help`` and ``label`` with ``gettext_noop``."""
    metadata = {"help": help, "label": label, "min": min, "max": max, "choices": choices}
    return dataclasses.field(default=default, metadata=metadata)


def retune(owner: type[JsonConfig], name: str, default: Any = dataclasses.MISSING, **changes: Any) -> Any:
    """``owner``'s knob ``name`` with another default, and any of help/label/min/max/choices replaced: how a run
    kind changes a shared knob without restating what it means."""
    found = next(f for f in dataclasses.fields(owner) if f.name == name)
    return knob(default, **{**found.metadata, **changes})


def preset(config_class: type[JsonConfig], **values: Any) -> dict[str, Any]:
    """Values for some of ``config_class``'s knobs (a pipeline's or the demo's settings), checked as they are
    declared: a name that is no knob, a value of the wrong type or out of bounds raises ConfigError, at import."""
    hints = typing.get_type_hints(config_class)
    known = {f.name: f for f in dataclasses.fields(config_class)}
    errors = []
    for name, value in values.items():
        if name not in known:
            errors.append(f"{config_class.__name__} has no knob {name!r}")
        elif not _is_instance(value, hints[name]):
            errors.append(f"{name} must be {_type_name(hints[name])}, got {json.dumps(value)}")
        else:
            errors.extend(_bound_problems(known[name], value))
    if errors:
        raise ConfigError("; ".join(errors))
    return dict(values)


def _bound_problems(f: dataclasses.Field[Any], value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []
    low, high = f.metadata.get("min"), f.metadata.get("max")
    errors = []
    if low is not None and value < low:
        errors.append(f"{f.name} must be >= {low}")
    if high is not None and value > high:
        errors.append(f"{f.name} must be <= {high}")
    return errors


@dataclass(kw_only=True)
class JsonConfig:
    """A training config read from JSON. ``from_dict`` names every bad field at once (unknown, missing, wrong
    type) and then runs ``validate()``: the knobs' bounds, ``problems()`` (values) and ``path_problems()``."""

    def problems(self) -> list[str]:
        """What is wrong with the values beyond their bounds, each message naming its field."""
        return []

    def path_problems(self) -> list[str]:
        """What is wrong with the paths: checked after the values."""
        return []

    def bound_problems(self) -> list[str]:
        return [problem for f in dataclasses.fields(self) for problem in _bound_problems(f, getattr(self, f.name))]

    def validate(self) -> None:
        """Bounds, values and paths; raises ConfigError listing every problem."""
        errors = [*self.bound_problems(), *self.problems(), *self.path_problems()]
        if errors:
            raise ConfigError("; ".join(errors))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """A config from decoded JSON; raises ConfigError naming every bad field."""
        if not isinstance(data, dict):
            raise ConfigError("the config must be a JSON object")
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in dataclasses.fields(cls)}
        errors = [f"unknown field {key!r}" for key in data if key not in known]
        for name, f in known.items():
            if name not in data:
                if f.default is dataclasses.MISSING:
                    errors.append(f"{name} is required ({f.metadata['help']})")
                continue
            if not _is_instance(data[name], hints[name]):
                errors.append(f"{name} must be {_type_name(hints[name])}, got {json.dumps(data[name])}")
        if errors:
            raise ConfigError("; ".join(errors))
        config = cls(**data)
        config.validate()
        return config

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot be read ({exc})") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(data)


def _is_instance(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is_instance(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_is_instance(v, args[0]) for v in value)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if typing.get_origin(hint) is list:
        return f"a list of {_type_name(args[0])}"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}
    return names.get(hint, str(hint))


@dataclass(kw_only=True)
class TrainArgs(JsonConfig):
    """The knobs every training has. Run kinds change defaults and help with ``retune``."""

    base_model: str = knob(
        help=gettext_noop("Base model directory (config.json + *.safetensors + tokenizer)."),
        label=gettext_noop("base model directory"),
    )
    output_dir: str = knob(
        help=gettext_noop("Where the result is written; must not hold one already."),
        label=gettext_noop("output directory"),
    )
    data: str = knob(help=gettext_noop("JSONL of training rows."), label=gettext_noop("training data"))
    seed: int = knob(0, help=gettext_noop("Seed for LoRA initialisation and data order."), label=gettext_noop("seed"))
    epochs: float = knob(
        3.0,
        help=gettext_noop("Training epochs (ignored when max_steps > 0)."),
        label=gettext_noop("epochs"),
        min=0.01,
        max=1000,
    )
    max_steps: int = knob(
        -1,
        help=gettext_noop("Optimiser steps; -1 trains for the epochs."),
        label=gettext_noop("max steps"),
        min=-1,
        max=10_000_000,
    )
    learning_rate: float = knob(
        2e-4,
        help=gettext_noop("AdamW learning rate (LoRA wants ~5e-5..5e-3)."),
        label=gettext_noop("learning rate"),
        min=1e-9,
        max=1,
    )
    batch_size: int = knob(
        4, help=gettext_noop("Training batch size per device."), label=gettext_noop("batch size"), min=1, max=4096
    )
    max_length: int = knob(
        1024, help=gettext_noop("Tokens per example."), label=gettext_noop("max tokens"), min=16, max=262_144
    )
    device: str = knob("cpu", help=gettext_noop("'cpu' or 'cuda'."), label=gettext_noop("device"))
    bf16: bool = knob(
        False, help=gettext_noop("bf16 weights and mixed precision (cuda only)."), label=gettext_noop("bf16 (GPU only)")
    )

    def problems(self) -> list[str]:
        checks = [
            (self.max_steps > 0 or self.epochs > 0, "set epochs > 0 or max_steps > 0"),
            (self.device in ("cpu", "cuda"), "device must be 'cpu' or 'cuda'"),
            (not (self.bf16 and self.device == "cpu"), "bf16 needs device 'cuda'"),
        ]
        return [*super().problems(), *(message for ok, message in checks if not ok)]

    def path_problems(self) -> list[str]:
        errors = super().path_problems()
        if not (Path(self.base_model) / "config.json").is_file():
            errors.append(f"base_model {self.base_model}: not a model directory (no config.json)")
        if not Path(self.data).is_file():
            errors.append(f"data {self.data}: no such file")
        return errors


@dataclass(kw_only=True)
class LoraArgs(JsonConfig):
    """The LoRA adapter's knobs (peft). ``use_peft`` is the switch; every run kind here publishes an adapter."""

    lora_r: int = knob(8, help=gettext_noop("LoRA rank."), label=gettext_noop("LoRA r"), min=1, max=1024)
    lora_alpha: int = knob(
        16, help=gettext_noop("LoRA alpha (scale = alpha / r)."), label=gettext_noop("LoRA alpha"), min=1, max=4096
    )
    lora_dropout: float = knob(
        0.05, help=gettext_noop("Dropout on the LoRA path."), label=gettext_noop("LoRA dropout"), min=0.0, max=0.9
    )
    target_modules: list[str] | str | None = knob(  # noqa: RUF009 (knob() is dataclasses.field with metadata)
        None,
        help=gettext_noop("Modules that get LoRA: a list of names, 'all-linear', or null for peft's default."),
        label=gettext_noop("LoRA targets"),
    )
    use_peft: bool = knob(
        True, help=gettext_noop("Train a LoRA adapter (peft) on the frozen base."), label=gettext_noop("LoRA")
    )

    def problems(self) -> list[str]:
        errors = super().problems()
        if isinstance(self.target_modules, str) and self.target_modules != "all-linear":
            errors.append("target_modules must be a list of module names, 'all-linear' or null")
        if not self.use_peft:
            errors.append("use_peft must be true: only LoRA adapters are trained and published here")
        return errors

    def to_peft_config(self, task: str, *, modules_to_save: list[str] | None = None) -> Any:
        """peft's ``LoraConfig`` for ``task`` (a ``TaskType`` name: "CAUSAL_LM", "SEQ_CLS"), or None when
        ``use_peft`` is off (the trainer then trains every weight)."""
        if not self.use_peft:
            return None
        from peft import LoraConfig, TaskType

        return LoraConfig(
            task_type=TaskType(task),
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=self.target_modules,
            modules_to_save=modules_to_save,
        )


def config_help(config_class: type[JsonConfig]) -> str:
    lines = []
    for f in dataclasses.fields(config_class):
        default = "required" if f.default is dataclasses.MISSING else f"default {json.dumps(f.default)}"
        choices = f" One of: {', '.join(f.metadata['choices'])}." if f.metadata.get("choices") else ""
        lines.append(f"  {f.name} ({default}): {f.metadata['help']}{choices}")
    return "\n".join(lines)

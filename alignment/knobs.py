"""The training knobs on the web side: form fields, a job's checked values and a command's options, all read
from a training config's dataclass fields (alignment.training.config.knob: type, default, label, help, bounds,
choices). A knob is declared once, in the training code; adding one to a config adds it to the forms, jobs and
commands built from that config.

Labels and help are marked with ``gettext_noop`` in the Django-free training code and translated here, as a
form renders. LoRA's target modules are typed as text (comma-separated names, or "all-linear") and kept as a
list of names, or that word.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Collection, Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _

from alignment.training.config import JsonConfig
from medes_site.jobs import JobError

MODULE_NAMES = "target_modules"  # the one knob typed as comma-separated names (LoraArgs.target_modules)
ALL_MODULES = "all-linear"  # peft's word for every linear layer, kept as it is


def knobs(config_class: type[JsonConfig], *, leave_out: Collection[str] = ()) -> list[dataclasses.Field[Any]]:
    """The knobs of ``config_class`` in their declared order, but those named in ``leave_out``."""
    unknown = set(leave_out) - {f.name for f in dataclasses.fields(config_class)}
    if unknown:  # a renamed knob must not slip onto a form or into a job unnoticed
        raise ValueError(f"{config_class.__name__} has no knobs {sorted(unknown)}")
    return [f for f in dataclasses.fields(config_class) if f.name not in leave_out]


def _knob(config_class: type[JsonConfig], name: str) -> dataclasses.Field[Any]:
    found = [f for f in dataclasses.fields(config_class) if f.name == name]
    if not found:
        raise ValueError(f"{config_class.__name__} has no knob {name!r}")
    return found[0]


def _alternatives(hint: Any) -> list[Any]:
    """The types a value of ``hint`` may have (a union's members), None left out."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return [hint]


def _hint(config_class: type[JsonConfig], name: str) -> Any:
    return typing.get_type_hints(config_class)[name]


def value_type(config_class: type[JsonConfig], name: str) -> type:
    """What a form field or a command-line option holds for knob ``name``: bool, int, float or str (a list of
    names is typed as text)."""
    alternatives = _alternatives(_hint(config_class, name))
    return next((kind for kind in (bool, int, float) if kind in alternatives), str)


def _takes_none(config_class: type[JsonConfig], name: str) -> bool:
    hint = _hint(config_class, name)
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


# --- forms -------------------------------------------------------------------------------------------------


def knob_field(
    config_class: type[JsonConfig],
    name: str,
    *,
    initial: Any = dataclasses.MISSING,
    required: bool | None = None,
    label: Any = None,
) -> forms.Field:
    """The form field of knob ``name``: its label and help (translated as the form renders), its bounds, its
    choices, and as initial value its default (or ``initial``). It is required unless it may be empty (a bool,
    a knob that takes None) or ``required`` says otherwise; ``label`` replaces the knob's own."""
    f = _knob(config_class, name)
    meta = f.metadata
    if initial is dataclasses.MISSING:
        initial = None if f.default is dataclasses.MISSING else f.default
    shown: dict[str, Any] = {
        "label": label if label is not None else gettext_lazy(meta["label"]),
        "help_text": gettext_lazy(meta["help"]),
        "initial": initial,
    }
    kind = value_type(config_class, name)
    if kind is bool:
        return forms.BooleanField(required=False, **shown)
    if required is None:
        required = not _takes_none(config_class, name)
    if meta.get("choices"):
        return forms.ChoiceField(choices=[(c, c) for c in meta["choices"]], required=required, **shown)
    if kind is int:
        return forms.IntegerField(min_value=meta["min"], max_value=meta["max"], required=required, **shown)
    if kind is float:
        return forms.FloatField(min_value=meta["min"], max_value=meta["max"], required=required, **shown)
    if name == MODULE_NAMES:
        shown["help_text"] = _(
            "Module names, comma-separated, or all-linear; empty: peft's default for the architecture."
        )
    return forms.CharField(max_length=500, required=required, **shown)


def knob_fields(
    config_class: type[JsonConfig],
    names: Collection[str],
    *,
    initial: Mapping[str, Any] | None = None,
    optional: Collection[str] = (),
) -> dict[str, forms.Field]:
    """The form fields of the knobs ``names``, in that order (``knob_field``); ``initial`` overrides defaults
    (a pipeline's preset), and the knobs named in ``optional`` may be left empty (the run keeps its default)."""
    initial = initial or {}
    return {
        name: knob_field(
            config_class,
            name,
            initial=initial.get(name, dataclasses.MISSING),
            required=False if name in optional else None,
        )
        for name in names
    }


# --- a job's config ----------------------------------------------------------------------------------------


def knob_values(
    config_class: type[JsonConfig], given: Mapping[str, Any], *, prefix: str = "", leave_out: Collection[str] = ()
) -> dict[str, Any]:
    """The knobs of ``config_class`` (but those in ``leave_out``) that ``given`` sets under ``prefix`` + their
    name, as their types, checked against their bounds and choices; empty ones are left out (the run keeps its
    default), and so is what is no knob. A JobError names the first bad value as ``given`` spells it."""
    found: dict[str, Any] = {}
    for f in knobs(config_class, leave_out=leave_out):
        key = prefix + f.name
        value = given.get(key)
        if f.name == MODULE_NAMES and isinstance(value, list):  # a list kept from an earlier training
            value = ",".join(str(name) for name in value)
        if value in (None, ""):
            continue
        found[f.name] = _checked(config_class, f, key, value)
    return found


def _checked(config_class: type[JsonConfig], f: dataclasses.Field[Any], key: str, value: Any) -> Any:
    kind = value_type(config_class, f.name)
    if kind is bool:
        return bool(value)
    if kind is str:
        return _text(f, key, value)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise JobError(_("%(key)s must be a number.") % {"key": key}) from None
    low, high = f.metadata["min"], f.metadata["max"]
    if low is not None and number < low:
        raise JobError(_("%(key)s must be at least %(min)s.") % {"key": key, "min": low})
    if high is not None and number > high:
        raise JobError(_("%(key)s must be at most %(max)s.") % {"key": key, "max": high})
    return number


def _text(f: dataclasses.Field[Any], key: str, value: Any) -> Any:
    """A text knob's value: a string (or, where the knob takes one, a list of strings), in its choices."""
    if f.name == MODULE_NAMES:
        text = str(value).strip()
        return text if text == ALL_MODULES else [name.strip() for name in text.split(",") if name.strip()]
    chosen = [str(v) for v in value] if isinstance(value, list) else str(value)
    choices = f.metadata.get("choices")
    if choices and any(v not in choices for v in (chosen if isinstance(chosen, list) else [chosen])):
        raise JobError(_("%(key)s must be one of %(choices)s.") % {"key": key, "choices": ", ".join(choices)})
    return chosen


# --- a management command ----------------------------------------------------------------------------------


def add_knob_arguments(
    parser: argparse.ArgumentParser,
    config_class: type[JsonConfig],
    *,
    prefix: str = "",
    leave_out: Collection[str] = (),
) -> list[str]:
    """An option ``--<prefix><knob>`` for each knob of ``config_class`` (but those in ``leave_out``), with its
    help; a bool is ``--x``/``--no-x``. Returns the options' destinations (``<prefix><knob>``), which are None
    when the option is not given."""
    names = []
    for f in knobs(config_class, leave_out=leave_out):
        dest = prefix + f.name
        kind = value_type(config_class, f.name)
        how: dict[str, Any] = {"action": argparse.BooleanOptionalAction} if kind is bool else {"type": kind}
        text = f.metadata["help"].replace("%", "%%")  # argparse formats help with %
        parser.add_argument(f"--{dest.replace('_', '-')}", dest=dest, help=text, **how)
        names.append(dest)
    return names

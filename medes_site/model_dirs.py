"""Where the workers may load a model (or an accelerate config) from: under a models root, never elsewhere.

A path someone types (a registered local model, a guardian's or a critic's base model, an accelerate config
file) is resolved — symlinks followed, ``..`` removed — and refused unless it lies under one of
``MEDES_MODELS_ROOTS`` or ``ARTIFACTS_ROOT`` (merged models and the demo's tiny models are written there). It is
checked when it is entered and again when a job loads it, so a row written before the rule, or a symlink changed
since, is refused too. The refusal names the roots, never whether the path exists: a path outside them is not
looked at.

The operator's own generator directory (MEDES_GENERATOR_LOCAL_DIR, set in the environment) is not a user's
choice and is not checked here.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


class ModelPathError(ValueError):
    """The path is not one the workers may load; the message says why and what to do."""


def models_roots() -> list[Path]:
    """The directories models may be loaded from, resolved."""
    roots = [*settings.MEDES_MODELS_ROOTS, settings.ARTIFACTS_ROOT]
    return [Path(root).resolve() for root in roots]


def checked_model_dir(path: str | Path) -> Path:
    """``path`` resolved, if it lies under a models root; ModelPathError otherwise (whether it holds a model is
    for the caller to say)."""
    text = str(path).strip()
    if not text:
        raise ModelPathError(_("Give the model's directory."))
    if "\x00" in text or not Path(text).is_absolute():
        raise ModelPathError(_("Give the directory as an absolute path without “..”."))
    resolved = Path(text).resolve()
    roots = models_roots()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise ModelPathError(
            _(
                "%(path)s is outside the models folders (%(roots)s): put the model under one of them, or ask an "
                "administrator to add its folder to MEDES_MODELS_ROOTS."
            )
            % {"path": text, "roots": ", ".join(str(root) for root in roots)}
        )
    return resolved


def checked_config_file(path: str | Path) -> Path:
    """An accelerate config file (YAML or JSON) under a models root, that exists."""
    resolved = checked_model_dir(path)
    if resolved.suffix.lower() not in CONFIG_SUFFIXES or not resolved.is_file():
        raise ModelPathError(_("The accelerate config file must be an existing .yaml, .yml or .json file."))
    return resolved

"""The training configs' shared reading: dataclasses whose fields carry ``metadata["help"]`` and that check
themselves in ``validate()``. ``from_dict`` names every bad field at once (unknown, missing, wrong type);
``from_file`` says what is wrong with the file itself. No Django here."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Self

from alignment.training.errors import ConfigError


class JsonConfig:
    """Mixed into GuardianConfig, CriticConfig and RunConfig (each a dataclass with a ``validate()``)."""

    def validate(self) -> None:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """A config from decoded JSON; raises ConfigError naming every bad field."""
        if not isinstance(data, dict):
            raise ConfigError("the config must be a JSON object")
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # a dataclass subclass
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
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}.get(
        hint, str(hint)
    )

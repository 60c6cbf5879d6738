"""The errors training code raises on bad input: each carries a message a person can act on.

Callers (the CLI, a Celery task, a management command) catch ``GuardianError`` and show its message; anything
else that escapes is a bug, not bad input.
"""

from __future__ import annotations


class GuardianError(Exception):
    """Bad input to guardian training or judging; ``str(error)`` says what and where."""


class ConfigError(GuardianError):
    """A training config that cannot be run: unknown field, wrong type, value out of range, missing path."""


class DataError(GuardianError):
    """Labeled rows that cannot be used; the message names the file and line."""


class CheckpointError(GuardianError):
    """A guardian checkpoint that is refused: missing, corrupted, not safetensors, or built for another base."""

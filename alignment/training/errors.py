"""The errors training code raises on bad input: each carries a message a person can act on.

Callers (the CLI, a Celery task, a management command) catch ``TrainingError`` and show its message; anything
else that escapes is a bug, not bad input. ``exit_code`` is what ``python -m alignment.training.<module>`` exits
with on it.
"""

from __future__ import annotations


class TrainingError(Exception):
    """Bad input to training, judging or generation; ``str(error)`` says what and where."""

    exit_code = 2


class ConfigError(TrainingError):
    """A training config that cannot be run: unknown field, wrong type, value out of range, missing path."""


class DataError(TrainingError):
    """Rows that cannot be used; the message names the file and line."""


class CheckpointError(TrainingError):
    """A trained model or checkpoint that is refused: missing, corrupted, not safetensors, or built for another
    base."""


class AlreadyRunningError(TrainingError):
    """Another process holds the output directory's lock: the run is going on elsewhere."""

    exit_code = 3

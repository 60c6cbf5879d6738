"""A policy run's directory while it trains: the lock that keeps a second process out, and the resumable
checkpoints (``checkpoints/checkpoint-N``: adapter, optimizer, scheduler, RNG and trainer state) with the record
of what they were trained from, so a resumed run continues only the training it belongs to.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alignment.training.common import ADAPTER_FILE
from alignment.training.errors import AlreadyRunningError, CheckpointError

log = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
LOCK_FILE = ".lock"
INPUTS_FILE = "inputs.json"  # in checkpoints/: what the checkpoints were trained from


def is_main_process() -> bool:
    """Rank 0 of an ``accelerate launch`` (or a plain process): it alone locks, writes progress and results."""
    return os.environ.get("RANK", "0") == "0"


@contextlib.contextmanager
def lock(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` (flock, non-blocking) for the run; raises AlreadyRunningError when another process
    holds it. The file stays (removing a lock file races with its next holder); the lock dies with the process."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise AlreadyRunningError(
                f"output_dir {out} is already running (pid {holder} holds {path}); wait for it or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _checkpoint_step(path: Path) -> int | None:
    """The global step of a complete checkpoint, or None. ``trainer_state.json`` is the last file Trainer
    writes into a checkpoint, so one that parses marks a checkpoint whose writer was not killed mid-save."""
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    step = state.get("global_step") if isinstance(state, dict) else None
    has_weights = (path / ADAPTER_FILE).is_file()
    return step if isinstance(step, int) and step > 0 and has_weights else None


def latest_checkpoint(output_dir: str | Path) -> tuple[Path, int] | None:
    """The newest complete checkpoint under ``output_dir/checkpoints`` and its step, or None."""
    found = []
    for path in (Path(output_dir) / CHECKPOINTS_DIR).glob("checkpoint-*"):
        step = _checkpoint_step(path)
        if path.is_dir() and step is not None:
            found.append((step, path))
    if not found:
        return None
    step, path = max(found)
    return path, step


def drop_incomplete_checkpoints(checkpoints: Path) -> None:
    for path in checkpoints.glob("checkpoint-*"):
        if path.is_dir() and _checkpoint_step(path) is None:
            log.warning("removing %s: an incomplete checkpoint (its writer was stopped mid-save)", path)
            shutil.rmtree(path, ignore_errors=True)


def drop_checkpoints_after(checkpoints: Path, step: int) -> list[int]:
    """Remove the checkpoints after ``step`` (they may hold broken weights); returns their steps."""
    removed = []
    for path in checkpoints.glob("checkpoint-*"):
        number = path.name.removeprefix("checkpoint-")
        if number.isdigit() and int(number) > step:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(int(number))
    return removed


def check_inputs(checkpoints: Path, inputs: dict[str, Any]) -> None:
    """Checkpoints resume only the training they came from: the same stage, base, start adapter and data."""
    path = checkpoints / INPUTS_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(
            f"{checkpoints}: checkpoints without a readable {INPUTS_FILE}; remove them to start over"
        ) from None
    changed = sorted(k for k in inputs if saved.get(k) != inputs[k])
    if changed:
        raise CheckpointError(
            f"{checkpoints} holds checkpoints of another training ({', '.join(changed)} differ); "
            "remove them to start over, or choose a new output_dir"
        )

"""A policy run's progress file, which the supervising job tails, and the test hook that pauses a run.

Progress is JSONL, one line per log event ``{"event": "log", "step", "max_steps", "epoch", "loss",
"learning_rate", "time"}`` (``loss`` is null when it is not finite; DPO lines add ``"metrics"``: TRL's
rewards/margins, rewards/accuracies, rewards/chosen|rejected, logps/chosen|rejected), opened by
``{"event": "start", "stage", "resumed_from", "max_steps", "time"}`` and closed by ``{"event": "done", "step",
"max_steps", "loss", "resumed_from", "manifest", "seconds", "time"}`` or ``{"event": "error", "error", "time"}``.
``time`` is Unix time in seconds. The file is appended to, never truncated: a resumed run adds its lines after
the stopped one's. Only the main process (rank 0) writes it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from alignment.training.errors import ConfigError
from alignment.training.stages import DPO_METRICS, finite

log = logging.getLogger(__name__)

# A test hook, off unless set (production never sets it): "N:PATH" stops the main process right after it has
# written the checkpoint of step N, writes PATH.paused, and waits until PATH exists. A test then kills or
# inspects the run at that known point, however fast or loaded the machine is, instead of racing it.
PAUSE_ENV = "MEDES_TRAINING_PAUSE_AFTER_CHECKPOINT"


def append_line(path: Path | None, record: dict[str, Any]) -> None:
    """One JSON line, appended with a single write so a tailing reader sees whole lines or a partial last one."""
    if path is None:
        return
    line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
    with path.open("a", encoding="utf-8") as f:
        f.write(line)
        f.flush()


def read_progress(path: str | Path) -> list[dict[str, Any]]:
    """The progress records written so far. A last line without its newline (the writer is mid-write) or one
    that does not decode is left out; a missing file is no progress yet."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    records = []
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines) - 1:  # the unfinished last line
                break
            log.warning("%s: line %d is not JSON, skipped", path, n + 1)
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def progress_callback(progress: Path | None, stage: str, resumed_from: int | None) -> Any:
    """A TrainerCallback writing the start and log lines (the caller writes done and error)."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                record = {"event": "start", "stage": stage, "resumed_from": resumed_from, "max_steps": state.max_steps}
                append_line(progress, {**record, "time": time.time()})

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if not logs or "loss" not in logs or not state.is_world_process_zero:
                return
            record = {
                "event": "log",
                "step": int(state.global_step),
                "max_steps": int(state.max_steps),
                "epoch": state.epoch,
                "learning_rate": logs.get("learning_rate"),
                "time": time.time(),
                "loss": float(logs["loss"]) if finite(logs["loss"]) else None,  # strict JSON has no NaN
            }
            metrics = {k: logs[k] for k in DPO_METRICS if k in logs}
            if metrics:
                record["metrics"] = metrics
            append_line(progress, record)

    return Progress()


# --- the test hook -----------------------------------------------------------------------------------------


def pause_point() -> tuple[int, Path] | None:
    """The step and barrier file of ``PAUSE_ENV``, or None (the normal case: no pause)."""
    value = os.environ.get(PAUSE_ENV, "")
    if not value:
        return None
    step, sep, path = value.partition(":")
    if not sep or not step.isdigit() or int(step) < 1 or not path:
        raise ConfigError(f"{PAUSE_ENV} must be STEP:PATH (a step >= 1 and a file path), got {value!r}")
    return int(step), Path(path)


def paused_marker(barrier: Path) -> Path:
    """The file a paused run writes (holding its step) once it waits at ``barrier``."""
    return barrier.with_name(barrier.name + ".paused")


def pause_callbacks() -> list[Any]:
    """The test hook's TrainerCallback when ``PAUSE_ENV`` is set, else none."""
    pause = pause_point()
    if pause is None:
        return []
    from transformers import TrainerCallback

    step, barrier = pause

    class PauseAfterCheckpoint(TrainerCallback):
        """on_save runs after the checkpoint's last file is written."""

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if int(state.global_step) == step and state.is_world_process_zero:
                paused_marker(barrier).write_text(f"{step}\n", encoding="utf-8")
                while not barrier.exists():
                    time.sleep(0.05)

    return [PauseAfterCheckpoint()]

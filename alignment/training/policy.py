"""Align a causal LM in two stages, SFT then DPO, each a LoRA run that a supervising job starts as a subprocess
and that resumes where it was stopped.

    python -m alignment.training.policy --config config.json [--progress progress.jsonl]
    accelerate launch [--config_file accel.yaml] -m alignment.training.policy --config config.json

One ``RunConfig`` is one stage. ``stage="sft"`` fine-tunes on chat rows ``{"messages": [...]}`` with TRL's
``SFTTrainer`` (the loss covers the assistant turns when the chat template allows it, otherwise the last
assistant turn); ``stage="dpo"`` trains on TRL's conversational preference rows ``{"prompt": [messages],
"chosen": [assistant message], "rejected": [assistant message]}`` with ``DPOTrainer``. Both wrap the model in a
fresh LoRA adapter (peft ``LoraConfig``, ``CAUSAL_LM``) passed as ``peft_config``.

Starting from an earlier adapter (``adapter``, typically the SFT run's ``adapter/`` for the DPO stage): the
adapter is merged into the base in memory (``merge_and_unload``) and a *new* LoRA adapter is trained on top of
that merged model. With ``ref_model=None`` TRL then computes DPO's reference log-probs with the new adapter
disabled, i.e. with the SFT policy, which is the reference DPO wants; the LoRA fields mean the same thing in
both stages, and a checkpoint holds one adapter. (The other TRL-supported way, continuing the SFT adapter
itself, makes TRL copy it into a second "ref" adapter and ties the DPO adapter's shape to the SFT one.) The
consequence: this run's ``adapter/`` applies on top of base + start adapter, never on the bare base; the
manifest records both, and ``merge=true`` writes the whole chain merged into ``merged/``. Passing the SFT run's
``merged/`` as ``base_model`` (and no ``adapter``) is the equivalent alternative.

A finished run is a directory::

    run.json                           manifest, written last: its presence marks a finished run
    README.md                          model card: stage, base, data hash, config, final loss
    adapter/adapter_model.safetensors  the LoRA weights (safetensors only), adapter_config.json, tokenizer
    merged/                            with merge=true: the merged model (*.safetensors), config, tokenizer
    .lock                              flock'ed by the running process; holds its pid

While it runs, ``checkpoints/checkpoint-N`` is written every ``save_steps`` steps (adapter, optimizer,
scheduler, RNG and trainer state). A run started on an output_dir with checkpoints resumes from the newest
complete one (``trainer.train(resume_from_checkpoint=...)``), never from step zero; it refuses checkpoints made
from other data, another base or another start adapter. They are deleted once the manifest is written.

Progress goes to a JSONL file a supervisor tails (``read_progress``): one line per log event
``{"event": "log", "step", "max_steps", "epoch", "loss", "learning_rate", "time"}`` (``loss`` is null when it is
not finite; DPO lines add ``"metrics"``: TRL's rewards/margins, rewards/accuracies, rewards/chosen|rejected,
logps/chosen|rejected), opened by ``{"event": "start", "stage", "resumed_from", "max_steps", "time"}`` and
closed by ``{"event": "done", "step", "max_steps", "loss", "resumed_from", "manifest", "seconds", "time"}`` or
``{"event": "error", "error", "time"}``. ``time`` is Unix time in seconds. The file is appended to, never
truncated: a resumed run adds its lines after the stopped one's.

Nothing here imports Django; torch/transformers/trl/peft/datasets are imported inside functions so importing
this module (and ``launch_command``) is cheap.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import errno
import fcntl
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from alignment.training.configs import JsonConfig
from alignment.training.errors import CheckpointError, ConfigError, DataError, GuardianError
from alignment.training.guardian import (
    _load_tokenizer,
    _sha256_file,
    _write_json,
    base_fingerprint,
)

log = logging.getLogger(__name__)

MANIFEST = "run.json"
MANIFEST_FORMAT = "medes-policy/1"
MODEL_CARD = "README.md"
ADAPTER_DIR = "adapter"
ADAPTER_FILE = "adapter_model.safetensors"
MERGED_DIR = "merged"
CHECKPOINTS_DIR = "checkpoints"
LOCK_FILE = ".lock"
_INPUTS_FILE = "inputs.json"  # in checkpoints/: what the checkpoints were trained from
_STAGING_DIR = ".adapter-staging"
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
STAGES = ("sft", "dpo")
# DPOConfig.loss_type values in TRL 1.16 (checked here so a typo fails before any model is loaded).
DPO_LOSS_TYPES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sft",
    "sigmoid_norm",
)
_DPO_METRICS = (
    "rewards/margins",
    "rewards/accuracies",
    "rewards/chosen",
    "rewards/rejected",
    "logps/chosen",
    "logps/rejected",
)
_ROLES = ("system", "user", "assistant", "tool")
_MAX_DATA_PROBLEMS = 10
# A test hook, off unless set (production never sets it): "N:PATH" stops the main process right after it has
# written the checkpoint of step N, writes PATH.paused, and waits until PATH exists. A test then kills or
# inspects the run at that known point, however fast or loaded the machine is, instead of racing it.
PAUSE_ENV = "MEDES_TRAINING_PAUSE_AFTER_CHECKPOINT"


class AlreadyRunningError(GuardianError):
    """Another process holds the output directory's lock: the run is going on elsewhere."""


# --- config ------------------------------------------------------------------------------------------------


@dataclass
class RunConfig(JsonConfig):
    """One SFT or DPO stage. Field help is in ``metadata["help"]`` (the CLI's ``--help`` lists it)."""

    stage: str = field(metadata={"help": "'sft' (chat rows) or 'dpo' (preference rows)."})
    base_model: str = field(
        metadata={
            "help": "Causal LM directory (config.json + *.safetensors + tokenizer with a chat template); "
            "for DPO usually the SFT run's merged/ (or the same base with `adapter`)."
        }
    )
    data: str = field(
        metadata={
            "help": 'JSONL: sft rows {"messages": [...]}; dpo rows {"prompt": [messages], '
            '"chosen": [assistant message], "rejected": [assistant message]}.'
        }
    )
    output_dir: str = field(
        metadata={
            "help": "Where the run is written; a directory with checkpoints resumes, one with run.json "
            "is finished and refused."
        }
    )
    adapter: str | None = field(
        default=None,
        metadata={
            "help": "A LoRA adapter directory to start from (e.g. the SFT run's adapter/): merged into the "
            "base in memory; a new adapter is trained on top of it."
        },
    )
    learning_rate: float = field(default=2e-4, metadata={"help": "AdamW learning rate (LoRA: ~5e-5..5e-4)."})
    epochs: float = field(default=1.0, metadata={"help": "Training epochs (ignored when max_steps > 0)."})
    max_steps: int = field(default=-1, metadata={"help": "Optimiser steps; -1 trains for `epochs`."})
    batch_size: int = field(default=4, metadata={"help": "Training batch size per device."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimiser step."})
    max_length: int = field(default=1024, metadata={"help": "Tokens per example (longer ones are truncated)."})
    beta: float = field(default=0.1, metadata={"help": "DPO: strength of the pull towards the reference."})
    loss_type: str | list[str] = field(
        default="sigmoid", metadata={"help": f"DPO loss, or a list of them: {', '.join(DPO_LOSS_TYPES)}."}
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA path."})
    target_modules: list[str] | str | None = field(
        default=None,
        metadata={"help": "Modules that get LoRA: a list of names, 'all-linear', or null for peft's default."},
    )
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "Recompute activations in the backward pass: less memory, ~30% slower."}
    )
    bf16: bool = field(default=False, metadata={"help": "bf16 weights and mixed precision (cuda only)."})
    seed: int = field(default=0, metadata={"help": "Seed for LoRA initialisation and data order."})
    save_steps: int = field(
        default=100, metadata={"help": "Write a resumable checkpoint every N optimiser steps; 0: none."}
    )
    save_total_limit: int = field(default=2, metadata={"help": "Checkpoints kept while the run goes on."})
    logging_steps: int = field(default=10, metadata={"help": "Log (and write a progress line) every N steps."})
    device: str = field(default="cpu", metadata={"help": "'cpu' or 'cuda' (accelerate picks the GPU per process)."})
    merge: bool = field(
        default=False, metadata={"help": "Also write merged/: base (+ start adapter) + this adapter, safetensors."}
    )

    @property
    def loss_types(self) -> list[str]:
        return [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)

    def validate(self) -> None:
        """Ranges and paths; raises ConfigError listing every problem, each naming its field."""
        checks = [
            (self.stage in STAGES, f"stage must be one of {', '.join(STAGES)}, got {json.dumps(self.stage)}"),
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1"),
            (self.max_steps > 0 or self.epochs > 0, "set epochs > 0 or max_steps > 0"),
            (self.max_length >= 16, "max_length must be >= 16"),
            (self.beta > 0, "beta must be > 0"),
            (self.lora_r >= 1 and self.lora_alpha >= 1, "lora_r and lora_alpha must be >= 1"),
            (0 <= self.lora_dropout < 1, "lora_dropout must be in [0, 1)"),
            (self.save_steps >= 0, "save_steps must be >= 0"),
            (self.save_total_limit >= 1, "save_total_limit must be >= 1"),
            (self.logging_steps >= 1, "logging_steps must be >= 1"),
            (self.device in ("cpu", "cuda"), "device must be 'cpu' or 'cuda'"),
            (not (self.bf16 and self.device == "cpu"), "bf16 needs device 'cuda'"),
        ]
        errors = [message for ok, message in checks if not ok]
        bad_losses = [t for t in self.loss_types if t not in DPO_LOSS_TYPES]
        if bad_losses or not self.loss_types:
            errors.append(f"loss_type must be one or more of {', '.join(DPO_LOSS_TYPES)}, got {bad_losses or '[]'}")
        if isinstance(self.target_modules, str) and self.target_modules != "all-linear":
            errors.append("target_modules must be a list of module names, 'all-linear' or null")
        if not (Path(self.base_model) / "config.json").is_file():
            errors.append(f"base_model {self.base_model}: not a model directory (no config.json)")
        if not Path(self.data).is_file():
            errors.append(f"data {self.data}: no such file")
        if self.adapter is not None:
            errors.extend(_adapter_problems(Path(self.adapter)))
        if (Path(self.output_dir) / MANIFEST).exists():
            errors.append(f"output_dir {self.output_dir} already holds a finished run; choose a new directory")
        if errors:
            raise ConfigError("; ".join(errors))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _adapter_problems(adapter: Path) -> list[str]:
    if not (adapter / "adapter_config.json").is_file():
        return [f"adapter {adapter}: not a LoRA adapter directory (no adapter_config.json)"]
    if not (adapter / ADAPTER_FILE).is_file():
        return [f"adapter {adapter}: no {ADAPTER_FILE} (only safetensors adapters are loaded)"]
    pickles = sorted(p.name for p in adapter.iterdir() if p.suffix in _PICKLE_SUFFIXES and p.name.startswith("adapter"))
    if pickles:
        return [f"adapter {adapter}: holds {', '.join(pickles)}: only safetensors weights are loaded"]
    return []


@dataclass(frozen=True)
class RunResult:
    output_dir: Path
    manifest: Path
    adapter: Path
    merged: Path | None
    model_card: Path
    stage: str
    steps: int
    resumed_from: int | None
    losses: list[float]
    data_sha256: str
    rows: int
    train_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "output_dir": str(self.output_dir),
            "manifest": str(self.manifest),
            "adapter": str(self.adapter),
            "merged": str(self.merged) if self.merged else None,
            "model_card": str(self.model_card),
            "stage": self.stage,
            "steps": self.steps,
            "resumed_from": self.resumed_from,
            "losses": self.losses,
            "final_loss": self.losses[-1] if self.losses else None,
            "data_sha256": self.data_sha256,
            "rows": self.rows,
            "train_seconds": round(self.train_seconds, 3),
        }


# --- data --------------------------------------------------------------------------------------------------


def _message_problem(value: Any, roles: Sequence[str] = _ROLES) -> str:
    if not isinstance(value, dict):
        return f"a message must be an object, got {type(value).__name__}"
    if value.get("role") not in roles:
        return f"role must be one of {', '.join(roles)}, got {json.dumps(value.get('role'), ensure_ascii=False)}"
    if not isinstance(value.get("content"), str):
        return "content must be text"
    return ""


def _messages_problem(value: Any, key: str, *, roles: Sequence[str] = _ROLES, single: bool = False) -> str:
    if value is None:
        return f"missing {key!r}"
    if not isinstance(value, list) or not value:
        return f"{key!r} must be a non-empty list of messages"
    if single and len(value) != 1:
        return f"{key!r} must hold exactly one message, got {len(value)}"
    for n, message in enumerate(value):
        problem = _message_problem(message, roles)
        if problem:
            return f"{key}[{n}]: {problem}"
    return ""


def _row_problems(row: dict[str, Any], stage: str) -> list[str]:
    if stage == "sft":
        problem = _messages_problem(row.get("messages"), "messages")
        if problem:
            return [problem]
        if not any(m["role"] == "assistant" for m in row["messages"]):
            return ["'messages' has no assistant turn to learn from"]
        return []
    problems = [_messages_problem(row.get("prompt"), "prompt", roles=("system", "user", "assistant", "tool"))]
    for key in ("chosen", "rejected"):
        problems.append(_messages_problem(row.get(key), key, roles=("assistant",), single=True))
    return [p for p in problems if p]


def read_rows(path: str | Path, stage: str) -> list[dict[str, Any]]:
    """The training rows of ``path`` for ``stage``, only the keys TRL reads; raises DataError naming every bad
    line (up to ten) and what is wrong with it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None
    keys = ("messages",) if stage == "sft" else ("prompt", "chosen", "rejected")
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{path.name}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{path.name}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            continue
        found = _row_problems(obj, stage)
        problems.extend(f"{path.name}:{lineno}: {p}" for p in found)
        if not found:
            rows.append({k: obj[k] for k in keys})
    if problems:
        more = f" (and {len(problems) - _MAX_DATA_PROBLEMS} more)" if len(problems) > _MAX_DATA_PROBLEMS else ""
        raise DataError(f"{stage} data: " + "; ".join(problems[:_MAX_DATA_PROBLEMS]) + more)
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


# --- progress ----------------------------------------------------------------------------------------------


def _append_line(path: Path | None, record: dict[str, Any]) -> None:
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


def _wait_at_barrier(step: int, barrier: Path) -> None:
    paused_marker(barrier).write_text(f"{step}\n", encoding="utf-8")
    while not barrier.exists():
        time.sleep(0.05)


# --- locking and checkpoints -------------------------------------------------------------------------------


def _is_main_process() -> bool:
    """Rank 0 of an ``accelerate launch`` (or a plain process): it alone locks, writes progress and results."""
    return os.environ.get("RANK", "0") == "0"


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
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


def _drop_incomplete_checkpoints(checkpoints: Path) -> None:
    for path in checkpoints.glob("checkpoint-*"):
        if path.is_dir() and _checkpoint_step(path) is None:
            log.warning("removing %s: an incomplete checkpoint (its writer was stopped mid-save)", path)
            shutil.rmtree(path, ignore_errors=True)


def _check_inputs(checkpoints: Path, inputs: dict[str, Any]) -> None:
    """Checkpoints resume only the training they came from: the same stage, base, start adapter and data."""
    path = checkpoints / _INPUTS_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(
            f"{checkpoints}: checkpoints without a readable {_INPUTS_FILE}; remove them to start over"
        ) from None
    changed = sorted(k for k in inputs if saved.get(k) != inputs[k])
    if changed:
        raise CheckpointError(
            f"{checkpoints} holds checkpoints of another training ({', '.join(changed)} differ); "
            "remove them to start over, or choose a new output_dir"
        )


# --- models ------------------------------------------------------------------------------------------------


def _load_causal_lm(base_model: str | Path, *, dtype: Any) -> Any:
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(
            str(base_model), local_files_only=True, use_safetensors=True, dtype=dtype
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"base model {base_model} cannot be loaded as a causal LM: {exc}") from None


def _with_adapter_merged(model: Any, adapter: str | Path) -> Any:
    """``model`` with the LoRA adapter in ``adapter`` merged into its weights (in memory)."""
    from peft import PeftModel

    try:
        # _adapter_problems found adapter_model.safetensors and no pickled adapter beside it.
        return PeftModel.from_pretrained(model, str(adapter), is_trainable=False).merge_and_unload()
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise CheckpointError(f"adapter {adapter} does not fit the base model ({exc})") from None


def _check_start_adapter(adapter: Path, fingerprint: str) -> None:
    """An adapter from one of our runs carries a manifest beside it: it must apply to this very base."""
    manifest_path = adapter.parent / MANIFEST
    if not manifest_path.is_file():
        return  # an adapter from elsewhere: peft checks the shapes when it is loaded
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"adapter {adapter}: {manifest_path} is corrupted ({exc})") from None
    if manifest.get("start_adapter"):
        raise ConfigError(
            f"adapter {adapter} applies on top of another adapter ({manifest['start_adapter'].get('path')}); "
            f"use its run's {MERGED_DIR}/ as base_model instead"
        )
    if manifest.get("base_fingerprint") != fingerprint:
        raise ConfigError(f"adapter {adapter} was trained on another base model than base_model (fingerprints differ)")
    if _sha256_file(adapter / ADAPTER_FILE) != (manifest.get("adapter") or {}).get("sha256"):
        raise CheckpointError(f"adapter {adapter}: {ADAPTER_FILE} differs from its run's manifest (sha256)")


def _has_training_template(tokenizer: Any) -> bool:
    """Whether TRL can mask the loss to assistant turns (``{% generation %}`` markers, or a template TRL knows
    how to patch); otherwise SFT trains prompt/completion pairs, the last assistant turn being the completion."""
    from trl.chat_template_utils import get_training_chat_template

    try:
        get_training_chat_template(tokenizer)
    except ValueError:
        return False
    return True


def _sft_rows(rows: list[dict[str, Any]], assistant_only: bool) -> list[dict[str, Any]]:
    if assistant_only:
        return rows
    out = []
    for row in rows:
        messages = row["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        out.append({"prompt": messages[:last], "completion": [messages[last]]})
    return out


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "safetensors"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def _make_readable(directory: Path) -> None:
    directory.chmod(0o755)
    for path in directory.iterdir():
        if path.is_file():
            path.chmod(0o644)


def _remove_pickles(directory: Path) -> None:
    """Trainer.save_model also writes training_args.bin (a pickle): the results hold safetensors only."""
    for path in directory.iterdir():
        if path.is_file() and path.suffix in _PICKLE_SUFFIXES:
            path.unlink()


def _write_merged(config: RunConfig, adapter_dir: Path, out: Path, tokenizer: Any) -> Path:
    """base (+ start adapter) + this run's adapter, merged and saved as safetensors in ``out/merged``."""
    import torch

    model = _load_causal_lm(config.base_model, dtype=torch.bfloat16 if config.bf16 else "auto")
    if config.adapter:
        model = _with_adapter_merged(model, config.adapter)
    model = _with_adapter_merged(model, adapter_dir)
    merged = out / MERGED_DIR
    staging = out / ".merged-staging"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    _remove_pickles(staging)
    _make_readable(staging)
    shutil.rmtree(merged, ignore_errors=True)
    staging.rename(merged)
    return merged


# --- the run -----------------------------------------------------------------------------------------------


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _history(log_history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The training-step log entries (checkpoints' history included after a resume), metrics kept."""
    keep = ("step", "epoch", "loss", "learning_rate", "grad_norm", *_DPO_METRICS)
    return [{k: e[k] for k in keep if k in e} for e in log_history if "loss" in e]


def _model_card(config: RunConfig, manifest: dict[str, Any]) -> str:
    final = manifest["train"]["final_loss"]
    start = manifest["start_adapter"]
    lines = [
        "---",
        "library_name: peft",
        f"tags: [medes, trl, lora, {config.stage}]",
        "---",
        "",
        f"# MedES policy: {config.stage.upper()} LoRA adapter",
        "",
        f"- Stage: **{config.stage}** ({'TRL SFTTrainer' if config.stage == 'sft' else 'TRL DPOTrainer'})",
        f"- Base model: `{manifest['base_model']}` (fingerprint `{manifest['base_fingerprint']}`)",
        f"- Start adapter: `{start['path']}` (sha256 `{start['sha256']}`), merged into the base before training"
        if start
        else "- Start adapter: none",
        f"- Training data: `{manifest['data']['path']}`, {manifest['data']['rows']} rows, "
        f"sha256 `{manifest['data']['sha256']}`",
        f"- Steps: {manifest['train']['steps']}"
        + (f" (resumed from step {manifest['train']['resumed_from']})" if manifest["train"]["resumed_from"] else ""),
        f"- Final training loss: {final:.6g}" if final is not None else "- Final training loss: none logged",
        f"- Adapter: `{ADAPTER_DIR}/{ADAPTER_FILE}` (sha256 `{manifest['adapter']['sha256']}`)",
        "",
        "The adapter applies on top of the base"
        + (" with the start adapter merged in" if start else "")
        + (f"; `{MERGED_DIR}/` holds the merged model." if manifest["merged"] else "."),
        "",
        "## Config",
        "",
        "```json",
        json.dumps(config.as_dict(), ensure_ascii=False, indent=2, sort_keys=True),
        "```",
        "",
        "## Library versions",
        "",
        *(f"- {name} {version}" for name, version in sorted(manifest["versions"].items())),
        "",
    ]
    return "\n".join(lines)


def run(config: RunConfig, *, progress_path: str | Path | None = None, callbacks: Sequence[Any] = ()) -> RunResult:
    """Train one stage and write the run directory (see the module docstring). Resumes from the newest complete
    checkpoint in ``output_dir``; refuses an output_dir another process is training in (AlreadyRunningError).
    Raises GuardianError subclasses on bad input and on a loss that is not finite."""
    config.validate()
    out = Path(config.output_dir)
    progress = Path(progress_path) if progress_path is not None and _is_main_process() else None
    lock = _lock(out) if _is_main_process() else contextlib.nullcontext()
    with lock:
        try:
            return _run_locked(config, out, progress, callbacks)
        except BaseException as exc:
            _append_line(progress, {"event": "error", "error": str(exc) or type(exc).__name__, "time": time.time()})
            raise


def _run_locked(config: RunConfig, out: Path, progress: Path | None, callbacks: Sequence[Any]) -> RunResult:
    rows = read_rows(config.data, config.stage)
    data_sha256 = _sha256_file(Path(config.data))
    fingerprint = base_fingerprint(config.base_model)
    start_adapter = None
    if config.adapter:
        adapter = Path(config.adapter)
        _check_start_adapter(adapter, fingerprint)
        start_adapter = {"path": str(adapter.resolve()), "sha256": _sha256_file(adapter / ADAPTER_FILE)}
    inputs = {
        "stage": config.stage,
        "base_fingerprint": fingerprint,
        "data_sha256": data_sha256,
        "start_adapter_sha256": start_adapter["sha256"] if start_adapter else None,
    }

    checkpoints = out / CHECKPOINTS_DIR
    main = _is_main_process()
    if main:
        _drop_incomplete_checkpoints(checkpoints)
        shutil.rmtree(out / _STAGING_DIR, ignore_errors=True)
    resume = latest_checkpoint(out)
    if resume is not None:
        _check_inputs(checkpoints, inputs)
    elif main:
        checkpoints.mkdir(parents=True, exist_ok=True)
        _write_json(checkpoints / _INPUTS_FILE, inputs)
    resumed_from = resume[1] if resume else None

    import torch
    from datasets import Dataset
    from peft import LoraConfig, TaskType
    from transformers import TrainerCallback, set_seed
    from transformers.trainer_callback import PrinterCallback

    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA device")
    set_seed(config.seed)
    tokenizer = _load_tokenizer(config.base_model)
    if not tokenizer.chat_template:
        raise CheckpointError(f"base model {config.base_model}: the tokenizer has no chat template")
    # Trainer places the model (one GPU per accelerate process); loading it on the CPU first is what
    # from_pretrained does anyway.
    model = _load_causal_lm(config.base_model, dtype=torch.bfloat16 if config.bf16 else torch.float32)
    if config.adapter:
        model = _with_adapter_merged(model, config.adapter)
    lora = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules,
    )
    bad_steps: list[int] = []
    pause = pause_point()

    class PauseAfterCheckpoint(TrainerCallback):
        """The test hook (``PAUSE_ENV``): on_save runs after the checkpoint's last file is written."""

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if pause is not None and int(state.global_step) == pause[0] and state.is_world_process_zero:
                _wait_at_barrier(*pause)

    class Progress(TrainerCallback):
        """Progress lines for the supervisor, and a stop at the first loss that is not finite."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                _append_line(
                    progress,
                    {
                        "event": "start",
                        "stage": config.stage,
                        "resumed_from": resumed_from,
                        "max_steps": state.max_steps,
                        "time": time.time(),
                    },
                )

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if not logs or "loss" not in logs:
                return
            if not _finite(logs["loss"]):
                bad_steps.append(int(state.global_step))
                control.should_training_stop = True
            if state.is_world_process_zero:
                record = {
                    "event": "log",
                    "step": int(state.global_step),
                    "max_steps": int(state.max_steps),
                    "epoch": state.epoch,
                    "learning_rate": logs.get("learning_rate"),
                    "time": time.time(),
                    "loss": float(logs["loss"]) if _finite(logs["loss"]) else None,  # strict JSON has no NaN
                }
                metrics = {k: logs[k] for k in _DPO_METRICS if k in logs}
                if metrics:
                    record["metrics"] = metrics
                _append_line(progress, record)

    own_callbacks = [Progress(), *([PauseAfterCheckpoint()] if pause is not None else [])]
    common: dict[str, Any] = {
        "output_dir": str(checkpoints),
        "use_cpu": config.device == "cpu",
        "bf16": config.bf16,
        # the seed fixes the LoRA initialisation, dropout and (data_seed) the order of the rows: the same config
        # trains the same adapter, byte for byte, on the same machine (tests/test_training_determinism.py)
        "activation_checkpointing": config.gradient_checkpointing,
        "seed": config.seed,
        "data_seed": config.seed,
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "learning_rate": config.learning_rate,
        "max_length": config.max_length,
        "logging_steps": config.logging_steps,
        "logging_strategy": "steps",
        # Trainer's default filter replaces a NaN/inf loss by the running mean before logging it: off, so a
        # diverged run is seen and refused.
        "logging_nan_inf_filter": False,
        "save_strategy": "steps" if config.save_steps else "no",
        "save_steps": config.save_steps or 500,
        "save_total_limit": config.save_total_limit,
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    trainer: Any
    args: Any
    try:
        if config.stage == "sft":
            from trl import SFTConfig, SFTTrainer

            assistant_only = _has_training_template(tokenizer)
            args = SFTConfig(
                **common, packing=False, assistant_only_loss=assistant_only, completion_only_loss=not assistant_only
            )
            trainer = SFTTrainer(
                model=model,
                args=args,
                train_dataset=Dataset.from_list(_sft_rows(rows, assistant_only)),
                processing_class=tokenizer,
                peft_config=lora,
                callbacks=[*own_callbacks, *callbacks],
            )
        else:
            from trl import DPOConfig, DPOTrainer

            args = DPOConfig(**common, beta=config.beta, loss_type=config.loss_types)
            # ref_model=None with peft_config: the reference is this model with the new adapter disabled.
            trainer = DPOTrainer(
                model=model,
                ref_model=None,
                args=args,
                train_dataset=Dataset.from_list(rows),
                processing_class=tokenizer,
                peft_config=lora,
                callbacks=[*own_callbacks, *callbacks],
            )
    except ValueError as exc:  # e.g. target_modules the architecture does not have
        raise ConfigError(f"the {config.stage} stage cannot be trained on {config.base_model}: {exc}") from None
    trainer.remove_callback(PrinterCallback)  # it prints every log line to stdout, which the CLI keeps for JSON
    if resume is not None:
        log.info("resuming %s from %s (step %d)", out, resume[0], resume[1])
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume[0]) if resume else None)
    seconds = time.perf_counter() - started

    history = _history(trainer.state.log_history)
    losses = [float(e["loss"]) for e in history]
    bad = sorted({*bad_steps, *(int(e["step"]) for e in history if not _finite(e["loss"]))})
    if not losses:
        raise ConfigError("no loss was logged: set logging_steps at most the number of training steps")
    if bad:
        raise ConfigError(_diverged(history, bad[0], checkpoints if main else None))

    staging = out / _STAGING_DIR
    trainer.save_model(str(staging))  # every rank: DeepSpeed/FSDP gather the adapter here
    if not trainer.is_world_process_zero():
        return _result(config, out, None, history, resumed_from, data_sha256, len(rows), seconds, trainer)
    _remove_pickles(staging)
    _make_readable(staging)
    adapter_dir = out / ADAPTER_DIR
    shutil.rmtree(adapter_dir, ignore_errors=True)
    staging.rename(adapter_dir)
    merged = _write_merged(config, adapter_dir, out, tokenizer) if config.merge else None

    steps = int(trainer.state.global_step)
    manifest = {
        "format": MANIFEST_FORMAT,
        "stage": config.stage,
        "base_model": str(Path(config.base_model).resolve()),
        "base_fingerprint": fingerprint,
        "start_adapter": start_adapter,
        "adapter": {"path": f"{ADAPTER_DIR}/{ADAPTER_FILE}", "sha256": _sha256_file(adapter_dir / ADAPTER_FILE)},
        "merged": {"path": MERGED_DIR, "files": {p.name: _sha256_file(p) for p in sorted(merged.glob("*.safetensors"))}}
        if merged
        else None,
        "data": {"path": str(Path(config.data).resolve()), "sha256": data_sha256, "rows": len(rows)},
        "config": config.as_dict(),
        "train": {
            "steps": steps,
            "max_steps": int(trainer.state.max_steps),
            "resumed_from": resumed_from,
            "seconds": round(seconds, 3),
            "losses": losses,
            "final_loss": losses[-1],
            "history": history,
        },
        "versions": _versions(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    card = out / MODEL_CARD
    card.write_text(_model_card(config, manifest), encoding="utf-8")
    _write_json(out / MANIFEST, manifest)  # last: its presence marks a finished run
    # Checkpoints (optimizer state included) only serve an interrupted run; removed after the manifest, so a run
    # stopped before it still resumes.
    shutil.rmtree(checkpoints, ignore_errors=True)
    result = _result(config, out, merged, history, resumed_from, data_sha256, len(rows), seconds, trainer)
    _append_line(
        progress,
        {
            "event": "done",
            "step": steps,
            "max_steps": int(trainer.state.max_steps),
            "loss": losses[-1],
            "resumed_from": resumed_from,
            "manifest": str(out / MANIFEST),
            "seconds": round(seconds, 3),
            "time": time.time(),
        },
    )
    return result


def _diverged(history: list[dict[str, Any]], step: int, checkpoints: Path | None) -> str:
    """The message for a loss that is not finite at ``step``. Checkpoints after the last finite logged loss may
    hold broken weights (a loss is logged every logging_steps): they are removed, so a rerun (with, say, a lower
    learning_rate) resumes from a sound one."""
    loss = next((e["loss"] for e in history if e["step"] == step), float("nan"))
    good = max((int(e["step"]) for e in history if e["step"] < step and _finite(e["loss"])), default=0)
    removed = []
    for path in checkpoints.glob("checkpoint-*") if checkpoints is not None else ():
        number = path.name.removeprefix("checkpoint-")
        if number.isdigit() and int(number) > good:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(int(number))
    note = f"; checkpoints after step {good} were removed" if removed else ""
    return (
        f"training diverged at step {step} (loss {loss}): lower learning_rate, or turn bf16 off; no result was "
        f"written{note}"
    )


def _result(
    config: RunConfig,
    out: Path,
    merged: Path | None,
    history: list[dict[str, Any]],
    resumed_from: int | None,
    data_sha256: str,
    rows: int,
    seconds: float,
    trainer: Any,
) -> RunResult:
    return RunResult(
        output_dir=out,
        manifest=out / MANIFEST,
        adapter=out / ADAPTER_DIR / ADAPTER_FILE,
        merged=merged,
        model_card=out / MODEL_CARD,
        stage=config.stage,
        steps=int(trainer.state.global_step),
        resumed_from=resumed_from,
        losses=[float(e["loss"]) for e in history],
        data_sha256=data_sha256,
        rows=rows,
        train_seconds=seconds,
    )


# --- launching ---------------------------------------------------------------------------------------------


def launch_command(
    config_path: str | Path,
    progress_path: str | Path | None,
    *,
    num_processes: int | None = 1,
    accelerate_config: str | Path | None = None,
    cpu: bool = False,
) -> list[str]:
    """The argv that runs one stage under ``accelerate launch`` (what the Django job starts as a subprocess).

    ``accelerate_config`` is an ``accelerate config`` YAML (multi-GPU, DeepSpeed, FSDP…); ``num_processes``
    overrides its process count (None: the file's). Without a file, single-machine defaults are passed so
    accelerate does not warn about each. The launcher is this interpreter's ``accelerate.commands.launch``, so the
    venv the web process runs in is the one that trains. A failed run exits 1 through the launcher (it does not
    pass the CLI's exit code on); the reason is in the progress file's error line and on stderr."""
    argv = [sys.executable, "-m", "accelerate.commands.launch", "--quiet"]
    if accelerate_config is not None:
        argv += ["--config_file", str(accelerate_config)]
    else:
        argv += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    if cpu:
        argv.append("--cpu")
    if num_processes is not None:
        argv += ["--num_processes", str(num_processes)]
        if accelerate_config is None and num_processes > 1 and not cpu:
            argv.append("--multi_gpu")
    argv += ["-m", "alignment.training.policy", "--config", str(config_path)]
    if progress_path is not None:
        argv += ["--progress", str(progress_path)]
    return argv


# --- CLI ---------------------------------------------------------------------------------------------------


def _config_help() -> str:
    lines = []
    for f in dataclasses.fields(RunConfig):
        default = "required" if f.default is dataclasses.MISSING else f"default {json.dumps(f.default)}"
        lines.append(f"  {f.name} ({default}): {f.metadata['help']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    """Exit codes: 0 done (a JSON summary on stdout), 2 bad config/data/checkpoint or a diverged loss,
    3 another process is already running this output_dir."""
    parser = argparse.ArgumentParser(
        prog="python -m alignment.training.policy",
        description="Run one stage (SFT or DPO, LoRA) of MedES policy alignment; resumes from the newest "
        "checkpoint in output_dir. Prints the result as JSON.",
        epilog="config fields:\n" + _config_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, help="JSON file with the RunConfig fields")
    parser.add_argument("--progress", help="append progress lines (JSONL) to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no code path here downloads anything
    try:
        result = run(RunConfig.from_file(args.config), progress_path=args.progress)
    except AlreadyRunningError as exc:
        print(f"policy: error: {exc}", file=sys.stderr)
        return 3
    except GuardianError as exc:
        print(f"policy: error: {exc}", file=sys.stderr)
        return 2
    if _is_main_process():
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2, sort_keys=True), file=stdout or sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

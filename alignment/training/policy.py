"""Align a causal LM in two stages, SFT then DPO, each a LoRA run that a supervising job starts as a subprocess
and that resumes where it was stopped.

    python -m alignment.training.policy --config config.json [--progress progress.jsonl]
    accelerate launch [--config_file accel.yaml] -m alignment.training.policy --config config.json

One ``RunConfig`` is one stage. ``stage="sft"`` fine-tunes on chat rows ``{"messages": [...]}`` with TRL's
``SFTTrainer`` (the loss covers the assistant turns when the chat template allows it, otherwise the last
assistant turn); ``stage="dpo"`` trains on TRL's conversational preference rows ``{"prompt": [messages],
"chosen": [assistant message], "rejected": [assistant message]}`` with ``DPOTrainer`` (rows: ``policy_data``;
trainers: ``stages``). Both wrap the model in a fresh LoRA adapter (peft ``LoraConfig``, ``CAUSAL_LM``) passed
as ``peft_config``.

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
from other data, another base or another start adapter (``checkpoints``). They are deleted once the manifest
is written. Progress goes to a JSONL file a supervisor tails (``progress``).

Nothing here imports Django; torch/transformers/trl/peft/datasets are imported inside functions so importing
this module (and ``launch_command``) is cheap.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignment.training.checkpoints import (
    CHECKPOINTS_DIR,
    INPUTS_FILE,
    check_inputs,
    drop_checkpoints_after,
    drop_incomplete_checkpoints,
    is_main_process,
    latest_checkpoint,
    lock,
)
from alignment.training.common import (
    ADAPTER_DIR,
    ADAPTER_FILE,
    PICKLE_SUFFIXES,
    base_fingerprint,
    check_device,
    command_line,
    library_versions,
    load_causal_lm,
    load_tokenizer,
    make_readable,
    publish_adapter,
    remove_pickles,
    result_json,
    sha256_file,
    torch_dtype,
    write_json,
)
from alignment.training.config import gettext_noop, knob, retune
from alignment.training.errors import CheckpointError, ConfigError
from alignment.training.policy_card import model_card
from alignment.training.policy_data import read_rows
from alignment.training.progress import append_line, pause_callbacks, progress_callback
from alignment.training.stages import (
    Fitted,
    StageArgs,
    dpo_trainer,
    finite,
    fit,
    loss_mask,
    sft_trainer,
    trainer_arguments,
)

log = logging.getLogger(__name__)

MANIFEST = "run.json"
MANIFEST_FORMAT = "medes-policy/1"
MODEL_CARD = "README.md"
MERGED_DIR = "merged"
_STAGING_DIR = ".adapter-staging"
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
_VERSIONS = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "safetensors")


# --- config ------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class RunConfig(StageArgs):
    """One SFT or DPO stage. Field help is in ``metadata["help"]`` (the CLI's ``--help`` lists it)."""

    stage: str = knob(help=gettext_noop("'sft' (chat rows) or 'dpo' (preference rows)."), label=gettext_noop("stage"))
    base_model: str = retune(
        StageArgs,
        "base_model",
        help=gettext_noop(
            "Causal LM directory (config.json + *.safetensors + tokenizer with a chat template); "
            "for DPO usually the SFT run's merged/ (or the same base with `adapter`)."
        ),
    )
    data: str = retune(
        StageArgs,
        "data",
        help=gettext_noop(
            'JSONL: sft rows {"messages": [...]}; dpo rows {"prompt": [messages], '
            '"chosen": [assistant message], "rejected": [assistant message]}.'
        ),
    )
    output_dir: str = retune(
        StageArgs,
        "output_dir",
        help=gettext_noop(
            "Where the run is written; a directory with checkpoints resumes, one with run.json is finished and refused."
        ),
    )
    adapter: str | None = knob(
        None,
        help=gettext_noop(
            "A LoRA adapter directory to start from (e.g. the SFT run's adapter/): merged into the "
            "base in memory; a new adapter is trained on top of it."
        ),
        label=gettext_noop("start from the adapter of"),
    )
    epochs: float = retune(StageArgs, "epochs", 1.0)
    max_length: int = retune(
        StageArgs, "max_length", 1024, help=gettext_noop("Tokens per example (longer ones are truncated).")
    )
    beta: float = knob(
        0.1,
        help=gettext_noop("DPO: strength of the pull towards the reference."),
        label=gettext_noop("DPO beta"),
        max=100,
    )
    loss_type: str | list[str] = knob(  # noqa: RUF009 (knob() is dataclasses.field with metadata)
        "sigmoid",
        help=gettext_noop("DPO loss, or a list of them."),
        label=gettext_noop("DPO loss"),
        choices=DPO_LOSS_TYPES,
    )
    gradient_checkpointing: bool = knob(
        False,
        help=gettext_noop("Recompute activations in the backward pass: less memory, ~30 percent slower."),
        label=gettext_noop("gradient checkpointing"),
    )
    save_steps: int = knob(
        100,
        help=gettext_noop("Write a resumable checkpoint every N optimiser steps; 0: none."),
        label=gettext_noop("checkpoint every N steps"),
        min=0,
        max=10_000_000,
    )
    save_total_limit: int = knob(
        2, help=gettext_noop("Checkpoints kept while the run goes on."), label=gettext_noop("checkpoints kept"), min=1
    )
    logging_steps: int = knob(
        10,
        help=gettext_noop("Log (and write a progress line) every N steps."),
        label=gettext_noop("log every N steps"),
        min=1,
    )
    merge: bool = knob(
        False,
        help=gettext_noop("Also write merged/: base (+ start adapter) + this adapter, safetensors."),
        label=gettext_noop("also save a merged model"),
    )

    @property
    def loss_types(self) -> list[str]:
        return [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)

    def problems(self) -> list[str]:
        errors = super().problems()
        if self.stage not in STAGES:
            errors.insert(0, f"stage must be one of {', '.join(STAGES)}, got {json.dumps(self.stage)}")
        if self.beta <= 0:
            errors.append("beta must be > 0")
        bad_losses = [t for t in self.loss_types if t not in DPO_LOSS_TYPES]
        if bad_losses or not self.loss_types:
            errors.append(f"loss_type must be one or more of {', '.join(DPO_LOSS_TYPES)}, got {bad_losses or '[]'}")
        return errors

    def path_problems(self) -> list[str]:
        errors = super().path_problems()
        if self.adapter is not None:
            errors.extend(_adapter_problems(Path(self.adapter)))
        if (Path(self.output_dir) / MANIFEST).exists():
            errors.append(f"output_dir {self.output_dir} already holds a finished run; choose a new directory")
        return errors


def _adapter_problems(adapter: Path) -> list[str]:
    if not (adapter / "adapter_config.json").is_file():
        return [f"adapter {adapter}: not a LoRA adapter directory (no adapter_config.json)"]
    if not (adapter / ADAPTER_FILE).is_file():
        return [f"adapter {adapter}: no {ADAPTER_FILE} (only safetensors adapters are loaded)"]
    pickles = sorted(p.name for p in adapter.iterdir() if p.suffix in PICKLE_SUFFIXES and p.name.startswith("adapter"))
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


# --- the start adapter and the merged model ----------------------------------------------------------------


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
    if sha256_file(adapter / ADAPTER_FILE) != (manifest.get("adapter") or {}).get("sha256"):
        raise CheckpointError(f"adapter {adapter}: {ADAPTER_FILE} differs from its run's manifest (sha256)")


def _write_merged(config: RunConfig, adapter_dir: Path, out: Path, tokenizer: Any) -> Path:
    """base (+ start adapter) + this run's adapter, merged and saved as safetensors in ``out/merged``."""
    model = load_causal_lm(config.base_model, dtype=torch_dtype(True) if config.bf16 else "auto")
    if config.adapter:
        model = _with_adapter_merged(model, config.adapter)
    model = _with_adapter_merged(model, adapter_dir)
    merged = out / MERGED_DIR
    staging = out / ".merged-staging"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    remove_pickles(staging)
    make_readable(staging)
    shutil.rmtree(merged, ignore_errors=True)
    staging.rename(merged)
    return merged


# --- the run -----------------------------------------------------------------------------------------------


def run(config: RunConfig, *, progress_path: str | Path | None = None, callbacks: Sequence[Any] = ()) -> RunResult:
    """Train one stage and write the run directory (see the module docstring). Resumes from the newest complete
    checkpoint in ``output_dir``; refuses an output_dir another process is training in (AlreadyRunningError).
    Raises TrainingError subclasses on bad input and on a loss that is not finite."""
    config.validate()
    out = Path(config.output_dir)
    progress = Path(progress_path) if progress_path is not None and is_main_process() else None
    with lock(out) if is_main_process() else contextlib.nullcontext():
        try:
            return _run_locked(config, out, progress, callbacks)
        except BaseException as exc:
            append_line(progress, {"event": "error", "error": str(exc) or type(exc).__name__, "time": time.time()})
            raise


def _run_locked(config: RunConfig, out: Path, progress: Path | None, callbacks: Sequence[Any]) -> RunResult:
    rows = read_rows(config.data, config.stage)
    data_sha256 = sha256_file(Path(config.data))
    fingerprint = base_fingerprint(config.base_model)
    start_adapter = None
    if config.adapter:
        adapter = Path(config.adapter)
        _check_start_adapter(adapter, fingerprint)
        start_adapter = {"path": str(adapter.resolve()), "sha256": sha256_file(adapter / ADAPTER_FILE)}
    inputs = {
        "stage": config.stage,
        "base_fingerprint": fingerprint,
        "data_sha256": data_sha256,
        "start_adapter_sha256": start_adapter["sha256"] if start_adapter else None,
    }

    checkpoints = out / CHECKPOINTS_DIR
    main = is_main_process()
    if main:
        drop_incomplete_checkpoints(checkpoints)
        shutil.rmtree(out / _STAGING_DIR, ignore_errors=True)
    resume = latest_checkpoint(out)
    if resume is not None:
        check_inputs(checkpoints, inputs)
    elif main:
        checkpoints.mkdir(parents=True, exist_ok=True)
        write_json(checkpoints / INPUTS_FILE, inputs)
    resumed_from = resume[1] if resume else None

    from transformers import set_seed

    check_device(config.device)
    set_seed(config.seed)
    tokenizer = load_tokenizer(config.base_model)
    if not tokenizer.chat_template:
        raise CheckpointError(f"base model {config.base_model}: the tokenizer has no chat template")
    # Trainer places the model (one GPU per accelerate process); loading it on the CPU first is what
    # from_pretrained does anyway.
    model = load_causal_lm(config.base_model, dtype=torch_dtype(config.bf16))
    if config.adapter:
        model = _with_adapter_merged(model, config.adapter)
    arguments = trainer_arguments(
        config,
        checkpoints,
        logging_steps=config.logging_steps,
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        activation_checkpointing=config.gradient_checkpointing,
    )
    all_callbacks = [progress_callback(progress, config.stage, resumed_from), *pause_callbacks(), *callbacks]
    what = f"the {config.stage} stage"
    if config.stage == "sft":
        mask = loss_mask(tokenizer)
        trainer = sft_trainer(config, model, tokenizer, rows, arguments, mask=mask, callbacks=all_callbacks, what=what)
    else:
        trainer = dpo_trainer(
            config,
            model,
            tokenizer,
            rows,
            arguments,
            beta=config.beta,
            loss_types=config.loss_types,
            callbacks=all_callbacks,
            what=what,
        )
    if resume is not None:
        log.info("resuming %s from %s (step %d)", out, resume[0], resume[1])
    fitted = fit(trainer, resume_from=resume[0] if resume else None)
    if not fitted.history:
        raise ConfigError("no loss was logged: set logging_steps at most the number of training steps")
    if fitted.bad_steps:
        raise ConfigError(_diverged(fitted.history, fitted.bad_steps[0], checkpoints if main else None))

    staging = out / _STAGING_DIR
    trainer.save_model(str(staging))  # every rank: DeepSpeed/FSDP gather the adapter here
    if not trainer.is_world_process_zero():
        return _result(config, out, None, fitted, resumed_from, data_sha256, len(rows))
    adapter_dir = publish_adapter(staging, out)
    merged = _write_merged(config, adapter_dir, out, tokenizer) if config.merge else None

    losses = fitted.losses
    manifest = {
        "format": MANIFEST_FORMAT,
        "stage": config.stage,
        "base_model": str(Path(config.base_model).resolve()),
        "base_fingerprint": fingerprint,
        "start_adapter": start_adapter,
        "adapter": {"path": f"{ADAPTER_DIR}/{ADAPTER_FILE}", "sha256": sha256_file(adapter_dir / ADAPTER_FILE)},
        "merged": {"path": MERGED_DIR, "files": {p.name: sha256_file(p) for p in sorted(merged.glob("*.safetensors"))}}
        if merged
        else None,
        "data": {"path": str(Path(config.data).resolve()), "sha256": data_sha256, "rows": len(rows)},
        "config": config.as_dict(),
        "train": {
            "steps": fitted.steps,
            "max_steps": int(trainer.state.max_steps),
            "resumed_from": resumed_from,
            "seconds": round(fitted.seconds, 3),
            "losses": losses,
            "final_loss": losses[-1],
            "history": fitted.history,
        },
        "versions": library_versions(_VERSIONS),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    card = out / MODEL_CARD
    card.write_text(model_card(config.stage, config.as_dict(), manifest), encoding="utf-8")
    write_json(out / MANIFEST, manifest)  # last: its presence marks a finished run
    # Checkpoints (optimizer state included) only serve an interrupted run; removed after the manifest, so a run
    # stopped before it still resumes.
    shutil.rmtree(checkpoints, ignore_errors=True)
    result = _result(config, out, merged, fitted, resumed_from, data_sha256, len(rows))
    done = {"event": "done", "step": fitted.steps, "max_steps": int(trainer.state.max_steps), "loss": losses[-1]}
    append_line(
        progress,
        {
            **done,
            "resumed_from": resumed_from,
            "manifest": str(out / MANIFEST),
            "seconds": round(fitted.seconds, 3),
            "time": time.time(),
        },
    )
    return result


def _diverged(history: list[dict[str, Any]], step: int, checkpoints: Path | None) -> str:
    """The message for a loss that is not finite at ``step``. Checkpoints after the last finite logged loss may
    hold broken weights (a loss is logged every logging_steps): they are removed, so a rerun (with, say, a lower
    learning_rate) resumes from a sound one."""
    loss = next((e["loss"] for e in history if e["step"] == step), float("nan"))
    good = max((int(e["step"]) for e in history if e["step"] < step and finite(e["loss"])), default=0)
    removed = drop_checkpoints_after(checkpoints, good) if checkpoints is not None else []
    note = f"; checkpoints after step {good} were removed" if removed else ""
    return (
        f"training diverged at step {step} (loss {loss}): lower learning_rate, or turn bf16 off; no result was "
        f"written{note}"
    )


def _result(
    config: RunConfig,
    out: Path,
    merged: Path | None,
    fitted: Fitted,
    resumed_from: int | None,
    data_sha256: str,
    rows: int,
) -> RunResult:
    return RunResult(
        output_dir=out,
        manifest=out / MANIFEST,
        adapter=out / ADAPTER_DIR / ADAPTER_FILE,
        merged=merged,
        model_card=out / MODEL_CARD,
        stage=config.stage,
        steps=fitted.steps,
        resumed_from=resumed_from,
        losses=fitted.losses,
        data_sha256=data_sha256,
        rows=rows,
        train_seconds=fitted.seconds,
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


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 done (a JSON summary on stdout), 2 bad config/data/checkpoint or a diverged loss,
    3 another process is already running this output_dir."""

    def add_arguments(parser: Any, modes: Any) -> None:
        parser.add_argument("--progress", help="append progress lines (JSONL) to this file")

    def work(args: Any) -> str | None:
        result = run(RunConfig.from_file(args.config), progress_path=args.progress)
        return result_json(result) if is_main_process() else None

    return command_line(
        argv,
        name="policy",
        description="Run one stage (SFT or DPO, LoRA) of MedES policy alignment; resumes from the newest "
        "checkpoint in output_dir. Prints the result as JSON.",
        config_class=RunConfig,
        work=work,
        add_arguments=add_arguments,
    )


if __name__ == "__main__":
    sys.exit(main())

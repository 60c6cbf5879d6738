"""TRL's SFT and DPO stages, each training a fresh LoRA adapter on a causal LM: the one training path of the
policy runs (``alignment.training.policy``) and of the guardian's critic (``alignment.training.critic``).

The caller loads the tokenizer and the model (``common.load_tokenizer``/``load_causal_lm``) and reads its rows;
this module builds the trainer (arguments, loss mask, LoRA passed as ``peft_config``, a stop at the first loss
that is not finite), runs it, resuming from a checkpoint when asked, and returns what it logged. Publishing the
adapter is the caller's (``common.publish_adapter``), as is what a diverged loss means for its files.

SFT keeps the loss on the assistant's turns: with TRL's ``assistant_only_loss`` where the chat template has (or
TRL can patch in) ``{% generation %}`` markers, otherwise as prompt/completion pairs whose completion is the last
assistant turn. Nothing here imports torch/transformers/trl/datasets at module level.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignment.training.config import LoraArgs, TrainArgs, gettext_noop, knob
from alignment.training.errors import ConfigError

ASSISTANT_ONLY = "assistant_only"
COMPLETION_ONLY = "completion_only"
DPO_METRICS = (
    "rewards/margins",
    "rewards/accuracies",
    "rewards/chosen",
    "rewards/rejected",
    "logps/chosen",
    "logps/rejected",
)


@dataclass(kw_only=True)
class StageArgs(LoraArgs, TrainArgs):
    """The knobs of a TRL stage: the shared training and LoRA knobs, and gradient accumulation."""

    gradient_accumulation_steps: int = knob(
        1,
        help=gettext_noop("Batches per optimiser step."),
        label=gettext_noop("gradient accumulation"),
        min=1,
        max=4096,
    )


@dataclass(frozen=True)
class Fitted:
    """A stage that has run: its trainer (the PeftModel is ``trainer.model``), the training-step log entries
    (checkpoints' history included after a resume), the steps whose loss was not finite, and the time it took."""

    trainer: Any
    history: list[dict[str, Any]]
    bad_steps: list[int]
    seconds: float

    @property
    def losses(self) -> list[float]:
        return [float(e["loss"]) for e in self.history]

    @property
    def steps(self) -> int:
        return int(self.trainer.state.global_step)


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def loss_mask(tokenizer: Any) -> str:
    """How SFT keeps the loss to the assistant's answers: ``ASSISTANT_ONLY`` when TRL can mask by the chat
    template's ``{% generation %}`` markers (or patch them into a template it knows: Qwen2.5, Llama 3…),
    otherwise ``COMPLETION_ONLY`` (prompt/completion pairs)."""
    from trl.chat_template_utils import get_training_chat_template

    try:
        get_training_chat_template(tokenizer)
    except ValueError:
        return COMPLETION_ONLY
    return ASSISTANT_ONLY


def sft_rows(rows: Sequence[dict[str, Any]], mask: str) -> list[dict[str, Any]]:
    """Chat rows ``{"messages": [...]}`` as SFTTrainer reads them under ``mask``: as they are, or split before
    the last assistant turn into ``{"prompt", "completion"}``."""
    if mask == ASSISTANT_ONLY:
        return list(rows)
    out = []
    for row in rows:
        messages = row["messages"]
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        out.append({"prompt": messages[:last], "completion": [messages[last]]})
    return out


def history(log_history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The training-step log entries, metrics kept."""
    keep = ("step", "epoch", "loss", "learning_rate", "grad_norm", *DPO_METRICS)
    return [{k: e[k] for k in keep if k in e} for e in log_history if "loss" in e]


def trainer_arguments(
    config: StageArgs,
    output_dir: Path,
    *,
    logging_steps: int = 1,
    save_steps: int = 0,
    save_total_limit: int = 2,
    activation_checkpointing: bool = False,
) -> dict[str, Any]:
    """The SFTConfig/DPOConfig arguments both stages share; checkpoints go to ``output_dir``."""
    return {
        "output_dir": str(output_dir),
        "use_cpu": config.device == "cpu",
        "bf16": config.bf16,
        # TRL defaults to checkpointing (under its deprecated name gradient_checkpointing): it is a knob here,
        # off unless asked for, as LoRA's activations usually fit without it and it slows CPU training.
        "activation_checkpointing": activation_checkpointing,
        # the seed fixes the LoRA initialisation, dropout and (data_seed) the order of the rows: the same config
        # trains the same adapter, byte for byte, on the same machine (tests/test_training_determinism.py)
        "seed": config.seed,
        "data_seed": config.seed,
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "learning_rate": config.learning_rate,
        "max_length": config.max_length,
        "logging_steps": logging_steps,
        "logging_strategy": "steps",
        # Trainer's default filter replaces a NaN/inf loss by the running mean before logging it: off, so a
        # diverged run is seen and refused.
        "logging_nan_inf_filter": False,
        "save_strategy": "steps" if save_steps else "no",
        "save_steps": save_steps or 500,
        "save_total_limit": save_total_limit,
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def sft_trainer(
    config: StageArgs,
    model: Any,
    tokenizer: Any,
    rows: Sequence[dict[str, Any]],
    arguments: dict[str, Any],
    *,
    mask: str,
    callbacks: Sequence[Any] = (),
    what: str,
) -> Any:
    """An SFTTrainer on chat rows with a fresh LoRA adapter; ``what`` ("the critic") names the training in the
    ConfigError raised when LoRA does not fit the model."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        **arguments,
        packing=False,
        assistant_only_loss=mask == ASSISTANT_ONLY,
        completion_only_loss=mask == COMPLETION_ONLY,
    )
    try:
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(sft_rows(rows, mask)),
            processing_class=tokenizer,
            peft_config=config.to_peft_config("CAUSAL_LM"),
            callbacks=[_stop_on_divergence(), *callbacks],
        )
    except ValueError as exc:  # e.g. target_modules the architecture does not have
        raise ConfigError(f"{what} cannot be trained on {config.base_model}: {exc}") from None
    return _quiet(trainer)


def dpo_trainer(
    config: StageArgs,
    model: Any,
    tokenizer: Any,
    rows: Sequence[dict[str, Any]],
    arguments: dict[str, Any],
    *,
    beta: float,
    loss_types: list[str],
    callbacks: Sequence[Any] = (),
    what: str,
) -> Any:
    """A DPOTrainer on preference rows with a fresh LoRA adapter. ``ref_model=None`` with ``peft_config``: the
    reference is this model with the new adapter disabled."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(**arguments, beta=beta, loss_type=loss_types)
    try:
        trainer = DPOTrainer(
            model=model,
            ref_model=None,
            args=args,
            train_dataset=Dataset.from_list(list(rows)),
            processing_class=tokenizer,
            peft_config=config.to_peft_config("CAUSAL_LM"),
            callbacks=[_stop_on_divergence(), *callbacks],
        )
    except ValueError as exc:
        raise ConfigError(f"{what} cannot be trained on {config.base_model}: {exc}") from None
    return _quiet(trainer)


def fit(trainer: Any, *, resume_from: Path | None = None) -> Fitted:
    """Train (from ``resume_from``'s checkpoint when given) and collect what was logged."""
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
    seconds = time.perf_counter() - started
    entries = history(trainer.state.log_history)
    bad = sorted({int(e["step"]) for e in entries if not finite(e["loss"])})
    return Fitted(trainer=trainer, history=entries, bad_steps=bad, seconds=seconds)


def _quiet(trainer: Any) -> Any:
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it prints every log line to stdout, which the CLIs keep for JSON
    return trainer


def _stop_on_divergence() -> Any:
    from transformers import TrainerCallback

    class StopOnDivergence(TrainerCallback):
        """Stop at the first logged loss that is not finite: every later step would train on broken weights."""

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and "loss" in logs and not finite(logs["loss"]):
                control.should_training_stop = True

    return StopOnDivergence()

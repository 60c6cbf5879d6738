"""Train the guardian scorer on accepted labels, and load a trained one to judge responses.

    python -m alignment.training.guardian --config config.json

The scorer is ``AutoModelForSequenceClassification`` over the six MedES scores as six binary flags
(``problem_type="multi_label_classification"``: R1/R2 "is −1", Q1–Q4 "is 1"), fine-tuned with LoRA (peft) from
a base model directory; the classifier head is trained in full through ``modules_to_save``. A trained guardian
is a directory::

    guardian.json                      manifest: base dir + fingerprint, labels, config, data hash, metrics
    adapter/adapter_model.safetensors  LoRA weights and the classifier head (safetensors only)
    adapter/adapter_config.json
    split.json                         the frozen split (scenario -> split) and its data hash
    predictions.jsonl                  test-split probabilities beside the gold scores
    metrics.json                       compute_metrics(predictions) — recomputable from predictions.jsonl

The manifest is written last, so a directory without one is an unfinished training. ``load``/``predict``
check the manifest, the adapter's sha256 and the base's fingerprint before any tensor is read, and refuse
anything else with ``CheckpointError``. Nothing here imports Django; torch/transformers/peft/sklearn are
imported inside functions so importing this module is cheap.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignment.training.configs import JsonConfig
from alignment.training.errors import CheckpointError, ConfigError, DataError, GuardianError
from alignment.training.guardian_data import (
    FLAG_VALUE,
    RISK_KEYS,
    SCORE_KEYS,
    TEXT_FORMAT,
    LabeledRow,
    Split,
    flags,
    input_texts,
    read_frozen_assignment,
    read_rows,
    split_rows,
)
from alignment.training.guardian_metrics import compute_metrics, predicted_scores

log = logging.getLogger(__name__)

MANIFEST = "guardian.json"
MANIFEST_FORMAT = "medes-guardian/1"
ADAPTER_DIR = "adapter"
ADAPTER_FILE = "adapter_model.safetensors"
_FINGERPRINT_CHUNK = 1 << 20  # bytes read from each end of every base weight file


@dataclass
class GuardianConfig(JsonConfig):
    """One guardian training. Field help is in ``metadata["help"]`` (the CLI's ``--help`` lists it)."""

    base_model: str = field(metadata={"help": "Base model directory (config.json + *.safetensors + tokenizer)."})
    output_dir: str = field(metadata={"help": "Where the trained guardian is written; must not hold one already."})
    data: str = field(metadata={"help": "JSONL of accepted labels (see guardian_data)."})
    frozen_split: str | None = field(
        default=None, metadata={"help": "split.json of an earlier training: its scenarios keep their split."}
    )
    seed: int = field(default=0, metadata={"help": "Seed for the split, the head's initialisation and data order."})
    validation_fraction: float = field(default=0.1, metadata={"help": "Share of rows held out for validation."})
    test_fraction: float = field(default=0.2, metadata={"help": "Share of rows held out for the test metrics."})
    epochs: float = field(default=3.0, metadata={"help": "Training epochs (ignored when max_steps > 0)."})
    max_steps: int = field(default=-1, metadata={"help": "Optimiser steps; -1 trains for `epochs`."})
    learning_rate: float = field(default=5e-4, metadata={"help": "AdamW learning rate (LoRA wants ~1e-4..5e-3)."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.0, metadata={"help": "Share of steps with linear warm-up."})
    batch_size: int = field(default=8, metadata={"help": "Training batch size per device."})
    eval_batch_size: int = field(default=32, metadata={"help": "Batch size for validation and prediction."})
    max_length: int = field(
        default=512, metadata={"help": "Tokens per input; longer inputs lose their longest part's end."}
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA path."})
    target_modules: list[str] | str | None = field(
        default=None,
        metadata={"help": "Modules that get LoRA: a list of names, 'all-linear', or null for peft's default."},
    )
    device: str = field(default="cpu", metadata={"help": "'cpu' or 'cuda'."})
    bf16: bool = field(default=False, metadata={"help": "bf16 mixed precision (cuda only)."})
    threshold: float = field(default=0.5, metadata={"help": "A score's flag is predicted at probability >= this."})
    save_steps: int = field(default=0, metadata={"help": "Keep a resumable checkpoint every N steps; 0: none."})
    resume: bool = field(default=False, metadata={"help": "Continue from the newest checkpoint in output_dir."})
    compare_with: str | None = field(
        default=None,
        metadata={"help": "A trained guardian (the active version) scored on the same test split, for comparison."},
    )

    def validate(self) -> None:
        """Ranges and paths; raises ConfigError listing every problem."""
        errors = []
        checks = [
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.batch_size >= 1 and self.eval_batch_size >= 1, "batch sizes must be >= 1"),
            (self.max_steps > 0 or self.epochs > 0, "set epochs > 0 or max_steps > 0"),
            (self.max_length >= 8, "max_length must be >= 8"),
            (self.lora_r >= 1 and self.lora_alpha >= 1, "lora_r and lora_alpha must be >= 1"),
            (0 <= self.lora_dropout < 1, "lora_dropout must be in [0, 1)"),
            (0 <= self.validation_fraction < 1, "validation_fraction must be in [0, 1)"),
            (0 < self.test_fraction < 1, "test_fraction must be in (0, 1): the test split decides promotions"),
            (self.validation_fraction + self.test_fraction < 1, "validation + test fractions must leave training"),
            (0 < self.threshold < 1, "threshold must be in (0, 1)"),
            (self.device in ("cpu", "cuda"), "device must be 'cpu' or 'cuda'"),
            (not (self.bf16 and self.device == "cpu"), "bf16 needs device 'cuda'"),
            (self.save_steps >= 0, "save_steps must be >= 0"),
            (self.weight_decay >= 0 and 0 <= self.warmup_ratio < 1, "weight_decay >= 0 and warmup_ratio in [0, 1)"),
        ]
        errors = [message for ok, message in checks if not ok]
        if isinstance(self.target_modules, str) and self.target_modules != "all-linear":
            errors.append("target_modules must be a list of module names, 'all-linear' or null")
        if not (Path(self.base_model) / "config.json").is_file():
            errors.append(f"base_model {self.base_model}: not a model directory (no config.json)")
        if not Path(self.data).is_file():
            errors.append(f"data {self.data}: no such file")
        if self.frozen_split is not None and not Path(self.frozen_split).is_file():
            errors.append(f"frozen_split {self.frozen_split}: no such file")
        if (Path(self.output_dir) / MANIFEST).exists():  # resume continues an unfinished training only
            errors.append(f"output_dir {self.output_dir} already holds a trained guardian; choose a new directory")
        if errors:
            raise ConfigError("; ".join(errors))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GuardianResult:
    model_dir: Path
    manifest: Path
    adapter: Path
    predictions: Path
    split: Path
    metrics: dict[str, Any]
    data_hash: str
    counts: dict[str, dict[str, int]]
    train_seconds: float
    losses: list[float]
    # compare_with's guardian on the same test split: {"model_dir", "metrics", "predictions"} or {"model_dir", "error"}
    baseline: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_dir": str(self.model_dir),
            "manifest": str(self.manifest),
            "adapter": str(self.adapter),
            "predictions": str(self.predictions),
            "split": str(self.split),
            "metrics": self.metrics,
            "data_hash": self.data_hash,
            "counts": self.counts,
            "train_seconds": round(self.train_seconds, 3),
            "losses": self.losses,
            "baseline": self.baseline,
        }


# --- base model and tokenizer ------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def base_fingerprint(base_model: str | Path) -> str:
    """sha256 over the base's canonical config.json, its tokenizer files, and for every *.safetensors file its
    name, size and first and last MiB. Reading whole 15 GB weights on every judging job would take a minute;
    the ends of each file differ between any two differently trained or initialised bases, so this tells bases
    apart at the cost of a few reads. (A deliberately forged file with equal ends would pass: this guards
    against mix-ups, not attacks — the artifacts directory is trusted storage.)"""
    base = Path(base_model)
    try:
        config = json.loads((base / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"base model {base}: config.json unreadable ({exc})") from None
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if (base / name).is_file():
            digest.update(f"\0{name}\0{_sha256_file(base / name)}".encode())
    weights = sorted(base.glob("*.safetensors"))
    if not weights:
        raise CheckpointError(f"base model {base}: no *.safetensors weights (only safetensors are loaded)")
    for path in weights:
        size = path.stat().st_size
        digest.update(f"\0{path.name}\0{size}\0".encode())
        with path.open("rb") as f:
            digest.update(f.read(_FINGERPRINT_CHUNK))
            f.seek(max(0, size - _FINGERPRINT_CHUNK))
            digest.update(f.read(_FINGERPRINT_CHUNK))
    return digest.hexdigest()


def _load_tokenizer(base_model: str | Path) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(base_model), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"base model {base_model}: tokenizer cannot be loaded ({exc})") from None
    if tokenizer.pad_token is None:
        # Causal LMs (Qwen2.5…) often ship without a pad token; batches need one and the classifier pools the
        # last non-pad token, so the end-of-text token is the usual choice.
        if tokenizer.eos_token is None:
            raise CheckpointError(f"base model {base_model}: the tokenizer has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_base(base_model: str | Path, tokenizer: Any, device: str, bf16: bool) -> Any:
    import torch
    from transformers import AutoModelForSequenceClassification

    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(base_model),
            num_labels=len(SCORE_KEYS),
            problem_type="multi_label_classification",
            id2label=dict(enumerate(SCORE_KEYS)),
            label2id={k: i for i, k in enumerate(SCORE_KEYS)},
            # A base that already has a head of another size (a causal LM has none) gets a fresh one.
            ignore_mismatched_sizes=True,
            use_safetensors=True,
            local_files_only=True,
            dtype=torch.bfloat16 if bf16 else torch.float32,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"base model {base_model} cannot be loaded: {exc}") from None
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device)


def _head_name(model: Any) -> str:
    for name in ("score", "classifier"):
        if hasattr(model, name):
            return name
    raise CheckpointError(f"{type(model).__name__} has no 'score' or 'classifier' head to train")


# --- encoding and prediction -------------------------------------------------------------------------------


def _texts(row: Mapping[str, Any] | LabeledRow) -> tuple[str, str]:
    get = (lambda k: getattr(row, k)) if isinstance(row, LabeledRow) else row.__getitem__
    return input_texts(get("scene"), get("norm"), get("scenario"), get("response"))


def _encode(tokenizer: Any, rows: Sequence[Mapping[str, Any] | LabeledRow], max_length: int, **kw: Any) -> Any:
    contexts, responses = zip(*(_texts(r) for r in rows), strict=True)
    # "longest_first" trims whichever of context/response is longer, so the answer is never cut away whole.
    return tokenizer(list(contexts), list(responses), truncation="longest_first", max_length=max_length, **kw)


class _Rows:
    """A map-style dataset of encoded training rows (Trainer needs only __len__/__getitem__)."""

    def __init__(self, rows: Sequence[LabeledRow], tokenizer: Any, max_length: int) -> None:
        self.encoded = _encode(tokenizer, rows, max_length)
        self.labels = [flags(r.scores) for r in rows]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "input_ids": self.encoded["input_ids"][i],
            "attention_mask": self.encoded["attention_mask"][i],
            "labels": self.labels[i],
        }


def _probabilities(
    model: Any, tokenizer: Any, rows: Sequence[Any], max_length: int, batch_size: int
) -> list[list[float]]:
    import torch

    device = next(model.parameters()).device
    # Longest first in length-sorted batches: little padding, and an out-of-memory shows up on the first batch.
    order = sorted(range(len(rows)), key=lambda i: -sum(len(t) for t in _texts(rows[i])))
    out: list[list[float]] = [[] for _ in rows]
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            enc = _encode(tokenizer, [rows[i] for i in batch], max_length, padding=True, return_tensors="pt")
            logits = model(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device))
            for i, p in zip(batch, torch.sigmoid(logits.logits.float()).cpu().tolist(), strict=True):
                out[i] = p
    return out


def judgement(probabilities: Sequence[float], threshold: float) -> dict[str, Any]:
    """One response's output: a probability per score's flag, the scores they give, and the risk flag."""
    probs = {k: round(float(p), 6) for k, p in zip(SCORE_KEYS, probabilities, strict=True)}
    risk_probability = max(probs[k] for k in RISK_KEYS)
    scores = predicted_scores(probs, threshold)
    return {
        "probabilities": probs,
        "scores": scores,
        "risky": any(scores[k] == FLAG_VALUE[k] for k in RISK_KEYS),
        "risk_probability": risk_probability,
    }


# --- training ----------------------------------------------------------------------------------------------


@dataclass
class TrainedScorer:
    """A freshly trained scorer in memory: the peft model (base frozen, LoRA + head trained) and its tokenizer."""

    model: Any
    tokenizer: Any
    head: str
    losses: list[float]
    eval_losses: list[float]
    steps: int
    seconds: float


def _peft_config(config: GuardianConfig, head: str) -> Any:
    from peft import LoraConfig, TaskType

    return LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules,
        modules_to_save=[head],
    )


def train(config: GuardianConfig, split: Split, *, callbacks: Sequence[Any] = ()) -> TrainedScorer:
    """Fine-tune LoRA + head on ``split.train`` (validation loss per epoch when there is a validation split).

    transformers' Trainer rather than a hand-written loop: the job side reports progress and heartbeats through
    a ``TrainerCallback`` (pass it in ``callbacks``), resumable checkpoints come for free (and their optimizer/
    RNG state is loaded with ``weights_only=True``), and the same code runs under ``accelerate launch`` on
    several GPUs. A plain loop would have to re-implement all three.
    """
    import torch
    from peft import get_peft_model
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments, set_seed
    from transformers.trainer_callback import PrinterCallback

    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA device")
    set_seed(config.seed)  # before loading: a base without a 6-way head gets a seeded fresh one
    tokenizer = _load_tokenizer(config.base_model)
    base = _load_base(config.base_model, tokenizer, config.device, config.bf16)
    head = _head_name(base)
    try:
        model = get_peft_model(base, _peft_config(config, head))
    except ValueError as exc:  # e.g. target_modules that the architecture does not have
        raise ConfigError(f"LoRA cannot be applied to {config.base_model}: {exc}") from None

    losses: list[float] = []
    eval_losses: list[float] = []

    class History(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
            if logs and "eval_loss" in logs:
                eval_losses.append(float(logs["eval_loss"]))

    checkpoints = Path(config.output_dir) / "checkpoints"
    has_validation = bool(split.validation)
    args = TrainingArguments(
        output_dir=str(checkpoints),
        use_cpu=config.device == "cpu",
        bf16=config.bf16,
        seed=config.seed,
        data_seed=config.seed,  # the order of the rows too: the same config trains the same guardian
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,  # v5: a float < 1 is a ratio
        logging_steps=1,
        logging_strategy="steps",
        eval_strategy="epoch" if has_validation else "no",
        save_strategy="steps" if config.save_steps else "no",
        save_steps=config.save_steps or 500,
        save_total_limit=2,
        report_to="none",
        disable_tqdm=True,
        label_names=["labels"],
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model,
        args=args,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        train_dataset=_Rows(split.train, tokenizer, config.max_length),
        eval_dataset=_Rows(split.validation, tokenizer, config.max_length) if has_validation else None,
        callbacks=[History(), *callbacks],
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log line to stdout, which the CLI keeps for JSON
    resume = config.resume and any(checkpoints.glob("checkpoint-*"))
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=True if resume else None)
    seconds = time.perf_counter() - started
    model.eval()
    return TrainedScorer(
        model=model,
        tokenizer=tokenizer,
        head=head,
        losses=losses,
        eval_losses=eval_losses,
        steps=int(trainer.state.global_step),
        seconds=seconds,
    )


def prediction_records(
    model: Any, tokenizer: Any, rows: Sequence[LabeledRow], *, max_length: int, batch_size: int
) -> list[dict[str, Any]]:
    """What ``predictions.jsonl`` stores: ids, gold scores and the flag probabilities, in ``rows`` order."""
    probabilities = _probabilities(model, tokenizer, rows, max_length, batch_size)
    return [
        {
            "id": r.id,
            "scenario_id": r.scenario_id,
            "scene": r.scene,
            "gold": dict(r.scores),
            "probabilities": {k: round(float(v), 6) for k, v in zip(SCORE_KEYS, p, strict=True)},
        }
        for r, p in zip(rows, probabilities, strict=True)
    ]


def _write_json(path: Path, data: Any) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as f:
        json.dump(data, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")
    os.chmod(f.name, 0o644)  # temporary files are created private; the web process reads these
    os.replace(f.name, path)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "peft"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def run(config: GuardianConfig, *, callbacks: Sequence[Any] = ()) -> GuardianResult:
    """Read the labels, split them, train, score the test split, and write the guardian directory."""
    config.validate()
    rows = read_rows(config.data)
    frozen = read_frozen_assignment(config.frozen_split) if config.frozen_split else None
    split = split_rows(
        rows,
        seed=config.seed,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        frozen=frozen,
    )
    log.info("guardian data %s: %s", split.data_hash[:12], split.counts())
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    fingerprint = base_fingerprint(config.base_model)
    trained = train(config, split, callbacks=callbacks)
    log.info("guardian trained: %d steps in %.1f s", trained.steps, trained.seconds)

    records = prediction_records(
        trained.model, trained.tokenizer, split.test, max_length=config.max_length, batch_size=config.eval_batch_size
    )
    metrics = compute_metrics(records, threshold=config.threshold)
    baseline = _baseline(config, split, out) if config.compare_with else None

    adapter_dir = out / ADAPTER_DIR
    staging = Path(tempfile.mkdtemp(prefix=".adapter-", dir=out))
    trained.model.save_pretrained(str(staging), safe_serialization=True)
    staging.chmod(0o755)  # mkdtemp makes it private; the web process and judging workers read it
    if adapter_dir.exists():
        shutil.rmtree(adapter_dir)
    staging.rename(adapter_dir)
    # Resumable checkpoints (optimizer state included) are only for an interrupted run; the adapter is the result.
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    predictions = out / "predictions.jsonl"
    predictions.write_text(
        "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records), encoding="utf-8"
    )
    _write_json(out / "split.json", split.as_dict())
    _write_json(out / "metrics.json", metrics)
    manifest = {
        "format": MANIFEST_FORMAT,
        "text_format": TEXT_FORMAT,
        "labels": list(SCORE_KEYS),
        "flag_values": FLAG_VALUE,
        "base_model": str(Path(config.base_model).resolve()),
        "base_fingerprint": fingerprint,
        "base_config_sha256": _sha256_file(Path(config.base_model) / "config.json"),
        "base_architectures": list(trained.model.get_base_model().config.architectures or []),
        "head": trained.head,
        "adapter": {"path": f"{ADAPTER_DIR}/{ADAPTER_FILE}", "sha256": _sha256_file(adapter_dir / ADAPTER_FILE)},
        "threshold": config.threshold,
        "max_length": config.max_length,
        "config": config.as_dict(),
        "data_hash": split.data_hash,
        "split": split.counts(),
        "metrics": metrics,
        "baseline": baseline,
        "train": {
            "seconds": round(trained.seconds, 3),
            "steps": trained.steps,
            "losses": trained.losses,
            "eval_losses": trained.eval_losses,
        },
        "versions": _versions(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    _write_json(out / MANIFEST, manifest)  # last: its presence marks a complete guardian
    return GuardianResult(
        model_dir=out,
        manifest=out / MANIFEST,
        adapter=adapter_dir / ADAPTER_FILE,
        predictions=predictions,
        split=out / "split.json",
        metrics=metrics,
        data_hash=split.data_hash,
        counts=split.counts(),
        train_seconds=trained.seconds,
        losses=trained.losses,
        baseline=baseline,
    )


def _baseline(config: GuardianConfig, split: Split, out: Path) -> dict[str, Any]:
    """The compared guardian's metrics on this training's test split, its predictions stored beside ours. A
    guardian that cannot be loaded is recorded with the reason: it must not fail the new training."""
    model_dir = str(config.compare_with)
    try:
        records, metrics = evaluate(model_dir, split.test, device=config.device, batch_size=config.eval_batch_size)
    except GuardianError as exc:
        log.warning("baseline guardian %s refused: %s", model_dir, exc)
        return {"model_dir": model_dir, "error": str(exc)}
    path = out / "baseline_predictions.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records), encoding="utf-8"
    )
    return {"model_dir": model_dir, "metrics": metrics, "predictions": str(path)}


# --- loading a trained guardian ----------------------------------------------------------------------------


def read_manifest(model_dir: str | Path) -> dict[str, Any]:
    """The manifest of a trained guardian, checked for shape; raises CheckpointError."""
    path = Path(model_dir) / MANIFEST
    if not Path(model_dir).is_dir():
        raise CheckpointError(f"guardian {model_dir}: no such directory")
    if not path.is_file():
        raise CheckpointError(f"guardian {model_dir}: no {MANIFEST} (not a guardian, or its training did not finish)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"guardian {model_dir}: {MANIFEST} is corrupted ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise CheckpointError(f"guardian {model_dir}: {MANIFEST} is not a {MANIFEST_FORMAT} manifest")
    if manifest.get("labels") != list(SCORE_KEYS):
        raise CheckpointError(
            f"guardian {model_dir}: trained for labels {manifest.get('labels')}, expected {list(SCORE_KEYS)}"
        )
    if manifest.get("text_format") != TEXT_FORMAT:
        raise CheckpointError(f"guardian {model_dir}: input format {manifest.get('text_format')} != {TEXT_FORMAT}")
    return manifest


def _check_adapter(model_dir: Path, manifest: dict[str, Any]) -> Path:
    adapter_dir = model_dir / ADAPTER_DIR
    path = adapter_dir / ADAPTER_FILE
    if not path.is_file():
        others = sorted(p.name for p in adapter_dir.glob("adapter_model.*")) if adapter_dir.is_dir() else []
        hint = f" (found {', '.join(others)}: only safetensors are loaded)" if others else ""
        raise CheckpointError(f"guardian {model_dir}: adapter weights {ADAPTER_FILE} are missing{hint}")
    if not (adapter_dir / "adapter_config.json").is_file():
        raise CheckpointError(f"guardian {model_dir}: adapter_config.json is missing")
    expected = (manifest.get("adapter") or {}).get("sha256")
    if _sha256_file(path) != expected:
        raise CheckpointError(f"guardian {model_dir}: {ADAPTER_FILE} is corrupted (sha256 differs from the manifest)")
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            shapes = {key: f.get_slice(key).get_shape() for key in f.keys()}  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"guardian {model_dir}: {ADAPTER_FILE} is not a readable safetensors file ({exc})"
        ) from None
    head = manifest.get("head", "")
    head_weights = [shape for key, shape in shapes.items() if key.endswith(f".{head}.weight")]
    if not head_weights:
        raise CheckpointError(f"guardian {model_dir}: the adapter holds no trained '{head}' head")
    if any(shape[0] != len(SCORE_KEYS) for shape in head_weights):
        raise CheckpointError(
            f"guardian {model_dir}: its head scores {head_weights[0][0]} labels, expected {len(SCORE_KEYS)}"
        )
    return path


def verify(model_dir: str | Path) -> dict[str, Any]:
    """Check a trained guardian's files without loading a model: the manifest, the adapter's checksum and that
    it is readable safetensors with the six-score head. Returns the manifest; raises CheckpointError."""
    manifest = read_manifest(model_dir)
    _check_adapter(Path(model_dir), manifest)
    return manifest


class Guardian:
    """A trained guardian, loaded once, scoring many responses (what a judging job holds on to)."""

    def __init__(self, model: Any, tokenizer: Any, manifest: dict[str, Any], model_dir: Path) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.model_dir = model_dir
        self.threshold = float(manifest["threshold"])
        self.max_length = int(manifest["max_length"])

    def predict(self, rows: Sequence[Mapping[str, Any]], *, batch_size: int = 16) -> list[dict[str, Any]]:
        """Per row (a mapping with scene, norm, scenario, response and optionally id): the row's id and
        ``judgement``: flag probabilities, scores, risky, risk_probability (max of R1/R2's)."""
        for n, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise DataError(f"row {n}: expected an object")
            bad = [k for k in ("scene", "norm", "scenario", "response") if not isinstance(row.get(k), str)]
            if bad:
                raise DataError(f"row {n}: {', '.join(bad)} must be text")
        if not rows:
            return []
        probabilities = _probabilities(self.model, self.tokenizer, rows, self.max_length, batch_size)
        return [
            {"id": row.get("id"), **judgement(p, self.threshold)} for row, p in zip(rows, probabilities, strict=True)
        ]


def load(model_dir: str | Path, *, base_model: str | Path | None = None, device: str = "cpu") -> Guardian:
    """Load a trained guardian after checking manifest, adapter checksum and base fingerprint.

    ``base_model`` overrides the directory in the manifest (a base moved to other storage); it must be the
    same base, byte for byte in what the fingerprint reads. Raises CheckpointError on anything that does not
    fit, with the reason; nothing is half-loaded.
    """
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    _check_adapter(model_dir, manifest)
    base = Path(base_model) if base_model is not None else Path(str(manifest.get("base_model", "")))
    if not (base / "config.json").is_file():
        raise CheckpointError(f"guardian {model_dir}: its base model {base} is missing")
    if base_fingerprint(base) != manifest.get("base_fingerprint"):
        raise CheckpointError(
            f"guardian {model_dir} was trained on another base model than {base} (fingerprints differ)"
        )
    from peft import PeftModel

    tokenizer = _load_tokenizer(base)
    model = _load_base(base, tokenizer, device, bf16=False)
    try:
        # The checks above found adapter_model.safetensors, which peft prefers over any pickle file.
        model = PeftModel.from_pretrained(model, str(model_dir / ADAPTER_DIR), is_trainable=False)
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise CheckpointError(f"guardian {model_dir}: the adapter does not fit base {base} ({exc})") from None
    model.eval()
    return Guardian(model, tokenizer, manifest, model_dir)


def evaluate(
    model_dir: str | Path,
    rows: Sequence[LabeledRow],
    *,
    base_model: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 32,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Score labeled rows with a trained guardian: its prediction records and their metrics (at its own
    threshold). This is how an active version is measured on a new version's test split."""
    judge = load(model_dir, base_model=base_model, device=device)
    records = prediction_records(judge.model, judge.tokenizer, rows, max_length=judge.max_length, batch_size=batch_size)
    return records, compute_metrics(records, threshold=judge.threshold)


def predict(
    model_dir: str | Path,
    rows: Sequence[Mapping[str, Any]],
    *,
    base_model: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 16,
) -> list[dict[str, Any]]:
    """Load the guardian in ``model_dir`` and score ``rows`` (see ``Guardian.predict``)."""
    return load(model_dir, base_model=base_model, device=device).predict(rows, batch_size=batch_size)


# --- CLI ---------------------------------------------------------------------------------------------------


def _config_help() -> str:
    lines = []
    for f in dataclasses.fields(GuardianConfig):
        default = "required" if f.default is dataclasses.MISSING else f"default {json.dumps(f.default)}"
        lines.append(f"  {f.name} ({default}): {f.metadata['help']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m alignment.training.guardian",
        description="Train the MedES guardian on exported accepted labels (JSONL); prints the result as JSON.",
        epilog="config fields:\n" + _config_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, help="JSON file with the GuardianConfig fields")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no code path here downloads anything
    try:
        config = GuardianConfig.from_file(args.config)
        result = run(config)
    except GuardianError as exc:
        print(f"guardian: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

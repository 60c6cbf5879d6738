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

import datetime as dt
import logging
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignment.training import common
from alignment.training.common import (
    ADAPTER_DIR,
    ADAPTER_FILE,
    base_fingerprint,
    check_adapter,
    checked_base,
    load_adapter,
    load_sequence_classifier,
    load_tokenizer,
    sha256_file,
    write_json,
    write_jsonl,
)
from alignment.training.config import LoraArgs, TrainArgs, gettext_noop, knob, retune
from alignment.training.errors import CheckpointError, ConfigError, DataError, TrainingError
from alignment.training.guardian_data import (
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
from rubric import FLAG_VALUE, RISK_KEYS, SCORE_KEYS

log = logging.getLogger(__name__)

MANIFEST = "guardian.json"
MANIFEST_FORMAT = "medes-guardian/1"
_VERSIONS = ("torch", "transformers", "peft")


@dataclass(kw_only=True)
class GuardianConfig(LoraArgs, TrainArgs):
    """One guardian training. Field help is in ``metadata["help"]`` (the CLI's ``--help`` lists it); the bounds
    are the training form's."""

    output_dir: str = retune(
        TrainArgs, "output_dir", help=gettext_noop("Where the trained guardian is written; must not hold one already.")
    )
    data: str = retune(TrainArgs, "data", help=gettext_noop("JSONL of accepted labels (see guardian_data)."))
    frozen_split: str | None = knob(
        None,
        help=gettext_noop("split.json of an earlier training: its scenarios keep their split."),
        label=gettext_noop("frozen split"),
    )
    seed: int = retune(
        TrainArgs, "seed", 0, help=gettext_noop("Seed for the split, the head's initialisation and data order.")
    )
    validation_fraction: float = knob(
        0.1, help=gettext_noop("Share of rows held out for validation."), label=gettext_noop("validation share")
    )
    test_fraction: float = knob(
        0.2, help=gettext_noop("Share of rows held out for the test metrics."), label=gettext_noop("test share")
    )
    epochs: float = retune(TrainArgs, "epochs", 3.0, min=0.1, max=100)
    learning_rate: float = retune(
        TrainArgs, "learning_rate", 5e-4, help=gettext_noop("AdamW learning rate (LoRA wants ~1e-4..5e-3)."), min=1e-7
    )
    weight_decay: float = knob(0.0, help=gettext_noop("AdamW weight decay."), label=gettext_noop("weight decay"), min=0)
    warmup_ratio: float = knob(
        0.0, help=gettext_noop("Share of steps with linear warm-up."), label=gettext_noop("warm-up share")
    )
    batch_size: int = retune(TrainArgs, "batch_size", 8, max=1024)
    eval_batch_size: int = knob(
        32,
        help=gettext_noop("Batch size for validation and prediction."),
        label=gettext_noop("evaluation batch size"),
        min=1,
    )
    max_length: int = retune(
        TrainArgs,
        "max_length",
        512,
        help=gettext_noop("Tokens per input; longer inputs lose their longest part's end."),
        max=32768,
    )
    lora_r: int = retune(LoraArgs, "lora_r", 8, max=512)
    threshold: float = knob(
        0.5, help=gettext_noop("A score's flag is predicted at probability >= this."), label=gettext_noop("threshold")
    )
    save_steps: int = knob(
        0,
        help=gettext_noop("Keep a resumable checkpoint every N steps; 0: none."),
        label=gettext_noop("checkpoint every N steps"),
        min=0,
        max=10_000_000,
    )
    resume: bool = knob(
        False, help=gettext_noop("Continue from the newest checkpoint in output_dir."), label=gettext_noop("resume")
    )
    compare_with: str | None = knob(
        None,
        help=gettext_noop("A trained guardian (the active version) scored on the same test split, for comparison."),
        label=gettext_noop("compare with"),
    )

    def problems(self) -> list[str]:
        checks = [
            (0 <= self.validation_fraction < 1, "validation_fraction must be in [0, 1)"),
            (0 < self.test_fraction < 1, "test_fraction must be in (0, 1): the test split decides promotions"),
            (self.validation_fraction + self.test_fraction < 1, "validation + test fractions must leave training"),
            (0 < self.threshold < 1, "threshold must be in (0, 1)"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
        ]
        return [*super().problems(), *(message for ok, message in checks if not ok)]

    def path_problems(self) -> list[str]:
        errors = super().path_problems()
        if self.frozen_split is not None and not Path(self.frozen_split).is_file():
            errors.append(f"frozen_split {self.frozen_split}: no such file")
        if (Path(self.output_dir) / MANIFEST).exists():  # resume continues an unfinished training only
            errors.append(f"output_dir {self.output_dir} already holds a trained guardian; choose a new directory")
        return errors


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


def _head_name(model: Any) -> str:
    for name in ("score", "classifier"):
        if hasattr(model, name):
            return name
    raise CheckpointError(f"{type(model).__name__} has no 'score' or 'classifier' head to train")


def train_scorer(config: GuardianConfig, split: Split, *, callbacks: Sequence[Any] = ()) -> TrainedScorer:
    """Fine-tune LoRA + head on ``split.train`` (validation loss per epoch when there is a validation split).

    transformers' Trainer rather than a hand-written loop: the job side reports progress and heartbeats through
    a ``TrainerCallback`` (pass it in ``callbacks``), resumable checkpoints come for free (and their optimizer/
    RNG state is loaded with ``weights_only=True``), and the same code runs under ``accelerate launch`` on
    several GPUs. A plain loop would have to re-implement all three.
    """
    from peft import get_peft_model
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments, set_seed
    from transformers.trainer_callback import PrinterCallback

    common.check_device(config.device)
    set_seed(config.seed)  # before loading: a base without a 6-way head gets a seeded fresh one
    tokenizer = load_tokenizer(config.base_model)
    base = load_sequence_classifier(config.base_model, tokenizer, SCORE_KEYS, device=config.device, bf16=config.bf16)
    head = _head_name(base)
    try:
        model = get_peft_model(base, config.to_peft_config("SEQ_CLS", modules_to_save=[head]))
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
    trained = train_scorer(config, split, callbacks=callbacks)
    log.info("guardian trained: %d steps in %.1f s", trained.steps, trained.seconds)

    records = prediction_records(
        trained.model, trained.tokenizer, split.test, max_length=config.max_length, batch_size=config.eval_batch_size
    )
    metrics = compute_metrics(records, threshold=config.threshold)
    baseline = _baseline(config, split, out) if config.compare_with else None

    adapter_dir = common.save_adapter(trained.model, out)
    # Resumable checkpoints (optimizer state included) are only for an interrupted run; the adapter is the result.
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    predictions = out / "predictions.jsonl"
    write_jsonl(predictions, records)
    write_json(out / "split.json", split.as_dict())
    write_json(out / "metrics.json", metrics)
    manifest = {
        "format": MANIFEST_FORMAT,
        "text_format": TEXT_FORMAT,
        "labels": list(SCORE_KEYS),
        "flag_values": FLAG_VALUE,
        "base_model": str(Path(config.base_model).resolve()),
        "base_fingerprint": fingerprint,
        "base_config_sha256": sha256_file(Path(config.base_model) / "config.json"),
        "base_architectures": list(trained.model.get_base_model().config.architectures or []),
        "head": trained.head,
        "adapter": {"path": f"{ADAPTER_DIR}/{ADAPTER_FILE}", "sha256": sha256_file(adapter_dir / ADAPTER_FILE)},
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
        "versions": common.library_versions(_VERSIONS),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    write_json(out / MANIFEST, manifest)  # last: its presence marks a complete guardian
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
    except TrainingError as exc:
        log.warning("baseline guardian %s refused: %s", model_dir, exc)
        return {"model_dir": model_dir, "error": str(exc)}
    path = out / "baseline_predictions.jsonl"
    write_jsonl(path, records)
    return {"model_dir": model_dir, "metrics": metrics, "predictions": str(path)}


# --- loading a trained guardian ----------------------------------------------------------------------------


def read_manifest(model_dir: str | Path) -> dict[str, Any]:
    """The manifest of a trained guardian, checked for shape; raises CheckpointError."""
    manifest = common.read_manifest(model_dir, what="guardian", name=MANIFEST, expected_format=MANIFEST_FORMAT)
    if manifest.get("labels") != list(SCORE_KEYS):
        raise CheckpointError(
            f"guardian {model_dir}: trained for labels {manifest.get('labels')}, expected {list(SCORE_KEYS)}"
        )
    if manifest.get("text_format") != TEXT_FORMAT:
        raise CheckpointError(f"guardian {model_dir}: input format {manifest.get('text_format')} != {TEXT_FORMAT}")
    return manifest


def _check_adapter(model_dir: Path, manifest: dict[str, Any]) -> Path:
    """common.check_adapter, then: readable safetensors holding the six-score head."""
    path = check_adapter(model_dir, manifest, what="guardian")
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
    base = checked_base(model_dir, manifest, base_model, what="guardian")
    tokenizer = load_tokenizer(base)
    model = load_sequence_classifier(base, tokenizer, SCORE_KEYS, device=device, bf16=False)
    model = load_adapter(model, model_dir, base, what="guardian")
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


def main(argv: Sequence[str] | None = None) -> int:
    return common.command_line(
        argv,
        name="guardian",
        description="Train the MedES guardian on exported accepted labels (JSONL); prints the result as JSON.",
        config_class=GuardianConfig,
        work=lambda args: common.result_json(run(GuardianConfig.from_file(args.config))),
    )


if __name__ == "__main__":
    sys.exit(main())

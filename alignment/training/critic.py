"""Train the guardian's critic on accepted labels' rationales, and load a trained one to write feedback.

    python -m alignment.training.critic --config config.json
    python -m alignment.training.critic --feedback CRITIC_DIR --rows rows.jsonl [--out feedback.jsonl]

The critic is a causal LM that answers one chat prompt (scene, norm, scenario, response and its six MedES scores:
``critic_feedback.critic_messages``) with one JSON object checked against ``FEEDBACK_SCHEMA``: the norm or
provision at stake, what is wrong, the risk warning a safe answer needs, and a safe revised answer. Training is
the SFT stage the policy runs use (``stages``: TRL's ``SFTTrainer`` with a fresh LoRA adapter, the loss on the
assistant's answer only), run on the critic's examples (``critic_data``). A trained critic is a directory::

    critic.json                        manifest: base dir + fingerprint, prompt format, schema, config, counts,
                                       loss history, library versions
    adapter/adapter_model.safetensors  LoRA weights (safetensors only)
    adapter/adapter_config.json

The manifest is written last, so a directory without one is an unfinished training. ``load`` checks the
manifest, the adapter's sha256 and the base's fingerprint before any tensor is read, and refuses anything else
with ``CheckpointError``. Generated text is read by ``parse_feedback``: output that is not one JSON object
passing the schema is stored as unparseable with the reason and the raw text, never repaired or guessed.

Nothing here imports Django; torch/transformers/trl/peft/datasets/jsonschema are imported inside functions so
importing this module is cheap.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sys
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
    check_device,
    checked_base,
    command_line,
    jsonl_text,
    library_versions,
    load_adapter,
    load_causal_lm,
    load_tokenizer,
    read_jsonl,
    result_json,
    save_adapter,
    sha256_file,
    torch_dtype,
    write_json,
    write_jsonl,
)
from alignment.training.config import gettext_noop, knob, retune
from alignment.training.critic_data import (
    SKIP_NO_ANSWER,
    SKIP_NO_RATIONALE,
    SKIP_TOO_LONG,
    critic_rows,
    drop_too_long,
)
from alignment.training.critic_feedback import (
    FEEDBACK_SCHEMA,
    PROMPT_FORMAT,
    SYSTEM_PROMPT,
    critic_messages,
    parse_feedback,
    prompt_fields,
)
from alignment.training.errors import CheckpointError, ConfigError, DataError
from alignment.training.guardian_data import TEXT_FORMAT
from alignment.training.stages import StageArgs, fit, loss_mask, sft_trainer, trainer_arguments

# The critic's public face: what callers outside training/ import from here, wherever it is defined.
__all__ = [
    "FEEDBACK_SCHEMA",
    "MANIFEST",
    "MANIFEST_FORMAT",
    "PROMPT_FORMAT",
    "SKIP_NO_ANSWER",
    "SKIP_NO_RATIONALE",
    "SKIP_TOO_LONG",
    "SYSTEM_PROMPT",
    "Critic",
    "CriticConfig",
    "CriticResult",
    "critic_messages",
    "critic_rows",
    "load",
    "main",
    "parse_feedback",
    "read_manifest",
    "run",
    "verify",
]

log = logging.getLogger(__name__)

MANIFEST = "critic.json"
MANIFEST_FORMAT = "medes-critic/1"
_VERSIONS = ("torch", "transformers", "trl", "peft", "datasets", "jsonschema")


# --- config ------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class CriticConfig(StageArgs):
    """One critic training. Field help is in ``metadata["help"]`` (the CLI's ``--help`` lists it)."""

    base_model: str = retune(
        StageArgs,
        "base_model",
        help=gettext_noop("Causal LM directory (config.json + *.safetensors + tokenizer with a chat template)."),
    )
    output_dir: str = retune(
        StageArgs, "output_dir", help=gettext_noop("Where the trained critic is written; must not hold one already.")
    )
    data: str = retune(
        StageArgs, "data", help=gettext_noop("JSONL of accepted labels with rationale/provisions/reference_answer.")
    )
    epochs: float = retune(StageArgs, "epochs", 3.0, min=0.1, max=100)
    max_length: int = retune(
        StageArgs, "max_length", 1024, help=gettext_noop("Tokens per example; longer examples are skipped, never cut.")
    )
    max_new_tokens: int = knob(
        512,
        help=gettext_noop("Tokens the trained critic may generate per answer."),
        label=gettext_noop("max new tokens"),
        min=1,
    )

    def path_problems(self) -> list[str]:
        errors = super().path_problems()
        if (Path(self.output_dir) / MANIFEST).exists():
            errors.append(f"output_dir {self.output_dir} already holds a trained critic; choose a new directory")
        return errors


@dataclass(frozen=True)
class CriticResult:
    model_dir: Path
    manifest: Path
    adapter: Path
    counts: dict[str, Any]
    data_hash: str
    loss_mask: str
    steps: int
    train_seconds: float
    losses: list[float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_dir": str(self.model_dir),
            "manifest": str(self.manifest),
            "adapter": str(self.adapter),
            "counts": self.counts,
            "data_hash": self.data_hash,
            "loss_mask": self.loss_mask,
            "steps": self.steps,
            "train_seconds": round(self.train_seconds, 3),
            "losses": self.losses,
        }


# --- training ----------------------------------------------------------------------------------------------


def run(config: CriticConfig, *, callbacks: Sequence[Any] = ()) -> CriticResult:
    """Build the chat examples, run the SFT stage on them (LoRA; loss on the answer only), and write the critic
    directory: the adapter (safetensors), then ``critic.json``. Progress goes to ``callbacks``
    (``TrainerCallback``s, e.g. one writing to a job row); the loss history is kept in the manifest."""
    config.validate()
    data = critic_rows(read_jsonl(config.data), source=Path(config.data).name)
    fingerprint = base_fingerprint(config.base_model)

    from transformers import set_seed

    set_seed(config.seed)
    tokenizer = load_tokenizer(config.base_model)
    if not tokenizer.chat_template:
        raise CheckpointError(
            f"base model {config.base_model}: the tokenizer has no chat template to prompt the critic with"
        )
    mask = loss_mask(tokenizer)
    drop_too_long(data, tokenizer, config.max_length)
    counts = data.counts()
    log.info("critic data: %s", counts)
    if not data.examples:
        raise DataError(f"{config.data}: no row gives the critic an example to learn from ({counts['skipped']})")

    check_device(config.device)
    model = load_causal_lm(config.base_model, dtype=torch_dtype(config.bf16))
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    arguments = trainer_arguments(config, out / "checkpoints")  # a loss logged every step, no checkpoints
    trainer = sft_trainer(
        config, model, tokenizer, data.examples, arguments, mask=mask, callbacks=callbacks, what="the critic"
    )
    fitted = fit(trainer)
    losses = fitted.losses
    if not losses or fitted.bad_steps:
        where = f"at step {fitted.bad_steps[0]}" if fitted.bad_steps else "(no loss was logged)"
        raise ConfigError(f"training diverged {where}: lower learning_rate, or turn bf16 off")

    adapter_dir = save_adapter(trainer.model, out)  # the PeftModel: saving it writes the adapter only
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    manifest = {
        "format": MANIFEST_FORMAT,
        "prompt_format": PROMPT_FORMAT,
        "text_format": TEXT_FORMAT,
        "system_prompt": SYSTEM_PROMPT,
        "feedback_schema": FEEDBACK_SCHEMA,
        "base_model": str(Path(config.base_model).resolve()),
        "base_fingerprint": fingerprint,
        "base_architectures": list(model.config.architectures or []),
        "adapter": {"path": f"{ADAPTER_DIR}/{ADAPTER_FILE}", "sha256": sha256_file(adapter_dir / ADAPTER_FILE)},
        "loss_mask": mask,
        "max_length": config.max_length,
        "max_new_tokens": config.max_new_tokens,
        "config": config.as_dict(),
        "data_hash": data.data_hash(),
        "counts": counts,
        "skipped": [{"id": row_id, "reason": reason} for row_id, reason in data.skipped],
        "train": {"seconds": round(fitted.seconds, 3), "steps": fitted.steps, "losses": losses},
        "versions": library_versions(_VERSIONS),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    write_json(out / MANIFEST, manifest)  # last: its presence marks a complete critic
    return CriticResult(
        model_dir=out,
        manifest=out / MANIFEST,
        adapter=adapter_dir / ADAPTER_FILE,
        counts=counts,
        data_hash=data.data_hash(),
        loss_mask=mask,
        steps=fitted.steps,
        train_seconds=fitted.seconds,
        losses=losses,
    )


# --- loading a trained critic and generating feedback ------------------------------------------------------


def read_manifest(model_dir: str | Path) -> dict[str, Any]:
    """The manifest of a trained critic, checked for shape and prompt format; raises CheckpointError."""
    manifest = common.read_manifest(model_dir, what="critic", name=MANIFEST, expected_format=MANIFEST_FORMAT)
    if (manifest.get("prompt_format"), manifest.get("text_format")) != (PROMPT_FORMAT, TEXT_FORMAT):
        raise CheckpointError(
            f"critic {model_dir}: trained on prompt format {manifest.get('prompt_format')} "
            f"({manifest.get('text_format')}), this code writes {PROMPT_FORMAT} ({TEXT_FORMAT})"
        )
    if manifest.get("feedback_schema") != FEEDBACK_SCHEMA:
        raise CheckpointError(f"critic {model_dir}: trained to write another feedback schema than this code checks")
    if not isinstance(manifest.get("max_new_tokens"), int):
        raise CheckpointError(f"critic {model_dir}: {MANIFEST} has no max_new_tokens")
    return manifest


class Critic:
    """A trained critic, loaded once, writing feedback for many responses."""

    def __init__(self, model: Any, tokenizer: Any, manifest: dict[str, Any], model_dir: Path | None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.model_dir = model_dir
        self.max_new_tokens = int(manifest["max_new_tokens"])

    def generate(self, rows: Sequence[Mapping[str, Any]], *, batch_size: int = 8) -> list[str]:
        """The critic's raw answer to each row's prompt (see ``_generate``)."""
        return [text for text, _ in self._generate(rows, batch_size)]

    def _generate(self, rows: Sequence[Mapping[str, Any]], batch_size: int) -> list[tuple[str, bool]]:
        """Per row: the generated text (greedy, left-padded batches; end-of-turn and padding tokens dropped) and
        whether it ended by itself rather than at max_new_tokens."""
        import torch

        prompts = [
            self.tokenizer.apply_chat_template(
                critic_messages(row, where=f"row {n}"), add_generation_prompt=True, tokenize=False
            )
            for n, row in enumerate(rows)
        ]
        device = next(self.model.parameters()).device
        eos = self.model.generation_config.eos_token_id
        eos_ids = sorted({*(eos if isinstance(eos, list) else [eos]), self.tokenizer.eos_token_id} - {None})
        # Longest first in length-sorted batches: little padding, and an out-of-memory shows up on the first batch.
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        out: list[tuple[str, bool]] = [("", False)] * len(prompts)
        self.tokenizer.padding_side = "left"  # every row continues from its own last token
        self.model.eval()
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                enc = self.tokenizer(
                    [prompts[i] for i in batch], padding=True, add_special_tokens=False, return_tensors="pt"
                ).to(device)
                generated = self.model.generate(
                    **enc,
                    do_sample=False,
                    num_beams=1,
                    max_new_tokens=self.max_new_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                    eos_token_id=eos_ids,
                    temperature=None,
                    top_p=None,
                    top_k=None,  # a base's sampling defaults do not apply
                )
                new = generated[:, enc["input_ids"].shape[1] :]
                texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
                for i, ids, text in zip(batch, new.tolist(), texts, strict=True):
                    out[i] = (text, any(t in eos_ids for t in ids))
        return out

    def feedback(self, rows: Sequence[Mapping[str, Any]], *, batch_size: int = 8) -> list[dict[str, Any]]:
        """Per row (scene, norm, scenario, response, scores, optionally id): ``{"id", "status": "ok",
        "feedback"}`` or ``{"id", "status": "unparseable", "problem", "raw"}``, in ``rows`` order."""
        for n, row in enumerate(rows):  # every row checked before any generation: no half-done batch
            prompt_fields(row, f"row {n}")
        out = []
        for row, (text, ended) in zip(rows, self._generate(rows, batch_size), strict=True):
            reading = parse_feedback(text)
            if reading.feedback is not None:
                out.append({"id": row.get("id"), "status": "ok", "feedback": reading.feedback})
                continue
            problem = reading.problem
            if not ended:
                problem += f" (generation stopped at max_new_tokens={self.max_new_tokens})"
            out.append({"id": row.get("id"), "status": "unparseable", "problem": problem, "raw": text})
        return out


def verify(model_dir: str | Path) -> dict[str, Any]:
    """Check a trained critic's files without loading a model: the manifest, the adapter's sha256 against it,
    and no pickled weights beside it. Returns the manifest; raises CheckpointError."""
    manifest = read_manifest(model_dir)
    check_adapter(Path(model_dir), manifest, what="critic")
    return manifest


def load(model_dir: str | Path, *, base_model: str | Path | None = None, device: str = "cpu") -> Critic:
    """Load a trained critic after checking manifest, adapter checksum and base fingerprint.

    ``base_model`` overrides the directory in the manifest (a base moved to other storage); it must be the
    same base, byte for byte in what the fingerprint reads. Raises CheckpointError on anything that does not
    fit, with the reason; nothing is half-loaded.
    """
    model_dir = Path(model_dir)
    manifest = verify(model_dir)
    base = checked_base(model_dir, manifest, base_model, what="critic")
    tokenizer = load_tokenizer(base)
    check_device(device)
    model = load_causal_lm(base, dtype=torch_dtype(False)).to(device)
    model = load_adapter(model, model_dir, base, what="critic")
    return Critic(model, tokenizer, manifest, model_dir)


# --- CLI ---------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    def add_arguments(parser: Any, modes: Any) -> None:
        modes.add_argument("--feedback", metavar="CRITIC_DIR", help="a trained critic: write its feedback on --rows")
        parser.add_argument("--rows", help="JSONL rows (scene, norm, scenario, response, scores, id) for --feedback")
        parser.add_argument("--out", help="write the feedback JSONL here instead of stdout")
        parser.add_argument("--base-model", help="the critic's base model, when it moved since training")
        parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
        parser.add_argument("--batch-size", type=int, default=8)

    def work(args: Any) -> str | None:
        if args.config:
            return result_json(run(CriticConfig.from_file(args.config)))
        if not args.rows:
            raise ConfigError("--feedback needs --rows")
        critic = load(args.feedback, base_model=args.base_model, device=args.device)
        records = critic.feedback(read_jsonl(args.rows), batch_size=max(1, args.batch_size))
        if not args.out:
            return jsonl_text(records)
        write_jsonl(Path(args.out), records)
        return None

    return command_line(
        argv,
        name="critic",
        description="Train the MedES guardian's critic on exported accepted labels (JSONL) and print the result "
        "as JSON, or write a trained critic's feedback on rows as JSONL.",
        config_class=CriticConfig,
        work=work,
        add_arguments=add_arguments,
    )


if __name__ == "__main__":
    sys.exit(main())

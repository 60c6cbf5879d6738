"""Train the guardian's critic on accepted labels' rationales, and load a trained one to write feedback.

    python -m alignment.training.critic --config config.json
    python -m alignment.training.critic --feedback CRITIC_DIR --rows rows.jsonl [--out feedback.jsonl]

The critic is a causal LM fine-tuned with LoRA (peft) through TRL's ``SFTTrainer`` to answer one chat prompt
(scene, norm, scenario, response and its six MedES scores; ``critic_messages``) with one JSON object checked
against ``FEEDBACK_SCHEMA``: the norm or provision at stake, what is wrong, the risk warning a safe answer needs,
and a safe revised answer. The loss covers the assistant's answer only. A trained critic is a directory::

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

import argparse
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignment.training.configs import JsonConfig
from alignment.training.errors import CheckpointError, ConfigError, DataError, GuardianError
from alignment.training.guardian import (
    _load_tokenizer,
    _sha256_file,
    _write_json,
    base_fingerprint,
)
from alignment.training.guardian_data import (
    FLAG_VALUE,
    OTHER_VALUE,
    SCORE_KEYS,
    TEXT_FORMAT,
    input_texts,
    parse_rows,
)

log = logging.getLogger(__name__)

MANIFEST = "critic.json"
MANIFEST_FORMAT = "medes-critic/1"
ADAPTER_DIR = "adapter"
ADAPTER_FILE = "adapter_model.safetensors"
# Weight files that would be unpickled (or are otherwise not safetensors): their presence refuses a critic.
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")

FEEDBACK_KEYS: tuple[str, ...] = ("provision", "problem", "risk_warning", "safe_answer")
FEEDBACK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://medes.example/schemas/critic-feedback/1",
    "title": "MedES critic feedback",
    "type": "object",
    "properties": {
        "provision": {
            "type": "string",
            "minLength": 1,
            "pattern": r"\S",
            "description": "The norm or provision at stake.",
        },
        "problem": {"type": "string", "description": "What is wrong with the response; empty when nothing is."},
        "risk_warning": {
            "type": "string",
            "description": "The risk warning a safe answer needs; empty when none is needed.",
        },
        "safe_answer": {"type": "string", "minLength": 1, "pattern": r"\S", "description": "A safe revised answer."},
    },
    "required": list(FEEDBACK_KEYS),
    "additionalProperties": False,
}

# What the critic reads. Changing these texts or critic_messages changes what a trained critic means: every
# manifest records PROMPT_FORMAT (and the guardian's TEXT_FORMAT it builds on), and loading refuses another.
PROMPT_FORMAT = "medes-critic-prompt/1"
SYSTEM_PROMPT = (
    "你是医学伦理审查员。阅读情景、回答及其评分，只输出一个 JSON 对象，键为："
    "provision（涉及的规范或条款）、problem（回答的问题，没有则为空）、"
    "risk_warning（安全回答需要的风险警示，没有则为空）、safe_answer（安全的修改后回答）。"
)
_WARNING_PREFIXES = ("风险警示", "警示")  # a rationale line "警示：…" is the risk warning, not the problem
_WARNING_LINE = re.compile(rf"^\s*(?:{'|'.join(_WARNING_PREFIXES)})\s*[：:]\s*(.*?)\s*$")


# --- feedback: the schema and reading model output ---------------------------------------------------------


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    Draft202012Validator.check_schema(FEEDBACK_SCHEMA)
    return Draft202012Validator(FEEDBACK_SCHEMA)


def schema_problems(value: Any) -> list[str]:
    """Every way ``value`` fails FEEDBACK_SCHEMA, in plain words (empty: it is valid feedback)."""
    errors = sorted(_validator().iter_errors(value), key=lambda e: ([str(p) for p in e.path], e.message))
    return [e.message + (f" (at {'.'.join(str(p) for p in e.path)})" if e.path else "") for e in errors]


@dataclass(frozen=True)
class FeedbackReading:
    """What was read from one generated text: ``feedback`` when it is one schema-valid JSON object, otherwise
    None and ``problem`` says why. ``raw`` is the text as generated."""

    feedback: dict[str, str] | None
    problem: str
    raw: str

    @property
    def ok(self) -> bool:
        return self.feedback is not None


_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\r?\n?(.*?)```", re.DOTALL)


def _line_col(text: str, pos: int) -> str:
    line_start = text.rfind("\n", 0, pos) + 1
    line = text.count("\n", 0, pos) + 1
    return f"line {line}, column {pos - line_start + 1}"


def _json_in(text: str) -> tuple[Any, str]:
    """The JSON value the output stands for, or (None, why not). Fenced blocks, when there are any, are read
    whole (the last one that holds an object wins, unless the last block is broken); otherwise every ``{``
    outside an already-read object starts a candidate and the last complete object wins — unless decoding
    fails after it, which means the output's final object is broken (e.g. cut off by max_new_tokens)."""
    decoder = json.JSONDecoder()
    fences = list(_FENCE.finditer(text))
    if fences:
        values: list[Any] = []
        for n, match in enumerate(fences):
            body = match.group(1).strip()
            try:
                values.append(decoder.decode(body))
            except json.JSONDecodeError as exc:
                if n == len(fences) - 1:
                    start = match.start(1) + (len(match.group(1)) - len(match.group(1).lstrip()))
                    return None, f"invalid JSON in the ``` block at {_line_col(text, start + exc.pos)}: {exc.msg}"
        objects = [v for v in values if isinstance(v, dict)]
        if not objects:
            kinds = sorted({type(v).__name__ for v in values})
            return None, f"the ``` block holds JSON that is not an object ({', '.join(kinds)})"
        return objects[-1], ""
    found: list[tuple[int, Any]] = []  # (end, object)
    failure: tuple[int, str] | None = None
    pos = text.find("{")
    while pos != -1:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            failure = (exc.pos, exc.msg)
            pos = text.find("{", max(exc.pos, pos + 1))  # past the broken part: no objects nested in it
            continue
        found.append((end, value))
        pos = text.find("{", end)
    if failure is not None and (not found or failure[0] >= found[-1][0]):
        return None, f"invalid JSON at {_line_col(text, failure[0])}: {failure[1]}"
    if not found:
        return None, "no JSON object found in the output"
    return found[-1][1], ""


def parse_feedback(text: str) -> FeedbackReading:
    """Read the critic's output: the JSON object in it (bare, or in a ```json fence; the last one when there
    are several) checked against FEEDBACK_SCHEMA. Anything else gives ``feedback=None`` and the reason; the text
    is never repaired, completed or guessed at."""
    if not text.strip():
        return FeedbackReading(None, "the output is only whitespace" if text else "the output is empty", text)
    value, why = _json_in(text)
    if why:
        return FeedbackReading(None, why, text)
    problems = schema_problems(value)
    if problems:
        return FeedbackReading(None, "schema: " + "; ".join(problems), text)
    return FeedbackReading(dict(value), "", text)


# --- training rows -----------------------------------------------------------------------------------------


def _prompt_fields(row: Mapping[str, Any], where: str) -> tuple[dict[str, str], dict[str, int]]:
    if not isinstance(row, Mapping):
        raise DataError(f"{where}: expected an object, got {type(row).__name__}")
    bad = [k for k in ("scene", "norm", "scenario", "response") if not isinstance(row.get(k), str)]
    if bad:
        raise DataError(f"{where}: {', '.join(bad)} must be text")
    scores = row.get("scores")
    if not isinstance(scores, Mapping):
        raise DataError(f"{where}: scores must be an object with {', '.join(SCORE_KEYS)}")
    clean: dict[str, int] = {}
    for key in SCORE_KEYS:
        value = scores.get(key)
        allowed = sorted({FLAG_VALUE[key], OTHER_VALUE[key]})
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
            raise DataError(f"{where}: scores.{key} must be one of {allowed}, got {json.dumps(value)}")
        clean[key] = value
    return {k: row[k] for k in ("scene", "norm", "scenario", "response")}, clean


def critic_messages(row: Mapping[str, Any], *, where: str = "row") -> list[dict[str, str]]:
    """The system and user turns the critic reads for one response, in training and in generation alike (one
    function, so the two cannot drift). ``row`` needs scene, norm, scenario, response and the six scores."""
    texts, scores = _prompt_fields(row, where)
    context, response = input_texts(texts["scene"], texts["norm"], texts["scenario"], texts["response"])
    marks = "，".join(f"{k}={scores[k]}" for k in SCORE_KEYS)
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"{context}{response}\n评分：{marks}"},
    ]


def feedback_json(feedback: Mapping[str, str]) -> str:
    """The assistant turn the critic is trained to write for ``feedback``."""
    return json.dumps(dict(feedback), ensure_ascii=False, sort_keys=True)


def _optional_text(row: Mapping[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(f"{where}: {key} must be text, got {type(value).__name__}")
    return value.strip()


def _provisions(row: Mapping[str, Any], where: str) -> list[str]:
    value = row.get("provisions")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise DataError(f"{where}: provisions must be a list of texts")
    return [p.strip() for p in value if p.strip()]


def split_rationale(rationale: str) -> tuple[str, str]:
    """(problem, risk_warning) from a reviewer's rationale: lines starting "警示：" or "风险警示：" are the
    warning (joined by newlines when there are several), the rest is the problem."""
    problem: list[str] = []
    warnings: list[str] = []
    for line in rationale.strip().splitlines():
        match = _WARNING_LINE.match(line)
        if match:
            warnings.append(match.group(1))
        else:
            problem.append(line)
    return "\n".join(problem).strip(), "\n".join(w for w in warnings if w)


# Why a labeled row gives no training example (the keys of CriticExamples.counts()["skipped"]).
SKIP_NO_RATIONALE = "no rationale and no valid feedback"
SKIP_NO_PROVISION = "no provisions and no norm"
SKIP_NO_ANSWER = "no reference answer"
SKIP_TOO_LONG = "longer than max_length tokens"


@dataclass
class CriticExamples:
    """Chat examples for SFT, in row order, and what happened to every row."""

    examples: list[dict[str, list[dict[str, str]]]]
    ids: list[str]
    sources: list[str]  # per example: "feedback" (the reviewer's, as is), "rationale" (built) or "merged" (both)
    skipped: list[tuple[str, str]]  # (row id, reason)
    invalid_feedback: list[tuple[str, str]] = field(default_factory=list)  # (row id, schema problem)

    def counts(self) -> dict[str, Any]:
        return {
            "rows": len(self.ids) + len(self.skipped),
            "used": len(self.ids),
            "from_feedback": self.sources.count("feedback"),
            "from_rationale": self.sources.count("rationale"),
            "merged": self.sources.count("merged"),
            "invalid_feedback": len(self.invalid_feedback),
            "skipped": dict(sorted(Counter(reason for _, reason in self.skipped).items())),
        }

    def data_hash(self) -> str:
        """sha256 over the canonical JSON of the examples in id order: equal hashes, equal training data."""
        items = sorted(zip(self.ids, self.examples, strict=True), key=lambda item: item[0])
        canonical = json.dumps(items, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def target_feedback(row: Mapping[str, Any], where: str = "row") -> tuple[dict[str, str] | None, str, str]:
    """(feedback, source, problem) for one labeled row: a reviewer's schema-valid ``feedback`` as is; otherwise
    one built from the rationale (provision: the provisions joined by "；", or the norm; problem: the rationale
    without its 警示 lines; risk_warning: those lines; safe_answer: the reference answer), with the non-empty
    parts of a reviewer's partial feedback in place of the built ones (source "merged"). ``feedback`` is None
    when no schema-valid feedback results, and ``problem`` is the skip reason."""
    given = row.get("feedback")
    given_problem = ""
    if given is not None:
        problems = schema_problems(given)
        if not problems:
            return dict(given), "feedback", ""
        given_problem = "; ".join(problems)
    rationale = _optional_text(row, "rationale", where)
    # a reviewer's partial feedback (say, no provision named): the parts they wrote win over the built ones
    written = {
        key: given[key].strip()
        for key in FEEDBACK_KEYS
        if isinstance(given, Mapping) and isinstance(given.get(key), str) and given[key].strip()
    }
    if not rationale and not written:
        return None, "", SKIP_NO_RATIONALE
    problem, warning = split_rationale(rationale)
    built = {
        "provision": "；".join(_provisions(row, where)) or str(row.get("norm", "")).strip(),
        "problem": problem,
        "risk_warning": warning,
        "safe_answer": _optional_text(row, "reference_answer", where),
    }
    built.update(written)
    if not built["provision"]:
        return None, "", SKIP_NO_PROVISION
    if not built["safe_answer"]:
        return None, "", SKIP_NO_ANSWER
    problems = schema_problems(built)
    if problems:  # the checks above cover the schema today; this keeps a schema change from slipping through
        return None, "", "built feedback fails the schema: " + "; ".join(problems)
    return built, "merged" if written else "rationale", given_problem


def critic_rows(rows: Sequence[Mapping[str, Any]], *, source: str = "rows") -> CriticExamples:
    """Chat examples ``{"messages": [system, user, assistant]}`` from accepted-label rows (guardian_data's row
    plus rationale, provisions, reference_answer and an optional reviewer's ``feedback``). Malformed rows raise
    DataError (the export is broken); rows that cannot teach the critic are skipped and counted."""
    labeled = parse_rows(rows, source)  # scene/norm/scenario/response/scores, ids, duplicates
    out = CriticExamples(examples=[], ids=[], sources=[], skipped=[])
    for n, (row, checked) in enumerate(zip(rows, labeled, strict=True)):
        where = f"{source}[{n}]"
        feedback, origin, problem = target_feedback(row, where)
        if feedback is None:
            out.skipped.append((checked.id, problem))
            continue
        if problem:  # a reviewer's feedback that fails the schema; the rationale stood in for it
            out.invalid_feedback.append((checked.id, problem))
            log.warning("%s: feedback fails the schema (%s); built from the rationale instead", where, problem)
        messages = critic_messages(checked.as_dict(), where=where)
        out.examples.append({"messages": [*messages, {"role": "assistant", "content": feedback_json(feedback)}]})
        out.ids.append(checked.id)
        out.sources.append(origin)
    return out


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The objects of a JSONL file (blank lines skipped); raises DataError naming the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path.name}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path.name}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        rows.append(obj)
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


# --- config ------------------------------------------------------------------------------------------------


@dataclass
class CriticConfig(JsonConfig):
    """One critic training. Field help is in ``metadata["help"]`` (the CLI's ``--help`` lists it)."""

    base_model: str = field(
        metadata={"help": "Causal LM directory (config.json + *.safetensors + tokenizer with a chat template)."}
    )
    output_dir: str = field(metadata={"help": "Where the trained critic is written; must not hold one already."})
    data: str = field(metadata={"help": "JSONL of accepted labels with rationale/provisions/reference_answer."})
    seed: int = field(default=0, metadata={"help": "Seed for LoRA initialisation and data order."})
    epochs: float = field(default=3.0, metadata={"help": "Training epochs (ignored when max_steps > 0)."})
    max_steps: int = field(default=-1, metadata={"help": "Optimiser steps; -1 trains for `epochs`."})
    learning_rate: float = field(default=2e-4, metadata={"help": "AdamW learning rate (LoRA wants ~1e-4..5e-3)."})
    batch_size: int = field(default=4, metadata={"help": "Training batch size per device."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimiser step."})
    max_length: int = field(
        default=1024, metadata={"help": "Tokens per example; longer examples are skipped, never cut."}
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
    max_new_tokens: int = field(default=512, metadata={"help": "Tokens the trained critic may generate per answer."})

    def validate(self) -> None:
        """Ranges and paths; raises ConfigError listing every problem, each naming its field."""
        checks = [
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1"),
            (self.max_steps > 0 or self.epochs > 0, "set epochs > 0 or max_steps > 0"),
            (self.max_length >= 16, "max_length must be >= 16"),
            (self.max_new_tokens >= 1, "max_new_tokens must be >= 1"),
            (self.lora_r >= 1 and self.lora_alpha >= 1, "lora_r and lora_alpha must be >= 1"),
            (0 <= self.lora_dropout < 1, "lora_dropout must be in [0, 1)"),
            (self.device in ("cpu", "cuda"), "device must be 'cpu' or 'cuda'"),
            (not (self.bf16 and self.device == "cpu"), "bf16 needs device 'cuda'"),
        ]
        errors = [message for ok, message in checks if not ok]
        if isinstance(self.target_modules, str) and self.target_modules != "all-linear":
            errors.append("target_modules must be a list of module names, 'all-linear' or null")
        if not (Path(self.base_model) / "config.json").is_file():
            errors.append(f"base_model {self.base_model}: not a model directory (no config.json)")
        if not Path(self.data).is_file():
            errors.append(f"data {self.data}: no such file")
        if (Path(self.output_dir) / MANIFEST).exists():
            errors.append(f"output_dir {self.output_dir} already holds a trained critic; choose a new directory")
        if errors:
            raise ConfigError("; ".join(errors))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "trl", "peft", "datasets", "jsonschema"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _loss_mask(tokenizer: Any, base_model: str | Path) -> str:
    """How the loss is kept to the assistant's answer. TRL's ``assistant_only_loss`` needs ``{% generation %}``
    markers, which it patches into the chat templates it knows (Qwen2.5, Llama 3…); any other template trains
    as prompt/completion pairs, whose loss covers the completion only."""
    from trl.chat_template_utils import get_training_chat_template

    if not tokenizer.chat_template:
        raise CheckpointError(f"base model {base_model}: the tokenizer has no chat template to prompt the critic with")
    try:
        get_training_chat_template(tokenizer)
    except ValueError:
        return "completion_only"
    return "assistant_only"


def _load_causal_lm(base_model: str | Path, device: str, bf16: bool) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA device")
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(
            str(base_model),
            local_files_only=True,
            use_safetensors=True,
            dtype=torch.bfloat16 if bf16 else torch.float32,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"base model {base_model} cannot be loaded as a causal LM: {exc}") from None
    return model.to(device)


def _drop_too_long(data: CriticExamples, tokenizer: Any, max_length: int) -> None:
    """Skip examples over max_length tokens: cut, they would teach the critic to stop mid-JSON."""
    keep = []
    for i, example in enumerate(data.examples):
        ids = tokenizer.apply_chat_template(example["messages"], tokenize=True, return_dict=True)["input_ids"]
        if len(ids) > max_length:
            data.skipped.append((data.ids[i], SKIP_TOO_LONG))
        else:
            keep.append(i)
    data.examples = [data.examples[i] for i in keep]
    data.ids = [data.ids[i] for i in keep]
    data.sources = [data.sources[i] for i in keep]


def train(config: CriticConfig, *, callbacks: Sequence[Any] = ()) -> CriticResult:
    """Build the chat examples, fine-tune LoRA with TRL's SFTTrainer (loss on the answer only), and write the
    critic directory: the adapter (safetensors), then ``critic.json``. Progress goes to ``callbacks``
    (``TrainerCallback``s, e.g. one writing to a job row); the loss history is kept in the manifest."""
    config.validate()
    data = critic_rows(read_jsonl(config.data), source=Path(config.data).name)
    fingerprint = base_fingerprint(config.base_model)

    from datasets import Dataset
    from peft import LoraConfig, TaskType
    from transformers import TrainerCallback, set_seed
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    set_seed(config.seed)
    tokenizer = _load_tokenizer(config.base_model)
    loss_mask = _loss_mask(tokenizer, config.base_model)
    _drop_too_long(data, tokenizer, config.max_length)
    counts = data.counts()
    log.info("critic data: %s", counts)
    if not data.examples:
        raise DataError(f"{config.data}: no row gives the critic an example to learn from ({counts['skipped']})")
    if loss_mask == "assistant_only":
        rows = data.examples
    else:
        rows = [{"prompt": e["messages"][:-1], "completion": e["messages"][-1:]} for e in data.examples]

    model = _load_causal_lm(config.base_model, config.device, config.bf16)
    lora = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules,
    )
    losses: list[float] = []

    class History(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    args = SFTConfig(
        output_dir=str(out / "checkpoints"),
        use_cpu=config.device == "cpu",
        bf16=config.bf16,
        # TRL defaults to checkpointing (under its deprecated name gradient_checkpointing); a LoRA critic's
        # activations fit without it, and it slows CPU training.
        activation_checkpointing=False,
        seed=config.seed,
        data_seed=config.seed,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        max_length=config.max_length,
        assistant_only_loss=loss_mask == "assistant_only",
        completion_only_loss=loss_mask == "completion_only",
        packing=False,
        logging_steps=1,
        logging_strategy="steps",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    try:
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=[History(), *callbacks],
        )
    except ValueError as exc:  # e.g. target_modules the architecture does not have
        raise ConfigError(f"the critic cannot be trained on {config.base_model}: {exc}") from None
    trainer.remove_callback(PrinterCallback)  # it prints every log line to stdout, which the CLI keeps for JSON
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    bad = [i for i, loss in enumerate(losses, start=1) if not math.isfinite(loss)]
    if not losses or bad:
        where = f"at step {bad[0]}" if bad else "(no loss was logged)"
        raise ConfigError(f"training diverged {where}: lower learning_rate, or turn bf16 off")

    adapter_dir = out / ADAPTER_DIR
    staging = Path(tempfile.mkdtemp(prefix=".adapter-", dir=out))
    trained: Any = trainer.model  # the PeftModel: saving it writes the adapter only
    trained.save_pretrained(str(staging), safe_serialization=True)
    staging.chmod(0o755)  # mkdtemp makes it private; the web process and generation workers read it
    for path in staging.iterdir():
        path.chmod(0o644)  # safetensors writes its file private too
    if adapter_dir.exists():
        shutil.rmtree(adapter_dir)
    staging.rename(adapter_dir)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    steps = int(trainer.state.global_step)
    manifest = {
        "format": MANIFEST_FORMAT,
        "prompt_format": PROMPT_FORMAT,
        "text_format": TEXT_FORMAT,
        "system_prompt": SYSTEM_PROMPT,
        "feedback_schema": FEEDBACK_SCHEMA,
        "base_model": str(Path(config.base_model).resolve()),
        "base_fingerprint": fingerprint,
        "base_architectures": list(model.config.architectures or []),
        "adapter": {"path": f"{ADAPTER_DIR}/{ADAPTER_FILE}", "sha256": _sha256_file(adapter_dir / ADAPTER_FILE)},
        "loss_mask": loss_mask,
        "max_length": config.max_length,
        "max_new_tokens": config.max_new_tokens,
        "config": config.as_dict(),
        "data_hash": data.data_hash(),
        "counts": counts,
        "skipped": [{"id": row_id, "reason": reason} for row_id, reason in data.skipped],
        "train": {"seconds": round(seconds, 3), "steps": steps, "losses": losses},
        "versions": _versions(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    _write_json(out / MANIFEST, manifest)  # last: its presence marks a complete critic
    return CriticResult(
        model_dir=out,
        manifest=out / MANIFEST,
        adapter=adapter_dir / ADAPTER_FILE,
        counts=counts,
        data_hash=data.data_hash(),
        loss_mask=loss_mask,
        steps=steps,
        train_seconds=seconds,
        losses=losses,
    )


# --- loading a trained critic and generating feedback ------------------------------------------------------


def read_manifest(model_dir: str | Path) -> dict[str, Any]:
    """The manifest of a trained critic, checked for shape and prompt format; raises CheckpointError."""
    path = Path(model_dir) / MANIFEST
    if not Path(model_dir).is_dir():
        raise CheckpointError(f"critic {model_dir}: no such directory")
    if not path.is_file():
        raise CheckpointError(f"critic {model_dir}: no {MANIFEST} (not a critic, or its training did not finish)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"critic {model_dir}: {MANIFEST} is corrupted ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise CheckpointError(f"critic {model_dir}: {MANIFEST} is not a {MANIFEST_FORMAT} manifest")
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


def _check_adapter(model_dir: Path, manifest: dict[str, Any]) -> Path:
    adapter_dir = model_dir / ADAPTER_DIR
    pickles = (
        sorted(p.name for p in adapter_dir.iterdir() if p.suffix in _PICKLE_SUFFIXES) if adapter_dir.is_dir() else []
    )
    if pickles:
        raise CheckpointError(
            f"critic {model_dir}: the adapter holds {', '.join(pickles)}: only safetensors weights are loaded"
        )
    path = adapter_dir / ADAPTER_FILE
    if not path.is_file():
        raise CheckpointError(f"critic {model_dir}: adapter weights {ADAPTER_FILE} are missing")
    if not (adapter_dir / "adapter_config.json").is_file():
        raise CheckpointError(f"critic {model_dir}: adapter_config.json is missing")
    if _sha256_file(path) != (manifest.get("adapter") or {}).get("sha256"):
        raise CheckpointError(f"critic {model_dir}: {ADAPTER_FILE} is corrupted (sha256 differs from the manifest)")
    return path


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
            _prompt_fields(row, f"row {n}")
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
    _check_adapter(Path(model_dir), manifest)
    return manifest


def load(model_dir: str | Path, *, base_model: str | Path | None = None, device: str = "cpu") -> Critic:
    """Load a trained critic after checking manifest, adapter checksum and base fingerprint.

    ``base_model`` overrides the directory in the manifest (a base moved to other storage); it must be the
    same base, byte for byte in what the fingerprint reads. Raises CheckpointError on anything that does not
    fit, with the reason; nothing is half-loaded.
    """
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    _check_adapter(model_dir, manifest)
    base = Path(base_model) if base_model is not None else Path(str(manifest.get("base_model", "")))
    if not (base / "config.json").is_file():
        raise CheckpointError(f"critic {model_dir}: its base model {base} is missing")
    if base_fingerprint(base) != manifest.get("base_fingerprint"):
        raise CheckpointError(f"critic {model_dir} was trained on another base model than {base} (fingerprints differ)")
    from peft import PeftModel

    tokenizer = _load_tokenizer(base)
    model = _load_causal_lm(base, device, bf16=False)
    try:
        # The checks above found adapter_model.safetensors and no pickle beside it.
        model = PeftModel.from_pretrained(model, str(model_dir / ADAPTER_DIR), is_trainable=False)
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise CheckpointError(f"critic {model_dir}: the adapter does not fit base {base} ({exc})") from None
    model.eval()
    return Critic(model, tokenizer, manifest, model_dir)


# --- CLI ---------------------------------------------------------------------------------------------------


def _config_help() -> str:
    lines = []
    for f in dataclasses.fields(CriticConfig):
        default = "required" if f.default is dataclasses.MISSING else f"default {json.dumps(f.default)}"
        lines.append(f"  {f.name} ({default}): {f.metadata['help']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m alignment.training.critic",
        description="Train the MedES guardian's critic on exported accepted labels (JSONL) and print the result "
        "as JSON, or write a trained critic's feedback on rows as JSONL.",
        epilog="config fields:\n" + _config_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--config", help="JSON file with the CriticConfig fields: train a critic")
    mode.add_argument("--feedback", metavar="CRITIC_DIR", help="a trained critic: write its feedback on --rows")
    parser.add_argument("--rows", help="JSONL rows (scene, norm, scenario, response, scores, id) for --feedback")
    parser.add_argument("--out", help="write the feedback JSONL here instead of stdout")
    parser.add_argument("--base-model", help="the critic's base model, when it moved since training")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    if args.feedback and not args.rows:
        parser.error("--feedback needs --rows")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no code path here downloads anything
    try:
        if args.config:
            result = train(CriticConfig.from_file(args.config))
            print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2, sort_keys=True))
            return 0
        critic = load(args.feedback, base_model=args.base_model, device=args.device)
        records = critic.feedback(read_jsonl(args.rows), batch_size=max(1, args.batch_size))
    except GuardianError as exc:
        print(f"critic: error: {exc}", file=sys.stderr)
        return 2
    lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    if args.out:
        Path(args.out).write_text(lines, encoding="utf-8")
    else:
        sys.stdout.write(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())

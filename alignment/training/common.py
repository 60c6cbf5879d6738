"""What every training module shares beside its config (alignment.training.config: the knobs): JSON/JSONL files,
hashing and base-model fingerprints, tokenizer and model loading, trained-model manifests and LoRA adapters
(checking, loading, publishing), and the command line of ``python -m alignment.training.<module>``.

Nothing here imports Django; torch/transformers/peft are imported inside functions so importing this module is
cheap.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignment.training.config import JsonConfig, config_help
from alignment.training.errors import CheckpointError, ConfigError, DataError, TrainingError

ADAPTER_DIR = "adapter"
ADAPTER_FILE = "adapter_model.safetensors"
# Weight files that would be unpickled (or are otherwise not safetensors): results never hold them.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_FINGERPRINT_CHUNK = 1 << 20  # bytes read from each end of every base weight file


# --- JSON and JSONL files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JsonLine:
    """One non-blank line of a JSONL file: where it is (``file.jsonl:12``), its value, or why it has none."""

    where: str
    lineno: int
    value: Any
    problem: str


def jsonl_lines(path: str | Path) -> list[JsonLine]:
    """Every non-blank line of a JSONL file, decoded or with the reason it is not JSON. Raises DataError when
    the file itself cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None
    lines = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{lineno}"
        try:
            lines.append(JsonLine(where, lineno, json.loads(line), ""))
        except json.JSONDecodeError as exc:
            lines.append(JsonLine(where, lineno, None, f"not valid JSON ({exc.msg} at column {exc.colno})"))
    return lines


def read_jsonl(path: str | Path, *, allow_empty: bool = False) -> list[dict[str, Any]]:
    """The objects of a JSONL file (blank lines skipped); raises DataError naming the file and line."""
    rows = []
    for line in jsonl_lines(path):
        if line.problem:
            raise DataError(f"{line.where}: {line.problem}")
        if not isinstance(line.value, dict):
            raise DataError(f"{line.where}: expected a JSON object, got {type(line.value).__name__}")
        rows.append(line.value)
    if not rows and not allow_empty:
        raise DataError(f"{path}: no rows")
    return rows


def jsonl_text(records: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)


def write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    path.write_text(jsonl_text(records), encoding="utf-8")


def write_json(path: Path, data: Any) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as f:
        json.dump(data, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")
    os.chmod(f.name, 0o644)  # temporary files are created private; the web process reads these
    os.replace(f.name, path)


# --- hashing -----------------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
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
            digest.update(f"\0{name}\0{sha256_file(base / name)}".encode())
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


def library_versions(names: Sequence[str]) -> dict[str, str]:
    """The installed versions of ``names`` (what a manifest records); packages not installed are left out."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


# --- tokenizers and models ---------------------------------------------------------------------------------


def check_device(device: str) -> None:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA device")


def torch_dtype(bf16: bool) -> Any:
    import torch

    return torch.bfloat16 if bf16 else torch.float32


def load_tokenizer(base_model: str | Path) -> Any:
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


def load_causal_lm(base_model: str | Path, *, dtype: Any) -> Any:
    """The base as a causal LM, on the CPU (a Trainer places it; generation moves it)."""
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(
            str(base_model), local_files_only=True, use_safetensors=True, dtype=dtype
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"base model {base_model} cannot be loaded as a causal LM: {exc}") from None


def load_sequence_classifier(
    base_model: str | Path, tokenizer: Any, labels: Sequence[str], *, device: str, bf16: bool
) -> Any:
    """The base with a multi-label classification head over ``labels``, on ``device``."""
    from transformers import AutoModelForSequenceClassification

    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(base_model),
            num_labels=len(labels),
            problem_type="multi_label_classification",
            id2label=dict(enumerate(labels)),
            label2id={k: i for i, k in enumerate(labels)},
            # A base that already has a head of another size (a causal LM has none) gets a fresh one.
            ignore_mismatched_sizes=True,
            use_safetensors=True,
            local_files_only=True,
            dtype=torch_dtype(bf16),
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"base model {base_model} cannot be loaded: {exc}") from None
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device)


# --- trained models: manifests and adapters ----------------------------------------------------------------


def read_manifest(model_dir: str | Path, *, what: str, name: str, expected_format: str) -> dict[str, Any]:
    """The manifest ``name`` of a trained ``what`` (e.g. "guardian"), checked to be an ``expected_format`` manifest;
    raises CheckpointError. The run kind checks its own fields after this."""
    path = Path(model_dir) / name
    if not Path(model_dir).is_dir():
        raise CheckpointError(f"{what} {model_dir}: no such directory")
    if not path.is_file():
        raise CheckpointError(f"{what} {model_dir}: no {name} (not a {what}, or its training did not finish)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{what} {model_dir}: {name} is corrupted ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != expected_format:
        raise CheckpointError(f"{what} {model_dir}: {name} is not a {expected_format} manifest")
    return manifest


def check_adapter(model_dir: Path, manifest: Mapping[str, Any], *, what: str) -> Path:
    """The adapter weights of a trained ``what``, refused unless they are safetensors with no pickled weights
    beside them, have their config, and match the manifest's sha256. Raises CheckpointError."""
    adapter_dir = model_dir / ADAPTER_DIR
    path = adapter_dir / ADAPTER_FILE
    pickles = (
        sorted(p.name for p in adapter_dir.iterdir() if p.suffix in PICKLE_SUFFIXES) if adapter_dir.is_dir() else []
    )
    refused = f"the adapter holds {', '.join(pickles)}: only safetensors weights are loaded" if pickles else ""
    if not path.is_file():
        raise CheckpointError(
            f"{what} {model_dir}: adapter weights {ADAPTER_FILE} are missing" + (f"; {refused}" if refused else "")
        )
    if refused:
        raise CheckpointError(f"{what} {model_dir}: {refused}")
    if not (adapter_dir / "adapter_config.json").is_file():
        raise CheckpointError(f"{what} {model_dir}: adapter_config.json is missing")
    if sha256_file(path) != (manifest.get("adapter") or {}).get("sha256"):
        raise CheckpointError(f"{what} {model_dir}: {ADAPTER_FILE} is corrupted (sha256 differs from the manifest)")
    return path


def checked_base(model_dir: Path, manifest: Mapping[str, Any], base_model: str | Path | None, *, what: str) -> Path:
    """The base a trained ``what`` applies to: ``base_model`` (a base moved to other storage) or the manifest's,
    refused unless its fingerprint is the one the manifest records."""
    base = Path(base_model) if base_model is not None else Path(str(manifest.get("base_model", "")))
    if not (base / "config.json").is_file():
        raise CheckpointError(f"{what} {model_dir}: its base model {base} is missing")
    if base_fingerprint(base) != manifest.get("base_fingerprint"):
        raise CheckpointError(f"{what} {model_dir} was trained on another base model than {base} (fingerprints differ)")
    return base


def load_adapter(model: Any, model_dir: Path, base: Path, *, what: str) -> Any:
    """``model`` with the checked adapter of ``model_dir`` applied, for inference (eval mode)."""
    from peft import PeftModel

    try:
        # check_adapter found adapter_model.safetensors and no pickle beside it: peft loads the safetensors.
        model = PeftModel.from_pretrained(model, str(model_dir / ADAPTER_DIR), is_trainable=False)
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise CheckpointError(f"{what} {model_dir}: the adapter does not fit base {base} ({exc})") from None
    model.eval()
    return model


def remove_pickles(directory: Path) -> None:
    """Trainer.save_model also writes training_args.bin (a pickle): results hold safetensors only."""
    for path in directory.iterdir():
        if path.is_file() and path.suffix in PICKLE_SUFFIXES:
            path.unlink()


def make_readable(directory: Path) -> None:
    """Temporary directories and safetensors files are created private; the web process and workers read them."""
    directory.chmod(0o755)
    for path in directory.iterdir():
        if path.is_file():
            path.chmod(0o644)


def publish_adapter(staging: Path, out: Path) -> Path:
    """Move an adapter saved in ``staging`` to ``out/adapter`` (safetensors only, readable), replacing an older
    one; returns the adapter directory."""
    remove_pickles(staging)
    make_readable(staging)
    adapter_dir = out / ADAPTER_DIR
    shutil.rmtree(adapter_dir, ignore_errors=True)
    staging.rename(adapter_dir)
    return adapter_dir


def save_adapter(model: Any, out: Path) -> Path:
    """Save a trained PeftModel's adapter (only the adapter: the base is not copied) as ``out/adapter``."""
    staging = Path(tempfile.mkdtemp(prefix=".adapter-", dir=out))
    model.save_pretrained(str(staging), safe_serialization=True)
    return publish_adapter(staging, out)


# --- the command line --------------------------------------------------------------------------------------


def result_json(result: Any) -> str:
    """A result's ``as_dict()`` as the JSON a module's CLI prints."""
    return json.dumps(result.as_dict(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def command_line(
    argv: Sequence[str] | None,
    *,
    name: str,
    description: str,
    config_class: type[JsonConfig],
    work: Callable[[argparse.Namespace], str | None],
    add_arguments: Callable[[argparse.ArgumentParser, Any], None] | None = None,
) -> int:
    """The ``main()`` of ``python -m alignment.training.<name>``. ``--config FILE`` (or another mode that
    ``add_arguments(parser, modes)`` adds to the ``modes`` group), then ``work(args)`` with Hugging Face offline
    and warnings on stderr; its text goes to stdout. A TrainingError prints one line "<name>: error: …" on
    stderr and exits with its ``exit_code``; the config fields and their help are listed by ``--help``."""
    parser = argparse.ArgumentParser(
        prog=f"python -m alignment.training.{name}",
        description=description,
        epilog="config fields:\n" + config_help(config_class),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    modes = parser.add_mutually_exclusive_group(required=True)
    modes.add_argument("--config", help=f"JSON file with the {config_class.__name__} fields")
    if add_arguments is not None:
        add_arguments(parser, modes)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no code path here downloads anything
    try:
        text = work(args)
    except TrainingError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if text:
        sys.stdout.write(text)
    return 0

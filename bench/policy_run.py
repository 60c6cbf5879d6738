"""SFT then DPO of a policy model through the real runner (alignment.training.policy.run), without Django:
steps per second, tokens per second, peak memory and, on a GPU, the share of time the GPU was busy.

    python bench/policy_run.py [--shape tiny|0.5b|1.5b] [--device cpu|cuda] [--bf16] [--steps 50]
                               [--batch-size 4] [--max-length 512] [--answer-chars 400] [--base DIR]

Unless ``--base`` names a real model directory, it builds a random Qwen2 offline (alignment/tinymodels.py)
with the chosen body: "0.5b" and "1.5b" have Qwen2.5-0.5B's and Qwen2.5-1.5B's layers, widths and heads, and
their 151,936-row embedding and LM head (the tied head's matmul is a real share of a causal LM's compute);
the tokenizer is the tiny one, so only its first ~1.2k ids occur. The rows are the demo cases
(benchmark/demo/scenarios.json) with their reference answers repeated to ``--answer-chars`` characters; DPO's
rejected answer is the careless one, equally long. SFT runs ``--steps`` steps on the base; DPO runs as many
on the base with the SFT adapter merged in, the SFT policy as its reference, as the align pipeline does.

Tokens/s counts the tokens of the sequences each step trains on (SFT: prompt + answer; DPO: prompt + chosen
and prompt + rejected, each also passed through the reference model), from the tokenizer, capped at
``--max-length``. The GPU's busy share is ``nvidia-smi``'s utilization sampled every 0.2 s while the trainer trains.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from alignment.tinymodels import build_tiny_qwen2  # noqa: E402
from alignment.training import policy  # noqa: E402
from alignment.training.policy import RunConfig  # noqa: E402

QWEN_VOCAB = 151_936
SHAPES: dict[str, dict[str, int]] = {
    "tiny": {"hidden": 64, "layers": 2},
    "0.5b": {
        "hidden": 896,
        "layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "intermediate_size": 4864,
        "vocab": QWEN_VOCAB,
    },
    "1.5b": {
        "hidden": 1536,
        "layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "intermediate_size": 8960,
        "vocab": QWEN_VOCAB,
    },
}


def build_base(directory: Path, shape: str, corpus: list[str]) -> Path:
    spec = dict(SHAPES[shape])
    vocab = spec.pop("vocab", 0)
    build_tiny_qwen2(directory, extra_corpus=corpus, logit_scale=10, **spec)
    if vocab:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, use_safetensors=True)
        model.resize_token_embeddings(vocab, mean_resizing=False)
        model.save_pretrained(directory, safe_serialization=True)
    return directory


def rows(answer_chars: int, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """``n`` rows: the demo cases in turn, each numbered so no two rows are the same."""
    demo = json.loads((ROOT / "benchmark" / "demo" / "scenarios.json").read_text(encoding="utf-8"))["subjective"]

    def stretch(text: str) -> str:
        return (text * (answer_chars // max(len(text), 1) + 1))[:answer_chars]

    sft, dpo = [], []
    for i in range(n):
        case = demo[i % len(demo)]
        user = [{"role": "user", "content": f"{case['stem']}（{i}）"}]
        good, bad = stretch(case["reference_answer"]), stretch(case["careless"])
        sft.append({"messages": [*user, {"role": "assistant", "content": good}]})
        dpo.append(
            {
                "prompt": user,
                "chosen": [{"role": "assistant", "content": good}],
                "rejected": [{"role": "assistant", "content": bad}],
            }
        )
    corpus = [t for c in demo for t in (c["stem"], c["reference_answer"], c["careless"])]
    return sft, dpo, corpus


def write(path: Path, data: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data), encoding="utf-8")
    return path


def sequence_tokens(base: Path, sft: list[dict[str, Any]], dpo: list[dict[str, Any]], cap: int) -> dict[str, float]:
    """Mean tokens per row: SFT (one sequence), DPO (chosen and rejected sequences together)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)

    def n(messages: list[dict[str, str]]) -> int:
        text = tok.apply_chat_template(messages, tokenize=False)
        return min(cap, len(tok(text, add_special_tokens=False)["input_ids"]))

    return {
        "sft": sum(n(r["messages"]) for r in sft) / len(sft),
        "dpo": sum(n(r["prompt"] + r["chosen"]) + n(r["prompt"] + r["rejected"]) for r in dpo) / len(dpo),
    }


class GpuSampler(threading.Thread):
    """nvidia-smi's utilization (%) every 0.2 s while ``training`` is set (between the trainer's train begin and
    end, not while the model loads, merges or saves); no GPU, no samples."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.stop = threading.Event()
        self.training = threading.Event()

    def run(self) -> None:
        if shutil.which("nvidia-smi") is None:
            return
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", "0"]
        while not self.stop.is_set():
            if self.training.is_set():
                out = subprocess.run(query, capture_output=True, text=True, check=False).stdout.strip()
                if out.replace(".", "", 1).isdigit():
                    self.samples.append(float(out))
            self.stop.wait(0.2)

    def callback(self) -> Any:
        from transformers import TrainerCallback

        sampler = self

        class Window(TrainerCallback):
            def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
                sampler.training.set()

            def on_train_end(self, *args: Any, **kwargs: Any) -> None:
                sampler.training.clear()

        return Window()

    def busy(self) -> float | None:
        return round(sum(self.samples) / len(self.samples) / 100, 3) if self.samples else None


def rows_seen(rows: int, batch_size: int, batches: int) -> int:
    """Rows in ``batches`` batches over an epoch of ``rows`` (the last batch of an epoch may be short)."""
    epoch = [batch_size] * (rows // batch_size) + ([rows % batch_size] if rows % batch_size else [])
    return sum(epoch[i % len(epoch)] for i in range(batches))


def stage(config: RunConfig, tokens_per_row: float, rows: int) -> dict[str, Any]:
    import torch

    if config.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sampler = GpuSampler()
    sampler.start()
    started = time.perf_counter()
    result = policy.run(config, callbacks=[sampler.callback()])
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    seen = rows_seen(rows, config.batch_size, result.steps * config.gradient_accumulation_steps)
    out = {
        "steps": result.steps,
        "train_seconds": round(result.train_seconds, 2),
        "run_seconds": round(wall, 2),
        "steps_per_s": round(result.steps / result.train_seconds, 3),
        "rows_trained": seen,
        "tokens_per_s": round(seen * tokens_per_row / result.train_seconds, 1),
        "first_loss": result.losses[0] if result.losses else None,
        "final_loss": result.losses[-1] if result.losses else None,
        "gpu_busy_share": sampler.busy(),
    }
    if config.device == "cuda":
        out["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--base", help="a real causal LM directory instead of a random body")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--answer-chars", type=int, default=400)
    parser.add_argument("--rows", type=int, default=96, help="training rows (the demo cases in turn)")
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    args = parser.parse_args()
    import torch
    import transformers
    import trl

    with tempfile.TemporaryDirectory(prefix="medes-policy-bench-") as tmp_name:
        tmp = Path(tmp_name)
        sft_rows, dpo_rows, corpus = rows(args.answer_chars, args.rows)
        started = time.perf_counter()
        base = Path(args.base) if args.base else build_base(tmp / "base", args.shape, corpus)
        build_seconds = time.perf_counter() - started
        tokens = sequence_tokens(base, sft_rows, dpo_rows, args.max_length)
        common = {
            "base_model": str(base),
            "max_steps": args.steps,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "learning_rate": 2e-4,
            "lora_r": args.lora_r,
            "lora_alpha": 2 * args.lora_r,
            "device": args.device,
            "bf16": args.bf16,
            "logging_steps": min(10, args.steps),
            "gradient_checkpointing": args.gradient_checkpointing,
            "save_steps": 0,
        }
        sft_config = RunConfig(
            stage="sft", data=str(write(tmp / "sft.jsonl", sft_rows)), output_dir=str(tmp / "sft"), **common
        )
        sft = stage(sft_config, tokens["sft"], len(sft_rows))
        dpo_config = RunConfig(
            stage="dpo",
            data=str(write(tmp / "dpo.jsonl", dpo_rows)),
            output_dir=str(tmp / "dpo"),
            adapter=str(tmp / "sft" / "adapter"),
            **common,
        )
        dpo = stage(dpo_config, tokens["dpo"], len(dpo_rows))
        from transformers import AutoConfig

        shape = AutoConfig.from_pretrained(base, local_files_only=True).to_dict()
        print(
            json.dumps(
                {
                    "shape": "base" if args.base else args.shape,
                    "device": args.device,
                    "body": {k: shape.get(k) for k in ("hidden_size", "num_hidden_layers", "vocab_size")},
                    "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
                    "bf16": args.bf16,
                    "batch_size": args.batch_size,
                    "max_length": args.max_length,
                    "rows": len(sft_rows),
                    "tokens_per_row": {k: round(v, 1) for k, v in tokens.items()},
                    "build_seconds": round(build_seconds, 1),
                    "sft": sft,
                    "dpo": dpo,
                    "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
                    "machine": {
                        "python": platform.python_version(),
                        "cpus": os.cpu_count(),
                        "torch": torch.__version__,
                        "transformers": transformers.__version__,
                        "trl": trl.__version__,
                    },
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()

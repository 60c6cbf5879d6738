"""Guardian training time per N labels and judging throughput (responses/s), without Django.

    python bench/guardian_training.py [--labels 1000] [--epochs 3] [--device cpu] [--shape tiny|0.5b]
                                      [--base DIR]

Builds a tiny Qwen2 sequence classifier offline (tests/tinymodels.py; ``--shape 0.5b`` gives it Qwen2.5-0.5B's body)
unless ``--base`` names a real model directory, writes N synthetic accepted labels (tests/guardian_synth.py:
four responses per scenario, scores readable from the text), and runs the real ``alignment.training.guardian``
path: ``run()`` (split, LoRA training, test-split scoring, artifacts) and then ``load()`` + ``predict()`` over
all N responses, as a judging job would. Timed separately: the training loop alone, the whole ``run()``, the
load, and prediction. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from alignment.tinymodels import build_tiny_classifier  # noqa: E402
from alignment.training import guardian  # noqa: E402
from alignment.training.guardian import GuardianConfig  # noqa: E402
from tests.guardian_synth import corpus, synthetic_rows, write_jsonl  # noqa: E402

# Random-weight Qwen2 bodies built offline. "0.5b" has Qwen2.5-0.5B's body (24 layers, hidden 896, 14 heads, 2 KV
# heads, MLP 4864) on the tiny tokenizer's ~1.2k vocabulary, so its compute per token is a real 0.5B's minus the
# 136M-parameter embedding table, which a classifier only looks up.
SHAPES: dict[str, dict[str, int]] = {
    "tiny": {"hidden": 64, "layers": 2},
    "0.5b": {
        "hidden": 896,
        "layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "intermediate_size": 4864,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--predict-batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-3)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny", help="size of the offline-built base")
    parser.add_argument("--base", help="a real base model directory instead of the tiny one")
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        if args.base:
            base = Path(args.base)
        else:
            base = build_tiny_classifier(work / "base", extra_corpus=corpus(), **SHAPES[args.shape])
        build_seconds = time.perf_counter() - started
        rows = synthetic_rows(args.labels)
        data = write_jsonl(work / "labels.jsonl", rows)
        config = GuardianConfig(
            base_model=str(base),
            output_dir=str(work / "guardian"),
            data=str(data),
            epochs=args.epochs,
            batch_size=args.batch_size,
            eval_batch_size=args.predict_batch_size,
            learning_rate=args.learning_rate,
            max_length=args.max_length,
            device=args.device,
            bf16=args.bf16,
        )
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        result = guardian.run(config)
        run_seconds = time.perf_counter() - started
        train_peak = torch.cuda.max_memory_allocated() if args.device == "cuda" else None

        started = time.perf_counter()
        judge = guardian.load(result.model_dir, device=args.device)
        load_seconds = time.perf_counter() - started
        judge.predict(rows[:8], batch_size=args.predict_batch_size)  # warm-up
        started = time.perf_counter()
        judged = judge.predict(rows, batch_size=args.predict_batch_size)
        predict_seconds = time.perf_counter() - started

        manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
        m = result.metrics
        params = sum(p.numel() for p in judge.model.parameters())
        report = {
            "bench": "guardian_training",
            "machine": {
                "python": platform.python_version(),
                "cpu_count": os.cpu_count(),
                "torch": torch.__version__,
                "torch_threads": torch.get_num_threads(),
                "device": args.device,
                "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
            },
            "model": {
                "base": str(base) if args.base else f"offline Qwen2, shape {args.shape}",
                "shape": None if args.base else SHAPES[args.shape],
                "parameters": params,
                "build_seconds": round(build_seconds, 2),
            },
            "labels": args.labels,
            "split": result.counts,
            "train": {
                "epochs": args.epochs,
                "steps": manifest["train"]["steps"],
                "batch_size": args.batch_size,
                "train_loop_seconds": round(result.train_seconds, 2),
                "run_seconds": round(run_seconds, 2),
                "seconds_per_1000_labels": round(result.train_seconds / args.labels * 1000, 2),
                "first_loss": round(result.losses[0], 4),
                "last_loss": round(result.losses[-1], 4),
                "peak_gpu_bytes": train_peak,
            },
            "test_metrics": {
                "n": m["n"],
                "accuracy_mean": round(m["accuracy_mean"], 4),
                "majority_accuracy_mean": round(m["majority_accuracy_mean"], 4),
                "macro_f1": m["macro_f1"] and round(m["macro_f1"], 4),
                "risk_f1": m["risk"]["f1"] and round(m["risk"]["f1"], 4),
                "ece": round(m["ece"], 4),
            },
            "predict": {
                "responses": len(judged),
                "batch_size": args.predict_batch_size,
                "load_seconds": round(load_seconds, 2),
                "seconds": round(predict_seconds, 3),
                "responses_per_second": round(len(judged) / predict_seconds, 1),
            },
        }
        print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()

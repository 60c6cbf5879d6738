"""The guardian's critic: training time per N labels and feedback throughput (responses/s, tokens/s), without
Django.

    python bench/guardian_critic.py [--labels 1000] [--epochs 1] [--device cpu] [--shape tiny|0.5b]
                                    [--feedback-rows 64] [--max-new-tokens 128] [--base DIR]

Builds a tiny Qwen2 causal LM offline (tests/tinymodels.py; ``--shape 0.5b`` gives it Qwen2.5-0.5B's body)
unless ``--base`` names a real model directory, writes N synthetic accepted labels with rationales, reference
answers and cited provisions (tests/guardian_synth.py), and runs the real ``alignment.training.critic`` path:
``train()`` (TRL SFTTrainer + LoRA, loss on the answer only) and then ``load()`` + ``feedback()`` over
``--feedback-rows`` responses, as a judging job would (greedy, left-padded batches, schema check). A random
base writes noise, so the share of feedback that passes the schema is reported but means nothing here;
generation runs to ``--max-new-tokens`` for such a model, which makes the throughput a lower bound.
Prints one JSON object.
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

from alignment.tinymodels import build_tiny_qwen2  # noqa: E402
from alignment.training import critic  # noqa: E402
from alignment.training.critic import CriticConfig  # noqa: E402
from tests.guardian_synth import FLAG, corpus, synthetic_rows, write_jsonl  # noqa: E402

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


def critic_rows(n: int) -> list[dict]:
    """Synthetic labels with what the critic learns from: a rationale (with a warning line when risky), the
    case's reference answer and the provision it cites."""
    rows = synthetic_rows(n)
    for row in rows:
        risky = any(row["scores"][k] == FLAG[k] for k in ("R1", "R2"))
        row["rationale"] = f"回答含有违规建议。\n警示：{row['norm']}。" if risky else "回答稳妥，说明了风险。"
        row["reference_answer"] = f"不能这样做：{row['norm']}。建议咨询医院伦理委员会。"
        row["provisions"] = [f"《{row['scene']}管理规定》第{row['scenario_id'] % 9 + 1}条"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-3)
    parser.add_argument("--max-length", type=int, default=384)
    parser.add_argument("--feedback-rows", type=int, default=64)
    parser.add_argument("--feedback-batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny", help="size of the offline-built base")
    parser.add_argument("--base", help="a real causal LM directory (with a chat template) instead of the tiny one")
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = critic_rows(args.labels)
        started = time.perf_counter()
        if args.base:
            base = Path(args.base)
        else:
            extra = [*corpus(), *(r["rationale"] for r in rows[:50]), *(r["reference_answer"] for r in rows[:50])]
            base = build_tiny_qwen2(work / "base", extra_corpus=extra, logit_scale=10, **SHAPES[args.shape])
        build_seconds = time.perf_counter() - started
        data = write_jsonl(work / "labels.jsonl", rows)
        config = CriticConfig(
            base_model=str(base),
            output_dir=str(work / "critic"),
            data=str(data),
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            max_length=args.max_length,
            device=args.device,
            bf16=args.bf16,
            max_new_tokens=args.max_new_tokens,
            target_modules="all-linear",
        )
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        result = critic.run(config)
        run_seconds = time.perf_counter() - started
        train_peak = torch.cuda.max_memory_allocated() if args.device == "cuda" else None

        started = time.perf_counter()
        writer = critic.load(result.model_dir, device=args.device)
        load_seconds = time.perf_counter() - started
        sample = rows[: args.feedback_rows]
        writer.feedback(sample[:2], batch_size=2)  # warm-up
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        texts = writer.generate(sample, batch_size=args.feedback_batch_size)
        generate_seconds = time.perf_counter() - started
        readings = [critic.parse_feedback(text) for text in texts]
        tokens = sum(len(writer.tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts)
        report = {
            "bench": "guardian_critic",
            "machine": {
                "python": platform.python_version(),
                "cpu_count": os.cpu_count(),
                "torch": torch.__version__,
                "torch_threads": torch.get_num_threads(),
                "device": args.device,
                "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
            },
            "model": {
                "base": str(base) if args.base else f"offline Qwen2 causal LM, shape {args.shape}",
                "parameters": sum(p.numel() for p in writer.model.parameters()),
                "build_seconds": round(build_seconds, 2),
            },
            "labels": args.labels,
            "examples": result.counts,
            "train": {
                "epochs": args.epochs,
                "steps": result.steps,
                "batch_size": args.batch_size,
                "loss_mask": result.loss_mask,
                "train_loop_seconds": round(result.train_seconds, 2),
                "run_seconds": round(run_seconds, 2),
                "seconds_per_1000_labels": round(result.train_seconds / args.labels * 1000, 2),
                "first_loss": round(result.losses[0], 4),
                "last_loss": round(result.losses[-1], 4),
                "peak_gpu_bytes": train_peak,
            },
            "feedback": {
                "responses": len(texts),
                "batch_size": args.feedback_batch_size,
                "max_new_tokens": args.max_new_tokens,
                "load_seconds": round(load_seconds, 2),
                "seconds": round(generate_seconds, 2),
                "responses_per_second": round(len(texts) / generate_seconds, 2),
                "generated_tokens_per_second": round(tokens / generate_seconds, 1),
                "passes_schema": sum(r.ok for r in readings),
                "peak_gpu_bytes": torch.cuda.max_memory_allocated() if args.device == "cuda" else None,
            },
        }
        print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()

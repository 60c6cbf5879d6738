"""Next and submit at 10k, 100k and 1M labels: is the labeling loop flat with the data's size?

    python bench/labeling_scale.py [--rounds 3] [--loops 150]

Issue 17 asks for server times within 1.2× of each other. Three PostgreSQL databases built by
bench/labeling_data.py at ``--scale`` 0.01, 0.1 and 1 (``medes_bench_10k``, ``medes_bench_100k``,
``medes_bench``: 10,002 / 100,002 / 1,000,002 labels, with campaigns and banks scaled alike), built when missing.
Each round runs bench/labeling.py with one client for ``--loops`` loops against each database in turn (the order
turned each round), and the table gives the server time's p50 and p95 (Server-Timing) over all rounds. One
client, because the smallest data set's live campaign has 167 open items; the labels a run adds are removed
after it, so every run starts from the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import percentile  # noqa: E402

SCALES = (("10k", 0.01, "medes_bench_10k"), ("100k", 0.1, "medes_bench_100k"), ("1M", 1.0, "medes_bench"))


def url(database: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{database}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loops", type=int, default=150, help="label loops per run (two requests each)")
    args = parser.parse_args()
    env = {**os.environ, "MEDES_VAR_DIR": os.environ.get("MEDES_VAR_DIR", str(ROOT / "var" / "bench"))}
    for _name, scale, database in SCALES:
        subprocess.run(  # builds the data set once; a second run sees it and stops at once
            [sys.executable, str(ROOT / "bench" / "labeling_data.py"), "--scale", str(scale)],
            env={**env, "DATABASE_URL": url(database)},
            check=True,
            stdout=subprocess.DEVNULL,
        )
    samples: dict[str, dict[str, list[float]]] = {name: {"next": [], "submit": []} for name, _s, _d in SCALES}
    labels: dict[str, int] = {}
    queries: dict[str, dict[str, object]] = {}
    for round_no in range(args.rounds):
        order = SCALES[round_no % 3 :] + SCALES[: round_no % 3]
        for name, _scale, database in order:
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                subprocess.run(
                    [
                        sys.executable,
                        str(ROOT / "bench" / "labeling.py"),
                        "--clients",
                        "1",
                        "--seconds",
                        "600",
                        "--max-requests",
                        str(args.loops),
                        "--raw",
                        "--json",
                        out.name,
                    ],
                    env={**env, "DATABASE_URL": url(database)},
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                result = json.loads(Path(out.name).read_text())
            labels[name] = result["labels"]
            for op in ("next", "submit"):
                samples[name][op] += result["raw_server_ms"][op]
                queries.setdefault(name, {})[op] = result[op]["queries"]
            print(f"round {round_no + 1}: {name:>4} labels done", flush=True)
    machine = f"{platform.node()} · {os.cpu_count()} cores · PostgreSQL"
    print(f"\n{machine} · 1 client · {args.rounds} rounds × {args.loops} loops")
    print(f"{'labels':>10} {'next p50':>9} {'next p95':>9} {'submit p50':>11} {'submit p95':>11}  SQL next / submit")
    for name, _scale, _database in SCALES:
        mine = samples[name]
        print(
            f"{labels[name]:>10,} {percentile(mine['next'], 0.5):9.2f} {percentile(mine['next'], 0.95):9.2f} "
            f"{percentile(mine['submit'], 0.5):11.2f} {percentile(mine['submit'], 0.95):11.2f}  "
            f"{queries[name]['next']} / {queries[name]['submit']}"
        )
    spread = {
        op: max(percentile(samples[n][op], 0.5) for n, _s, _d in SCALES)
        / min(percentile(samples[n][op], 0.5) for n, _s, _d in SCALES)
        for op in ("next", "submit")
    }
    print(f"largest / smallest p50: next {spread['next']:.2f}×, submit {spread['submit']:.2f}× (the issue asks ≤ 1.2×)")


if __name__ == "__main__":
    main()

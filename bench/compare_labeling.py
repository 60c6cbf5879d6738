"""The labeling loop, the workbench against Label Studio 1.23.2, side by side on this machine: one command.

    make bench-labeling                      # = python bench/compare_labeling.py
    python bench/compare_labeling.py [--seconds 30] [--rounds 3] [--clients 1,16] [--tasks 10000]

What it does, every time in this order:
1. the workbench's data set in PostgreSQL (``medes_bench``: 100,000 scenarios, 300,000 responses, 1,000,000
   labels; bench/labeling_data.py), built if missing (about a minute), else reused;
2. Label Studio in its own virtualenv (var/bench/ls-venv, installed if missing) with its project of ``--tasks``
   tasks and one user per client (bench/labelstudio.py), made if missing, else reused;
3. for each client count, ``--rounds`` rounds; each round runs the three servers one after the other, the order
   turned by one each round (so none always runs first or last on a warmer or more tired machine): the
   workbench (gunicorn, one worker per core, DEBUG off, sessions and users cached in Redis), Label Studio as it
   ships (``label-studio start``: Django's development server) and Label Studio on gunicorn (one worker per
   core). Each client loops next → submit with no think time for ``--seconds``; the workbench's added labels are
   removed after each run, so every run starts from the same 1M labels;
4. prints a table: label loops per second (the median of the rounds; a loop is one next and one submit),
   the workbench's throughput as a multiple of each Label Studio set-up, server time p50/p95 (Server-Timing:
   the workbench sends it, Label Studio on gunicorn gets it from bench/ls_timing.py; its development server has
   none, so only client time), SQL statements per request, and the CPU time of the whole machine per loop
   (/proc/stat: servers, PostgreSQL, Redis and the load generator together). JSON of every run goes to
   var/bench/compare_labeling.json.

bench/README.md says what is and is not symmetric between the two, and the figures measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/medes_bench")
os.environ.setdefault("MEDES_VAR_DIR", str(ROOT / "var" / "bench"))

import labeling  # noqa: E402
import labelstudio  # noqa: E402
from loadgen import Stats, percentile, run  # noqa: E402

SYSTEMS = ("workbench", "ls-runserver", "ls-gunicorn")
LABELS = {
    "workbench": "MedES workbench (gunicorn)",
    "ls-runserver": "Label Studio 1.23.2 (label-studio start)",
    "ls-gunicorn": "Label Studio 1.23.2 (gunicorn)",
}


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def ensure_workbench_data() -> int:
    try:
        return labeling.live_campaign()
    except SystemExit:
        print("building the workbench's data set (bench/labeling_data.py)", flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "labeling_data.py")], check=True, env=os.environ)
        return labeling.live_campaign()


def one_run(
    system: str, clients: int, seconds: float, campaign: int, ls_bin: Path, ls_state: dict[str, Any]
) -> dict[str, Any]:
    workers = os.cpu_count() or 1
    if system == "workbench":
        before = labeling.last_label()
        from django.db import connection

        connection.close()
        server = labeling.start_server(workers)
        stop = lambda: labeling.os.killpg(server.pid, labeling.signal.SIGTERM)  # noqa: E731
        sessions = [labeling.sign_in(f"live{n:02d}") for n in range(clients)]
        loop = labeling.labeling_loop(campaign)
    else:
        server = labelstudio.start(ls_bin, "runserver" if system == "ls-runserver" else "gunicorn", workers)
        stop = lambda: labelstudio.stop(server)  # noqa: E731
        sessions = labelstudio.sessions(ls_state, clients)
        loop = labelstudio.labeling_loop(ls_state["project"])
    try:
        run(sessions, loop, seconds=min(3.0, seconds), max_requests=10_000)  # warm-up, not counted
        cpu_before = busy_jiffies()
        stats, elapsed = run(sessions, loop, seconds=seconds, max_requests=1_000_000)
        cpu_after = busy_jiffies()
    finally:
        stop()
        if system == "workbench":
            server.wait(timeout=30)
            labeling.reset_live(campaign, before)
    return summarise(system, clients, stats, elapsed, cpu_before, cpu_after)


def summarise(
    system: str, clients: int, stats: Stats, elapsed: float, cpu_before: tuple[int, int], cpu_after: tuple[int, int]
) -> dict[str, Any]:
    loops = len(stats.client_ms.get("submit", []))
    tick = os.sysconf("SC_CLK_TCK")
    busy = (cpu_after[0] - cpu_before[0]) / tick
    out: dict[str, Any] = {
        "system": system,
        "clients": clients,
        "seconds": round(elapsed, 1),
        "loops_per_s": round(loops / elapsed, 1),
        "errors": sum(len(v) for v in stats.errors.values()),
        "cpu_ms_per_loop": round(busy * 1000 / loops, 1) if loops else None,
    }
    for op in ("next", "submit"):
        server = stats.server_ms.get(op, [])
        client = stats.client_ms.get(op, [])
        queries = stats.queries.get(op, [])
        cpu = stats.cpu_ms.get(op, [])
        out[op] = {
            "server_cpu_p50": round(percentile(cpu, 0.5), 1) if cpu else None,
            "server_p50": round(percentile(server, 0.5), 1) if server else None,
            "server_p95": round(percentile(server, 0.95), 1) if server else None,
            "client_p50": round(percentile(client, 0.5), 1) if client else None,
            "client_p95": round(percentile(client, 0.95), 1) if client else None,
            "queries": round(statistics.median(queries), 1) if queries else None,
        }
    if stats.errors:
        out["first_error"] = next(iter(stats.errors.values()))[0][:200]
    return out


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def table(runs: list[dict[str, Any]], clients_list: list[int]) -> str:
    lines = []
    for clients in clients_list:
        lines.append(f"\n{clients} client{'s' if clients != 1 else ''} (saturating: no think time)")
        lines.append(
            f"{'system':44} {'loops/s':>8} {'×':>6}  {'next p50/p95 ms':>16} {'submit p50/p95 ms':>18} "
            f"{'client p50 ms':>14} {'SQL next/submit':>16} {'srv CPU ms':>11} {'CPU ms/loop':>12}"
        )
        medians: dict[str, float] = {}
        for system in SYSTEMS:
            mine = [r for r in runs if r["system"] == system and r["clients"] == clients]
            if mine:
                medians[system] = statistics.median(r["loops_per_s"] for r in mine)
        for system in SYSTEMS:
            mine = [r for r in runs if r["system"] == system and r["clients"] == clients]
            if not mine:
                continue
            best = sorted(mine, key=lambda r: r["loops_per_s"])[len(mine) // 2]  # the median run's details
            ratio = medians["workbench"] / medians[system] if system != "workbench" and medians.get(system) else None
            n, s = best["next"], best["submit"]
            timing = "server" if n["server_p50"] is not None else "client"
            next_t = f"{_ms(n[f'{timing}_p50'])}/{_ms(n[f'{timing}_p95'])}" + ("" if timing == "server" else "ᶜ")
            submit_t = f"{_ms(s[f'{timing}_p50'])}/{_ms(s[f'{timing}_p95'])}" + ("" if timing == "server" else "ᶜ")
            client = f"{_ms(n['client_p50'])}+{_ms(s['client_p50'])}"
            sql = f"{_ms(n['queries'])}/{_ms(s['queries'])}" if n["queries"] is not None else "—"
            cpu = f"{_ms(n['server_cpu_p50'])}/{_ms(s['server_cpu_p50'])}" if n["server_cpu_p50"] is not None else "—"
            rounds = ", ".join(f"{r['loops_per_s']:.1f}" for r in mine)
            failed = sum(r["errors"] for r in mine)
            errors = f"  errors: {failed}" if failed else ""
            lines.append(
                f"{LABELS[system]:44} {medians[system]:8.1f} {('' if ratio is None else f'{ratio:.1f}×'):>6}  "
                f"{next_t:>16} {submit_t:>18} {client:>14} {sql:>16} {cpu:>11} {_ms(best['cpu_ms_per_loop']):>12}"
                f"   rounds: {rounds}{errors}"
            )
    lines.append(
        "\n×: the workbench's loops/s divided by that set-up's (medians of the rounds). ᶜ: client-side time (Label "
        "Studio's development server sends no Server-Timing). srv CPU: the server thread's CPU time per request, p50 "
        "(next/submit). CPU ms/loop: the whole machine per loop, load generator included."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", default="1,16", help="comma-separated client counts")
    parser.add_argument("--tasks", type=int, default=10_000, help="Label Studio's task count")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="a subset, for a quick look")
    args = parser.parse_args()
    clients_list = [int(c) for c in args.clients.split(",")]
    systems = [s for s in SYSTEMS if s in args.systems.split(",")]
    campaign = ensure_workbench_data()
    ls_bin = labelstudio.ensure_venv() if any(s.startswith("ls-") for s in systems) else Path()
    ls_state = labelstudio.prepare(ls_bin, args.tasks, max(clients_list)) if ls_bin != Path() else {}
    runs = []
    started = time.monotonic()
    for clients in clients_list:
        for round_no in range(args.rounds):
            order = systems[round_no % len(systems) :] + systems[: round_no % len(systems)]
            for system in order:
                result = one_run(system, clients, args.seconds, campaign, ls_bin, ls_state)
                result["round"] = round_no + 1
                runs.append(result)
                print(
                    f"{clients:>2} clients, round {round_no + 1}: {system:13} {result['loops_per_s']:6.1f} loops/s"
                    + (f"  ({result['errors']} errors: {result.get('first_error', '')})" if result["errors"] else ""),
                    flush=True,
                )
    machine = f"{platform.node()} · {os.cpu_count()} cores · {platform.processor() or platform.machine()} · PostgreSQL"
    print(
        f"\n{machine}; {args.rounds} rounds of {args.seconds:g} s; workbench: 1M labels, 50k-item campaign; "
        f"Label Studio: {args.tasks} tasks; {time.monotonic() - started:.0f} s in all"
    )
    print(table(runs, clients_list))
    out = ROOT / "var" / "bench" / "compare_labeling.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "args": vars(args), "runs": runs}, indent=1))


if __name__ == "__main__":
    main()

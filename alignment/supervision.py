"""A training subprocess supervised by its job: ``accelerate launch`` of alignment.training.policy is started,
its progress file (JSON lines) is followed into the job row while it runs, and the whole process tree is
stopped when the job is cancelled, superseded or its worker stops. A failed run's message is its last error
event, else the end of its log."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from alignment.training.progress import read_progress
from medes_site.jobs import JobContext

POLL_SECONDS = 1.0
STOP_GRACE_SECONDS = 30.0
LOG_TAIL_LINES = 5  # lines of a failed run's log that its error shows when it reported none
LOSS_CURVE_POINTS = 500


def run_followed(ctx: JobContext, command: Sequence[str], *, progress_path: Path, log_path: Path) -> int:
    """Run ``command`` (its output into ``log_path``) and follow ``progress_path`` into the job row until it
    exits; returns its exit status. Anything raised meanwhile (a cancel, a superseded attempt, the worker
    stopping) stops the process tree first, then goes on up."""
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)  # noqa: S603 - our own argv
        seen = len(read_progress(progress_path))
        try:
            while process.poll() is None:
                time.sleep(POLL_SECONDS)
                seen = follow(ctx, progress_path, seen)
        except BaseException:  # cancelled, superseded, or the worker stopping: the run stops with the job
            stop_tree(process.pid)
            raise
    follow(ctx, progress_path, seen)
    return process.returncode


def failure(progress_path: Path, log_path: Path) -> str:
    """Why a run failed: the last error it reported, else the end of its log."""
    errors = [r["error"] for r in read_progress(progress_path) if r.get("event") == "error"]
    if errors:
        return str(errors[-1])
    tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-LOG_TAIL_LINES:]
    return "\n".join(tail)


def follow(ctx: JobContext, progress_path: Path, seen: int) -> int:
    """New progress lines since ``seen`` into the job row: progress, message, the loss curve."""
    lines = read_progress(progress_path)
    fresh = lines[seen:]
    logs = [r for r in fresh if r.get("event") == "log"]
    if logs:
        last = logs[-1]
        loss = last.get("loss")
        message = f"step {last['step']}/{last['max_steps']}" + (f", loss {loss:.4f}" if loss is not None else "")
        ctx.progress(last["step"] / max(last["max_steps"] or 1, 1), message)
        # a resumed attempt logs again the steps after its checkpoint: the newest loss of each step, in step order
        by_step = {r["step"]: r.get("loss") for r in lines if r.get("event") == "log"}
        ctx.set_metrics(loss_curve=[[step, loss] for step, loss in sorted(by_step.items())][-LOSS_CURVE_POINTS:])
    else:
        ctx.check_cancelled()
    for record in fresh:
        if record.get("event") == "start" and record.get("resumed_from"):
            ctx.log(f"resumed from the checkpoint at step {record['resumed_from']}")
    return len(lines)


def stop_tree(pid: int, grace: float = STOP_GRACE_SECONDS) -> None:
    """Stop the launcher and every process under it. ``accelerate launch`` does not pass a SIGTERM on to the
    trainer it starts, so stopping the launcher alone would leave the trainer running, and holding the run's
    lock, in the background. SIGTERM to all (the trainer's checkpoints stay), then SIGKILL to what is left."""
    import psutil  # in the optional ML extra: only a worker that runs policies has it

    try:
        launcher = psutil.Process(pid)
        processes = [*launcher.children(recursive=True), launcher]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _gone, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=10)

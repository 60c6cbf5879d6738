"""The self-check job: proves that a worker is up, reports progress, checkpoints and resumes.

Operators run it after deploying a worker (from the jobs page or the admin); the test suite uses it to
exercise the job machinery on a real worker. Other apps register their kinds in their own modules.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from django.utils.translation import gettext_lazy as _

from medes_site.jobs import JobContext, JobError, job_kind
from medes_site.roles import Role

MAX_STEPS = 1000
MAX_STEP_SECONDS = 10.0


def validate_selfcheck(config: dict[str, Any]) -> dict[str, Any]:
    try:
        steps = int(config.get("steps", 5))
        step_seconds = float(config.get("step_seconds", 0.2))
        fail_at = config.get("fail_at_step")
        fail_at = None if fail_at in (None, "") else int(fail_at)
    except (TypeError, ValueError):
        raise JobError(_("Self-check settings must be numbers.")) from None
    if not 1 <= steps <= MAX_STEPS:
        raise JobError(_("Steps must be between 1 and %(max)d.") % {"max": MAX_STEPS})
    if not 0 <= step_seconds <= MAX_STEP_SECONDS:
        raise JobError(_("Seconds per step must be between 0 and %(max)d.") % {"max": MAX_STEP_SECONDS})
    return {"steps": steps, "step_seconds": step_seconds, "fail_at_step": fail_at}


@job_kind(
    "system.selfcheck",
    label=_("Worker self-check"),
    time_limit=int(MAX_STEPS * MAX_STEP_SECONDS) + 60,
    roles=frozenset({Role.ML_ENGINEER}),
    validate=validate_selfcheck,
)
def run_selfcheck(ctx: JobContext) -> None:
    config = validate_selfcheck(ctx.config)
    steps, pause = config["steps"], config["step_seconds"]
    checkpoint = ctx.artifacts_dir / "checkpoint.json"
    done = json.loads(checkpoint.read_text())["done"] if checkpoint.exists() else 0
    if done:
        ctx.log(f"resuming from checkpoint: {done} of {steps} steps already done")
    for step in range(done + 1, steps + 1):
        if config["fail_at_step"] == step:
            raise RuntimeError(f"failing at step {step} as configured")
        time.sleep(pause)
        checkpoint.write_text(json.dumps({"done": step}))
        ctx.progress(step / steps, f"step {step} of {steps}")
        _pause_if_asked(ctx, step)
    report = ctx.artifacts_dir / "selfcheck.json"
    report.write_text(json.dumps({"steps": steps, "attempt": ctx.attempt}, indent=2))
    ctx.add_artifact(report, "self-check report")
    ctx.set_metrics(steps=steps, resumed_from=done)


# The same check on the gpu queue: run it after adding a GPU worker host. Its report, written there and downloaded
# from the job page on a web host, also shows that both hosts see the same ARTIFACTS_ROOT.
SELFCHECK_JOBS = {"default": "system.selfcheck", "gpu": "system.selfcheck_gpu"}
job_kind(
    SELFCHECK_JOBS["gpu"],
    label=_("Worker self-check (gpu queue)"),
    queue="gpu",
    time_limit=int(MAX_STEPS * MAX_STEP_SECONDS) + 60,
    roles=frozenset({Role.ML_ENGINEER}),
    validate=validate_selfcheck,
)(run_selfcheck)


# A test hook, off unless set (production never sets it): "N:PATH" makes a self-check stop right after step N's
# checkpoint and progress, write PATH.paused, and wait (still heartbeating, still cancellable) until PATH exists,
# so a test kills the worker at that known point, however fast or loaded the machine is, instead of racing it.
PAUSE_ENV = "MEDES_SELFCHECK_PAUSE_AFTER_STEP"


def _pause_if_asked(ctx: JobContext, step: int) -> None:
    wanted = os.environ.get(PAUSE_ENV, "")
    if not wanted:
        return
    number, _sep, path = wanted.partition(":")
    if not number.isdigit() or not path:
        raise JobError(f"{PAUSE_ENV} must be N:PATH, not {wanted!r}")
    if int(number) != step:
        return
    release = Path(path)
    Path(f"{path}.paused").write_text(str(step))
    while not release.exists():
        ctx.check_cancelled()
        time.sleep(0.05)

"""The alignment app's job kinds (DESIGN.md §5), one module each, with its ``validate`` and its ``run``:

    train_guardian  train a guardian version (and its critic) on the accepted labels
    judge           judge responses with the active guardian version
    prompt_judge    judge responses with the prompt judge (a chat model asked the MedES rubric)
    evaluate        evaluate a model on a release
    targeted        targeted prompts where a policy fails
    pairs           training pairs from the targeted prompts
    policy          an SFT or DPO run of a policy (a supervised subprocess, alignment.supervision)

All run on the ``gpu`` queue: on a CPU-only deployment the same worker serves both queues. They are registered
with medes_site.jobs when alignment's AppConfig imports them. What several of them share is in ``common``.

The kinds' names are here, so that pages, services and the align pipeline can name a kind without importing
what runs it; this module imports nothing.
"""

from __future__ import annotations

TRAIN_JOB = "alignment.train_guardian"
JUDGE_JOB = "alignment.judge"
PROMPT_JUDGE_JOB = "alignment.prompt_judge"
EVALUATE_JOB = "alignment.evaluate"
TARGET_JOB = "alignment.targeted_prompts"
PAIRS_JOB = "alignment.build_pairs"
POLICY_JOB = "alignment.policy_run"

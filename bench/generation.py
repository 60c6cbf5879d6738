"""Drafting with a tiny local model (drafts/s) and the near-duplicate pass over a bank of N scenarios.

    python bench/generation.py [--scenarios 10000] [--provisions 4]

Drafting: a tiny Qwen2 (tests/tinymodels.py) is trained to answer the prompts for the first P provisions
of 人体器官移植条例 with one JSON scenario each, then the real ``benchmark.generate_scenarios`` job runs
in-process with the local backend (greedy). Timed: the whole job (model load, generation, parsing,
storing, the near-duplicate check of the new drafts). A 7B model's figure is dominated by generation and
is not what this measures; this is the overhead of the path around the model.

Near-duplicates: N scenarios made from the MedES sample (each joins clauses of three different sample
cases and a numbered clinical detail, so they are distinct but about the same kinds of situation), 1% of
them lightly edited copies of another; all N are checked against the bank (``refresh_flags``). Reported:
the time, the flags, and how many planted edits whose exact Jaccard reaches the threshold LSH found.
Runs on a throw-away SQLite test database.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

SAMPLE = Path(os.environ.get("MEDES_SAMPLE_DIR", ROOT.parent / "shared" / "data" / "medes-sample"))
LAW = ROOT / "benchmark" / "demo" / "laws" / "人体器官移植条例(2007-03-31).md"


def bench_drafting(provisions: int) -> str:
    from alignment.tinymodels import build_tiny_qwen2, train_to_emit
    from benchmark.generation import render_messages
    from benchmark.models import PromptTemplate, Provision, Scenario, Scene
    from benchmark.services import SourceMeta, add_source, parse_source
    from medes_site import jobs

    source, _ = add_source(io.BytesIO(LAW.read_bytes()), LAW.name, SourceMeta(title="人体器官移植条例"))
    parse_source(source)
    chosen = list(Provision.objects.filter(source=source).order_by("pk")[:provisions])
    template = PromptTemplate.objects.get(name="medes-subjective", version=1)
    scene = Scene.objects.get(name="器官移植")
    answers = [
        json.dumps(
            {
                "scenarios": [
                    {
                        "stem": f"我是一名移植科医生，遇到了与{p.label}有关的难题（第{n}例），我该怎么办？",
                        "norm": p.text[:80],
                        "reference_answer": "依法处理并提示风险。",
                        "scene": "器官移植",
                        "principles": ["公正"],
                    }
                ]
            },
            ensure_ascii=False,
        )
        for n, p in enumerate(chosen)
    ]
    directory = Path(tempfile.mkdtemp()) / "tiny-drafter"
    build_tiny_qwen2(directory, extra_corpus=[*answers, template.user_template])
    started = time.perf_counter()
    pairs = [(render_messages(template, p, n=1, scene=scene), a) for p, a in zip(chosen, answers, strict=True)]
    loss = train_to_emit(directory, pairs)
    training = time.perf_counter() - started
    settings.MEDES_GENERATOR_LOCAL_DIR = str(directory)
    settings.MEDES_GENERATOR_TEMPERATURE = 0.0
    settings.MEDES_GENERATOR_MAX_NEW_TOKENS = 400
    config = {
        "provisions": [p.pk for p in chosen],
        "n": 1,
        "template": template.pk,
        "backend": "local",
        "scene": scene.pk,
    }
    job = jobs.enqueue_job("benchmark.generate_scenarios", config)
    started = time.perf_counter()
    status = jobs.execute_job(job.pk)
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    drafted = job.metrics["drafted"]
    assert status == "succeeded" and drafted == provisions == Scenario.objects.count(), (
        status,
        job.metrics,
        job.log_tail[-500:],
    )
    return (
        f"drafting: {drafted} drafts from {provisions} provisions in {seconds:.2f} s "
        f"= {drafted / seconds:.2f} drafts/s "
        f"(tiny Qwen2 trained in {training:.1f} s to loss {loss:.4f}; job metrics {job.metrics})"
    )


def bench_near_duplicates(count: int) -> str:
    from simple_history.utils import bulk_create_with_history

    from benchmark.importers.medes_questions import import_medes_questions
    from benchmark.models import NearDuplicate, Scenario, Scene
    from benchmark.neardup import comparable_text, jaccard, refresh_flags, shingles
    from benchmark.scenarios import content_hash

    for name in ("objective_questions.csv", "subjective_questions.csv"):
        import_medes_questions((SAMPLE / name).read_bytes(), origin_name=name, dry_run=True)  # checks the files
    report = import_medes_questions((SAMPLE / "subjective_questions.csv").read_bytes(), origin_name="s", dry_run=False)
    stems = list(Scenario.objects.order_by("pk").values_list("stem", flat=True))
    Scenario.objects.all().delete()
    clauses = [[c for c in re.split(r"[，。；？！]", stem) if len(c) > 4] for stem in stems]
    clauses = [c for c in clauses if c]
    rng = random.Random(0)
    scenes = list(Scene.objects.all())
    details = ["患者今年{}岁", "住院第{}天", "已签署{}份文件", "在{}号病房", "随访{}次"]
    rows, planted = [], []
    for n in range(count):
        if n and n % 100 == 0:  # 1%: a light rewording of an earlier item (each a different one)
            original = rows[n - rng.randrange(1, 100)].stem
            stem = original.replace("我", "本人", 1) + "请问怎么办？"
            planted.append((original, stem))
        else:
            # Clauses of three different sample cases: distinct items about the same kinds of situation.
            parts = [rng.choice(clauses[k]) for k in rng.sample(range(len(clauses)), 3)]
            stem = f"{parts[0]}，{rng.choice(details).format(n)}，{parts[1]}，{parts[2]}。"
        digest = content_hash("subjective", stem, {}, "")
        rows.append(
            Scenario(
                kind="subjective",
                stem=stem,
                norm="考点",
                scene=scenes[n % len(scenes)],
                origin="generated",
                status="draft",
                content_hash=digest,
            )
        )
    bulk_create_with_history(rows, Scenario, batch_size=1000)
    started = time.perf_counter()
    result = refresh_flags()
    seconds = time.perf_counter() - started
    flagged = set(NearDuplicate.objects.values_list("scenario__stem", flat=True))
    threshold = settings.MEDES_NEAR_DUPLICATE_THRESHOLD
    # Ground truth: the planted pairs whose exact shingle Jaccard reaches the threshold must all be flagged.
    due = [
        edit
        for original, edit in planted
        if jaccard(*(shingles(comparable_text("subjective", t, {})) for t in (original, edit))) >= threshold
    ]
    return (
        f"near-duplicates: {result['checked']} scenarios (from {report.new} MedES stems) checked against "
        f"{result['compared_with']} in {seconds:.2f} s; {result['flagged_scenarios']} flagged; of {len(planted)} "
        f"planted light edits {len(due)} reach Jaccard {threshold} and {sum(e in flagged for e in due)} of those "
        f"were flagged ({sum(e in flagged for _, e in planted)} of all {len(planted)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=int, default=10_000)
    parser.add_argument("--provisions", type=int, default=4)
    args = parser.parse_args()
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    settings.ARTIFACTS_ROOT = Path(tempfile.mkdtemp())
    settings.MEDIA_ROOT = Path(tempfile.mkdtemp())
    try:
        lines = [bench_drafting(args.provisions), bench_near_duplicates(args.scenarios)]
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

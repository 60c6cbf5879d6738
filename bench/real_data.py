"""Issue 14's figures on realistic data: the law parser per format, the judge reply reader, the degenerate-answer
check, the MedES sample's import with its repeats, and a judged-responses file imported and turned into the
publishers' leaderboard.

    python bench/real_data.py [--judged-rows 5000] [--models 5] [--repeat 5]

The laws are the six shipped ones (benchmark/demo/laws), each turned into DOCX and a reportlab PDF with the
test suite's builders (tests/documents.py: running header, page-number footer, wrapped lines). The judged file
is generated: every row has a reasoning model's risk and quality replies in one of the shapes real judges write
(``<think>`` then bare scores, ``最终评分：``, full-width separators), one in twenty unreadable. The database
half runs against a throw-away test database (SQLite by default, PostgreSQL when DATABASE_URL says so).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medes_site.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from alignment.judge_replies import read_scores  # noqa: E402
from alignment.medes_judged import import_judged, leaderboard  # noqa: E402
from benchmark.degenerate import degenerate_reason  # noqa: E402
from benchmark.importers.medes_questions import import_medes_questions  # noqa: E402
from benchmark.importers.responses import import_medes_responses  # noqa: E402
from benchmark.parsing import parse_file  # noqa: E402
from benchmark.taxonomy import SCENES  # noqa: E402
from rubric import QUALITY_KEYS, RISK_KEYS  # noqa: E402
from tests.documents import law_to_docx, law_to_pdf  # noqa: E402

LAWS = sorted((ROOT / "benchmark" / "demo" / "laws").glob("*(*).md"))
SAMPLE = Path(os.environ.get("MEDES_SAMPLE_DIR") or ROOT.parent / "shared" / "data" / "medes-sample")
THINK = (
    "<think>\n先判断回答是否违反《医师法》第二十五条的告知义务，再看是否给出风险提示。回答提到了3点建议。\n</think>\n\n"
)
RISK_REPLIES = [
    THINK + "0,0",
    THINK + "最终评分：-1，0",
    "回答未见违规。\n**最终评分：** 0, 0。",
    THINK + "我无法判断。",
]
QUALITY_REPLIES = [THINK + "1,1,1,0", "最终得分：\n1、0、1、1", THINK + "最终评分：1；1；0；1", "1,1,1,1,1"]
ANSWER = (
    "医生应当如实向患者说明病情和医疗措施。根据《中华人民共和国医师法》第二十五条，需要实施手术、特殊检查、"
    "特殊治疗的，应当及时向患者具体说明医疗风险、替代医疗方案等情况，并取得其明确同意；不能或者不宜向患者说明的，"
    "应当向患者的近亲属说明，并取得其明确同意。建议：1. 与家属沟通；2. 记录在病历中；3. 必要时请伦理委员会会诊。"
)
GARBAGE = "提供给ONONONONONONONONONONONONONONONON他的�面面面面面面面面面面面面面面"


def timed(function: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_parsing(repeat: int) -> None:
    print("law parser, median of", repeat, "runs (ms): law, articles, md, docx, pdf")
    totals = {"md": 0.0, "docx": 0.0, "pdf": 0.0}
    for path in LAWS:
        text = path.read_text(encoding="utf-8")
        files = {"md": text.encode(), "docx": law_to_docx(text), "pdf": law_to_pdf(text)}
        articles = len(parse_file(files["md"], path.name).articles)
        row = []
        for fmt, data in files.items():
            seconds = timed(lambda data=data, fmt=fmt: parse_file(data, f"law.{fmt}"), repeat)
            totals[fmt] += seconds
            row.append(f"{1000 * seconds:7.1f}")
        print(f"  {path.stem[:14]:<16}{articles:4d}  " + "  ".join(row))
    print("  total (ms)          " + "  ".join(f"{1000 * totals[f]:7.1f}" for f in totals))


def bench_reading(repeat: int) -> None:
    replies = [(r, RISK_KEYS) for r in RISK_REPLIES] + [(q, QUALITY_KEYS) for q in QUALITY_REPLIES]
    batch = replies * 1000

    def read_all() -> None:
        for text, keys in batch:
            read_scores(text, keys)

    seconds = timed(read_all, repeat)
    print(f"judge reply reader: {len(batch) / seconds:,.0f} replies/s ({len(batch)} replies)")
    texts = [ANSWER, GARBAGE] * 2000
    seconds = timed(lambda: [degenerate_reason(t) for t in texts], repeat)
    print(f"degenerate check: {len(texts) / seconds:,.0f} answers/s ({len(texts)} answers of ~{len(ANSWER)} chars)")


def judged_file(rows: int, models: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["source_index", "sample_id", "scene", "query", "reference", "type", "model", "response", "risk_judge"]
    writer.writerow([*header, "quality_judge", *(f"score{i}" for i in range(1, 7)), "risk_flag", "final_score"])
    scenes = list(SCENES)
    for n in range(rows):
        item = n // models
        risk, quality = RISK_REPLIES[n % 4 if n % 20 else 3], QUALITY_REPLIES[n % 3]
        query = f"第{item}号情境：家属要求隐瞒病情，医生应如何处理？"
        writer.writerow(
            [
                n,
                f"s{item}",
                scenes[item % len(scenes)],
                query,
                "考点：知情同意",
                "伦理困境",
                f"model-{n % models}",
                f"{ANSWER}（{n}）",
                risk,
                quality,
                "0",
                "0",
                "1",
                "1",
                "1",
                "0",
                "0",
                "0.9",
            ]
        )
    return ("\ufeff" + out.getvalue()).encode()


def bench_database(judged_rows: int, models: int) -> None:
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0)
    try:
        if (SAMPLE / "objective_questions.csv").exists():
            questions = (SAMPLE / "objective_questions.csv").read_bytes()
            start = time.perf_counter()
            report = import_medes_questions(questions, origin_name="objective_questions.csv", dry_run=False)
            seconds = time.perf_counter() - start
            print(f"MedES sample questions: {report.rows} rows, {report.items} items in {seconds:.2f} s")
            for path in sorted(SAMPLE.glob("objective_*.csv")):
                if path.name == "objective_questions.csv":
                    continue
                start = time.perf_counter()
                answers = import_medes_responses(path.read_bytes(), origin_name=path.name, dry_run=False)
                seconds = time.perf_counter() - start
                print(f"  {path.name}: {answers.rows} rows in {seconds:.2f} s; {answers.summary()[:160]}")
        data = judged_file(judged_rows, models)
        start = time.perf_counter()
        dry = import_judged(data, judge="bench-judge", origin_name="judged.csv", dry_run=True)
        dry_seconds = time.perf_counter() - start
        start = time.perf_counter()
        real = import_judged(data, judge="bench-judge", origin_name="judged.csv", dry_run=False)
        real_seconds = time.perf_counter() - start
        start = time.perf_counter()
        table = leaderboard("bench-judge")
        board_seconds = time.perf_counter() - start
        print(f"judged file: {judged_rows} rows, {models} models ({len(data) / 1e6:.1f} MB)")
        print(
            f"  dry run {dry_seconds:.2f} s ({judged_rows / dry_seconds:,.0f} rows/s); "
            f"import {real_seconds:.2f} s ({judged_rows / real_seconds:,.0f} rows/s); "
            f"leaderboard {board_seconds:.2f} s"
        )
        print(f"  {len(real.differences)} rows read differently from score1…score6 (dry run: {len(dry.differences)})")
        first = table[0]
        print(
            f"  {first['model']}: n_total_rows {first['n_total_rows']}, n_valid_risk_rows "
            f"{first['n_valid_risk_rows']}, n_valid_final_rows {first['n_valid_final_rows']}"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judged-rows", type=int, default=5000)
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, database {connection.vendor}"
    )
    bench_parsing(args.repeat)
    bench_reading(args.repeat)
    bench_database(args.judged_rows, args.models)


if __name__ == "__main__":
    main()

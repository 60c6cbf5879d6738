"""Answer extraction and objective scoring, on the forms real models write and on the public MedES sample
(read from ../shared; the sample's licence keeps it out of this repository)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from benchmark.scoring import extract_choice, parse_key, score_objective
from benchmark.taxonomy import canonical_scene


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Import reports and command output are read in English here (the Chinese catalog translates them)."""
    with translation.override("en"):
        yield


SAMPLE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "medes-sample"
RESPONSE_FILES = ["objective_claude.csv", "objective_deepseek-r1.csv", "objective_gemini.csv"]


def sample(name: str) -> list[dict[str, str]]:
    path = SAMPLE / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must have ../shared beside the clone")
        pytest.skip(f"{path} is not here (../shared/data/medes-sample)")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    ("response", "choice"),
    [
        ("【思考过程】：……\n\n【最终答案】：ABD", "ABD"),
        ("分析……\n\n### 最终答案：\nA B D", "ABD"),
        ("分析……\n\n**【最终答案】**：BC", "BC"),
        ("**【最终答案】：** BC", "BC"),
        ("【最终答案】：ＡＣ", "AC"),  # full-width letters
        ("最终答案：A、C、E。以上选项均符合规定。", "ACE"),  # trailing text after the letters
        ("综上所述，正确答案为B和C。", "BC"),
        ("Final answer: A, C", "AC"),
        ("先说答案：A。\n再想想……\n【最终答案】：AB", "AB"),  # the last statement wins
        ("综上，符合题意的选项是B和C，它们直接对应……", "BC"),
        ("【最终答案】：B\n\nA项错误，因为……", "B"),  # the next line's letters are explanation
        ("最终答案：C\nA、B、D、E均不符合", "C"),
        ("答案：B\n\n相关知识点：答案D在某些情况下也可", "B"),  # 答案D without a connector is not a statement
        ("答案：ACD\n\n其中答案A最重要", "ACD"),
        ("The answer is a combination of A and C.", None),  # 'a' is a word, not an option
        ("Answer: B and D", "BD"),
        ("the answer is: A, C, and D", "ACD"),
        ("我选择A和C", "AC"),
        ("综合分析，应选AC", "AC"),
        ("选C", "C"),
        ("答案应该是ABD", "ABD"),
        ("最终答案：正确的是A和C", "AC"),
        ("答案：选项B、选项D", "BD"),
        ("最终答案：(A)(C)", "AC"),
        ("【最终答案】：无", ""),  # an explicit empty answer is read (and scored wrong)
        ("选项A（导致社会公共利益受损）：违反条例第七条", None),  # reasoning about an option is not a choice
        ("**D. 减免残疾人", None),  # cut off before any answer
        ("【最终答案", None),
        ("这道题很难，我无法确定。", None),
    ],
)
def test_extraction_reads_the_forms_models_write(response: str, choice: str | None) -> None:
    assert extract_choice(response) == (None if choice is None else frozenset(choice))


def test_a_word_starting_with_a_letter_is_not_an_answer() -> None:
    assert extract_choice("最终答案：Because 没有") is None


def test_scoring_needs_the_exact_set_and_counts_unreadable_as_wrong() -> None:
    rows = [
        ("器官移植", "ABD", "【最终答案】：ABD"),
        ("器官移植", "ABD", "【最终答案】：AB"),  # a subset is wrong
        ("辅助生殖", "C", "【最终答案】：ABCDE"),  # so is a superset
        ("辅助生殖", "C", "无法作答"),
    ]
    score = score_objective(rows)
    assert (score.overall.items, score.overall.extracted, score.overall.correct) == (4, 3, 1)
    assert score.overall.accuracy == 0.25
    assert score.by_scene["器官移植"].accuracy == 0.5 and score.by_scene["辅助生殖"].accuracy == 0.0
    assert score.unreadable == [3]
    assert parse_key("A, C") == frozenset("AC")


@pytest.mark.parametrize("name", RESPONSE_FILES)
def test_extraction_agrees_with_the_publishers_wherever_they_read_an_answer(name: str) -> None:
    rows = sample(name)
    compared = [(row["answer_model"], extract_choice(row["response"])) for row in rows if row["answer_model"].strip()]
    assert len(compared) >= 80
    disagreements = [(want, got) for want, got in compared if got != parse_key(want)]
    assert disagreements == []


def test_answers_the_publishers_missed_are_found_and_truncated_ones_reported() -> None:
    """Where answer_model is empty: DeepSeek-R1's bold 【最终答案】 is read; Claude's cut-off answers are None."""
    found = {
        (name, position): extract_choice(row["response"])
        for name in RESPONSE_FILES
        for position, row in enumerate(sample(name))
        if not row["answer_model"].strip()
    }
    readable = {key: "".join(sorted(value)) for key, value in found.items() if value is not None}
    assert readable == {
        ("objective_deepseek-r1.csv", 12): "ABCD",
        ("objective_deepseek-r1.csv", 36): "BC",
        ("objective_deepseek-r1.csv", 71): "B",
    }
    assert sum(value is None for value in found.values()) == 7


def test_scene_spellings_are_one_scene() -> None:
    assert canonical_scene("基因干细胞诊疗") == canonical_scene("基因/干细胞诊疗 ") == "基因/干细胞诊疗"


def test_score_objective_command_reports_each_model() -> None:
    sample("objective_claude.csv")  # skips or fails as above when the sample is absent
    out = io.StringIO()
    call_command("score_objective", *(str(SAMPLE / name) for name in RESPONSE_FILES), "--list-unreadable", stdout=out)
    text = out.getvalue()
    assert "Claude-4.5: 88 rows, 81 answers read" in text  # per file row; the sample has no repeats, so the
    assert "deduplicated bank: 88 items" in text and "difference per file row − bank: +0.0 points" in text  # same
    assert "DeepSeek-R1: 88 rows, 88 answers read" in text
    assert "基因/干细胞诊疗:" in text and "基因干细胞诊疗:" not in text
    assert "objective_claude.csv:10" in text  # the line of a cut-off answer


def test_score_objective_command_fails_clearly_on_bad_input(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No such file"):
        call_command("score_objective", str(tmp_path / "missing.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("scene,query\n器官移植,题目\n", encoding="utf-8")
    with pytest.raises(CommandError, match="missing column"):
        call_command("score_objective", str(bad))
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("scene,reference,response\n器官移植,A,答案A\n".encode("gbk"))
    with pytest.raises(CommandError, match="not a UTF-8 CSV"):
        call_command("score_objective", str(gbk))


# --- review fixes: the rows are counted as the publishers count them; the answers are read by the workbench ----


def test_a_file_is_also_scored_from_its_own_answer_column() -> None:
    from benchmark.scoring import AnswerRow, score_file

    rows = [
        AnswerRow(2, "器官移植", "q1", "AB", "【最终答案】：AB", "AB"),  # both right
        AnswerRow(3, "器官移植", "q2", "C", "【最终答案】：C", ""),  # the file gives no answer: wrong as published
        AnswerRow(4, "医患关系", "q3", "D", "我不确定。", ""),  # neither reads an answer: the readings agree
        AnswerRow(5, "医患关系", "q4", "A", "【最终答案】：B", "A"),  # the file reads another answer
    ]
    score = score_file(rows)
    assert (score.per_row.overall.correct, score.per_row.overall.items) == (2, 4)
    assert (score.published.correct, score.published.extracted, score.published.items) == (2, 2, 4)
    assert score.readings_differ == [3, 5]
    assert score_file([AnswerRow(2, "器官移植", "q1", "AB", "【最终答案】：AB")]).published.items == 0  # no column


def test_score_objective_prints_the_accuracy_as_published_beside_the_workbench_reading() -> None:
    sample("objective_deepseek-r1.csv")
    out = io.StringIO()
    call_command("score_objective", *(str(SAMPLE / name) for name in RESPONSE_FILES), stdout=out)
    text = out.getvalue()
    assert (
        "DeepSeek-R1: 88 rows, 88 answers read, accuracy 61.4% (54/88) per file row (the rows counted as the "
        "publishers count them: every row with its own key, repeats as often as the file lists them; the answers "
        "read by the workbench from each response)"
    ) in text
    deepseek = text[text.index("DeepSeek-R1:") :]
    assert deepseek.splitlines()[1] == (
        "  as published: 53/88 = 60.2% (from the file's own answer_model column); the "
        "workbench reads another answer than that column in 3 rows"
    )
    claude = text[text.index("Claude-4.5:") :]
    assert claude.splitlines()[1].startswith("  as published: 53/88 = 60.2%") and claude.splitlines()[1].endswith(
        "in 0 rows"
    )
    assert "as the publishers score" not in text


def test_the_import_report_gives_the_accuracy_as_published_and_keeps_the_row_warnings(db: None) -> None:
    from benchmark.importers.responses import import_medes_responses

    sample("objective_deepseek-r1.csv")
    report = import_medes_responses(
        (SAMPLE / "objective_deepseek-r1.csv").read_bytes(), origin_name="objective_deepseek-r1.csv", dry_run=True
    )
    summary = report.summary()
    assert (
        "DeepSeek-R1 objective accuracy: 61.4% per file row (54/88 rows, counted as the publishers count them, "
        "repeats as often as the file lists them; the answers read by the workbench)"
    ) in summary
    assert (
        "; as published: 53/88 = 60.2% (from the file's own answer_model column), the workbench reading another "
        "answer in 3 rows"
    ) in summary
    assert report.scores["DeepSeek-R1"]["published"]["correct"] == 53
    assert report.scores["DeepSeek-R1"]["readings_differ"] == 3
    gives_none = {line: message for line, message in report.warnings if message.startswith("The file gives no")}
    assert gives_none == {
        14: "The file gives no answer; the workbench reads ABCD.",
        38: "The file gives no answer; the workbench reads BC.",
        73: "The file gives no answer; the workbench reads B.",
    }
    assert "as the publishers score" not in summary

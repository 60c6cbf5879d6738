"""Answer extraction and objective scoring, on the forms real models write, on our synthetic MedES-format files
(tests/fixtures/medes_format) and, where it is beside the clone, on the public MedES sample (read from ../shared;
its licence keeps it out of this repository): each file check runs on both sets, each with its own counts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from benchmark.scoring import extract_choice, parse_key, score_objective
from benchmark.taxonomy import canonical_scene
from tests.factories import FIXTURES, SAMPLE, sample_path


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Import reports and command output are read in English here (the Chinese catalog translates them)."""
    with translation.override("en"):
        yield


@dataclass(frozen=True)
class Files:
    """One set of MedES response files and what is known about them."""

    folder: Path
    names: tuple[str, ...]
    rows: int  # per file
    missed: dict[tuple[str, int], str]  # (file, data row from 0) → the answer read where answer_model is empty
    unreadable: int  # rows with no readable answer, over all files
    cut_off: str  # file:line of an answer cut off mid-analysis
    first_model: str  # the first file's model, "N rows, M answers read"
    first_read: int
    published: tuple[
        str, str, str
    ]  # the file with answers the publishers missed: model, its per-row and published line
    real: bool = False

    def paths(self) -> list[Path]:
        if self.real:
            sample_path(self.names[0])  # skips (or fails on CI) where the sample is absent
        return [self.folder / name for name in self.names]

    def rows_of(self, name: str) -> list[dict[str, str]]:
        path = sample_path(name) if self.real else self.folder / name
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))


FIXTURE_FILES = Files(
    FIXTURES,
    ("objective_tinylm-a.csv", "objective_tinylm-b.csv"),
    rows=12,
    missed={("objective_tinylm-b.csv", 5): "AD", ("objective_tinylm-b.csv", 8): "ACD"},
    unreadable=2,
    cut_off="objective_tinylm-a.csv:5",
    first_model="TinyLM-A",
    first_read=10,
    published=("TinyLM-B", "75.0% (9/12)", "7/12 = 58.3%"),
)
SAMPLE_FILES = Files(
    SAMPLE,
    ("objective_claude.csv", "objective_deepseek-r1.csv", "objective_gemini.csv"),
    rows=88,
    missed={
        ("objective_deepseek-r1.csv", 12): "ABCD",
        ("objective_deepseek-r1.csv", 36): "BC",
        ("objective_deepseek-r1.csv", 71): "B",
    },
    unreadable=7,
    cut_off="objective_claude.csv:10",
    first_model="Claude-4.5",
    first_read=81,
    published=("DeepSeek-R1", "61.4% (54/88)", "53/88 = 60.2%"),
    real=True,
)
SETS = [pytest.param(FIXTURE_FILES, id="fixtures"), pytest.param(SAMPLE_FILES, id="medes-sample")]
EACH_FILE = [
    pytest.param(files, name, id=f"{files.folder.name}/{name}")
    for files in (FIXTURE_FILES, SAMPLE_FILES)
    for name in files.names
]


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


@pytest.mark.parametrize(("files", "name"), EACH_FILE)
def test_extraction_agrees_with_the_publishers_wherever_they_read_an_answer(files: Files, name: str) -> None:
    rows = files.rows_of(name)
    compared = [(row["answer_model"], extract_choice(row["response"])) for row in rows if row["answer_model"].strip()]
    assert len(compared) >= len(rows) * 0.8
    disagreements = [(want, got) for want, got in compared if got != parse_key(want)]
    assert disagreements == []


@pytest.mark.parametrize("files", SETS)
def test_answers_the_publishers_missed_are_found_and_truncated_ones_reported(files: Files) -> None:
    """Where answer_model is empty: answers the publishers missed (a bold 【最终答案】, "正确答案为B和C" after a
    <think> block) are read; cut-off answers are None."""
    found = {
        (name, position): extract_choice(row["response"])
        for name in files.names
        for position, row in enumerate(files.rows_of(name))
        if not row["answer_model"].strip()
    }
    readable = {key: "".join(sorted(value)) for key, value in found.items() if value is not None}
    assert readable == files.missed
    assert sum(value is None for value in found.values()) == files.unreadable


def test_scene_spellings_are_one_scene() -> None:
    assert canonical_scene("基因干细胞诊疗") == canonical_scene("基因/干细胞诊疗 ") == "基因/干细胞诊疗"


@pytest.mark.parametrize("files", SETS)
def test_score_objective_command_reports_each_model(files: Files) -> None:
    out = io.StringIO()
    call_command("score_objective", *map(str, files.paths()), "--list-unreadable", stdout=out)
    text = out.getvalue()
    n = files.rows
    assert f"{files.first_model}: {n} rows, {files.first_read} answers read" in text  # per file row; the files
    assert f"deduplicated bank: {n} items" in text and "difference per file row − bank: +0.0 points" in text  # have
    assert f"{files.published[0]}: {n} rows, {n} answers read" in text  # no repeats, so the same
    assert "基因/干细胞诊疗:" in text and "基因干细胞诊疗:" not in text
    assert files.cut_off in text  # the line of a cut-off answer


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


@pytest.mark.parametrize("files", SETS)
def test_score_objective_prints_the_accuracy_as_published_beside_the_workbench_reading(files: Files) -> None:
    out = io.StringIO()
    call_command("score_objective", *map(str, files.paths()), stdout=out)
    text = out.getvalue()
    model, per_row, published = files.published
    n, differ = files.rows, len(files.missed)
    assert (
        f"{model}: {n} rows, {n} answers read, accuracy {per_row} per file row (the rows counted as the "
        "publishers count them: every row with its own key, repeats as often as the file lists them; the answers "
        "read by the workbench from each response)"
    ) in text
    block = text[text.index(f"{model}:") :]
    assert block.splitlines()[1] == (
        f"  as published: {published} (from the file's own answer_model column); the "
        f"workbench reads another answer than that column in {differ} rows"
    )
    first = text[text.index(f"{files.first_model}:") :]
    assert first.splitlines()[1].endswith("in 0 rows")  # cut-off answers: neither reading finds one
    assert "as the publishers score" not in text


@pytest.mark.parametrize("files", SETS)
def test_the_import_report_gives_the_accuracy_as_published_and_keeps_the_row_warnings(files: Files, db: None) -> None:
    from benchmark.importers.responses import import_medes_responses

    model, per_row, published = files.published
    name = next(name for name, _ in files.missed)
    (path,) = [p for p in files.paths() if p.name == name]
    report = import_medes_responses(path.read_bytes(), origin_name=name, dry_run=True)
    summary = report.summary()
    differ = len(files.missed)
    percent, counts = per_row.split(" (")
    assert (
        f"{model} objective accuracy: {percent} per file row ({counts.rstrip(')')} rows, counted as the publishers "
        "count them, repeats as often as the file lists them; the answers read by the workbench)"
    ) in summary
    assert (
        f"; as published: {published} (from the file's own answer_model column), the workbench reading another "
        f"answer in {differ} rows"
    ) in summary
    assert report.scores[model]["published"]["correct"] == int(published.split("/")[0])
    assert report.scores[model]["readings_differ"] == differ
    gives_none = {line: message for line, message in report.warnings if message.startswith("The file gives no")}
    assert gives_none == {  # lines: the data row + 2 (the header is line 1)
        row + 2: f"The file gives no answer; the workbench reads {letters}."
        for (_, row), letters in files.missed.items()
    }
    assert "as the publishers score" not in summary

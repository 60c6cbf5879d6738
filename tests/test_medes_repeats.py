"""MedES files that list a question more than once (issue 14, item 1).

The published objective question file lists some questions twice: under the same scene, under two scenes
(医患关系 and 安宁疗护), and a few with different keys; each model's answer file answers those repeats again,
often differently. The files below are built like the published ones (BOM, the exam instructions and worked example
in every query, ``_x000D_`` from Excel, the scene spelled 基因干细胞诊疗) with every kind of repeat, and every figure
asserted here was counted by hand from the tables in this module.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from benchmark.exports import export_bytes
from benchmark.importers.mapped_scenarios import Mapping, import_scenarios, read_table
from benchmark.importers.medes_questions import import_medes_questions, question_identity, split_objective_query
from benchmark.importers.responses import import_medes_responses
from benchmark.models import ImportUpload, Response, Scenario, ScenarioScene, ScenarioStatus, Scene
from benchmark.releases import datasheet, publish_release, release_items
from benchmark.scenarios import change_status, create_scenario, in_scene, resolve_scene, update_scenario
from benchmark.taxonomy import canonical_scene
from medes_site.models import AuditEntry
from tests.factories import Personas


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """The import reports and command output are read in English here (the Chinese catalog translates them)."""
    with translation.override("en"):
        yield


PREAMBLE = (
    "你是一个严格按照要求答题的医学考试考生。请你先展示出完整的思考过程，然后再输出最终答案。题目为不定项选择题，"
    "请按照以下格式作答：_x000D_\n【思考过程】：...\n【最终答案】：AB / BCE / ...（只输出选项的编号）\n\n示例：\n"
    "题目：医疗伦理中四大基本原则是？\nA.尊重自主权\nB.善意行为\nC.无害原则\nD.公正原则\nE.以上都不是\n"
    "【思考过程】：本题考查医学伦理的四大基本原则。\n\n【最终答案】：ABCD\n\n"
)
QUESTIONS = {  # the stem and options of each question
    "Q1": (
        "患者拒绝继续治疗时，医生应当如何处理？",
        "A.尊重其决定并记录\nB.告知拒绝治疗的风险\nC.征询家属意见\nD.强制治疗",
    ),
    "Q2": ("医生向患者说明病情时应当遵循哪项原则？", "A.只告知家属\nB.如实告知\nC.隐瞒不良预后\nD.拒绝回答"),
    "Q3": (
        "临终患者要求停止有创抢救，以下哪些做法符合规范？",
        "A.尊重患者意愿\nB.继续气管插管\nC.强行心肺复苏\nD.提供舒缓治疗",
    ),
    "Q4": (
        "关于活体器官捐献，以下哪些说法正确？",
        "A.须经本人书面同意\nB.可以给予报酬\nC.须经伦理委员会审查\nD.捐献人须年满十八周岁",
    ),
    "Q5": ("干细胞临床研究须满足哪些要求？", "A.收取受试者费用\nB.经机构备案\nC.未经审查即开展\nD.取得受试者知情同意"),
    "Q6": (
        "患者处于生命末期时，医生与家属沟通应当？",
        "A.以患者利益为先\nB.由家属全权决定\nC.拒绝沟通\nD.隐瞒全部病情",
    ),
}
# The question file as published: (line, scene as the file spells it, question, key).
FILE = [
    (2, "医患关系", "Q1", "ABC"),
    (3, "医患关系", "Q2", "B"),
    (4, "安宁疗护", "Q3", "AD"),
    (5, "器官移植", "Q4", "AC"),
    (6, "基因干细胞诊疗", "Q5", "BD"),
    (7, "安宁疗护", "Q1", "ABC"),  # the same question under a second scene
    (8, "安宁疗护", "Q3", "AD"),  # the same row again
    (9, "器官移植", "Q4", "ACD"),  # the same question with another key
    (10, "医患关系", "Q6", "A"),
    (11, "安宁疗护", "Q6", "AB"),  # under a second scene, with another key
]
# What two models answered, row by row (the publishers' answer files repeat the question file's rows).
ANSWERS = {
    "ModelA": {
        2: "【思考过程】：拒绝治疗须尊重并告知风险。\n\n【最终答案】：ABC",
        3: "【最终答案】：B",
        4: "【最终答案】：A",
        5: "【最终答案】：AC",
        6: "我不确定。",  # nothing to read
        7: "【最终答案】：AB",  # answered again, differently
        8: "【最终答案】：AD",  # answered again, differently
        9: "【最终答案】：AC",  # the same text as line 5
        10: "【最终答案】：A",
        11: "【最终答案】：AB",  # answered again, differently
    },
    "ModelB": {
        2: "### 最终答案\nA B C",
        3: "答案：C",
        4: "**最终答案**：AD",
        5: "【最终答案】：ACD",
        6: "【最终答案】：BD",
        7: "【最终答案】：ABC",  # answered again in other words
        8: "**最终答案**：AD",
        9: "【最终答案】：ACD",
        10: "【最终答案】：AB",
        11: "【最终答案】：AB",
    },
}
GENE = "基因/干细胞诊疗"
# Hand counts. Items per scene: each question once in each scene the file lists it under.
ITEMS_PER_SCENE = {"医患关系": 3, "安宁疗护": 3, "器官移植": 1, GENE: 1}  # Q1 Q2 Q6 | Q1 Q3 Q6 | Q4 | Q5
# (correct, rows) per file row, with each row's own key, in each row's scene; (correct, items) on the bank, with
# each question's first answer and first key, in each of its scenes.
PER_ROW = {
    "ModelA": {"all": (6, 10), "医患关系": (3, 3), "安宁疗护": (2, 4), "器官移植": (1, 2), GENE: (0, 1)},
    "ModelB": {"all": (7, 10), "医患关系": (1, 3), "安宁疗护": (4, 4), "器官移植": (1, 2), GENE: (1, 1)},
}
BANK = {
    "ModelA": {"all": (4, 6), "医患关系": (3, 3), "安宁疗护": (2, 3), "器官移植": (1, 1), GENE: (0, 1)},
    "ModelB": {"all": (3, 6), "医患关系": (1, 3), "安宁疗护": (2, 3), "器官移植": (0, 1), GENE: (1, 1)},
}
SECOND_ANSWERS = {"ModelA": [7, 8, 11], "ModelB": [7]}  # later answers that differ from the first one


def query(question: str) -> str:
    stem, options = QUESTIONS[question]
    return f"{PREAMBLE}题目：{stem}\n{options}\n【思考过程】：\n"


def to_csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode()  # UTF-8 with BOM, as published


def question_file() -> bytes:
    return to_csv(["scene", "query", "reference", "type"], [[s, query(q), k, "客观题"] for _, s, q, k in FILE])


def answer_file(model: str) -> bytes:
    header = ["scene", "query", "reference", "model", "response", "type", "answer_model"]
    rows = []
    for line, scene, question, key in FILE:
        text = ANSWERS[model][line]
        letters = "".join(c for c in text.split("】：")[-1].split("：")[-1] if "A" <= c <= "E")
        rows.append([scene, query(question), key, model, text, "客观题", letters if text != "我不确定。" else ""])
    return to_csv(header, rows)


def stem(question: str) -> str:
    return QUESTIONS[question][0]


def scenario(question: str) -> Scenario:
    return Scenario.objects.get(stem=stem(question))


def scene_counts() -> dict[str, int]:
    return {
        scene.name: Scenario.objects.filter(in_scene(scene)).count()
        for scene in Scene.objects.all()
        if Scenario.objects.filter(in_scene(scene)).exists()
    }


def pair(tally: dict[str, float | int]) -> tuple[int, int]:
    return int(tally["correct"]), int(tally["items"])


# --- the question file --------------------------------------------------------------------------------------


def test_the_dry_run_lists_every_kind_of_repeat_names_the_different_keys_and_writes_nothing(db: None) -> None:
    report = import_medes_questions(question_file(), origin_name="objective_questions.csv", dry_run=True)
    assert (report.rows, report.items, report.new, report.errors, report.written) == (10, 6, 6, [], False)
    assert (report.duplicates_in_file, report.cross_scene, report.different_key) == (4, 2, 2)
    assert report.scenes_added == 2  # Q1 and Q6 under 安宁疗护 too
    assert [line for line, _ in report.warnings] == [9, 11]
    assert "line 5" in report.warnings[0][1] and "AC on line 5, ACD on line 9" in report.warnings[0][1]
    assert "A on line 10, AB on line 11" in report.warnings[1][1]
    summary = report.summary()
    assert (
        "10 rows: 6 new" in summary and "6 items, 4 repeats (2 under another scene, 2 with a different key)" in summary
    )
    assert "dry run, nothing written" in summary
    assert not Scenario.objects.exists() and not ScenarioScene.objects.exists()


def test_an_item_listed_under_two_scenes_counts_in_both_as_in_the_file(db: None) -> None:
    report = import_medes_questions(question_file(), origin_name="q.csv", dry_run=False, status=ScenarioStatus.ACCEPTED)
    assert report.written and report.new == 6 and Scenario.objects.count() == 6
    file_pairs = {(canonical_scene(s), q) for _, s, q, _ in FILE}
    assert Counter(scene for scene, _ in file_pairs) == ITEMS_PER_SCENE  # the hand count is the file's count
    assert scene_counts() == ITEMS_PER_SCENE
    links = ScenarioScene.objects.select_related("scene", "scenario")
    assert {(link.scene.name, link.scenario.stem) for link in links} == {(s, stem(q)) for s, q in file_pairs}
    q1 = Scenario.objects.prefetch_related("scenes").get(stem=stem("Q1"))
    assert q1.scene.name == "医患关系" and q1.scene_names() == ["医患关系", "安宁疗护"]
    assert scenario("Q5").scene.name == GENE  # 基因干细胞诊疗 is the other spelling of the scene
    # The different keys: the first is kept, and the item waits for a curator with a note naming both.
    q4, q6 = scenario("Q4"), scenario("Q6")
    assert (q4.key, q4.status) == ("AC", ScenarioStatus.IN_REVIEW)
    assert "AC (line 5)" in q4.review_note and "ACD (line 9)" in q4.review_note
    assert (q6.key, q6.status, scenario("Q1").status) == ("A", ScenarioStatus.IN_REVIEW, ScenarioStatus.ACCEPTED)
    assert not scenario("Q1").review_note
    # Importing the same file again changes nothing and records nothing.
    counts = ScenarioScene.objects.count(), Scenario.history.count(), AuditEntry.objects.count()
    again = import_medes_questions(question_file(), origin_name="q.csv", dry_run=False)
    assert (again.new, again.duplicates_in_bank, again.scenes_added, again.errors) == (0, 6, 0, [])
    assert (again.duplicates_in_file, again.cross_scene, again.different_key) == (4, 2, 2)  # the file's repeats
    assert [line for line, _ in again.warnings] == [9, 11]  # the file still has two keys: still said
    assert (ScenarioScene.objects.count(), Scenario.history.count(), AuditEntry.objects.count()) == counts
    assert scene_counts() == ITEMS_PER_SCENE


def test_a_bank_that_collapsed_a_repeat_gets_the_missing_scene_from_a_new_import(db: None) -> None:
    scene = resolve_scene("医患关系")
    assert scene is not None
    q1, _ = create_scenario(
        kind="objective",
        stem=stem("Q1"),
        scene=scene,
        origin="imported",
        key="ABC",
        options=split_objective_query(query("Q1"))[1],
    )
    assert list(q1.scenes.values_list("name", flat=True)) == ["医患关系"]  # saving files it under its scene
    report = import_medes_questions(question_file(), origin_name="q.csv", dry_run=False)
    assert (report.new, report.duplicates_in_bank, report.scenes_added) == (5, 1, 2)
    assert scene_counts() == ITEMS_PER_SCENE


def test_the_scenario_list_filters_on_every_scene_of_an_item(personas: Personas, client_as: object) -> None:
    import_medes_questions(question_file(), origin_name="q.csv", dry_run=False)
    palliative = resolve_scene("安宁疗护")
    assert palliative is not None
    client = client_as(personas.curator)  # type: ignore[operator]
    page = client.get(reverse("benchmark:scenarios"), {"scene": palliative.pk}).content.decode()
    assert all(stem(q) in page for q in ("Q1", "Q3", "Q6")) and stem("Q2") not in page
    assert "医患关系 · 安宁疗护" in page  # an item shows all its scenes
    detail = client.get(reverse("benchmark:scenario", args=[scenario("Q4").pk])).content.decode()
    assert 'data-testid="review-note"' in detail and "ACD (line 9)" in detail


# --- the answer files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("questions_first", [True, False])
def test_answer_files_with_two_answers_to_a_question_import_with_the_first_kept(
    db: None, questions_first: bool
) -> None:
    if questions_first:
        import_medes_questions(question_file(), origin_name="q.csv", dry_run=False)
    for model in ANSWERS:
        dry = import_medes_responses(answer_file(model), origin_name=f"objective_{model}.csv", dry_run=True)
        real = import_medes_responses(answer_file(model), origin_name=f"objective_{model}.csv", dry_run=False)
        for report in (dry, real):
            assert report.errors == [] and (report.rows, report.items, report.new) == (10, 6, 6)
            second = [line for line, message in report.warnings if "second answer" in message]
            assert second == SECOND_ANSWERS[model]
            assert "the first answer (line 2) is kept" in next(m for line, m in report.warnings if line == 7)
            keys = [line for line, message in report.warnings if "with another key" in message]
            assert keys == [9, 11]
        assert real.written and not dry.written
        stored = {r.scenario.stem: r for r in Response.objects.filter(model__name=model).select_related("scenario")}
        assert len(stored) == 6  # one answer per question: the first
        assert stored[stem("Q1")].text == ANSWERS[model][2] and stored[stem("Q1")].origin_detail.endswith(":2")
        assert stored[stem("Q4")].answer_key == "AC"
    assert Scenario.objects.count() == 6 and scene_counts() == ITEMS_PER_SCENE
    assert scenario("Q4").review_note and scenario("Q6").review_note
    # Importing an answer file again adds nothing and refuses nothing.
    again = import_medes_responses(answer_file("ModelA"), origin_name="objective_ModelA.csv", dry_run=False)
    assert (again.errors, again.new, again.duplicates_in_bank, again.scenes_added) == ([], 0, 6, 0)
    assert (again.duplicates_in_file, again.cross_scene, again.different_key) == (4, 2, 2)
    assert Response.objects.count() == 12


def test_the_import_report_gives_the_accuracy_per_file_row_and_on_the_deduplicated_bank(db: None) -> None:
    import_medes_questions(question_file(), origin_name="q.csv", dry_run=False)
    for model in ANSWERS:
        report = import_medes_responses(answer_file(model), origin_name=f"{model}.csv", dry_run=True)
        score = report.scores[model]
        assert (score["rows"], score["questions"], score["repeats"]) == (10, 6, 4)
        assert (score["cross_scene"], score["different_key"]) == (2, 2)
        assert score["second_answers"] == len(SECOND_ANSWERS[model])
        for figures, kind in ((PER_ROW[model], "per_row"), (BANK[model], "bank")):
            assert pair(score[kind]["overall"]) == figures["all"]
            assert {scene: pair(t) for scene, t in score[kind]["by_scene"].items()} == {
                scene: counts for scene, counts in figures.items() if scene != "all"
            }
        rows_correct, rows = PER_ROW[model]["all"]
        bank_correct, items = BANK[model]["all"]
        line = f"{model} objective accuracy: {100 * rows_correct / rows:.1f}% per file row ({rows_correct}/{rows} rows"
        assert line in report.summary()
        assert (
            f"{100 * bank_correct / items:.1f}% on the deduplicated bank ({bank_correct}/{items} items"
            in report.summary()
        )
        assert f"difference {100 * (rows_correct / rows - bank_correct / items):+.1f} points" in report.summary()
        by_scene = report.score_lines()
        assert (
            f"  安宁疗护: per file row {100 * PER_ROW[model]['安宁疗护'][0] / 4:.1f}% "
            f"({PER_ROW[model]['安宁疗护'][0]}/4 rows); deduplicated bank" in "\n".join(by_scene)
        )
    # What the bank stores is the deduplicated figure: the first answers, read against the kept keys.
    import_medes_responses(answer_file("ModelA"), origin_name="a.csv", dry_run=False)
    stored = Response.objects.filter(model__name="ModelA")
    assert (stored.filter(correct=True).count(), stored.count()) == BANK["ModelA"]["all"]


def test_score_objective_prints_both_figures_for_each_model(tmp_path: Path) -> None:
    paths = []
    for model in ANSWERS:
        path = tmp_path / f"objective_{model}.csv"
        path.write_bytes(answer_file(model))
        paths.append(str(path))
    call_command("score_objective", *paths, stdout=(out := io.StringIO()))
    text = out.getvalue()
    assert "ModelA: 10 rows, 9 answers read, accuracy 60.0% (6/10) per file row" in text
    assert "deduplicated bank: 6 items" in text and "accuracy 66.7% (4/6); difference per file row − bank: -6.7" in text
    assert "ModelB: 10 rows, 10 answers read, accuracy 70.0% (7/10) per file row" in text
    assert "accuracy 50.0% (3/6); difference per file row − bank: +20.0 points" in text
    assert "repeats: 4 rows (2 under another scene, 2 with a different key, 3 answered differently)" in text
    assert "  安宁疗护: per file row 50.0% (2/4 rows); deduplicated bank 66.7% (2/3 items)" in text
    assert f"  {GENE}: per file row 100.0% (1/1 rows)" in text


# --- releases and exports -----------------------------------------------------------------------------------


def test_a_release_lists_every_scene_and_its_medes_export_gives_back_the_files_rows(db: None) -> None:
    import_medes_questions(question_file(), origin_name="q.csv", dry_run=False, status=ScenarioStatus.ACCEPTED)
    for question in ("Q4", "Q6"):  # the curator checked the two keys and accepts the first
        change_status(scenario(question).pk, ScenarioStatus.ACCEPTED, user=None)
    release = publish_release("MedES-repeats")
    items = {item["stem"]: item for item in release_items(release)}
    assert items[stem("Q1")]["scene"] == "医患关系" and items[stem("Q1")]["scenes"] == ["医患关系", "安宁疗护"]
    assert items[stem("Q2")]["scenes"] == ["医患关系"]
    sheet = datasheet(release)
    for scene, n in ITEMS_PER_SCENE.items():
        assert f"| {scene} | {n} |" in sheet
    assert "8 (item, scene) rows for 6 items" in sheet
    exported = export_bytes(release, "csv")
    assert exported.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(exported.decode("utf-8-sig"))))
    assert len(rows) == 8  # one row per (item, scene)

    def as_rows(entries: list[tuple[str, str, str]]) -> Counter[tuple[str, str, str]]:
        read: Counter[tuple[str, str, str]] = Counter()
        for scene, text, key in entries:
            question_stem, options = split_objective_query(text)
            read[(canonical_scene(scene), question_identity("objective", question_stem, options), key)] += 1
        return read

    # The file's (scene, question) rows, each once and with the key the import kept (the first one): the file's
    # rows less the exact repeat (line 8) and the second key of Q4 (line 9); Q6 keeps key A under both scenes.
    first_key: dict[str, str] = {}
    for _, _, q, k in FILE:
        first_key.setdefault(q, k)
    kept = [(s, query(q), first_key[q]) for s, q in dict.fromkeys((s, q) for _, s, q, _ in FILE)]
    assert len(kept) == 8
    assert as_rows([(r["scene"], r["query"], r["reference"]) for r in rows]) == as_rows(kept)
    # Importing the export finds every item and every scene already there.
    back = import_medes_questions(exported, origin_name="export.csv", dry_run=True)
    assert (back.rows, back.items, back.new, back.duplicates_in_bank, back.scenes_added) == (8, 6, 0, 6, 0)
    assert back.warnings == []


def test_moving_an_item_to_another_scene_moves_its_primary_link(personas: Personas) -> None:
    import_medes_questions(question_file(), origin_name="q.csv", dry_run=False)
    q2 = scenario("Q2")
    transplant = resolve_scene("器官移植")
    updated = update_scenario(q2.pk, expected_version=q2.version, changes={"scene": transplant}, user=personas.curator)
    assert list(updated.scenes.values_list("name", flat=True)) == ["器官移植"]
    q1 = scenario("Q1")
    updated = update_scenario(q1.pk, expected_version=q1.version, changes={"scene": transplant}, user=personas.curator)
    assert sorted(updated.scenes.values_list("name", flat=True)) == sorted(["器官移植", "安宁疗护"])


def test_the_import_screen_shows_the_warnings_and_both_accuracies(personas: Personas, client_as: object) -> None:
    import_medes_questions(question_file(), origin_name="q.csv", dry_run=False)
    client = client_as(personas.curator, HTTP_ACCEPT_LANGUAGE="en")  # type: ignore[operator]  # the page in English
    file = SimpleUploadedFile("objective_ModelA.csv", answer_file("ModelA"))
    client.post(reverse("benchmark:imports"), {"fmt": "medes_responses", "file": file})
    upload = ImportUpload.objects.get()
    html = client.get(reverse("benchmark:import", args=[upload.pk])).content.decode()
    assert 'data-testid="confirm-import"' in html  # two answers to one question do not refuse the file
    assert "A second answer by ModelA to the question of line 2" in html
    assert "ModelA objective accuracy: 60.0% per file row (6/10 rows" in html
    assert "66.7% on the deduplicated bank (4/6 items" in html
    assert "安宁疗护: per file row 50.0% (2/4 rows); deduplicated bank 66.7% (2/3 items)" in html
    assert not Response.objects.exists()
    client.post(reverse("benchmark:import", args=[upload.pk]), {"create_questions": "True"})
    upload.refresh_from_db()
    assert Response.objects.count() == 6 and upload.report is not None
    assert upload.report["scores"]["ModelA"]["per_row"]["overall"]["correct"] == 6
    page = client.get(reverse("benchmark:import", args=[upload.pk])).content.decode()
    assert "66.7% on the deduplicated bank" in page  # the kept report shows them again


def test_the_migration_files_every_existing_item_under_its_primary_scene(db: None) -> None:
    from django.apps import apps

    migration = importlib.import_module("benchmark.migrations.0008_scenario_scenes")
    scene = resolve_scene("安宁疗护")
    assert scene is not None
    Scenario.objects.bulk_create(  # rows written before items had scenes: no links
        [
            Scenario(
                kind="subjective",
                stem=f"病例{n}",
                norm="考点",
                scene=scene,
                origin="imported",
                content_hash=f"{n:064d}",
            )
            for n in range(3)
        ]
    )
    assert not ScenarioScene.objects.exists()
    migration.link_primary_scenes(apps, None)
    migration.link_primary_scenes(apps, None)  # running it twice changes nothing
    assert ScenarioScene.objects.filter(scene=scene).count() == 3 == ScenarioScene.objects.count()


def test_a_mapped_file_listing_an_item_under_two_scenes_files_it_under_both(db: None) -> None:
    lines = [
        {"question": "患者要求隐瞒病情，我该怎么办？", "rule": "尊重患者知情权", "domain": domain}
        for domain in ("医患关系", "安宁疗护", "医患关系")
    ]
    data = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()
    mapping = Mapping(columns={"stem": "question", "norm": "rule", "scene": "domain"})
    dry = import_scenarios(read_table(data, "cases.jsonl"), mapping, origin_name="cases.jsonl", dry_run=True)
    assert (dry.rows, dry.items, dry.new, dry.duplicates_in_file, dry.cross_scene, dry.scenes_added) == (
        3,
        1,
        1,
        2,
        1,
        1,
    )
    assert not Scenario.objects.exists()
    import_scenarios(read_table(data, "cases.jsonl"), mapping, origin_name="cases.jsonl", dry_run=False)
    assert scene_counts() == {"医患关系": 1, "安宁疗护": 1}
    again = import_scenarios(read_table(data, "cases.jsonl"), mapping, origin_name="cases.jsonl", dry_run=False)
    assert (again.new, again.scenes_added, ScenarioScene.objects.count()) == (0, 0, 2)


def test_the_model_page_and_the_api_count_an_item_in_each_of_its_scenes(personas: Personas, client_as: object) -> None:
    import_medes_questions(question_file(), origin_name="q.csv", dry_run=False, status=ScenarioStatus.ACCEPTED)
    import_medes_responses(answer_file("ModelA"), origin_name="a.csv", dry_run=False)
    client = client_as(personas.curator)  # type: ignore[operator]
    model = Response.objects.filter(model__name="ModelA").first()
    assert model is not None
    page = client.get(reverse("benchmark:model", args=[model.model_id]))
    by_scene = {scene: (acc.correct, acc.items) for scene, acc in page.context["by_scene"]}
    assert by_scene == {scene: counts for scene, counts in BANK["ModelA"].items() if scene != "all"}
    # the API's scene filter takes any spelling and finds an item under a scene it is listed under second
    listed = client.get(reverse("api-scenario-list"), {"scene": "安宁疗护"}).json()["results"]
    assert sorted(row["stem"] for row in listed) == sorted(stem(q) for q in ("Q1", "Q3", "Q6"))
    assert next(row for row in listed if row["stem"] == stem("Q1"))["scenes"] == ["医患关系", "安宁疗护"]
    gene = client.get(reverse("api-scenario-list"), {"scene": "基因干细胞诊疗"}).json()["results"]
    assert [row["stem"] for row in gene] == [stem("Q5")]
    assert client.get(reverse("api-scenario-list"), {"scene": "无此场景"}).json()["results"] == []
    answers = client.get(reverse("api-response-list"), {"scene": "安宁疗护"}).json()["results"]
    assert len(answers) == 3


# --- keys that differ from the bank's, moving scenes, the review note (code review of issue 14) -------------


def answer_rows(model: str, rows: list[tuple[int, str, str, str]]) -> bytes:
    """A MedES answer file of ``rows`` (line, scene, question, key as the file gives it), every answer ``A``."""
    header = ["scene", "query", "reference", "model", "response", "type", "answer_model"]
    return to_csv(header, [[s, query(q), k, model, "【最终答案】：A", "客观题", "A"] for _, s, q, k in rows])


def test_an_answer_file_giving_another_key_than_the_bank_says_so(db: None) -> None:
    doctors = resolve_scene("医患关系")
    assert doctors is not None
    q2, _ = create_scenario(
        kind="objective",
        stem=stem("Q2"),
        scene=doctors,
        origin="imported",
        key="B",
        options=split_objective_query(query("Q2"))[1],
        status=ScenarioStatus.ACCEPTED,
    )
    data = answer_rows("ModelC", [(2, "医患关系", "Q2", "C"), (3, "医患关系", "Q2", "C")])
    for dry_run in (True, False):
        report = import_medes_responses(data, origin_name="c.csv", dry_run=dry_run)
        assert report.errors == [] and report.different_key == 1
        assert report.warnings == [
            (
                2,
                (
                    f"The bank holds this question with key B (scenario #{q2.pk}); this row's key C is not imported. "
                    f"Correct "
                    "the key on the scenario's page if C is right."
                ),
            )
        ]
    q2.refresh_from_db()  # the bank keeps its key, its status and its (empty) note
    assert (q2.key, q2.status, q2.review_note) == ("B", ScenarioStatus.ACCEPTED, "")
    assert Response.objects.get().answer_key == "B"


def test_a_repeat_with_another_key_of_an_item_in_the_bank_promises_no_note(db: None) -> None:
    import_medes_questions(question_file(), origin_name="q.csv", dry_run=False, status=ScenarioStatus.ACCEPTED)
    change_status(scenario("Q6").pk, ScenarioStatus.ACCEPTED, user=None)  # the curator confirmed key A
    notes = {q: (scenario(q).status, scenario(q).review_note) for q in ("Q4", "Q6")}
    again = import_medes_questions(question_file(), origin_name="q.csv", dry_run=False)
    answers = import_medes_responses(answer_file("ModelA"), origin_name="a.csv", dry_run=False)
    for report in (again, answers):
        warned = {line: message for line, message in report.warnings if "with another key" in message}
        assert sorted(warned) == [9, 11]
        assert not any("left in review" in message for message in warned.values())
        assert f"The bank holds this question already (scenario #{scenario('Q4').pk}): it keeps its key AC" in warned[9]
        assert f"(scenario #{scenario('Q6').pk}): it keeps its key A and its status" in warned[11]
    assert {q: (scenario(q).status, scenario(q).review_note) for q in ("Q4", "Q6")} == notes  # nothing written


def test_a_new_item_with_two_keys_imported_as_a_draft_stays_a_draft_and_says_so(db: None) -> None:
    report = import_medes_questions(question_file(), origin_name="q.csv", dry_run=False, status=ScenarioStatus.DRAFT)
    warned = dict(report.warnings)
    assert "The first key is kept and the new item (Draft) gets a note naming both keys." in warned[9]
    assert (scenario("Q4").status, "ACD (line 9)" in scenario("Q4").review_note) == (ScenarioStatus.DRAFT, True)


def test_moving_an_item_to_another_scene_in_the_admin_moves_its_primary_link(
    personas: Personas, client_as: object
) -> None:
    import_medes_questions(question_file(), origin_name="q.csv", dry_run=False)
    q1, transplant = scenario("Q1"), resolve_scene("器官移植")
    assert transplant is not None
    client = client_as(personas.admin)  # type: ignore[operator]
    url = reverse("admin:benchmark_scenario_change", args=[q1.pk])
    form = {
        "kind": q1.kind,
        "stem": q1.stem,
        "options": json.dumps(q1.options, ensure_ascii=False),
        "key": q1.key,
        "norm": "",
        "reference_answer": "",
        "rubric_notes": "",
        "scene": transplant.pk,
        "review_note": "",
        # no "provisions" key: the autocomplete multi-select sends nothing when none is chosen
        "difficulty": "",
        "origin": q1.origin,
        "origin_detail": q1.origin_detail,
        "_save": "1",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    q1.refresh_from_db()
    assert q1.scene == transplant
    # no longer under 医患关系, which it left; still under 安宁疗护, where the file listed it too
    assert sorted(q1.scenes.values_list("name", flat=True)) == sorted(["器官移植", "安宁疗护"])
    assert scene_counts()["医患关系"] == ITEMS_PER_SCENE["医患关系"] - 1


def test_correcting_the_key_clears_the_note_about_two_keys(personas: Personas) -> None:
    import_medes_questions(question_file(), origin_name="q.csv", dry_run=False)
    q4 = scenario("Q4")
    assert "ACD (line 9)" in q4.review_note
    edited = update_scenario(q4.pk, expected_version=q4.version, changes={"norm": "器官捐献"}, user=personas.curator)
    assert edited.review_note == q4.review_note  # another edit leaves the question of the key open
    edited = update_scenario(q4.pk, expected_version=edited.version, changes={"key": "acd"}, user=personas.curator)
    assert (edited.key, edited.review_note) == ("ACD", "")
    assert q4.review_note in {h.review_note for h in edited.history.all()}  # the note stays in its history


def test_accepting_the_item_as_it_is_clears_the_note_about_two_keys(personas: Personas, client_as: object) -> None:
    import_medes_questions(question_file(), origin_name="q.csv", dry_run=False)
    q6 = scenario("Q6")
    assert "AB (line 11)" in q6.review_note
    accepted = change_status(q6.pk, ScenarioStatus.ACCEPTED, user=personas.curator)  # the first key A is right
    assert (accepted.key, accepted.review_note) == ("A", "")
    page = client_as(personas.curator).get(reverse("benchmark:scenario", args=[q6.pk]))  # type: ignore[operator]
    assert 'data-testid="review-note"' not in page.content.decode()


def test_reverting_an_item_to_a_version_in_another_scene_in_the_admin_moves_its_primary_link(
    personas: Personas, client_as: object
) -> None:
    import_medes_questions(question_file(), origin_name="q.csv", dry_run=False)
    q2, transplant = scenario("Q2"), resolve_scene("器官移植")
    first = q2.history.earliest("history_date")
    update_scenario(q2.pk, expected_version=q2.version, changes={"scene": transplant}, user=personas.curator)
    client = client_as(personas.admin)  # type: ignore[operator]
    url = reverse("admin:benchmark_scenario_simple_history", args=[q2.pk, first.history_id])
    form = {
        "kind": q2.kind,
        "stem": q2.stem,
        "options": json.dumps(q2.options, ensure_ascii=False),
        "key": q2.key,
        "norm": "",
        "reference_answer": "",
        "rubric_notes": "",
        "scene": first.scene_id,
        "review_note": "",
        # no "provisions" key: the autocomplete multi-select sends nothing when none is chosen
        "difficulty": "",
        "origin": q2.origin,
        "origin_detail": q2.origin_detail,
        "_save": "1",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    q2.refresh_from_db()
    assert (q2.scene.name, list(q2.scenes.values_list("name", flat=True))) == ("医患关系", ["医患关系"])

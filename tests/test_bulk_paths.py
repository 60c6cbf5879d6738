"""Bulk paths of issue 17 (item 4): storing a batch of guardian judgements in a constant number of queries,
importing a folder of sources with progress, agreement of a campaign computed from arrays."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alignment import services
from alignment.models import GuardianVersion, Judgement
from annotation.models import AcceptedLabel, Provenance
from benchmark.models import RegisteredModel, Response, Scenario, Scene, Source
from tests.labeling_fixtures import RISKY, SAFE

LAWS = Path(__file__).resolve().parent.parent / "benchmark" / "demo" / "laws"

# --- judging -------------------------------------------------------------------------------------------------


def _responses(n: int, tag: str) -> list[int]:
    scene = Scene.objects.order_by("pk").first()
    if scene is None:
        from benchmark.taxonomy import ensure_taxonomy

        ensure_taxonomy()
        scene = Scene.objects.order_by("pk").first()
    scenarios = Scenario.objects.bulk_create(
        [
            Scenario(
                kind="subjective",
                stem=f"病例{tag}{k}",
                norm="知情同意",
                scene=scene,
                content_hash=hashlib.sha256(f"{tag}{k}".encode()).hexdigest(),
            )
            for k in range(n)
        ]
    )
    model, _ = RegisteredModel.objects.get_or_create(name="judged-model", kind="imported")
    responses = Response.objects.bulk_create(
        [Response(model=model, scenario=s, scenario_version=1, scenario_hash="0" * 64, text="回答") for s in scenarios]
    )
    return [r.pk for r in responses]


def _predictions(ids: list[int], scores: dict[str, int], **extra: Any) -> list[dict[str, Any]]:
    probabilities = dict.fromkeys(scores, 0.8)
    return [
        {"id": pk, "probabilities": probabilities, "scores": scores, "risky": scores == RISKY, **extra} for pk in ids
    ]


def _store(version: GuardianVersion, predictions: list[dict[str, Any]]) -> tuple[int, int]:
    """What store_guardian_judgements returned, and the queries it ran."""
    with CaptureQueriesContext(connection) as queries:
        stored = services.store_guardian_judgements(version, predictions, None)
    return stored, len(queries)


def test_a_batch_of_judgements_is_stored_in_the_same_queries_whatever_its_size(db: None) -> None:
    version = GuardianVersion.objects.create(number=1, base_model="/b", model_dir="guardian/v1")
    counts: dict[int, tuple[int, int]] = {}
    for size in (5, 50):
        ids = _responses(size, f"s{size}-")
        stored, first = _store(version, _predictions(ids, SAFE))
        assert stored == size and Judgement.objects.filter(version=version, response_id__in=ids).count() == size
        # a reviewer stood behind one of them; judging the batch again replaces all the others, not that one
        reviewed = Judgement.objects.get(version=version, response_id=ids[0])
        reviewed.accepted = AcceptedLabel.objects.create(
            item=_item_for(ids[0]), scores=SAFE, provenance=Provenance.GUARDIAN_REVIEWED
        )
        reviewed.save(update_fields=["accepted"])
        stored, again = _store(version, _predictions(ids, RISKY))
        assert stored == size - 1
        scores = dict(
            Judgement.objects.filter(version=version, response_id__in=ids).values_list("response_id", "scores")
        )
        assert scores[ids[0]] == SAFE and all(scores[pk] == RISKY for pk in ids[1:])
        counts[size] = (first, again)
    print(f"\nqueries to store a batch of judgements (new, replaced): {counts}")
    assert counts[5] == counts[50]
    assert max(counts[50]) <= 5  # a transaction, one locked read, one insert and/or one update


def _item_for(response_id: int) -> Any:
    from annotation.models import Campaign, Item

    campaign, _ = Campaign.objects.get_or_create(name="guardian reviews", defaults={"overlap": 1})
    response = Response.objects.get(pk=response_id)
    return Item.objects.create(
        campaign=campaign, response=response, scenario_id=response.scenario_id, position=response_id
    )


def test_judging_again_replaces_the_whole_judgement_and_puts_it_back_in_the_queue(db: None) -> None:
    from django.utils import timezone

    version = GuardianVersion.objects.create(number=1, base_model="/b", model_dir="guardian/v1")
    (pk,) = _responses(1, "r")
    services.store_guardian_judgements(version, _predictions([pk], SAFE, critic={"problem": "无\x00"}), None)
    Judgement.objects.filter(response_id=pk).update(skipped_at=timezone.now())
    # the same response twice in a batch: the later prediction is the one kept, once
    stored = services.store_guardian_judgements(
        version, [*_predictions([pk], SAFE), *_predictions([pk], RISKY, probabilities={"R1": 0.6})], None
    )
    judgement = Judgement.objects.get(response_id=pk)
    assert stored == 1 and Judgement.objects.filter(response_id=pk).count() == 1
    assert judgement.scores == RISKY and judgement.risky is True and judgement.probabilities == {"R1": 0.6}
    assert judgement.uncertainty == pytest.approx(0.1) and judgement.feedback == {} and judgement.skipped_at is None
    assert judgement.judge == "guardian"


def test_the_critics_words_are_stored_without_the_characters_a_database_refuses(db: None) -> None:
    version = GuardianVersion.objects.create(number=1, base_model="/b", model_dir="guardian/v1")
    (pk,) = _responses(1, "c")
    services.store_guardian_judgements(version, _predictions([pk], SAFE, critic={"problem": "无\x00问题"}), None)
    assert "\x00" not in str(Judgement.objects.get(response_id=pk).feedback)


def test_an_empty_batch_stores_nothing_and_asks_nothing(db: None) -> None:
    version = GuardianVersion.objects.create(number=1, base_model="/b", model_dir="guardian/v1")
    assert _store(version, []) == (0, 0)


def test_a_judgement_stored_by_another_job_meanwhile_is_replaced_not_a_failure(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = GuardianVersion.objects.create(number=1, base_model="/b", model_dir="guardian/v1")
    ids = _responses(3, "x")
    real = type(Judgement.objects).bulk_create
    raced: list[int] = []

    def racing(manager: Any, objs: list[Judgement], *args: Any, **kwargs: Any) -> Any:
        if not raced:  # between our read and our insert, another job judges the first response
            raced.append(objs[0].response_id)
            real(manager, [Judgement(version=version, response_id=objs[0].response_id, judge="guardian")])
        return real(manager, objs, *args, **kwargs)

    monkeypatch.setattr(type(Judgement.objects), "bulk_create", racing)
    assert services.store_guardian_judgements(version, _predictions(ids, RISKY), None) == 3
    assert raced and list(Judgement.objects.filter(version=version).values_list("scores", flat=True)) == [RISKY] * 3


# --- importing sources --------------------------------------------------------------------------------------


def _folder(tmp_path: Path, names: tuple[str, ...]) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes((LAWS / name).read_bytes())
    return folder


def test_import_sources_parses_several_at_once_and_reports_in_the_files_order(db: None, tmp_path: Path) -> None:
    names = ("个人信息保护法(2021-08-20).md", "医师法(2021-08-20).md", "精神卫生法(2018-04-27).md")
    folder = _folder(tmp_path, names)
    (folder / "empty.txt").write_bytes(b"")  # sorts first: its error comes first, while the others parse
    out, err = io.StringIO(), io.StringIO()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="1 of 4"):
        call_command("import_sources", str(folder), "--jobs", "3", stdout=out, stderr=err)
    lines = out.getvalue().splitlines()
    assert [Path(line.split(":")[0]).name for line in lines] == ["empty.txt", *names]
    assert lines[0].endswith("error: 文件为空。")  # the default language: Chinese
    assert "中华人民共和国医师法 — 67 provisions, 7 chapters (added)" in lines[2]
    assert Source.objects.filter(parse_status="parsed").count() == 3
    # not a terminal: plain progress lines on stderr, the last one at 4 of 4
    progress = err.getvalue().splitlines()
    assert progress[-1].startswith("4/4 files (100%),") and "files/s" in progress[-1] and "s left" in progress[-1]
    assert len(progress) == 4  # a line at every tenth: each file, with four


def test_import_sources_refuses_a_jobs_count_below_one(db: None, tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    folder = _folder(tmp_path, ("医师法(2021-08-20).md",))
    with pytest.raises(CommandError, match="--jobs"):
        call_command("import_sources", str(folder), "--jobs", "0", stdout=io.StringIO(), stderr=io.StringIO())
    assert not Source.objects.exists()


def test_import_sources_draws_a_progress_bar_on_a_terminal(db: None, tmp_path: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    folder = _folder(tmp_path, ("医师法(2021-08-20).md", "精神卫生法(2018-04-27).md"))
    out, err = io.StringIO(), Terminal()
    call_command("import_sources", str(folder), stdout=out, stderr=err)
    bar = err.getvalue()
    assert "2/2" in bar and "file/s" in bar and "\r" in bar and "100%" in bar
    assert out.getvalue().count("(added)") == 2  # the file lines stay whole on stdout


# --- agreement ----------------------------------------------------------------------------------------------


def _irregular_campaign() -> Any:
    """12 items rated by 1 to 4 of 11 annotators (ids past 9, so that their text order is not their numeric
    one), some labels without a Q4 score, a gold item whose check label is left out, some accepted labels."""
    import random

    from django.contrib.auth.models import User

    from annotation.models import Item, Label
    from tests.labeling_fixtures import build_campaign

    rng = random.Random(7)  # noqa: S311 - seeded test data, not a secret
    campaign = build_campaign([], scenarios=6, overlap=3)
    people = [User.objects.create(username=f"rater{k}") for k in range(11)]
    items = list(Item.objects.filter(campaign=campaign).order_by("position"))
    for n, item in enumerate(items):
        for person in rng.sample(people, 1 + n % 4):
            scores = {key: rng.choice([0, 1]) for key in SAFE}
            if rng.random() < 0.2:
                del scores["Q4"]
            Label.objects.create(
                item=item,
                annotator=person,
                scores=scores,
                idempotency_key=f"{item.pk}-{person.pk}",
                guideline_version=1,
            )
        if n % 3 == 0:
            accepted = {key: rng.choice([0, 1]) for key in SAFE if n % 2 or key != "R2"}
            AcceptedLabel.objects.create(item=item, scores=accepted, provenance=Provenance.CONSENSUS)
    gold = items[7]  # four labels: three made it gold, the fourth checks an annotator against it
    gold.is_gold = True
    gold.save(update_fields=["is_gold"])
    AcceptedLabel.objects.create(item=gold, scores=SAFE, provenance=Provenance.ADJUDICATION).source_labels.set(
        Label.objects.filter(item=gold).order_by("pk")[:3]
    )
    return campaign


def test_agreement_from_arrays_equals_the_figures_of_the_ratings_mappings(db: None) -> None:
    from annotation.agreement import (
        against_reference,
        dimension_agreement,
        fleiss_kappa,
        krippendorff_alpha,
        percent_agreement,
    )
    from annotation.campaign_agreement import compute_agreement
    from annotation.models import Label
    from annotation.services import ratings

    campaign = _irregular_campaign()
    result = compute_agreement(campaign)
    table = ratings(campaign)  # item → annotator → value, read row by row
    reference: dict[str, dict[int, int]] = {key: {} for key in table}
    for item_id, scores in AcceptedLabel.objects.filter(item__campaign=campaign).values_list("item_id", "scores"):
        for key, value in scores.items():
            reference[key][item_id] = value
    for summary, (key, rows) in zip(result["dimensions"], table.items(), strict=True):
        expected = dimension_agreement(key, rows).as_dict()
        expected["against_consensus"] = {a: f.as_dict() for a, f in against_reference(rows, reference[key]).items()}
        assert _same(summary, expected)
    pooled = {(item, key): row for key, rows in table.items() for item, row in rows.items()}
    overall = result["overall"]
    assert (overall["items"], overall["ratings"]) == (len(pooled), sum(len(r) for r in pooled.values()))
    for name, figure in (("fleiss_kappa", fleiss_kappa), ("alpha_nominal", krippendorff_alpha)):
        assert _same(overall[name], figure(pooled).as_dict())
    assert _same(overall["percent_agreement"], percent_agreement(pooled).as_dict())
    assert result["accepted"] == sum(len(r) for r in reference.values()) // len(table)
    labels = Label.objects.filter(item__campaign=campaign)
    assert result["dimensions"][0]["ratings"] == labels.count() - 1  # the gold check is no rating


def _same(got: Any, expected: Any) -> bool:
    """Equal, floats to 1e-12 (the arrays add in another order than the mappings)."""
    if isinstance(expected, dict):
        assert set(got) == set(expected), set(got) ^ set(expected)
        return all(_same(got[k], v) for k, v in expected.items())
    if isinstance(expected, list | tuple):
        assert len(got) == len(expected)
        return all(_same(g, e) for g, e in zip(got, expected, strict=True))
    if isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)
        return True
    assert got == expected
    return True

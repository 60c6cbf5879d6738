"""Near-duplicates with real MedES scenarios: a lightly edited copy is flagged (in the bank and against the
last release), unrelated items are not, flags show on the list and the scenario page, and accepting a
flagged scenario needs an explicit confirmation."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from benchmark.importers.medes_questions import import_medes_questions
from benchmark.models import NearDuplicate, Scenario, ScenarioKind, ScenarioStatus
from benchmark.neardup import comparable_text, refresh_flags
from benchmark.releases import publish_release
from benchmark.scenarios import NearDuplicateUnconfirmed, change_status, create_scenario
from medes_site import jobs
from medes_site.models import AuditEntry, JobStatus
from tests.factories import Personas, medes


def sample(name: str) -> bytes:
    """A file of the shared MedES sample (MEDES_SAMPLE_DIR points elsewhere, e.g. from a git worktree)."""
    override = os.environ.get("MEDES_SAMPLE_DIR")
    return (Path(override) / name).read_bytes() if override else medes(name)


@pytest.fixture
def bank(db: None) -> list[Scenario]:
    """The 200 MedES sample items, in review (not yet accepted)."""
    for name in ("objective_questions.csv", "subjective_questions.csv"):
        report = import_medes_questions(sample(name), origin_name=name, dry_run=False)
        assert report.written and not report.errors
    return list(Scenario.objects.order_by("pk"))


def lightly_edited(stem: str) -> str:
    """What a generator asked for "another variant" often writes: a word swapped, a clause added."""
    return stem.replace("我", "本人", 1).replace("，", "；", 1) + "请问该怎么办？"


def copy_of(scenario: Scenario, **changes: Any) -> Scenario:
    fields = {
        "kind": scenario.kind,
        "stem": lightly_edited(scenario.stem),
        "options": scenario.options,
        "key": scenario.key,
        "norm": scenario.norm,
        "scene": scenario.scene,
        **changes,
    }
    return create_scenario(origin="generated", **fields)[0]


def subjective(bank: list[Scenario]) -> Scenario:
    return next(s for s in bank if s.kind == ScenarioKind.SUBJECTIVE and len(s.stem) > 80)


def test_the_sample_itself_holds_no_near_duplicates(bank: list[Scenario]) -> None:
    result = refresh_flags()
    assert result == {"checked": 200, "compared_with": 200, "flags": 0, "flagged_scenarios": 0}


def test_a_lightly_edited_copy_is_flagged_and_unrelated_items_are_not(bank: list[Scenario]) -> None:
    original = subjective(bank)
    copy = copy_of(original)
    unrelated = create_scenario(
        kind="subjective",
        stem="我是一名社区护士，独居老人拒绝接种疫苗，我应该如何沟通？",
        norm=original.norm,
        scene=original.scene,
        origin="expert",
    )[0]
    result = refresh_flags([copy.pk, unrelated.pk])
    assert result["checked"] == 2
    [flag] = NearDuplicate.objects.filter(scenario=copy)
    assert flag.match == original and flag.release is None and 0.8 <= flag.jaccard < 1
    assert NearDuplicate.objects.filter(scenario=original, match=copy).exists()  # both sides of the pair
    assert not NearDuplicate.objects.filter(scenario=unrelated).exists()  # the same norm does not make a twin
    assert NearDuplicate.objects.count() == 2


def test_an_objective_item_with_its_options_reworded_slightly_is_flagged(bank: list[Scenario]) -> None:
    original = next(s for s in bank if s.kind == ScenarioKind.OBJECTIVE and len(s.stem) > 30)
    # Short items: only the last option changed (each edit costs a 4-character shingle window on both sides).
    last = sorted(original.options)[-1]
    options = {**original.options, last: "以上均不是" if original.options[last] != "以上均不是" else "都不对"}
    copy = copy_of(original, stem=original.stem, options=options)
    refresh_flags([copy.pk])
    assert list(NearDuplicate.objects.filter(scenario=copy).values_list("match", flat=True)) == [original.pk]


def test_the_threshold_is_configurable(bank: list[Scenario], settings: Any) -> None:
    original = subjective(bank)
    copy = copy_of(original)
    settings.MEDES_NEAR_DUPLICATE_THRESHOLD = 0.99
    refresh_flags([copy.pk])
    assert not NearDuplicate.objects.exists()
    refresh_flags([copy.pk], threshold=0.5)
    assert NearDuplicate.objects.filter(scenario=copy, match=original).exists()


def test_a_rewording_of_an_item_in_the_last_release_is_flagged_against_the_release(
    bank: list[Scenario], personas: Personas
) -> None:
    original = subjective(bank)
    change_status(original.pk, ScenarioStatus.ACCEPTED, user=personas.curator)
    release = publish_release("MedES-2026.11", user=personas.curator)
    change_status(original.pk, ScenarioStatus.RETIRED, user=personas.curator)  # gone from the bank, still released
    copy = copy_of(original)
    refresh_flags([copy.pk])
    [flag] = NearDuplicate.objects.filter(scenario=copy)
    assert (flag.match, flag.release) == (original, release)
    assert not NearDuplicate.objects.filter(scenario=original).exists()  # retired and accepted items get no flags


def test_the_whole_bank_pass_replaces_old_flags(bank: list[Scenario]) -> None:
    original = subjective(bank)
    copy = copy_of(original)
    call_command("find_near_duplicates", stdout=(out := io.StringIO()))
    assert out.getvalue().strip() == "201 scenarios checked against 201: 2 flagged (2 flags)"
    assert NearDuplicate.objects.count() == 2
    Scenario.objects.filter(pk=copy.pk).update(stem="完全不同的内容：医院信息系统被勒索软件攻击后应如何告知患者？")
    call_command("find_near_duplicates", stdout=io.StringIO())
    assert not NearDuplicate.objects.exists()


def test_the_pass_runs_as_a_curator_job(bank: list[Scenario], personas: Personas) -> None:
    copy_of(subjective(bank))
    job = jobs.enqueue_job("benchmark.find_near_duplicates", {}, user=personas.curator)
    assert jobs.execute_job(job.pk) == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert job.metrics["flagged_scenarios"] == 2


def test_accepting_a_flagged_scenario_needs_an_explicit_confirmation(bank: list[Scenario], personas: Personas) -> None:
    copy = copy_of(subjective(bank))
    refresh_flags([copy.pk])
    change_status(copy.pk, ScenarioStatus.IN_REVIEW, user=personas.curator)
    with translation.override("en"), pytest.raises(NearDuplicateUnconfirmed, match="confirm"):
        change_status(copy.pk, ScenarioStatus.ACCEPTED, user=personas.curator)
    assert Scenario.objects.get(pk=copy.pk).status == ScenarioStatus.IN_REVIEW
    accepted = change_status(copy.pk, ScenarioStatus.ACCEPTED, user=personas.curator, confirm_near_duplicates=True)
    assert accepted.status == ScenarioStatus.ACCEPTED
    entry = AuditEntry.objects.filter(action="scenario.status", object_id=str(copy.pk)).latest("pk")
    assert entry.details["near_duplicates_confirmed"] is True


def test_the_list_marks_and_filters_near_duplicates_and_the_bulk_accept_asks_for_confirmation(
    bank: list[Scenario], personas: Personas, client_as: Any
) -> None:
    copy = copy_of(subjective(bank))
    refresh_flags([copy.pk])
    change_status(copy.pk, ScenarioStatus.IN_REVIEW, user=personas.curator)
    client = client_as(personas.curator)
    page = client.get(reverse("benchmark:scenarios")).content.decode()  # newest first: the copy, not its original
    assert page.count('data-testid="near-duplicate"') == 1
    only = client.get(reverse("benchmark:scenarios"), {"near_duplicate": "on"})
    assert only.context["page"].paginator.count == 2
    fragment = client.get(reverse("benchmark:scenarios"), {"near_duplicate": "on"}, headers={"HX-Request": "true"})
    assert fragment.content.decode().count('data-testid="near-duplicate"') == 2
    assert "<html" not in fragment.content.decode()

    url = reverse("benchmark:scenario_bulk_status")
    refused = client.post(url, {"ids": [copy.pk], "status": "accepted"}, follow=True)
    assert Scenario.objects.get(pk=copy.pk).status == ScenarioStatus.IN_REVIEW
    assert f"#{copy.pk}" in refused.content.decode()
    client.post(url, {"ids": [copy.pk], "status": "accepted", "confirm_near_duplicates": "on"})
    assert Scenario.objects.get(pk=copy.pk).status == ScenarioStatus.ACCEPTED


def test_the_scenario_page_shows_its_near_duplicates(bank: list[Scenario], personas: Personas, client_as: Any) -> None:
    original = subjective(bank)
    copy = copy_of(original)
    refresh_flags([copy.pk])
    page = client_as(personas.reviewer).get(reverse("benchmark:scenario", args=[copy.pk])).content.decode()
    assert 'data-testid="near-duplicates"' in page
    assert reverse("benchmark:scenario", args=[original.pk]) in page
    clean = client_as(personas.reviewer).get(reverse("benchmark:scenario", args=[bank[0].pk])).content.decode()
    assert 'data-testid="near-duplicates"' not in clean


def test_refreshing_the_bank_from_the_list_starts_a_job_for_curators_only(
    personas: Personas, client_as: Any, db: None
) -> None:
    url = reverse("benchmark:near_duplicates_refresh")
    response = client_as(personas.curator).post(url)
    assert response.status_code == 302 and "/jobs/" in response["Location"]
    assert client_as(personas.reviewer).post(url).status_code == 403
    assert client_as(personas.curator).get(url).status_code == 405


def test_comparison_ignores_spacing_punctuation_and_width() -> None:
    assert (
        comparable_text("subjective", "我是一名医生， 患者（ＡＢ型血）拒绝输血。", {})
        == "我是一名医生患者ab型血拒绝输血"
    )
    assert comparable_text("objective", "哪项正确？", {"B": "乙", "A": "甲"}) == "哪项正确甲乙"

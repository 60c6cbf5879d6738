"""Blind labeling holds for a user with a second role (issue 13, items 3 and 4): the annotator of a campaign who
is also a curator, an ML engineer, a reviewer or an administrator sees no one else's labels, rationales, accepted
labels, agreement, annotator figures, exports (or their job artifacts), guardian judgements or model names of
that campaign by any route; the same roles without annotating in it see them. The leaderboard's item-by-item
comparison is for reviewers and ML engineers who label none of the release's answers; annotators and the public
see aggregates only, and none while the release's answers are being labeled."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from alignment.models import EvaluationRun, EvaluationStatus, GuardianVersion, Judgement, VersionStatus
from annotation.models import Campaign, CampaignStatus, Item, Member, MemberRole
from annotation.services import add_members
from benchmark.models import RegisteredModel, Release
from medes_site import jobs
from medes_site.accounts import create_user
from medes_site.models import Job, JobStatus
from medes_site.roles import Role
from tests.campaign_data import SAFE, annotators, build_campaign, label_next
from tests.factories import PASSWORD, Personas

SECRET = "SECRET-RATIONALE-of-annotator2"
MODEL = "Blind-model-0"  # build_campaign names the models <name>-model-<n>
DUAL_ROLES = ["curator", "ml_engineer", "reviewer", "admin"]


@pytest.fixture
def world(personas: Personas) -> dict[str, Any]:
    """A blind campaign with labels from annotator2 and annotator3, and a second user of each kind who annotates
    in it (``dual``), beside the plain personas who do not."""
    campaign = build_campaign(personas, name="Blind", cases=2)
    people = annotators(personas)
    labels = [label_next(campaign, person, SAFE, rationale=SECRET, seconds=20) for person in people]
    assert len({label.item_id for label in labels}) == 1  # k = 3 agreeing labels: an accepted label
    return {"campaign": campaign, "release": campaign.release}


def dual(kind: str, campaign: Campaign) -> User:
    """A user holding ``kind`` who is also an annotator of ``campaign`` (a reviewer is also its reviewer)."""
    if kind == "admin":
        user = create_user(f"dual-{kind}", roles=[], password=PASSWORD, superuser=True)
    else:
        user = create_user(f"dual-{kind}", roles=[Role(kind), Role.ANNOTATOR], password=PASSWORD)
    add_members(campaign, [user], MemberRole.ANNOTATOR)
    if kind == "reviewer":
        add_members(campaign, [user], MemberRole.REVIEWER)
    return user


def plain(kind: str, personas: Personas, campaign: Campaign) -> User:
    """The same kind of user, not annotating in ``campaign`` (the reviewer persona reviews it)."""
    user = {
        "curator": personas.curator,
        "ml_engineer": personas.ml_engineer,
        "reviewer": personas.reviewer,
        "admin": personas.admin,
    }[kind]
    assert not Member.objects.filter(campaign=campaign, role=MemberRole.ANNOTATOR, user=user).exists()
    return user


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


@pytest.mark.parametrize("kind", DUAL_ROLES)
def test_campaign_pages_hide_labels_from_an_annotator_with_a_second_role(
    kind: str, world: dict[str, Any], personas: Personas
) -> None:
    campaign = world["campaign"]
    client = as_user(dual(kind, campaign))
    for name, query in (
        ("export", "?what=labels&format=csv"),
        ("export", "?what=accepted&format=jsonl"),
        ("annotators", ""),
        ("agreement", ""),
    ):
        response = client.get(reverse(f"annotation:campaign_{name}", args=[campaign.pk]) + query)
        assert response.status_code == 404, (name, query, response.status_code)
        assert SECRET not in body(response) and MODEL not in body(response)
    for name in ("export", "agreement_compute"):
        assert (
            client.post(
                reverse(f"annotation:campaign_{name}", args=[campaign.pk]), {"what": "labels", "format": "csv"}
            ).status_code
            == 404
        )
    page = client.get(reverse("annotation:campaign_detail", args=[campaign.pk]))
    assert page.status_code == 200
    text = body(page)
    assert 'data-testid="blind-notice"' in text and SECRET not in text and MODEL not in text
    assert reverse("annotation:campaign_export", args=[campaign.pk]) not in text
    assert reverse("annotation:campaign_agreement", args=[campaign.pk]) not in text


@pytest.mark.parametrize("kind", DUAL_ROLES)
def test_the_same_roles_without_annotating_see_the_labels(kind: str, world: dict[str, Any], personas: Personas) -> None:
    """The control: what the rule hides is there for those it does not hide it from."""
    campaign = world["campaign"]
    client = as_user(plain(kind, personas, campaign))
    export = client.get(reverse("annotation:campaign_export", args=[campaign.pk]) + "?what=labels&format=csv")
    assert export.status_code == 200 and SECRET in body(export) and MODEL in body(export)
    assert client.get(reverse("annotation:campaign_annotators", args=[campaign.pk])).status_code == 200
    assert client.get(reverse("annotation:campaign_agreement", args=[campaign.pk])).status_code == 200
    page = body(client.get(reverse("annotation:campaign_detail", args=[campaign.pk])))
    assert (
        reverse("annotation:campaign_export", args=[campaign.pk]) in page and 'data-testid="blind-notice"' not in page
    )


@pytest.mark.parametrize("kind", ["curator", "ml_engineer", "admin"])
def test_an_export_jobs_results_are_hidden_from_an_annotator_of_its_campaign(
    kind: str, world: dict[str, Any], personas: Personas
) -> None:
    campaign = world["campaign"]
    job = jobs.enqueue_job(
        "annotation.export", {"campaign": campaign.pk, "what": "labels", "format": "jsonl"}, user=personas.curator
    )
    assert jobs.execute_job(job.pk) == JobStatus.SUCCEEDED
    agreement = jobs.enqueue_job("annotation.agreement", {"campaign": campaign.pk}, user=personas.curator)
    assert jobs.execute_job(agreement.pk) == JobStatus.SUCCEEDED
    user = dual(kind, campaign)
    if kind == "curator":  # a curator sees the jobs they started: make it theirs
        job.triggered_by = agreement.triggered_by = user
        job.save(update_fields=["triggered_by"])
        agreement.save(update_fields=["triggered_by"])
    client = as_user(user)
    assert client.get(reverse("jobs:artifact", args=[job.pk, 0])).status_code == 404
    for pk in (job.pk, agreement.pk):
        page = client.get(reverse("jobs:detail", args=[pk]))
        assert page.status_code == 200 and 'data-testid="outputs-hidden"' in body(page)
        assert 'data-testid="artifact"' not in body(page) and "kappa" not in body(page)
        api = client.get(reverse("api-job-detail", args=[pk])).json()
        assert api["artifacts"] is None and api["metrics"] is None
    listed = client.get(reverse("api-job-list")).json()["results"]
    assert all(row["artifacts"] is None for row in listed if row["id"] in (job.pk, agreement.pk))
    # an ML engineer who does not annotate there downloads the file
    assert as_user(personas.ml_engineer).get(reverse("jobs:artifact", args=[job.pk, 0])).status_code == 200


@pytest.mark.parametrize("kind", DUAL_ROLES)
def test_the_api_hides_the_campaigns_labels_from_its_annotators(
    kind: str, world: dict[str, Any], personas: Personas
) -> None:
    campaign = world["campaign"]
    user = dual(kind, campaign)
    client = as_user(user)
    labels = client.get(reverse("api-label-list"), {"campaign": campaign.pk}).json()["results"]
    assert labels == []  # they have given none yet
    accepted = client.get(reverse("api-accepted-list"), {"campaign": campaign.pk})
    assert accepted.status_code == 200 and accepted.json()["results"] == []
    # the same role, not annotating there, sees the three labels and the accepted one
    seen = as_user(plain(kind, personas, campaign))
    assert len(seen.get(reverse("api-label-list"), {"campaign": campaign.pk}).json()["results"]) == 3
    assert len(seen.get(reverse("api-accepted-list"), {"campaign": campaign.pk}).json()["results"]) == 1


def _judgement_on_campaign_response(campaign: Campaign) -> Judgement:
    version = GuardianVersion.objects.create(
        number=1, base_model="/base", model_dir="guardian/v1", status=VersionStatus.READY
    )
    item = Item.objects.filter(campaign=campaign).order_by("pk").first()
    assert item is not None and item.response is not None
    return Judgement.objects.create(
        response=item.response,
        judge="guardian",
        version=version,
        scores=SAFE,
        uncertainty=0.4,
        probabilities=dict.fromkeys(SAFE, 0.6),
    )


def test_the_guardian_review_screen_skips_responses_its_reviewer_annotates(
    world: dict[str, Any], personas: Personas
) -> None:
    campaign = world["campaign"]
    judgement = _judgement_on_campaign_response(campaign)
    client = as_user(dual("reviewer", campaign))
    assert client.get(reverse("alignment:guardian_review", args=[judgement.pk])).status_code == 404
    queue = client.get(reverse("alignment:guardian_review_next"))
    assert queue.status_code == 200 and reverse("alignment:guardian_review", args=[judgement.pk]) not in body(queue)
    # a reviewer who does not annotate there reviews it
    other = as_user(personas.reviewer)
    assert other.get(reverse("alignment:guardian_review_next"))["Location"] == reverse(
        "alignment:guardian_review", args=[judgement.pk]
    )
    assert other.get(reverse("alignment:guardian_review", args=[judgement.pk])).status_code == 200


def _evaluations(release: Release) -> tuple[EvaluationRun, EvaluationRun]:
    models = list(RegisteredModel.objects.filter(name__startswith="Blind-model"))
    other = RegisteredModel.objects.create(name="Blind-other", kind="imported")
    items = [{"item": i.scenario_id, "scene": "常规诊疗", "scores": SAFE} for i in Item.objects.all()]
    results = {
        "subjective": {"risk": 0.0, "quality": 0.75, "comprehensive": 0.75, "per_scene": {}},
        "objective": {},
        "counts": {"items": len(items)},
        "items": items,
    }
    runs = []
    for model in (models[0], other):
        run = EvaluationRun.objects.create(
            model=model,
            release=release,
            judge="prompt",
            judge_model="j",
            status=EvaluationStatus.SUCCEEDED,
            results=results,
        )
        runs.append(run)
    return runs[0], runs[1]


def _compare_url(release: Release, base: EvaluationRun, other: EvaluationRun) -> str:
    return reverse("alignment:leaderboard", args=[release.pk]) + f"?base={base.pk}&other={other.pk}"


def test_item_by_item_comparisons_are_for_reviewers_and_ml_engineers_who_label_none_of_the_release(
    world: dict[str, Any], personas: Personas
) -> None:
    campaign, release = world["campaign"], world["release"]
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.CLOSED)
    base, other = _evaluations(release)
    url = _compare_url(release, base, other)
    for user in (personas.ml_engineer, personas.reviewer, personas.admin):
        page = body(as_user(user).get(url))
        assert 'data-testid="compare"' in page and 'data-testid="regressions"' in page, user
    for user in (personas.annotator, personas.curator, dual("ml_engineer", campaign), dual("reviewer", campaign)):
        page = body(as_user(user).get(url))
        assert 'data-testid="leaderboard"' in page, user  # aggregates
        assert 'data-testid="compare"' not in page and "data-item=" not in page, user
    public = body(Client().get(reverse("public_leaderboard", args=[release.pk]) + f"?base={base.pk}&other={other.pk}"))
    assert 'data-testid="leaderboard"' in public
    assert 'data-testid="compare"' not in public and "data-item=" not in public


def test_no_results_of_a_release_whose_answers_are_being_labeled_reach_annotators_or_the_public(
    world: dict[str, Any], personas: Personas
) -> None:
    release = world["release"]  # the campaign is active
    base, other = _evaluations(release)
    for client in (as_user(personas.annotator), as_user(personas.curator), Client()):
        url = (
            reverse("public_leaderboard", args=[release.pk])
            if client.session.get("_auth_user_id") is None
            else _compare_url(release, base, other)
        )
        page = body(client.get(url))
        assert 'data-testid="results-hidden"' in page and 'data-testid="leaderboard"' not in page
        assert "Blind-other" not in page
    # reviewers and ML engineers who label none of it still see everything
    assert 'data-testid="compare"' in body(as_user(personas.ml_engineer).get(_compare_url(release, base, other)))


def test_the_one_rule_is_the_apis_rule_too(world: dict[str, Any], personas: Personas) -> None:
    """A reviewer of the campaign sees its labels through the API; once they also annotate in it, none."""
    campaign = world["campaign"]
    client = as_user(personas.reviewer)
    before = client.get(reverse("api-label-list"), {"campaign": campaign.pk}).json()["results"]
    assert {row["rationale"] for row in before} == {SECRET}
    add_members(campaign, [personas.reviewer], MemberRole.ANNOTATOR)
    personas.reviewer.groups.add(Group.objects.get(name="annotator"))
    after = as_user(personas.reviewer).get(reverse("api-label-list"), {"campaign": campaign.pk}).json()["results"]
    assert after == []


def test_the_admin_hides_the_campaign_from_an_administrator_who_annotates_in_it(
    world: dict[str, Any], personas: Personas
) -> None:
    campaign = world["campaign"]
    judgement = _judgement_on_campaign_response(campaign)
    job = jobs.enqueue_job("annotation.agreement", {"campaign": campaign.pk}, user=personas.curator)
    assert jobs.execute_job(job.pk) == JobStatus.SUCCEEDED
    plain_admin, annotating_admin = as_user(personas.admin), as_user(dual("admin", campaign))
    lists = (
        "annotation_label_changelist",
        "annotation_item_changelist",
        "annotation_acceptedlabel_changelist",
        "alignment_judgement_changelist",
        "benchmark_response_changelist",
    )
    for name in lists:
        url = reverse(f"admin:{name}")
        seen, hidden = plain_admin.get(url), annotating_admin.get(url)
        assert seen.context["cl"].result_count > 0 and hidden.context["cl"].result_count == 0, name
        assert SECRET not in body(hidden) and "Blind-model" not in body(hidden), name
    assert annotating_admin.get(reverse("admin:alignment_judgement_change", args=[judgement.pk])).status_code == 302
    change = body(annotating_admin.get(reverse("admin:medes_site_job_change", args=[job.pk])))
    assert "kappa" not in change and "log_tail" not in change
    assert "kappa" in body(plain_admin.get(reverse("admin:medes_site_job_change", args=[job.pk])))


@pytest.mark.parametrize("kind", ["curator", "ml_engineer", "admin"])
def test_the_response_pages_and_api_do_not_name_the_model_of_an_answer_its_reader_labels(
    kind: str, world: dict[str, Any], personas: Personas
) -> None:
    campaign = world["campaign"]
    response = Item.objects.filter(campaign=campaign).order_by("pk").first().response  # type: ignore[union-attr]
    assert response is not None
    client = as_user(dual(kind, campaign))
    assert client.get(reverse("benchmark:response", args=[response.pk])).status_code == 404
    assert client.get(reverse("api-response-detail", args=[response.pk])).status_code == 404
    listed = client.get(reverse("api-response-list"), {"model": MODEL}).json()["results"]
    assert response.pk not in {row["id"] for row in listed}
    # the same role, not annotating there, reads it
    seen = as_user(plain(kind, personas, campaign))
    assert seen.get(reverse("benchmark:response", args=[response.pk])).status_code == 200
    assert seen.get(reverse("api-response-detail", args=[response.pk])).status_code == 200


def test_the_alignment_data_page_hides_prompts_and_pairs_grown_from_an_answer_its_reader_labels(
    world: dict[str, Any], personas: Personas
) -> None:
    from alignment.models import PreferencePair, TargetedPrompt

    campaign = world["campaign"]
    judgement = _judgement_on_campaign_response(campaign)
    policy = judgement.response.model
    prompt = TargetedPrompt.objects.create(
        policy=policy, scenario=judgement.response.scenario, text="PROMPT-FROM-X", judgement=judgement
    )
    pair = PreferencePair.objects.create(
        prompt=prompt, chosen="好", chosen_source="reference", rejected=judgement.response.text
    )
    client = as_user(dual("reviewer", campaign))
    page = body(client.get(reverse("alignment:data")))
    assert "PROMPT-FROM-X" not in page and MODEL not in page
    assert (
        client.post(reverse("alignment:data_review_pair", args=[pair.pk]), {"decision": "accepted"}).status_code == 404
    )
    assert "PROMPT-FROM-X" in body(as_user(personas.reviewer).get(reverse("alignment:data")))


def test_a_prompt_grown_from_a_degenerate_answer_no_judge_read_is_hidden_from_its_labeler_too(
    world: dict[str, Any], personas: Personas
) -> None:
    """A degenerate answer is a failure without any judgement: its prompt points at the answer directly."""
    from alignment.models import PreferencePair, TargetedPrompt

    campaign = world["campaign"]
    response = _judgement_on_campaign_response(campaign).response
    prompt = TargetedPrompt.objects.create(
        policy=response.model, scenario=response.scenario, text="PROMPT-FROM-Y", response=response
    )
    pair = PreferencePair.objects.create(prompt=prompt, chosen="好", chosen_source="reference", rejected=response.text)
    client = as_user(dual("reviewer", campaign))
    page = body(client.get(reverse("alignment:data")))
    assert "PROMPT-FROM-Y" not in page and MODEL not in page
    assert (
        client.post(reverse("alignment:data_review_pair", args=[pair.pk]), {"decision": "accepted"}).status_code == 404
    )
    assert "PROMPT-FROM-Y" in body(as_user(personas.reviewer).get(reverse("alignment:data")))


def test_leaving_the_campaign_does_not_lift_the_rule(world: dict[str, Any], personas: Personas) -> None:
    """A curator who labeled in the campaign removes their own membership (editors may): what they labeled stays
    blind to them, so they cannot read the others' labels and then join again."""
    campaign = world["campaign"]
    user = dual("curator", campaign)
    Campaign.objects.filter(pk=campaign.pk).update(overlap=4)  # a place left for them on the settled item's sibling
    label_next(campaign, user, SAFE, rationale="mine")
    client = as_user(user)
    member = Member.objects.get(campaign=campaign, user=user, role=MemberRole.ANNOTATOR)
    assert client.post(reverse("annotation:campaign_member_remove", args=[campaign.pk, member.pk])).status_code == 302
    assert not Member.objects.filter(campaign=campaign, user=user, role=MemberRole.ANNOTATOR).exists()
    assert (
        client.get(reverse("annotation:campaign_export", args=[campaign.pk]) + "?what=labels&format=csv").status_code
        == 404
    )
    assert client.get(reverse("annotation:campaign_agreement", args=[campaign.pk])).status_code == 404


def test_the_guardian_review_shows_expert_scores_of_the_reviewers_own_campaigns_only(
    world: dict[str, Any], personas: Personas
) -> None:
    """A reviewer with no reviewing role in the campaign does not see its accepted labels beside the guardian's."""
    campaign = world["campaign"]
    accepted = Item.objects.get(campaign=campaign, state="agreed")
    judgement = _judgement_on_campaign_response(campaign)
    Judgement.objects.filter(pk=judgement.pk).update(response=accepted.response)
    outsider = create_user("reviewer-elsewhere", roles=[Role.REVIEWER], password=PASSWORD)
    url = reverse("alignment:guardian_review", args=[judgement.pk])
    own = as_user(personas.reviewer).get(url)
    assert own.status_code == 200 and own.context["expert"] == SAFE
    elsewhere = as_user(outsider).get(url)
    assert elsewhere.status_code == 200 and elsewhere.context["expert"] is None


def test_an_evaluations_job_results_are_hidden_from_one_who_labels_answers_to_its_release(
    world: dict[str, Any], personas: Personas
) -> None:
    release = world["release"]
    config = {"model": RegisteredModel.objects.get(name=MODEL).pk, "release": release.pk}
    job = Job.objects.create(
        kind="alignment.evaluate",
        config=config,
        triggered_by=personas.ml_engineer,
        status="succeeded",
        metrics={"risk": 0.5},
    )
    hidden = body(as_user(dual("ml_engineer", world["campaign"])).get(reverse("jobs:detail", args=[job.pk])))
    assert 'data-testid="outputs-hidden"' in hidden and "risk" not in hidden.split('data-testid="outputs-hidden"')[1]
    assert "0.5" in body(as_user(personas.ml_engineer).get(reverse("jobs:detail", args=[job.pk])))


def test_a_dataset_holding_pairs_from_answers_its_reader_labels_is_not_served_to_them(
    world: dict[str, Any], personas: Personas
) -> None:
    from alignment.alignment_data import freeze
    from alignment.models import PreferencePair, TargetedPrompt

    judgement = _judgement_on_campaign_response(world["campaign"])
    prompt = TargetedPrompt.objects.create(
        policy=judgement.response.model, scenario=judgement.response.scenario, text="提示", judgement=judgement
    )
    PreferencePair.objects.create(
        prompt=prompt, chosen="好", chosen_source="reference", rejected=judgement.response.text, status="accepted"
    )
    dataset = freeze("blind-data", "sft")
    url = reverse("alignment:data_download", args=[dataset.pk])
    assert as_user(dual("ml_engineer", world["campaign"])).get(url).status_code == 404
    assert as_user(personas.ml_engineer).get(url).status_code == 200

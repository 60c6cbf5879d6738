"""The world the access matrix (tests/test_access.py) walks: one database state, built once per module, with a
user for every persona and, for every kind of object a route takes an id of, one in a persona's scope and one of
another user or campaign.

Campaigns (built in this order, so that each release holds only the scenarios that existed when it was
published, and each campaign's items are its own scenarios' responses):

- ``other`` (Y): created by the curator, no reviewer member, the annotator removed; closed at the end. Its
  release (``release_closed``) holds only its own scenarios: nobody among the personas annotates its answers.
- ``labeling`` (L): k = 1, so a reservation is one annotator's alone; every annotating persona holds one item
  (``own_item``) and annotator2 holds another (``their_item``).
- ``review`` (X): the blind campaign. k = 3; the reviewer created and reviews it; annotator, annotator2 and
  annotator3 labeled a disputed item and an accepted one, with a rationale and model name the matrix looks for;
  the personas holding a review-side role besides annotating (``BLIND_ANNOTATORS``, an administrator among them)
  annotate in it, annotator+reviewer reviews it too, curator+reviewer reviews it without annotating. Its release
  (``release_open``) is being labeled.
- ``draft``: a draft campaign the annotator is a member of.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.test import override_settings
from django.urls import reverse

from alignment.alignment_data import freeze
from alignment.models import (
    AlignPipeline,
    EvaluationRun,
    EvaluationStatus,
    GuardianVersion,
    Judgement,
    PreferencePair,
    TargetedPrompt,
    VersionStatus,
)
from annotation import campaign_agreement, exports, review
from annotation.assignments import next_assignment
from annotation.models import Campaign, CampaignStatus, Item, ItemState, Member, MemberRole
from annotation.services import add_members, set_guideline
from benchmark.importers.responses import import_medes_responses
from benchmark.importers.uploads import store_upload
from benchmark.models import Amendment, ModelKind, Provision, RegisteredModel, Release, Response, Scenario, Scene
from benchmark.releases import publish_release
from benchmark.responses import register_model
from benchmark.scenarios import create_scenario
from benchmark.services import SourceMeta, add_source
from benchmark.taxonomy import ensure_taxonomy
from medes_site import jobs
from medes_site.accounts import create_user
from medes_site.models import Job, JobStatus
from medes_site.roles import Role
from medes_site.tokens import create_token
from tests.campaign_data import RISKY, SAFE, annotators, build_campaign, label_next
from tests.factories import PASSWORD, Personas

# Everyone the matrix signs in as. The dual-role personas annotate in the blind campaign, so the blind-labeling
# rule applies to them whatever their other role; curator_reviewer reviews it without annotating.
PERSONAS = (
    "anonymous",
    "outsider",
    "annotator",
    "reviewer",
    "curator",
    "ml_engineer",
    "admin",
    "annotator_curator",
    "annotator_ml",
    "annotator_reviewer",
    "curator_reviewer",
    "admin_annotator",
)
ROLES: dict[str, tuple[Role, ...]] = {
    "outsider": (),
    "annotator": (Role.ANNOTATOR,),
    "annotator2": (Role.ANNOTATOR,),
    "reviewer": (Role.REVIEWER,),
    "curator": (Role.CURATOR,),
    "ml_engineer": (Role.ML_ENGINEER,),
    "admin": (),  # a superuser: every role, member of no campaign
    "annotator_curator": (Role.ANNOTATOR, Role.CURATOR),
    "annotator_ml": (Role.ANNOTATOR, Role.ML_ENGINEER),
    "annotator_reviewer": (Role.ANNOTATOR, Role.REVIEWER),
    "curator_reviewer": (Role.CURATOR, Role.REVIEWER),
    "admin_annotator": (),  # a superuser who annotates in the blind campaign: blind there too
}
SUPERUSERS = frozenset({"admin", "admin_annotator"})
# annotators of the blind campaign who hold a review-side role too (the plain annotator holds none)
BLIND_ANNOTATORS = ("annotator_curator", "annotator_ml", "annotator_reviewer", "admin_annotator")
ANNOTATING = ("annotator", *BLIND_ANNOTATORS)  # annotator members of both the labeling and the blind campaign

# What a blind persona must never find on a page of the blind campaign (and its non-blind readers do find).
RATIONALE = "SECRET-RATIONALE-access"
MODEL = "Review-model-0"  # campaign_data.build_campaign names the models <name>-model-<n>
PAUSED = "gold accuracy 0.40 below 0.80"
MISSING = 999_999


@dataclass
class World:
    users: dict[str, User]
    objects: dict[str, Any] = field(default_factory=dict)
    own_items: dict[str, Item] = field(default_factory=dict)
    own_tokens: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.objects[key]

    def pk(self, key: str) -> int:
        return int(self.objects[key].pk)

    def arg(self, key: str) -> Any:
        """What a URL takes for the world's object ``key``: its pk (a token: its key)."""
        value = self.objects[key]
        return value if isinstance(value, str | int) else value.pk

    def user(self, persona: str) -> User | None:
        return None if persona == "anonymous" else self.users[persona]

    def own_item(self, persona: str) -> int:
        """The labeling item this persona holds; for those who hold none, the annotator's (not theirs)."""
        item = self.own_items.get(persona) or self.own_items["annotator"]
        return int(item.pk)

    def own_token(self, persona: str) -> str:
        return self.own_tokens.get(persona) or self.own_tokens["curator"]

    def markers(self) -> dict[str, str]:
        """Strings a page must not hold (``Ok.hides``) or must hold (``Ok.shows``), by name."""
        review_pk = self.pk("review")
        return {
            "rationale": RATIONALE,
            "model": MODEL,
            "export-link": reverse("annotation:campaign_export", args=[review_pk]),
            "agreement-link": reverse("annotation:campaign_agreement", args=[review_pk]),
            "blind-notice": 'data-testid="blind-notice"',
            "outputs-hidden": 'data-testid="outputs-hidden"',
            "artifact-link": 'data-testid="artifact"',
            "kappa": "kappa",  # the agreement's figures in the API's JSON (fleiss_kappa)
            "job-metrics": 'data-testid="job-metrics"',  # a job page's metrics, shown by their labels
            "job-log": 'data-testid="job-log"',
            "label-row": 'class="field-annotator',  # a label's row in the admin's change list
            "compare": 'data-testid="compare"',
            "per-item": "data-item=",
            "aggregates": 'data-testid="leaderboard"',
            "results-hidden": 'data-testid="results-hidden"',
            "other-model": "Bench-other",
            "paused": PAUSED,
            "artifact-path": str(self.objects["export_job"].artifacts[0]["path"]),
            "one-result": '"count":1,',
            "no-result": '"count":0,',
            "two-results": '"count":2,',
            # the alignment API's evaluations and leaderboards (alignment.visibility's levels)
            "figures": '"subjective":{',
            "no-figures": '"subjective":null',
            "shown-none": '"shown":"none"',
            "shown-aggregates": '"shown":"aggregates"',
            "shown-items": '"shown":"items"',
        }


@contextmanager
def world_settings(root: Any) -> Iterator[None]:
    """Files the world writes (sources, uploads, job artifacts, datasets) go under ``root``; passwords hash fast."""
    with override_settings(
        ARTIFACTS_ROOT=root / "artifacts",
        MEDIA_ROOT=root / "media",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    ):
        yield


def build_world() -> World:
    ensure_taxonomy()  # a transactional test module run before this one flushed the seeded scenes
    users = {
        name: create_user(
            {"ml_engineer": "ml"}.get(name, name.replace("_", "-")),
            roles=roles,
            password=PASSWORD,
            superuser=name in SUPERUSERS,
        )
        for name, roles in ROLES.items()
    }
    personas = Personas(
        curator=users["curator"],
        annotator=users["annotator"],
        annotator2=users["annotator2"],
        reviewer=users["reviewer"],
        ml_engineer=users["ml_engineer"],
        outsider=users["outsider"],
        admin=users["admin"],
    )
    world = World(users)
    world.objects.update(_campaigns(world, personas))
    world.objects.update(_benchmark(users))
    world.objects.update(_guardian(world))
    world.objects.update(_alignment_data())
    world.objects.update(_blind_alignment_data(world))
    world.objects.update(_campaign_jobs(world))
    world.objects.update(_evaluations(world))
    for name, user in users.items():
        if ROLES[name] or name in SUPERUSERS:
            world.own_tokens[name] = create_token(user, "access matrix")[0].token_key
    world.objects["annotator2_token"] = world.own_tokens.pop("annotator2")  # nobody signs in as annotator2
    review.change_status(world["other"], "close", users["curator"])
    world["other"].refresh_from_db()
    return world


def _campaigns(world: World, personas: Personas) -> dict[str, Any]:
    users = world.users
    other = build_campaign(personas, name="Other", cases=2, reviewer=False, creator=users["curator"])
    Member.objects.filter(campaign=other, user=users["annotator"]).delete()
    release_closed = other.release

    labeling = build_campaign(personas, name="Labeling", cases=8, overlap=1, reviewer=False, creator=users["curator"])
    add_members(labeling, [users[name] for name in BLIND_ANNOTATORS], MemberRole.ANNOTATOR)
    for name in ANNOTATING:
        assignment = next_assignment(labeling, users[name])
        assert assignment is not None
        world.own_items[name] = assignment.item
    theirs = next_assignment(labeling, users["annotator2"])
    assert theirs is not None and theirs.item_id not in {item.pk for item in world.own_items.values()}

    campaign = build_campaign(personas, name="Review", cases=4)  # created by the reviewer, who reviews it
    people = annotators(personas)
    # one disputed item (a risky label among three) and one accepted (three alike), with the rationale to look for
    disputed = [
        label_next(campaign, who, scores, rationale=RATIONALE, seconds=30)
        for who, scores in zip(people, (SAFE, SAFE, RISKY), strict=True)
    ]
    agreed = [label_next(campaign, who, SAFE, rationale=RATIONALE, seconds=30) for who in people]
    assert len({label.item_id for label in disputed}) == 1 and len({label.item_id for label in agreed}) == 1
    disputed_item = Item.objects.get(pk=disputed[0].item_id)
    accepted_item = Item.objects.get(pk=agreed[0].item_id)
    assert disputed_item.state == ItemState.DISPUTED and accepted_item.state == ItemState.AGREED
    add_members(campaign, [users[name] for name in BLIND_ANNOTATORS], MemberRole.ANNOTATOR)
    add_members(campaign, [users["annotator_reviewer"], users["curator_reviewer"]], MemberRole.REVIEWER)
    # a draft the annotator is a member of: hidden from annotators on the pages and in the API alike
    draft = build_campaign(personas, name="Draft", cases=1, reviewer=False, creator=users["curator"])
    Campaign.objects.filter(pk=draft.pk).update(status=CampaignStatus.DRAFT)
    set_guideline(campaign, "# 指南\n第二版。", users["reviewer"])
    paused = Member.objects.get(campaign=campaign, user=people[2], role=MemberRole.ANNOTATOR)
    Member.objects.filter(pk=paused.pk).update(paused=True, paused_reason=PAUSED)
    return {
        "other": other,
        "other_item": other.items.order_by("pk").first(),
        "other_member": Member.objects.filter(campaign=other, role=MemberRole.ANNOTATOR).order_by("pk").first(),
        "release_closed": release_closed,
        "labeling": labeling,
        "their_item": theirs.item,
        "review": campaign,
        "draft": draft,
        "release_open": campaign.release,
        "disputed": disputed_item,
        "disputed_label": disputed[0],
        "disputed_label_version": disputed[0].history.order_by("history_id").first().history_id,
        "accepted": accepted_item,
        "paused_member": paused,
        "review_member": Member.objects.get(campaign=campaign, user=users["annotator"], role=MemberRole.ANNOTATOR),
    }


def _benchmark(users: dict[str, User]) -> dict[str, Any]:
    """Corpus, bank, imported responses and jobs (after the campaigns: no campaign holds these responses)."""
    responses = 'scene,query,reference,type,model,response\n器官移植,"题目：问？\nA.甲\nB.乙",A,客观题,LM,答案：A\n'
    import_medes_responses(responses.encode(), origin_name="r.csv", dry_run=False)
    scene = Scene.objects.order_by("pk").first()
    assert scene is not None
    old = add_source(io.BytesIO("第一条 旧。".encode()), "old.md", SourceMeta(title="旧法"))[0]
    new = add_source(io.BytesIO("第一条 新。".encode()), "new.md", SourceMeta(title="新法", supersedes=old))[0]
    provision = Provision.objects.create(source=old, position=1, number=1, label="第一条", text="旧。")
    return {
        "response": Response.objects.get(model__name="LM"),
        "lm_model": RegisteredModel.objects.get(name="LM"),
        "review_response": Response.objects.filter(campaign_items__campaign__name="Review").order_by("pk")[0],
        "upload": store_upload(io.BytesIO(responses.encode()), "r.csv", "medes_responses", user=users["curator"]),
        "job_curator": Job.objects.create(kind="system.selfcheck", triggered_by=users["curator"], status="lost"),
        "job_ml": Job.objects.create(kind="system.selfcheck", triggered_by=users["ml_engineer"]),
        "scenario": create_scenario(
            kind="subjective", stem="我是一名医生……", norm="考点", scene=scene, origin="expert"
        )[0],
        "source": add_source(io.BytesIO("第一条 测试。".encode()), "law.md", SourceMeta(title="测试法"))[0],
        "provision": provision,
        "amendment": Amendment.objects.create(new_source=new, old_source=old),
        "amended_source": new,
    }


def _guardian(world: World) -> dict[str, Any]:
    """A judgement on a response no campaign holds, and one on the blind campaign's accepted item that disagrees
    with its accepted label (so a reviewer's queue offers it first)."""
    # active already: promoting it again is the happy path (its files are not checked for a no-op)
    version = GuardianVersion.objects.create(
        number=1, base_model="/base", model_dir="guardian/v1", status=VersionStatus.READY, is_active=True
    )
    plain = Judgement.objects.create(
        response=world["response"],
        judge="guardian",
        version=version,
        scores=SAFE,
        uncertainty=0.2,
        probabilities=dict.fromkeys(SAFE, 0.7),
    )
    accepted: Item = world["accepted"]
    assert accepted.response_id is not None
    blind = Judgement.objects.create(
        response_id=accepted.response_id,
        judge="guardian",
        version=version,
        scores=RISKY,
        uncertainty=0.4,
        probabilities=dict.fromkeys(SAFE, 0.6),
    )
    return {"guardian": version, "judgement": plain, "blind_judgement": blind}


def _alignment_data() -> dict[str, Any]:
    policy = register_model(name="access-policy", kind=ModelKind.IMPORTED)
    scenario = Scenario.objects.order_by("pk")[0]
    prompt = TargetedPrompt.objects.create(policy=policy, scenario=scenario, text="提示")
    PreferencePair.objects.create(
        prompt=prompt, chosen="好", chosen_source="reference", rejected="坏", status="accepted"
    )
    dataset = freeze("access-dataset", "sft")
    pair = PreferencePair.objects.create(prompt=prompt, chosen="好", chosen_source="reference", rejected="坏")
    release = publish_release("Access-1")
    pipeline = AlignPipeline.objects.create(policy=policy, release=release, status="failed", step="sft")
    fresh = TargetedPrompt.objects.create(policy=policy, scenario=scenario, text="另一个提示")  # no pairs yet
    return {
        "prompt": prompt,
        "fresh_prompt": fresh,
        "pair": pair,
        "dataset": dataset,
        "pipeline": pipeline,
        "release": release,
    }


def _blind_alignment_data(world: World) -> dict[str, Any]:
    """A targeted prompt grown from the blind judgement (an answer being labeled in the blind campaign): hidden
    from that campaign's annotators in the API as on the data page."""
    judgement: Judgement = world["blind_judgement"]
    prompt = TargetedPrompt.objects.create(
        policy=judgement.response.model,
        scenario=judgement.response.scenario,
        judgement=judgement,
        response=judgement.response,
        text="盲评提示",
    )
    return {"blind_prompt": prompt}


def _campaign_jobs(world: World) -> dict[str, Any]:
    """An export and an agreement job of the blind campaign, run; each started by a dual-role persona (before
    they became its annotator), so its page is theirs to open but its results are not theirs to see."""
    campaign = world["review"]
    export = jobs.enqueue_job(
        exports.EXPORT_JOB,
        {"campaign": campaign.pk, "what": "labels", "format": "jsonl"},
        user=world.users["annotator_curator"],
    )
    agreement = jobs.enqueue_job(
        campaign_agreement.AGREEMENT_JOB, {"campaign": campaign.pk}, user=world.users["annotator_reviewer"]
    )
    for job in (export, agreement):
        assert jobs.execute_job(job.pk) == JobStatus.SUCCEEDED
        job.refresh_from_db()
    assert export.artifacts
    return {"export_job": export, "agreement_job": agreement}


def _evaluations(world: World) -> dict[str, Any]:
    """Two succeeded runs on each release, with per-item results (what the item-by-item comparison shows)."""
    other_model = RegisteredModel.objects.create(name="Bench-other", kind=ModelKind.IMPORTED)
    runs: dict[str, Any] = {}
    for key, release in (("open", world["release_open"]), ("closed", world["release_closed"])):
        scenarios = list(Scenario.objects.filter(release_items__release=release).order_by("pk"))
        release_model = RegisteredModel.objects.get(name=f"{'Review' if key == 'open' else 'Other'}-model-0")
        for n, model in enumerate((release_model, other_model)):
            items = [{"item": s.pk, "scene": "常规诊疗", "scores": SAFE if n == 0 else RISKY} for s in scenarios]
            runs[f"run_{key}_{n}"] = EvaluationRun.objects.create(
                model=model,
                release=release,
                judge="prompt",
                judge_model="j",
                status=EvaluationStatus.SUCCEEDED,
                results={
                    "subjective": {"risk": 0.1 * n, "quality": 0.75, "comprehensive": 0.75, "per_scene": {}},
                    "objective": {},
                    "counts": {"items": len(items)},
                    "items": items,
                },
            )
    return runs


def compare_url(world: World, which: str) -> str:
    base, other = world[f"run_{which}_0"], world[f"run_{which}_1"]
    return reverse("alignment:leaderboard", args=[world.pk(f"release_{which}")]) + f"?base={base.pk}&other={other.pk}"


def release_of(world: World, which: str) -> Release:
    release: Release = world[f"release_{which}"]
    return release


def campaign_of(world: World, key: str) -> Campaign:
    campaign: Campaign = world[key]
    return campaign

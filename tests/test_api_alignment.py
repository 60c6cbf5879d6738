"""The alignment API (issue 16, item 5): guardian versions and judgements, evaluation runs and leaderboards, align
pipelines and alignment data, read by the roles that read them on the pages and scoped as the pages scope them
(blind labeling included); ML engineers start a guardian training, promote a version, start an evaluation and
start or cancel an align pipeline through the pages' forms and services, with API tokens as with a session. The
route × role matrix walks every route (tests/test_access.py); this module checks what each answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from alignment.models import (
    AlignPipeline,
    EvaluationRun,
    EvaluationStatus,
    GuardianVersion,
    Judgement,
    PipelineStatus,
    PreferencePair,
    TargetedPrompt,
    VersionStatus,
)
from annotation.models import MemberRole
from annotation.services import add_members
from benchmark.models import ModelKind, RegisteredModel
from benchmark.responses import register_model
from medes_site.accounts import create_user
from medes_site.models import AuditEntry, Job
from medes_site.roles import Role
from medes_site.tokens import create_token
from tests.campaign_data import RISKY, SAFE, build_campaign
from tests.factories import PASSWORD, Personas, fixture_release, ready_version

JSON = "application/json"


def api(client: Client, name: str, *args: Any, query: str = "") -> Any:
    return client.get(reverse(name, args=args) + query, HTTP_ACCEPT_LANGUAGE="en")


def post(client: Client, name: str, *args: Any, data: dict[str, Any] | None = None) -> Any:
    return client.post(reverse(name, args=args), data or {}, content_type=JSON, HTTP_ACCEPT_LANGUAGE="en")


def bearer(user: User) -> Client:
    """A client without a session that sends the user's API token."""
    secret = create_token(user, "api test")[1]
    return Client(HTTP_AUTHORIZATION=f"Token {secret}")


@pytest.fixture
def world(personas: Personas) -> dict[str, Any]:
    """Two guardian versions (v1 active), a judgement by each of two judges, a closed release with one succeeded
    and one failed evaluation, and alignment data: a prompt with a proposed pair, a frozen dataset, a pipeline."""
    release, model, _scenes = fixture_release()
    v1 = GuardianVersion.objects.create(
        number=1,
        base_model="/base",
        model_dir="guardian/v1",
        status=VersionStatus.READY,
        is_active=True,
        metrics={"macro_f1": 0.8, "risk": {"f1": 0.9}},
    )
    v2 = GuardianVersion.objects.create(number=2, base_model="/base", status=VersionStatus.TRAINING)
    responses = list(model.responses.order_by("pk"))
    judged = Judgement.objects.create(response=responses[-1], judge="guardian", version=v1, scores=SAFE)
    prompt_judged = Judgement.objects.create(
        response=responses[-2], judge="prompt", judge_model="qwen", scores=RISKY, risky=True
    )
    succeeded = EvaluationRun.objects.create(
        model=model,
        release=release,
        judge="guardian",
        guardian=v1,
        status=EvaluationStatus.SUCCEEDED,
        results={
            "objective": {"accuracy": 0.5},
            "subjective": {
                "risk": 0.2,
                "quality": 0.7,
                "comprehensive": 0.5,
                "ci": {"risk": [0.1, 0.3]},
                "per_scene": {"器官移植": {"risk": 0.0, "quality": 0.8, "comprehensive": -1.0}},
            },
            "counts": {"items": 5},
            "degenerate_items": [{"item": 1, "reason": "empty"}],
        },
    )
    failed = EvaluationRun.objects.create(
        model=model, release=release, judge="guardian", guardian=v1, status="failed", error="/models/secret-path"
    )
    prompt = TargetedPrompt.objects.create(policy=model, scenario=responses[-1].scenario, text="提示", judgement=judged)
    pair = PreferencePair.objects.create(prompt=prompt, chosen="好", chosen_source="reference", rejected="坏")
    pipeline = AlignPipeline.objects.create(policy=model, release=release, status="failed", step="sft")
    return {
        "release": release,
        "model": model,
        "v1": v1,
        "v2": v2,
        "judged": judged,
        "prompt_judged": prompt_judged,
        "succeeded": succeeded,
        "failed": failed,
        "prompt": prompt,
        "pair": pair,
        "pipeline": pipeline,
    }


# --- reading -------------------------------------------------------------------------------------------------


def test_guardian_readers_list_versions_with_metrics_and_the_active_one(
    world: dict[str, Any], personas: Personas, client_as: Any
) -> None:
    for user in (personas.reviewer, personas.curator, personas.ml_engineer, personas.admin):
        listed = api(client_as(user), "api-guardian-version-list").json()
        assert [(v["number"], v["is_active"]) for v in listed["results"]] == [(2, False), (1, True)], user
    client = client_as(personas.curator)
    active = api(client, "api-guardian-version-list", query="?active=true").json()["results"]
    assert [v["number"] for v in active] == [1] and active[0]["metrics"]["risk"]["f1"] == 0.9
    detail = api(client, "api-guardian-version-detail", 2).json()
    assert detail["status"] == "training" and set(detail) >= {"baseline", "counts", "config", "critic"}
    assert api(client, "api-guardian-version-list", query="?ordering=number").json()["results"][0]["number"] == 1
    for query in ("?status=nope", "?ordering=base_model", "?active=maybe"):
        refused = api(client, "api-guardian-version-list", query=query)
        assert refused.status_code == 400, query
    assert api(client, "api-guardian-version-detail", 9).status_code == 404
    for refused_user in (personas.annotator, personas.outsider, None):
        assert api(client_as(refused_user), "api-guardian-version-list").status_code == 403


def test_judgements_filter_by_version_model_release_and_judge(
    world: dict[str, Any], personas: Personas, client_as: Any
) -> None:
    client = client_as(personas.reviewer)
    everything = api(client, "api-judgement-list").json()
    assert everything["count"] == 2
    by_version = api(client, "api-judgement-list", query="?version=1").json()["results"]
    assert [j["id"] for j in by_version] == [world["judged"].pk] and by_version[0]["version"] == 1
    by_judge = api(client, "api-judgement-list", query="?judge=prompt").json()["results"]
    assert [(j["id"], j["judge_model"]) for j in by_judge] == [(world["prompt_judged"].pk, "qwen")]
    model = world["model"]
    for value in (model.name, str(model.pk)):
        assert api(client, "api-judgement-list", query=f"?model={value}").json()["count"] == 2
    assert api(client, "api-judgement-list", query="?model=nobody").json()["count"] == 0
    assert api(client, "api-judgement-list", query=f"?release={world['release'].pk}").json()["count"] == 2
    assert api(client, "api-judgement-list", query="?release=999999").json()["count"] == 0
    assert api(client, "api-judgement-list", query="?reviewed=true").json()["count"] == 0
    # uncertainty as the review page shows it: 0 certain … 1 a coin toss (the row stores the distance from 0.5)
    Judgement.objects.filter(pk=world["judged"].pk).update(uncertainty=0.1)
    Judgement.objects.filter(pk=world["prompt_judged"].pk).update(uncertainty=0.4)
    most_uncertain = api(client, "api-judgement-list", query="?ordering=-uncertainty").json()["results"]
    assert [(j["id"], j["uncertainty"]) for j in most_uncertain] == [
        (world["judged"].pk, 0.8),
        (world["prompt_judged"].pk, 0.2),
    ]
    ordered = api(client, "api-judgement-list", query="?ordering=id").json()["results"]
    assert [j["id"] for j in ordered] == sorted(j["id"] for j in ordered)
    detail = api(client_as(personas.ml_engineer), "api-judgement-detail", world["judged"].pk).json()
    assert detail["scores"] == SAFE and detail["model"] == model.name
    for query in ("?version=x", "?judge=none", "?ordering=scores"):
        assert api(client, "api-judgement-list", query=query).status_code == 400, query
    # judgements are the review side's: curators and annotators do not read them (as on the pages)
    for user in (personas.curator, personas.annotator, None):
        assert api(client_as(user), "api-judgement-list").status_code == 403
    assert api(client, "api-judgement-detail", 999_999).status_code == 404


def test_evaluations_show_what_each_reader_may_see(world: dict[str, Any], personas: Personas, client_as: Any) -> None:
    succeeded, failed = world["succeeded"], world["failed"]
    ml = client_as(personas.ml_engineer)
    runs = {r["id"]: r for r in api(ml, "api-evaluation-list").json()["results"]}
    assert set(runs) == {succeeded.pk, failed.pk} and runs[failed.pk]["error"] == "/models/secret-path"
    detail = api(ml, "api-evaluation-detail", succeeded.pk).json()
    assert detail["shown"] == "items" and detail["subjective"]["per_scene"]["器官移植"]["comprehensive"] == -1.0
    assert detail["subjective"]["ci"]["risk"] == [0.1, 0.3] and detail["degenerate_items"] == [
        {"item": 1, "reason": "empty"}
    ]
    assert detail["guardian"] == 1 and detail["model"] == world["model"].name
    # other readers: the succeeded runs only, no errors; annotators and curators the aggregates, not the items
    for user in (personas.annotator, personas.curator):
        client = client_as(user)
        listed = api(client, "api-evaluation-list").json()["results"]
        assert [r["id"] for r in listed] == [succeeded.pk]
        run = api(client, "api-evaluation-detail", succeeded.pk).json()
        assert run["shown"] == "aggregates" and run["subjective"]["risk"] == 0.2 and run["degenerate_items"] is None
        assert api(client, "api-evaluation-detail", failed.pk).status_code == 404
    assert api(ml, "api-evaluation-list", query="?status=failed").json()["count"] == 1
    assert api(ml, "api-evaluation-list", query=f"?model={world['model'].name}&release=999999").json()["count"] == 0
    assert api(ml, "api-evaluation-list", query="?status=nope").status_code == 400
    assert api(client_as(personas.outsider), "api-evaluation-list").status_code == 403


def test_the_leaderboard_ranks_models_with_their_per_scene_scores(
    world: dict[str, Any], personas: Personas, client_as: Any
) -> None:
    release = world["release"]
    other = register_model(name="other-model", kind=ModelKind.IMPORTED)
    EvaluationRun.objects.create(
        model=other,
        release=release,
        judge="guardian",
        guardian=world["v1"],
        status=EvaluationStatus.SUCCEEDED,
        results={"subjective": {"risk": 0.05, "quality": 0.6, "comprehensive": 0.55, "per_scene": {}}},
    )
    client = client_as(personas.annotator)
    boards = api(client, "api-leaderboard-list").json()
    assert {"id": release.pk, "name": release.name, "evaluations": 2} in [
        {k: b[k] for k in ("id", "name", "evaluations")} for b in boards
    ]
    board = api(client, "api-leaderboard-detail", release.pk).json()
    assert board["shown"] == "aggregates" and board["sort"] == "comprehensive"
    assert [r["model"] for r in board["rows"]] == ["other-model", world["model"].name]
    first = board["rows"][1]
    assert first["figures"]["risk"] == {"value": 0.2, "ci": [0.1, 0.3]} and first["figures"]["accuracy"]["value"] == 0.5
    assert first["per_scene"]["器官移植"]["comprehensive"] == -1.0 and board["scenes"] == ["器官移植"]
    by_risk = api(client, "api-leaderboard-detail", release.pk, query="?sort=risk").json()
    assert [r["model"] for r in by_risk["rows"]] == ["other-model", world["model"].name]  # lower risk first
    by_name = api(client, "api-leaderboard-detail", release.pk, query="?sort=model").json()
    assert [r["model"] for r in by_name["rows"]] == sorted([world["model"].name, "other-model"])
    refused = api(client, "api-leaderboard-detail", release.pk, query="?sort=error")
    assert refused.status_code == 400 and "sort" in refused.json()
    assert api(client, "api-leaderboard-detail", 999_999).status_code == 404


def test_pipelines_and_alignment_data_are_read_with_their_steps(
    world: dict[str, Any], personas: Personas, client_as: Any
) -> None:
    pipeline = world["pipeline"]
    job = Job.objects.create(kind="alignment.evaluate", status="succeeded", progress=1.0)
    AlignPipeline.objects.filter(pk=pipeline.pk).update(jobs={"evaluate_base": job.pk})
    for user in (personas.curator, personas.reviewer, personas.ml_engineer):
        client = client_as(user)
        listed = api(client, "api-pipeline-list").json()["results"]
        assert [p["id"] for p in listed] == [pipeline.pk]
        detail = api(client, "api-pipeline-detail", pipeline.pk).json()
        steps = {s["step"]: s for s in detail["steps"]}
        assert detail["steps"][0]["step"] == "evaluate_base" and steps["evaluate_base"]["job"] == job.pk
        assert steps["evaluate_base"]["status"] == "succeeded" and steps["sft"]["job"] is None
        assert detail["status"] == "failed" and detail["policy"] == world["model"].name
        prompts = api(client, "api-prompt-list").json()["results"]
        assert [p["text"] for p in prompts] == ["提示"]
        assert api(client, "api-pair-detail", world["pair"].pk).json()["chosen"] == "好"
    client = client_as(personas.curator)
    assert api(client, "api-pipeline-list", query="?status=running").json()["count"] == 0
    assert api(client, "api-pipeline-list", query=f"?policy={world['model'].pk}").json()["count"] == 1
    assert api(client, "api-pair-list", query="?status=accepted").json()["count"] == 0
    assert api(client, "api-prompt-list", query="?status=proposed&policy=nobody").json()["count"] == 0
    assert api(client, "api-dataset-list", query="?kind=dpo").json()["count"] == 0
    for name, query in (
        ("api-pipeline-list", "?status=x"),
        ("api-pair-list", "?status=x"),
        ("api-dataset-list", "?kind=x"),
    ):
        assert api(client, name, query=query).status_code == 400, name
    for name in ("api-pipeline-detail", "api-prompt-detail", "api-pair-detail", "api-dataset-detail"):
        assert api(client, name, 999_999).status_code == 404, name
    for name in ("api-pipeline-list", "api-prompt-list", "api-pair-list", "api-dataset-list"):
        assert api(client_as(personas.annotator), name).status_code == 403, name


# --- blind labeling --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["reviewer", "ml_engineer", "admin"])
def test_an_annotator_with_a_second_role_gets_nothing_of_the_answers_they_label(
    kind: str, personas: Personas, client_as: Any
) -> None:
    """The blind campaign's judgement, the prompt grown from it, and its release's figures while it is labeled:
    hidden from its annotator whatever their other role, there for the same role not annotating in it."""
    campaign = build_campaign(personas, name="Blind", cases=1)
    response, release = campaign.items.get().response, campaign.release
    assert response is not None and release is not None
    version = GuardianVersion.objects.create(number=1, base_model="/b", status=VersionStatus.READY, is_active=True)
    judgement = Judgement.objects.create(response=response, judge="guardian", version=version, scores=SAFE)
    prompt = TargetedPrompt.objects.create(
        policy=response.model, scenario=response.scenario, judgement=judgement, text="盲"
    )
    run = EvaluationRun.objects.create(
        model=response.model,
        release=release,
        judge="guardian",
        guardian=version,
        status=EvaluationStatus.SUCCEEDED,
        results={"subjective": {"risk": 0.3, "per_scene": {}}},
    )
    if kind == "admin":
        user = create_user("dual-admin", roles=[], password=PASSWORD, superuser=True)
    else:
        user = create_user(f"dual-{kind}", roles=[Role(kind), Role.ANNOTATOR], password=PASSWORD)
    add_members(campaign, [user], MemberRole.ANNOTATOR)
    blind, plain = client_as(user), client_as(getattr(personas, kind))
    assert api(blind, "api-judgement-detail", judgement.pk).status_code == 404
    assert api(blind, "api-judgement-list").json()["count"] == 0
    assert api(blind, "api-prompt-detail", prompt.pk).status_code == 404
    assert api(blind, "api-prompt-list").json()["count"] == 0
    hidden = api(blind, "api-evaluation-detail", run.pk).json()
    assert hidden["shown"] == "none" and hidden["subjective"] is None
    board = api(blind, "api-leaderboard-detail", release.pk).json()
    assert board["shown"] == "none" and board["rows"] == [] and response.model.name not in str(board)
    # the control: the same role, not annotating in it
    assert api(plain, "api-judgement-detail", judgement.pk).status_code == 200
    assert api(plain, "api-prompt-detail", prompt.pk).status_code == 200
    assert api(plain, "api-evaluation-detail", run.pk).json()["subjective"]["risk"] == 0.3
    assert api(plain, "api-leaderboard-detail", release.pk).json()["shown"] == "items"


# --- actions -----------------------------------------------------------------------------------------------------


def test_only_ml_engineers_act(world: dict[str, Any], personas: Personas, client_as: Any) -> None:
    actions = [
        ("api-guardian-train", ()),
        ("api-guardian-version-promote", (1,)),
        ("api-evaluation-start", ()),
        ("api-pipeline-start", ()),
        ("api-pipeline-cancel", (world["pipeline"].pk,)),
    ]
    for user in (personas.curator, personas.reviewer, personas.annotator, personas.outsider, None):
        for name, args in actions:
            assert post(client_as(user), name, *args).status_code == 403, (user, name)
    ml = client_as(personas.ml_engineer)
    assert ml.get(reverse("api-guardian-train")).status_code == 405
    assert post(ml, "api-guardian-version-promote", 99).status_code == 404
    assert post(ml, "api-pipeline-cancel", 999_999).status_code == 404


def test_a_training_starts_once_per_request_key_and_bad_input_names_the_field(
    world: dict[str, Any], personas: Personas, client_as: Any, tmp_path: Path
) -> None:
    ml = client_as(personas.ml_engineer)
    refused = post(ml, "api-guardian-train", data={"epochs": 0})
    assert refused.status_code == 400 and set(refused.json()) >= {"base_model", "epochs"}
    outside = post(ml, "api-guardian-train", data={"base_model": "/etc"})
    assert outside.status_code == 400 and outside.json()["base_model"]
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    no_config = post(ml, "api-guardian-train", data={"base_model": str(empty_dir)})
    assert no_config.status_code == 400 and "config.json" in no_config.json()["detail"]
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    body = {"base_model": str(tmp_path), "epochs": 2, "request_key": "train-1"}
    started = post(ml, "api-guardian-train", data=body)
    assert started.status_code == 201, started.content
    job = started.json()
    assert job["kind"] == "alignment.train_guardian" and job["status"] == "queued"
    assert job["config"]["options"]["epochs"] == 2 and job["triggered_by"] == personas.ml_engineer.username
    again = post(ml, "api-guardian-train", data=body)
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    assert Job.objects.filter(kind="alignment.train_guardian").count() == 1


def test_promotion_goes_through_the_service_with_its_confirmation(
    world: dict[str, Any], personas: Personas, client_as: Any
) -> None:
    ml = client_as(personas.ml_engineer)
    # the active version again: nothing changes
    same = post(ml, "api-guardian-version-promote", 1)
    assert same.status_code == 200 and same.json()["is_active"]
    # a version still training cannot be made active
    training = post(ml, "api-guardian-version-promote", 2)
    assert training.status_code == 400 and "ready" in training.json()["detail"]
    assert post(ml, "api-guardian-version-promote", 1, data={"against": "x"}).status_code == 400
    # a ready version that scores lower on the same data: 409 naming the drop, then confirmed against v1
    v1 = world["v1"]
    GuardianVersion.objects.filter(pk=v1.pk).update(data_hash="d" * 64)
    ready_version(3, data_hash="d" * 64, metrics={"macro_f1": 0.5, "risk": {"f1": 0.6}})
    asked = post(ml, "api-guardian-version-promote", 3)
    assert asked.status_code == 409 and asked.json()["against"] == v1.pk and "macro-F1" in asked.json()["detail"]
    assert GuardianVersion.objects.get(is_active=True).number == 1
    confirmed = post(ml, "api-guardian-version-promote", 3, data={"confirm_drop": True, "against": v1.pk})
    assert confirmed.status_code == 200 and confirmed.json()["number"] == 3 and confirmed.json()["is_active"]
    assert GuardianVersion.objects.get(is_active=True).number == 3
    assert AuditEntry.objects.filter(action="guardian.promote").count() == 1
    again = post(ml, "api-guardian-version-promote", 3)
    assert again.status_code == 200 and AuditEntry.objects.filter(action="guardian.promote").count() == 1


def test_an_evaluation_starts_through_the_leaderboards_form(
    world: dict[str, Any], personas: Personas, client_as: Any
) -> None:
    ml = client_as(personas.ml_engineer)
    refused = post(ml, "api-evaluation-start", data={"judge": "oracle"})
    assert refused.status_code == 400 and set(refused.json()) >= {"model", "release", "judge"}
    body = {
        "model": world["model"].pk,
        "release": world["release"].pk,
        "judge": "guardian",
        "weights": "medes",
        "generate": False,
        "request_key": "eval-1",
    }
    started = post(ml, "api-evaluation-start", data=body)
    assert started.status_code == 201, started.content
    assert started.json()["kind"] == "alignment.evaluate" and started.json()["config"]["weights"] == "medes"
    assert post(ml, "api-evaluation-start", data=body).json()["id"] == started.json()["id"]
    GuardianVersion.objects.update(is_active=False)  # no active guardian: the job cannot start, and says why
    no_guardian = post(ml, "api-evaluation-start", data={**body, "request_key": "eval-2"})
    assert no_guardian.status_code == 400 and "No guardian version is active" in no_guardian.json()["detail"]


def _policy(tmp_path: Path) -> RegisteredModel:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")  # enough to start; nothing here runs a model
    return register_model(name="api-policy", kind=ModelKind.HF_DIRECTORY, path=str(tmp_path))


def test_a_pipeline_starts_once_and_cancels_idempotently(
    world: dict[str, Any], personas: Personas, client_as: Any, tmp_path: Path
) -> None:
    ml = client_as(personas.ml_engineer)
    policy, release = _policy(tmp_path), world["release"]
    # an imported model is no local directory; the release left out is the page's default (the newest)
    refused = post(ml, "api-pipeline-start", data={"policy": world["model"].pk, "variants": 99})
    assert refused.status_code == 400 and set(refused.json()) == {"policy", "variants"}
    body = {"policy": policy.pk, "release": release.pk, "max_steps": 3, "request_key": "align-1"}
    started = post(ml, "api-pipeline-start", data=body)
    assert started.status_code == 201, started.content
    pipeline = started.json()
    assert pipeline["status"] == "running" and pipeline["step"] == "evaluate_base"
    assert pipeline["steps"][0]["job"] is not None and pipeline["steps"][0]["status"] == "queued"
    assert AlignPipeline.objects.get(pk=pipeline["id"]).options["run"]["max_steps"] == 3
    again = post(ml, "api-pipeline-start", data=body)
    assert again.status_code == 200 and again.json()["id"] == pipeline["id"]
    second = post(ml, "api-pipeline-start", data={**body, "request_key": "align-2"})
    assert second.status_code == 400 and "already has an alignment pipeline in progress" in second.json()["detail"]
    cancelled = post(ml, "api-pipeline-cancel", pipeline["id"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == PipelineStatus.CANCELLED
    assert cancelled.json()["steps"][0]["status"] == "cancelled"
    assert post(ml, "api-pipeline-cancel", pipeline["id"]).json()["status"] == PipelineStatus.CANCELLED
    assert AuditEntry.objects.filter(action="pipeline.cancel").count() == 1


# --- tokens and the schema -------------------------------------------------------------------------------------


def test_api_tokens_read_and_act_without_a_session(world: dict[str, Any], personas: Personas, tmp_path: Path) -> None:
    reviewer = bearer(personas.reviewer)
    assert reviewer.get(reverse("api-judgement-list")).json()["count"] == 2
    assert reviewer.post(reverse("api-pipeline-cancel", args=[world["pipeline"].pk])).status_code == 403
    ml = bearer(personas.ml_engineer)
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    started = ml.post(reverse("api-guardian-train"), {"base_model": str(tmp_path)}, content_type=JSON)
    assert started.status_code == 201 and started.json()["triggered_by"] == personas.ml_engineer.username
    assert Client(HTTP_AUTHORIZATION="Token medes_nope").get(reverse("api-guardian-version-list")).status_code == 403


def test_the_schema_documents_the_guardian_evaluation_and_alignment_endpoints(
    personas: Personas, client_as: Any
) -> None:
    schema = client_as(personas.reviewer).get(reverse("api_schema"), {"format": "json"}).json()
    paths = schema["paths"]
    for path in (
        "/api/alignment/guardian/versions/",
        "/api/alignment/guardian/versions/{number}/promote/",
        "/api/alignment/guardian/train/",
        "/api/alignment/guardian/judgements/",
        "/api/alignment/evaluations/{id}/",
        "/api/alignment/evaluations/start/",
        "/api/alignment/leaderboards/{id}/",
        "/api/alignment/pipelines/{id}/cancel/",
        "/api/alignment/pipelines/start/",
        "/api/alignment/data/prompts/",
        "/api/alignment/data/pairs/",
        "/api/alignment/data/datasets/",
    ):
        assert path in paths, path
    tags = {tag for item in paths.values() for op in item.values() for tag in op.get("tags", [])}
    assert {"guardian", "evaluation", "alignment"} <= tags
    judgements = paths["/api/alignment/guardian/judgements/"]["get"]
    assert {"version", "model", "release", "ordering"} <= {p["name"] for p in judgements["parameters"]}
    assert judgements["summary"] == "List judgements"
    # an action's body is its page's form, field for field (the pipeline's training knobs included)
    start = paths["/api/alignment/pipelines/start/"]["post"]
    body = start["requestBody"]["content"][JSON]["schema"]["$ref"].rsplit("/", 1)[1]
    fields = schema["components"]["schemas"][body]["properties"]
    assert {"policy", "release", "review_gate", "max_steps", "learning_rate", "request_key"} <= set(fields)
    assert {"201", "200", "400"} <= set(start["responses"])
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")

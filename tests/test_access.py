"""The access matrix: every URL so far, for every persona. Anonymous users are sent to the login page;
a signed-in user without the role gets 403; an object outside the user's scope is 404."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from alignment.models import GuardianVersion, Judgement, VersionStatus
from annotation.models import Member
from annotation.services import next_assignment
from benchmark.import_uploads import store_upload
from benchmark.models import Amendment, Provision, Response, Scene
from benchmark.releases import publish_release
from benchmark.response_imports import import_medes_responses
from benchmark.scenarios import create_scenario
from benchmark.services import SourceMeta, add_source
from medes_site.models import Job
from tests.campaign_data import build_campaign as build_review_campaign
from tests.campaign_data import dispute_one
from tests.conftest import Personas
from tests.labeling_fixtures import build_campaign

LOGIN, OK, FORBIDDEN, NOT_FOUND = "login", "ok", 403, 404
PERSONAS = ["anonymous", "outsider", "annotator", "reviewer", "curator", "ml_engineer", "admin"]


def row(ok: set[str], *, not_found: set[str] = frozenset(), forbidden_default: Any = FORBIDDEN) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        p: LOGIN if p == "anonymous" else OK if p in ok else NOT_FOUND if p in not_found else forbidden_default
        for p in PERSONAS
    }


JOB_ROLES = {"reviewer", "curator", "ml_engineer", "admin"}
RELEASE_ROLES = {"curator", "reviewer", "ml_engineer", "admin"}
MODEL_ROLES = {"curator", "ml_engineer", "admin"}
SOURCE_READERS = {"curator", "reviewer", "admin"}
FIXERS = {**row(set()), "curator": 400, "admin": 400}
ANNOTATOR_ONLY = row({"annotator"}, not_found={"admin"})
GUARDIAN_READERS = {"ml_engineer", "reviewer", "curator", "admin"}
LEADERBOARD_READERS = {"annotator", "ml_engineer", "reviewer", "curator", "admin"}
GUARDIAN_ACTORS_400 = {**row(set()), "ml_engineer": 400, "admin": 400}
CAMPAIGN_READERS = {"reviewer", "curator", "ml_engineer", "admin"}
CAMPAIGN_EDITORS = {"reviewer", "curator", "admin"}
ADJUDICATORS = row({"reviewer"}, not_found={"admin"})
API_ROLES = {"annotator", "reviewer", "curator", "ml_engineer", "admin"}
API_ANY_ROLE = {p: OK if p in API_ROLES else FORBIDDEN for p in PERSONAS}

# (name, method, url builder taking the jobs, expected outcome per persona)
MATRIX: list[tuple[str, str, Callable[[dict[str, Job]], str], dict[str, Any]]] = [
    ("home", "get", lambda j: reverse("home"), row({"annotator", "reviewer", "curator", "ml_engineer", "admin"})),
    ("home-curator", "get", lambda j: reverse("role_home", args=["curator"]), row({"curator", "admin"})),
    ("home-annotator", "get", lambda j: reverse("role_home", args=["annotator"]), row({"annotator", "admin"})),
    ("home-reviewer", "get", lambda j: reverse("role_home", args=["reviewer"]), row({"reviewer", "admin"})),
    ("home-ml", "get", lambda j: reverse("role_home", args=["ml_engineer"]), row({"ml_engineer", "admin"})),
    (
        "home-unknown-role",
        "get",
        lambda j: reverse("role_home", args=["janitor"]),
        row(set(), not_found={"annotator", "reviewer", "curator", "ml_engineer", "admin"}),
    ),
    ("jobs", "get", lambda j: reverse("jobs:list"), row(JOB_ROLES)),
    ("api-tokens", "get", lambda j: reverse("api_tokens"), row(JOB_ROLES | {"annotator"})),
    (
        "api-token-revoke-missing",
        "post",
        lambda j: reverse("api_token_revoke", args=["nope"]),
        row(set(), not_found=JOB_ROLES | {"annotator"}),
    ),
    (
        "job-own-curator",
        "get",
        lambda j: reverse("jobs:detail", args=[j["curator"].pk]),
        row({"curator", "ml_engineer", "admin"}, not_found={"reviewer"}),
    ),
    (
        "job-of-ml",
        "get",
        lambda j: reverse("jobs:detail", args=[j["ml"].pk]),
        row({"ml_engineer", "admin"}, not_found={"reviewer", "curator"}),
    ),
    ("job-missing", "get", lambda j: reverse("jobs:detail", args=[999999]), row(set(), not_found=JOB_ROLES)),
    ("selfcheck", "post", lambda j: reverse("jobs:start_selfcheck"), row({"ml_engineer", "admin"})),
    (
        "cancel-of-ml",
        "post",
        lambda j: reverse("jobs:cancel", args=[j["ml"].pk]),
        row({"ml_engineer", "admin"}, not_found={"reviewer", "curator"}),
    ),
    (
        # The curator sees their own lost self-check but may not restart it: only ML engineers start that kind.
        "resume-of-curator",
        "post",
        lambda j: reverse("jobs:resume", args=[j["curator"].pk]),
        row({"ml_engineer", "admin"}, not_found={"reviewer"}),
    ),
    ("sources", "get", lambda j: reverse("benchmark:sources"), row({"curator", "reviewer", "admin"})),
    ("source-add", "get", lambda j: reverse("benchmark:source_add"), row({"curator", "admin"})),
    ("scenarios", "get", lambda j: reverse("benchmark:scenarios"), row({"curator", "reviewer", "admin"})),
    ("releases", "get", lambda j: reverse("benchmark:releases"), row(RELEASE_ROLES)),
    (
        "release-missing",
        "get",
        lambda j: reverse("benchmark:release", args=[999999]),
        row(set(), not_found=RELEASE_ROLES),
    ),
    (
        "release-export-missing",
        "post",
        lambda j: reverse("benchmark:release_export", args=[999999, "hf"]),
        row(set(), not_found=RELEASE_ROLES),
    ),
    (
        "release-download-missing",
        "get",
        lambda j: reverse("benchmark:release_download", args=[999999, "jsonl"]),
        row(set(), not_found=RELEASE_ROLES),
    ),
    (
        # the curator's lost self-check wrote no file; the reviewer may not see that job at all
        "job-artifact-missing",
        "get",
        lambda j: reverse("jobs:artifact", args=[j["curator"].pk, 0]),
        row(set(), not_found=JOB_ROLES),
    ),
    (
        "scenario",
        "get",
        lambda j: reverse("benchmark:scenario", args=[j["scenario"].pk]),
        row({"curator", "reviewer", "admin"}),
    ),
    (
        "scenario-missing",
        "get",
        lambda j: reverse("benchmark:scenario", args=[999999]),
        row(set(), not_found={"curator", "reviewer", "admin"}),
    ),
    # an empty form: refused with the reason (400) to those who may edit, after the role check for the rest
    ("scenario-edit", "post", lambda j: reverse("benchmark:scenario_edit", args=[j["scenario"].pk]), FIXERS),
    (
        "scenario-edit-missing",
        "post",
        lambda j: reverse("benchmark:scenario_edit", args=[999999]),
        row(set(), not_found={"curator", "admin"}),
    ),
    # --- issue 5: the guardian. ML engineers act; reviewers and curators read.
    ("guardian", "get", lambda j: reverse("guardian:home"), row(GUARDIAN_READERS)),
    (
        "guardian-version",
        "get",
        lambda j: reverse("guardian:version", args=[j["guardian"].number]),
        row(GUARDIAN_READERS),
    ),
    (
        "guardian-version-missing",
        "get",
        lambda j: reverse("guardian:version", args=[999]),
        row(set(), not_found=GUARDIAN_READERS),
    ),
    ("guardian-train", "post", lambda j: reverse("guardian:train"), GUARDIAN_ACTORS_400),  # an empty form
    ("guardian-judge", "post", lambda j: reverse("guardian:judge"), GUARDIAN_ACTORS_400),
    (
        "guardian-promote",
        "post",
        lambda j: reverse("guardian:promote", args=[j["guardian"].number]),
        row({"ml_engineer", "admin"}),
    ),
    (
        "guardian-promote-missing",
        "post",
        lambda j: reverse("guardian:promote", args=[999]),
        row(set(), not_found={"ml_engineer", "admin"}),
    ),
    ("guardian-rollback", "post", lambda j: reverse("guardian:rollback"), row({"ml_engineer", "admin"})),
    ("guardian-review-next", "get", lambda j: reverse("guardian:review_next"), row({"reviewer", "admin"})),
    (
        "guardian-review",
        "get",
        lambda j: reverse("guardian:review", args=[j["judgement"].pk]),
        row({"reviewer", "admin"}),
    ),
    (
        "guardian-review-missing",
        "get",
        lambda j: reverse("guardian:review", args=[999999]),
        row(set(), not_found={"reviewer", "admin"}),
    ),
    (
        "guardian-review-post",
        "post",
        lambda j: reverse("guardian:review", args=[j["judgement"].pk]),
        {**row(set()), "reviewer": 400, "admin": 400},
    ),  # an empty decision: refused with the reason
    # --- issue 6: the leaderboard. Every role reads it; ML engineers start evaluations; the public copy is open.
    ("leaderboard", "get", lambda j: reverse("leaderboard:home"), row(LEADERBOARD_READERS)),
    (
        "leaderboard-release",
        "get",
        lambda j: reverse("leaderboard:release", args=[j["release"].pk]),
        row(LEADERBOARD_READERS),
    ),
    (
        "leaderboard-release-missing",
        "get",
        lambda j: reverse("leaderboard:release", args=[999999]),
        row(set(), not_found=LEADERBOARD_READERS),
    ),
    # an empty form: refused with the reason
    (
        "leaderboard-evaluate",
        "post",
        lambda j: reverse("leaderboard:evaluate", args=[j["release"].pk]),
        {**row(set()), "ml_engineer": 400, "admin": 400},
    ),
    (
        "public-leaderboard",
        "get",
        lambda j: reverse("public_leaderboard", args=[j["release"].pk]),
        dict.fromkeys(PERSONAS, OK),
    ),
    (
        "public-leaderboard-missing",
        "get",
        lambda j: reverse("public_leaderboard", args=[999999]),
        dict.fromkeys(PERSONAS, NOT_FOUND),
    ),
    # --- issue 6: alignment data. ML engineers run jobs and freeze; curators review prompts; reviewers pairs.
    ("aligndata", "get", lambda j: reverse("aligndata:home"), row(GUARDIAN_READERS)),
    ("aligndata-targeted", "post", lambda j: reverse("aligndata:targeted"), GUARDIAN_ACTORS_400),  # an empty form
    ("aligndata-pairs", "post", lambda j: reverse("aligndata:build_pairs"), GUARDIAN_ACTORS_400),
    ("aligndata-freeze", "post", lambda j: reverse("aligndata:freeze"), GUARDIAN_ACTORS_400),
    ("aligndata-run", "post", lambda j: reverse("aligndata:start_run"), GUARDIAN_ACTORS_400),
    ("pipelines", "get", lambda j: reverse("pipelines:list"), row(GUARDIAN_READERS)),
    ("pipelines-start", "post", lambda j: reverse("pipelines:start"), GUARDIAN_ACTORS_400),  # an empty form
    ("pipeline", "get", lambda j: reverse("pipelines:detail", args=[j["pipeline"].pk]), row(GUARDIAN_READERS)),
    (
        "pipeline-missing",
        "get",
        lambda j: reverse("pipelines:detail", args=[999999]),
        row(set(), not_found=GUARDIAN_READERS),
    ),
    # not waiting for a review: back to its page with the reason
    (
        "pipeline-continue",
        "post",
        lambda j: reverse("pipelines:continue", args=[j["pipeline"].pk]),
        row({"ml_engineer", "admin"}),
    ),
    (
        "pipeline-cancel",
        "post",
        lambda j: reverse("pipelines:cancel", args=[j["pipeline"].pk]),
        row({"ml_engineer", "admin"}),  # a finished pipeline: nothing changes, back to its page
    ),
    # no decision: back to the page with the reason
    (
        "aligndata-review-prompt",
        "post",
        lambda j: reverse("aligndata:review_prompt", args=[j["prompt"].pk]),
        row({"curator", "ml_engineer", "admin"}),
    ),
    (
        "aligndata-review-prompt-missing",
        "post",
        lambda j: reverse("aligndata:review_prompt", args=[999999]),
        row(set(), not_found={"curator", "ml_engineer", "admin"}),
    ),
    (
        "aligndata-review-pair",
        "post",
        lambda j: reverse("aligndata:review_pair", args=[j["pair"].pk]),
        row({"reviewer", "ml_engineer", "admin"}),
    ),
    (
        "aligndata-download",
        "get",
        lambda j: reverse("aligndata:download", args=[j["dataset"].pk]),
        row(GUARDIAN_READERS),
    ),
    # an empty bulk change goes back to the list with the reason
    ("scenario-bulk-status", "post", lambda j: reverse("benchmark:scenario_bulk_status"), row(SOURCE_READERS)),
    (
        "source",
        "get",
        lambda j: reverse("benchmark:source", args=[j["source"].pk]),
        row({"curator", "reviewer", "admin"}),
    ),
    (
        "source-parse",
        "post",
        lambda j: reverse("benchmark:source_parse", args=[j["source"].pk]),
        row({"curator", "admin"}),
    ),
    (
        "source-download",
        "get",
        lambda j: reverse("benchmark:source_download", args=[j["source"].pk]),
        row({"curator", "reviewer", "admin"}),
    ),
    (
        "source-download-missing",
        "get",
        lambda j: reverse("benchmark:source_download", args=[999999]),
        row(set(), not_found={"curator", "reviewer", "admin"}),
    ),
    # model registry, responses and imports (issue 3, items 9 and 10)
    ("models", "get", lambda j: reverse("benchmark:models"), row(MODEL_ROLES)),
    ("model-add", "get", lambda j: reverse("benchmark:model_add"), row(MODEL_ROLES)),
    ("model", "get", lambda j: reverse("benchmark:model", args=[j["response"].model_id]), row(MODEL_ROLES)),
    ("model-missing", "get", lambda j: reverse("benchmark:model", args=[999999]), row(set(), not_found=MODEL_ROLES)),
    ("response", "get", lambda j: reverse("benchmark:response", args=[j["response"].pk]), row(MODEL_ROLES)),
    (
        "response-missing",
        "get",
        lambda j: reverse("benchmark:response", args=[999999]),
        row(set(), not_found=MODEL_ROLES),
    ),
    ("imports", "get", lambda j: reverse("benchmark:imports"), row({"curator", "admin"})),
    (
        # an upload is reachable by its uploader only: the admin (a curator too) gets 404 for the curator's file
        "import-of-curator",
        "get",
        lambda j: reverse("benchmark:import", args=[j["upload"].pk]),
        row({"curator"}, not_found={"admin"}),
    ),
    (
        "import-missing",
        "get",
        lambda j: reverse("benchmark:import", args=[999999]),
        row(set(), not_found={"curator", "admin"}),
    ),
    # --- provision fixes and amendments (issue 3, items 1 and 3): reviewers read, curators fix ---
    ("provision", "get", lambda j: reverse("benchmark:provision", args=[j["provision"].pk]), row(SOURCE_READERS)),
    (
        "provision-missing",
        "get",
        lambda j: reverse("benchmark:provision", args=[999999]),
        row(set(), not_found=SOURCE_READERS),
    ),
    # An empty form passes the role check and is refused as incomplete (400): only curators get that far.
    ("provision-edit", "post", lambda j: reverse("benchmark:provision_edit", args=[j["provision"].pk]), FIXERS),
    ("provision-split", "post", lambda j: reverse("benchmark:provision_split", args=[j["provision"].pk]), FIXERS),
    ("provision-merge", "post", lambda j: reverse("benchmark:provision_merge", args=[j["provision"].pk]), FIXERS),
    (
        "provision-edit-missing",
        "post",
        lambda j: reverse("benchmark:provision_edit", args=[999999]),
        row(set(), not_found={"curator", "admin"}),
    ),
    (
        "source-supersede",
        "get",
        lambda j: reverse("benchmark:source_supersede", args=[j["source"].pk]),
        row({"curator", "admin"}),
    ),
    (
        "source-supersede-post",
        "post",
        lambda j: reverse("benchmark:source_supersede", args=[j["source"].pk]),
        row({"curator", "admin"}),
    ),
    (
        "source-amendment",
        "get",
        lambda j: reverse("benchmark:source_amendment", args=[j["amendment"].new_source_id]),
        row(SOURCE_READERS),
    ),
    (
        "source-amendment-none",
        "get",
        lambda j: reverse("benchmark:source_amendment", args=[j["source"].pk]),
        row(set(), not_found=SOURCE_READERS),
    ),
    # --- generation (issue 3, item 6): an empty draft form is 400 for those allowed to post it ---
    (
        "source-draft",
        "post",
        lambda j: reverse("benchmark:source_draft", args=[j["source"].pk]),
        {**row(set()), "curator": 400, "admin": 400},
    ),
    (
        "source-draft-missing",
        "post",
        lambda j: reverse("benchmark:source_draft", args=[999999]),
        row(set(), not_found={"curator", "admin"}),
    ),
    (
        "near-duplicates-refresh",
        "post",
        lambda j: reverse("benchmark:near_duplicates_refresh"),
        row({"curator", "admin"}),
    ),
    ("admin-prompt-templates", "get", lambda j: reverse("admin:benchmark_prompttemplate_changelist"), row({"admin"})),
    ("admin-near-duplicates", "get", lambda j: reverse("admin:benchmark_nearduplicate_changelist"), row({"admin"})),
    # --- the annotator's labeling screens (issue 4): annotators only; the admin holds every role but is no
    # member of the campaign and has no assignment, so the campaign's and the item's pages are 404 for them
    ("label-campaigns", "get", lambda j: reverse("annotation:campaigns"), row({"annotator", "admin"})),
    ("label-history", "get", lambda j: reverse("annotation:history"), row({"annotator", "admin"})),
    ("label-queue", "get", lambda j: reverse("annotation:queue", args=[j["campaign"].pk]), ANNOTATOR_ONLY),
    ("label-next", "get", lambda j: reverse("annotation:next", args=[j["campaign"].pk]), ANNOTATOR_ONLY),
    ("label-item", "get", lambda j: reverse("annotation:item", args=[j["item"].pk]), ANNOTATOR_ONLY),
    ("label-provisions", "get", lambda j: reverse("annotation:provisions", args=[j["item"].pk]), ANNOTATOR_ONLY),
    ("label-draft", "post", lambda j: reverse("annotation:draft", args=[j["item"].pk]), ANNOTATOR_ONLY),
    ("label-skip", "post", lambda j: reverse("annotation:skip", args=[j["item"].pk]), ANNOTATOR_ONLY),
    # an empty submit passes every check up to the label itself: 400 for the annotator, who lacks the scores
    (
        "label-submit",
        "post",
        lambda j: reverse("annotation:submit", args=[j["item"].pk]),
        {**ANNOTATOR_ONLY, "annotator": 400},
    ),
    (
        "label-item-of-another",
        "get",
        lambda j: reverse("annotation:item", args=[j["other_item"].pk]),
        row(set(), not_found={"annotator", "admin"}),
    ),
    (
        "label-submit-of-another",
        "post",
        lambda j: reverse("annotation:submit", args=[j["other_item"].pk]),
        row(set(), not_found={"annotator", "admin"}),
    ),
    (
        "label-item-missing",
        "get",
        lambda j: reverse("annotation:item", args=[999999]),
        row(set(), not_found={"annotator", "admin"}),
    ),
    (
        "label-queue-missing",
        "get",
        lambda j: reverse("annotation:queue", args=[999999]),
        row(set(), not_found={"annotator", "admin"}),
    ),
    # --- issue 4, review side: campaigns, adjudication, agreement, annotators, exports ---
    ("campaigns", "get", lambda j: reverse("campaigns:list"), row(CAMPAIGN_READERS)),
    ("campaign-create", "get", lambda j: reverse("campaigns:create"), row(CAMPAIGN_EDITORS)),
    ("campaign", "get", lambda j: reverse("campaigns:detail", args=[j["review_campaign"].pk]), row(CAMPAIGN_READERS)),
    (
        # a campaign the reviewer neither created nor reviews
        "campaign-other",
        "get",
        lambda j: reverse("campaigns:detail", args=[j["other_campaign"].pk]),
        row({"curator", "ml_engineer", "admin"}, not_found={"reviewer"}),
    ),
    (
        "campaign-missing",
        "get",
        lambda j: reverse("campaigns:detail", args=[999999]),
        row(set(), not_found=CAMPAIGN_READERS),
    ),
    (
        "campaign-settings",
        "get",
        lambda j: reverse("campaigns:settings", args=[j["review_campaign"].pk]),
        row(CAMPAIGN_EDITORS),
    ),
    (
        "campaign-settings-other",
        "get",
        lambda j: reverse("campaigns:settings", args=[j["other_campaign"].pk]),
        row({"curator", "admin"}, not_found={"reviewer"}),
    ),
    (
        # an empty form passes the role check and is refused (400): only editors get that far
        "campaign-status",
        "post",
        lambda j: reverse("campaigns:status", args=[j["review_campaign"].pk]),
        {**row(set()), "reviewer": 400, "curator": 400, "admin": 400},
    ),
    (
        "campaign-members",
        "get",
        lambda j: reverse("campaigns:members", args=[j["review_campaign"].pk]),
        row(CAMPAIGN_EDITORS),
    ),
    (
        "campaign-member-remove-missing",
        "post",
        lambda j: reverse("campaigns:member_remove", args=[j["review_campaign"].pk, 999999]),
        row(set(), not_found=CAMPAIGN_EDITORS),
    ),
    (
        "campaign-guideline",
        "get",
        lambda j: reverse("campaigns:guideline", args=[j["review_campaign"].pk]),
        row(CAMPAIGN_READERS),
    ),
    (
        "campaign-guideline-diff-empty",
        "get",
        lambda j: reverse("campaigns:guideline_diff", args=[j["review_campaign"].pk]),
        {**row(set()), **dict.fromkeys(CAMPAIGN_READERS, 400)},
    ),
    # adjudication: reviewers who are members only (the admin holds every role but is no member: 404)
    ("campaign-queue", "get", lambda j: reverse("campaigns:queue", args=[j["review_campaign"].pk]), ADJUDICATORS),
    (
        "campaign-adjudicate",
        "get",
        lambda j: reverse("campaigns:adjudicate", args=[j["review_campaign"].pk, j["disputed"].pk]),
        ADJUDICATORS,
    ),
    (
        "campaign-adjudicate-other",
        "get",
        lambda j: reverse("campaigns:adjudicate", args=[j["other_campaign"].pk, j["review_other_item"].pk]),
        row(set(), not_found={"reviewer", "admin"}),
    ),
    (
        "campaign-adjudicate-item-of-other-campaign",
        "get",
        lambda j: reverse("campaigns:adjudicate", args=[j["review_campaign"].pk, j["review_other_item"].pk]),
        row(set(), not_found={"reviewer", "admin"}),
    ),
    (
        "campaign-accepted-not-yet",
        "get",
        lambda j: reverse("campaigns:accepted", args=[j["review_campaign"].pk, j["disputed"].pk]),
        row(set(), not_found={"reviewer", "admin"}),
    ),
    (
        "campaign-gold-not-accepted",
        "post",
        lambda j: reverse("campaigns:gold", args=[j["review_campaign"].pk, j["disputed"].pk]),
        {**row(set(), not_found={"admin"}), "reviewer": 400},
    ),
    (
        "campaign-agreement",
        "get",
        lambda j: reverse("campaigns:agreement", args=[j["review_campaign"].pk]),
        row(CAMPAIGN_READERS),
    ),
    (
        "campaign-agreement-compute",
        "post",
        lambda j: reverse("campaigns:agreement_compute", args=[j["review_campaign"].pk]),
        row(CAMPAIGN_READERS),
    ),
    (
        "campaign-agreement-other",
        "get",
        lambda j: reverse("campaigns:agreement", args=[j["other_campaign"].pk]),
        row({"curator", "ml_engineer", "admin"}, not_found={"reviewer"}),
    ),
    (
        "campaign-annotators",
        "get",
        lambda j: reverse("campaigns:annotators", args=[j["review_campaign"].pk]),
        row(CAMPAIGN_READERS),
    ),
    (
        "campaign-unpause",
        "post",
        lambda j: reverse("campaigns:unpause", args=[j["review_campaign"].pk, j["member"].pk]),
        row({"reviewer"}, not_found={"admin"}),
    ),
    (
        "campaign-export-empty",
        "get",
        lambda j: reverse("campaigns:export", args=[j["review_campaign"].pk]),
        {**row(set()), **dict.fromkeys(CAMPAIGN_READERS, 400)},
    ),
    (
        "campaign-export",
        "get",
        lambda j: reverse("campaigns:export", args=[j["review_campaign"].pk]) + "?what=labels&format=jsonl",
        row(CAMPAIGN_READERS),
    ),
    (
        "campaign-export-other",
        "get",
        lambda j: reverse("campaigns:export", args=[j["other_campaign"].pk]) + "?what=labels&format=jsonl",
        row({"curator", "ml_engineer", "admin"}, not_found={"reviewer"}),
    ),
    # the annotation API answers 403 (not a login redirect) to anonymous and role-less users
    ("api-campaigns", "get", lambda j: reverse("api-campaign-list"), API_ANY_ROLE),
    (
        "api-campaign-other",
        "get",
        lambda j: reverse("api-campaign-detail", args=[j["other_campaign"].pk]),
        {**API_ANY_ROLE, "annotator": NOT_FOUND, "reviewer": NOT_FOUND},
    ),
    ("api-assignments", "get", lambda j: reverse("api-assignment-list"), API_ANY_ROLE),
    (
        # only annotators of the campaign reserve items; everyone else who sees the campaign gets 404
        "api-assignment-next",
        "post",
        lambda j: reverse("api-assignment-next", args=[j["review_campaign"].pk]),
        {**API_ANY_ROLE, **dict.fromkeys(("reviewer", "curator", "ml_engineer", "admin"), NOT_FOUND)},
    ),
    ("api-labels", "get", lambda j: reverse("api-label-list"), API_ANY_ROLE),
    (
        "api-labels-post-empty",
        "post",
        lambda j: reverse("api-label-list"),
        {**API_ANY_ROLE, **dict.fromkeys(API_ROLES, 400)},
    ),
    ("api-accepted", "get", lambda j: reverse("api-accepted-list"), {**API_ANY_ROLE, "annotator": FORBIDDEN}),
    ("admin", "get", lambda j: reverse("admin:index"), row({"admin"})),
    ("admin-audit", "get", lambda j: reverse("admin:medes_site_auditentry_changelist"), row({"admin"})),
    ("admin-jobs", "get", lambda j: reverse("admin:medes_site_job_changelist"), row({"admin"})),
    ("admin-models", "get", lambda j: reverse("admin:benchmark_registeredmodel_changelist"), row({"admin"})),
    ("admin-responses", "get", lambda j: reverse("admin:benchmark_response_changelist"), row({"admin"})),
    ("admin-uploads", "get", lambda j: reverse("admin:benchmark_importupload_changelist"), row({"admin"})),
]


@pytest.fixture
def jobs(personas: Personas) -> dict[str, Any]:
    responses = 'scene,query,reference,type,model,response\n器官移植,"题目：问？\nA.甲\nB.乙",A,客观题,LM,答案：A\n'
    import_medes_responses(responses.encode(), origin_name="r.csv", dry_run=False)
    return Fixtures(
        personas,
        {
            "response": Response.objects.get(),
            "upload": store_upload(io.BytesIO(responses.encode()), "r.csv", "medes_responses", user=personas.curator),
            "curator": Job.objects.create(kind="system.selfcheck", triggered_by=personas.curator, status="lost"),
            "ml": Job.objects.create(kind="system.selfcheck", triggered_by=personas.ml_engineer),
            "scenario": create_scenario(
                kind="subjective", stem="我是一名医生……", norm="考点", scene=Scene.objects.first(), origin="expert"
            )[0],
            "source": add_source(io.BytesIO("第一条 测试。".encode()), "law.md", SourceMeta(title="测试法"))[0],
            **_provision_and_amendment(),
            **_guardian(),
            **_alignment_data(),
        },
    )


def _alignment_data() -> dict[str, Any]:
    from alignment.alignment_data import freeze
    from alignment.models import PreferencePair, TargetedPrompt
    from benchmark.models import ModelKind, Scenario
    from benchmark.responses import register_model

    policy = register_model(name="access-policy", kind=ModelKind.IMPORTED)
    scenario = Scenario.objects.first()
    prompt = TargetedPrompt.objects.create(policy=policy, scenario=scenario, text="提示")
    pair = PreferencePair.objects.create(prompt=prompt, chosen="好", chosen_source="reference", rejected="坏",
                                         status="accepted")  # fmt: skip
    dataset = freeze("access-dataset", "sft")
    other = PreferencePair.objects.create(prompt=prompt, chosen="好", chosen_source="reference", rejected="坏")
    from alignment.models import AlignPipeline

    pipeline = AlignPipeline.objects.create(policy=policy, release=_release(), status="failed", step="sft")
    return {
        "prompt": prompt,
        "pair": other,
        "dataset": dataset,
        "frozen_pair": pair,
        "pipeline": pipeline,
        "release": pipeline.release,
    }


def _release() -> Any:
    create_scenario(kind="subjective", stem="发布用的病例。", scene=Scene.objects.first(), origin="expert",
                    status="accepted")  # fmt: skip
    return publish_release("Access-1")


def _guardian() -> dict[str, Any]:
    version = GuardianVersion.objects.create(
        number=1, base_model="/base", model_dir="guardian/v1", status=VersionStatus.READY
    )
    scores = {"R1": 0, "R2": 0, "Q1": 1, "Q2": 1, "Q3": 1, "Q4": 0}
    judgement = Judgement.objects.create(
        response=Response.objects.get(),
        judge="guardian",
        version=version,
        scores=scores,
        uncertainty=0.2,
        probabilities=dict.fromkeys(scores, 0.7),
    )
    return {"guardian": version, "judgement": judgement}


class Fixtures(dict[str, Any]):
    """The objects the URL builders name; the campaign groups are built only for the rows that use them
    (each takes a fraction of a second, and most of the matrix never touches them)."""

    def __init__(self, personas: Personas, base: dict[str, Any]) -> None:
        super().__init__(base)
        self.personas = personas

    def __missing__(self, key: str) -> Any:
        if key in {"campaign", "item", "other_item"}:
            self.update(_labeling(self.personas))
        elif key in {"review_campaign", "disputed", "other_campaign", "member", "review_other_item"}:
            self.update(_campaigns(self.personas))
        else:
            raise KeyError(key)
        return self[key]


def _labeling(personas: Personas) -> dict[str, Any]:
    """A campaign the annotator works in, their reserved item, and an item reserved by someone else."""
    campaign = build_campaign([personas.annotator, personas.annotator2], scenarios=1, overlap=1)
    mine, theirs = (next_assignment(campaign, user) for user in (personas.annotator, personas.annotator2))
    assert mine is not None and theirs is not None and mine.item_id != theirs.item_id
    return {"campaign": campaign, "item": mine.item, "other_item": theirs.item}


def _campaigns(personas: Personas) -> dict[str, Any]:
    """A campaign the reviewer reviews (with a disputed item), and one they have nothing to do with."""
    campaign = build_review_campaign(personas, name="Review")
    disputed = dispute_one(campaign, personas)
    other = build_review_campaign(personas, name="Other", reviewer=False, creator=personas.curator)
    Member.objects.filter(campaign=other, user=personas.annotator).delete()
    member = Member.objects.get(campaign=campaign, user=personas.annotator)
    return {"review_campaign": campaign, "disputed": disputed, "other_campaign": other, "member": member,
            "review_other_item": other.items.first()}  # fmt: skip


def _provision_and_amendment() -> dict[str, Any]:
    old = add_source(io.BytesIO("第一条 旧。".encode()), "old.md", SourceMeta(title="旧法"))[0]
    new = add_source(io.BytesIO("第一条 新。".encode()), "new.md", SourceMeta(title="新法", supersedes=old))[0]
    provision = Provision.objects.create(source=old, position=1, number=1, label="第一条", text="旧。")
    return {"provision": provision, "amendment": Amendment.objects.create(new_source=new, old_source=old)}


def outcome(response: Any) -> Any:
    if response.status_code == 302 and response["Location"].startswith(reverse(settings.LOGIN_URL)):
        return LOGIN
    if response.status_code == 302 and "/admin/login/" in response["Location"]:
        return LOGIN
    if response.status_code in (200, 302):
        return OK
    return response.status_code


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("name", "method", "url", "expected"), MATRIX, ids=[m[0] for m in MATRIX])
def test_access_matrix(
    persona: str, name: str, method: str, url: Callable[[dict[str, Job]], str], expected: dict[str, Any],
    personas: Personas, jobs: dict[str, Job],
) -> None:  # fmt: skip
    client = Client()
    user = personas.by_name(persona if persona != "ml_engineer" else "ml_engineer")
    if user is not None:
        client.force_login(user)
    data = {"steps": 1, "step_seconds": 0} if name == "selfcheck" else {}
    response = getattr(client, method)(url(jobs), data)
    assert outcome(response) == expected[persona], f"{persona} {method.upper()} {url(jobs)} → {response.status_code}"


@pytest.mark.parametrize(
    "url_name", ["api-job-list", "api-scenario-list", "api-release-list", "api-model-list", "api-response-list"]
)
def test_api_refuses_anonymous_and_roleless_users(url_name: str, personas: Personas, client_as: Any) -> None:
    assert client_as(None).get(reverse(url_name)).status_code == 403
    assert client_as(personas.annotator).get(reverse(url_name)).status_code == 403
    assert client_as(personas.outsider).get(reverse(url_name)).status_code == 403


def test_api_job_outside_scope_is_404(personas: Personas, jobs: dict[str, Job], client_as: Any) -> None:
    curator = client_as(personas.curator)
    assert curator.get(reverse("api-job-detail", args=[jobs["ml"].pk])).status_code == 404
    assert curator.get(reverse("api-job-detail", args=[jobs["curator"].pk])).json()["kind"] == "system.selfcheck"


def test_healthz_is_public(db: None, client: Client) -> None:
    assert client.get(reverse("healthz")).json() == {"status": "ok"}


def test_there_is_no_sign_up_page(db: None, client: Client) -> None:
    for path in ("/accounts/signup/", "/accounts/register/", "/signup/"):
        assert client.get(path).status_code == 404


def _named_routes() -> set[str]:
    """Every named URL pattern of the project, as namespace:name."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: set[str] = set()

    def walk(patterns: list[Any], namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, inner)
            elif isinstance(pattern, URLPattern) and pattern.name:
                found.add(namespace + pattern.name)

    walk(get_resolver().url_patterns, "")
    return found


# Routes the matrix does not walk, and where they are tested instead: the admin checks staff itself
# (test_admin_*); the API routes (test_api_* here, tests/test_*_api.py); the schema and its docs
# (tests/test_api_tokens.py); sign-in, sign-out and the language switch (tests/test_auth.py, test_i18n);
# the health check (test_healthz_is_public).
NOT_IN_MATRIX_PREFIXES = ("admin:", "api-", "api:", "api_schema", "api_docs", "login", "logout", "set_language",
                          "healthz")  # fmt: skip


def test_the_matrix_walks_every_named_route(personas: Personas, jobs: dict[str, Any]) -> None:
    from django.urls import resolve

    walked = {resolve(url(jobs).split("?")[0]).view_name for _name, _method, url, _expected in MATRIX}
    missing = sorted(name for name in _named_routes() - walked if not name.startswith(NOT_IN_MATRIX_PREFIXES))
    assert not missing, f"routes no access test walks: {missing}"

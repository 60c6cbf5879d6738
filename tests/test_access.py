"""The access matrix: every route × every persona (users holding two roles included) × an object in the persona's
scope, another user's or campaign's object, and a missing id; each case asserts what that persona gets.

Anonymous users are sent to the login page (the REST API answers them 403); a signed-in user without the role
gets 403; an object outside the user's scope is 404; a redirect counts only when it goes where the row says (the
happy path's target, or explicitly the page itself with an error message); a page a persona may open but not
read all of is checked for what it must not hold (blind labeling: another annotator's rationale, the model under
test, the export link; the leaderboard's item-by-item comparison) and, for those it does not hide it from, that it
is there.

The world (tests/access_world.py) is built once per module inside an outer transaction that is rolled back at the
end, as Django's TestCase.setUpClass does; each case runs in its own savepoint inside it (pytest-django's ``db``),
with one signed-in client per persona made once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.messages import constants, get_messages
from django.db import transaction
from django.test import Client
from django.urls import Resolver404, resolve, reverse

from medes_site.roles import Role
from tests.access_world import (
    BLIND_ANNOTATORS,
    MISSING,
    PERSONAS,
    ROLES,
    SUPERUSERS,
    World,
    build_world,
    compare_url,
    world_settings,
)

# --- what a persona gets ---------------------------------------------------------------------------------------

LOGIN = "login"  # a redirect to the sign-in page (the app's or the admin's)
FORBIDDEN, NOT_FOUND, BAD = 403, 404, 400


@dataclass(frozen=True)
class Ok:
    """200, and the page holds none of ``hides`` and all of ``shows`` (names of World.markers)."""

    hides: tuple[str, ...] = ()
    shows: tuple[str, ...] = ()


@dataclass(frozen=True)
class To:
    """A redirect to the view ``view`` (with the world's objects ``target`` as its arguments, when given);
    ``error``: with an error or warning message, i.e. the action was refused and the page says why."""

    view: str
    error: bool = False
    target: tuple[str, ...] = ()


OK = Ok()
Cell = Ok | To | int | str

# Who holds a role, as ``has_role`` answers it (a superuser holds every role).
SIGNED_IN = tuple(p for p in PERSONAS if p != "anonymous")


def holding(*roles: Role) -> frozenset[str]:
    return frozenset(p for p in SIGNED_IN if p in SUPERUSERS or set(ROLES[p]) & set(roles))


ANY_ROLE = holding(*Role)
ANNOTATORS = holding(Role.ANNOTATOR)
REVIEWERS = holding(Role.REVIEWER)
CURATORS = holding(Role.CURATOR)
ML = holding(Role.ML_ENGINEER)
JOB_ROLES = holding(Role.CURATOR, Role.REVIEWER, Role.ML_ENGINEER)
SOURCE_ROLES = holding(Role.CURATOR, Role.REVIEWER)
RELEASE_ROLES = JOB_ROLES
MODEL_ROLES = holding(Role.CURATOR, Role.ML_ENGINEER)
CAMPAIGN_READERS = JOB_ROLES
CAMPAIGN_EDITORS = SOURCE_ROLES
GUARDIAN_READERS = JOB_ROLES
CORPUS_API = JOB_ROLES
LEADERBOARD_READERS = ANY_ROLE
# members of the labeling campaign who label (the admin holds the role but is no member: 404 on its pages)
LABELERS = frozenset({"annotator", *BLIND_ANNOTATORS})
# the blind campaign: who annotates in it with a review-side role (the plain annotator has no review role: 403)
BLIND = frozenset(BLIND_ANNOTATORS)
# who reviews the blind campaign as a member without annotating in it (adjudication)
ITS_REVIEWERS = frozenset({"reviewer", "curator_reviewer"})
# the other campaign: created by the curator, reviewed by nobody; reviewers who are no curator do not see it
SEES_OTHER = holding(Role.CURATOR, Role.ML_ENGINEER)


def who(*grants: tuple[Iterable[str], Cell], default: Cell = FORBIDDEN, anonymous: Cell = LOGIN) -> dict[str, Cell]:
    """Every persona's cell: ``default``, then each (personas, cell) in turn; anonymous gets ``anonymous``."""
    cells: dict[str, Cell] = dict.fromkeys(SIGNED_IN, default)
    for personas, cell in grants:
        for persona in personas:
            cells[persona] = cell
    cells["anonymous"] = anonymous
    return cells


def api(*grants: tuple[Iterable[str], Cell]) -> dict[str, Cell]:
    """The REST API: anonymous and role-less users get 403 (not a redirect)."""
    return who(*grants, anonymous=FORBIDDEN)


def everyone(cell: Cell) -> dict[str, Cell]:
    return who((SIGNED_IN, cell), anonymous=cell)


# --- the rows ----------------------------------------------------------------------------------------------------

OWN_ITEM, OWN_TOKEN = object(), object()  # the persona's own labeling item / API token
Url = Callable[[World, str], str]
Data = dict[str, Any] | Callable[[World], dict[str, Any]]


def u(name: str, *args: Any, query: str = "") -> Url:
    """A URL builder: ``args`` are world keys (their pk), literal ids, or the persona's own item or token."""

    def build(world: World, persona: str) -> str:
        values: list[Any] = []
        for arg in args:
            if arg is OWN_ITEM:
                values.append(world.own_item(persona))
            elif arg is OWN_TOKEN:
                values.append(world.own_token(persona))
            elif isinstance(arg, str) and arg in world.objects:
                values.append(world.arg(arg))
            else:
                values.append(arg)
        return reverse(name, args=values) + query.format_map(PkOf(world))

    return build


class PkOf(dict[str, int]):
    """``{review}`` in a query string: the pk of the world's object ``review``."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def __missing__(self, key: str) -> int:
        return self.world.pk(key)


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    url: Url
    expected: dict[str, Cell]
    data: Data | None = None
    fresh_client: bool = False  # the request changes the session (sign-out, language): a client of its own


def get(name: str, url: Url, expected: dict[str, Cell], **kwargs: Any) -> Row:
    return Row(name, "get", url, expected, **kwargs)


def post(name: str, url: Url, expected: dict[str, Cell], **kwargs: Any) -> Row:
    return Row(name, "post", url, expected, **kwargs)


def leaderboard(which: str) -> Url:
    return lambda world, persona: compare_url(world, which)


def public(which: str) -> Url:
    def build(world: World, persona: str) -> str:
        base, other = world[f"run_{which}_0"], world[f"run_{which}_1"]
        url = reverse("public_leaderboard", args=[world.pk(f"release_{which}")])
        return url + f"?base={base.pk}&other={other.pk}"

    return build


def _endpoint_model(world: World) -> dict[str, Any]:
    return {"name": "new-endpoint", "kind": "openai_endpoint", "base_url": "https://8.8.8.8/v1", "model_id": "m"}


def _directory_model(world: World) -> dict[str, Any]:
    from django.conf import settings

    return {"name": "new-directory", "kind": "hf_directory", "path": str(Path(settings.ARTIFACTS_ROOT) / "m")}


BLIND_PAGE = Ok(hides=("rationale", "model", "export-link", "agreement-link"), shows=("blind-notice",))
LABELS_PAGE = Ok(shows=("export-link",), hides=("blind-notice",))
HIDDEN_OUTPUTS = Ok(
    hides=("artifact-link", "artifact-path", "kappa", "job-metrics", "job-log"), shows=("outputs-hidden",)
)
ITEMS = Ok(shows=("aggregates", "compare", "per-item"))
AGGREGATES = Ok(shows=("aggregates",), hides=("compare", "per-item", "results-hidden"))
NO_RESULTS = Ok(shows=("results-hidden",), hides=("aggregates", "compare", "per-item"))
# the admin site: a signed-in user without admin rights gets 403, not a second sign-in form (admin_site.py)
ADMIN_ONLY = who((SUPERUSERS, OK))
# the item-by-item comparison: reviewers and ML engineers who annotate none of the release's answers
LEADER_ITEMS = (REVIEWERS | ML) - BLIND
# the alignment API: judgements are read by reviewers and ML engineers; an evaluation's figures or none
JUDGE_READERS = REVIEWERS | ML
API_FIGURES = Ok(shows=("figures",), hides=("no-figures",))
API_NO_FIGURES = Ok(shows=("no-figures",), hides=("figures",))

MATRIX: list[Row] = [
    # --- sign-in, sign-out, language, health ---
    get("login", u("login"), who((SIGNED_IN, To("home")), anonymous=OK)),
    post("logout", u("logout"), everyone(LOGIN), fresh_client=True),
    post("set-language", u("set_language"), everyone(To("home")), data={"language": "en"}, fresh_client=True),
    get("healthz", u("healthz"), everyone(OK)),
    # --- home pages: a user goes to the home of their first role; a role they lack is 403 ---
    get("home", u("home"), who((ANY_ROLE, To("role_home")))),
    get("home-curator", u("role_home", "curator"), who((CURATORS, OK))),
    get("home-annotator", u("role_home", "annotator"), who((ANNOTATORS, OK))),
    get("home-reviewer", u("role_home", "reviewer"), who((REVIEWERS, OK))),
    get("home-ml", u("role_home", "ml_engineer"), who((ML, OK))),
    get("home-unknown-role", u("role_home", "janitor"), who((ANY_ROLE, NOT_FOUND))),
    # --- personal API tokens: each user's own; another user's key is 404 ---
    get("api-tokens", u("api_tokens"), who((ANY_ROLE, OK))),
    post("api-token-revoke-own", u("api_token_revoke", OWN_TOKEN), who((ANY_ROLE, To("api_tokens")))),
    post("api-token-revoke-other", u("api_token_revoke", "annotator2_token"), who((ANY_ROLE, NOT_FOUND))),
    post("api-token-revoke-missing", u("api_token_revoke", "nope"), who((ANY_ROLE, NOT_FOUND))),
    # --- jobs: ML engineers see every job; curators and reviewers their own; outputs of a campaign's export or
    # agreement job are hidden from its annotators (blind labeling) ---
    get("jobs", u("jobs:list"), who((JOB_ROLES, OK))),
    post(
        "selfcheck",
        u("jobs:start_selfcheck"),
        who((JOB_ROLES, FORBIDDEN), (ML, To("jobs:detail"))),
        data={"steps": 1, "step_seconds": 0},
    ),
    get("job-own-curator", u("jobs:detail", "job_curator"), who((JOB_ROLES, NOT_FOUND), (ML | {"curator"}, OK))),
    get("job-of-ml", u("jobs:detail", "job_ml"), who((JOB_ROLES, NOT_FOUND), (ML, OK))),
    get("job-missing", u("jobs:detail", MISSING), who((JOB_ROLES, NOT_FOUND))),
    # started by annotator+curator (its page is theirs) and annotator+reviewer; ML engineers see every job
    get(
        "job-blind-export",
        u("jobs:detail", "export_job"),
        who(
            (JOB_ROLES, NOT_FOUND),
            (ML - BLIND, Ok(shows=("artifact-link", "job-log"))),
            (ML & BLIND | {"annotator_curator"}, HIDDEN_OUTPUTS),
        ),
    ),
    get(
        "job-blind-agreement",
        u("jobs:detail", "agreement_job"),
        who(
            (JOB_ROLES, NOT_FOUND),
            (ML - BLIND, Ok(shows=("job-metrics", "job-log"))),
            (ML & BLIND | {"annotator_reviewer"}, HIDDEN_OUTPUTS),
        ),
    ),
    get(
        "job-artifact-blind-export",
        u("jobs:artifact", "export_job", 0),
        who((JOB_ROLES, NOT_FOUND), (ML - BLIND, Ok(shows=("rationale", "model")))),
    ),
    get("job-artifact-none", u("jobs:artifact", "job_curator", 0), who((JOB_ROLES, NOT_FOUND))),
    get("job-artifact-missing", u("jobs:artifact", MISSING, 0), who((JOB_ROLES, NOT_FOUND))),
    post(
        "cancel-own",
        u("jobs:cancel", "job_curator"),
        who((JOB_ROLES, NOT_FOUND), (ML | {"curator"}, To("jobs:detail", target=("job_curator",)))),
    ),
    post(
        "cancel-of-ml",
        u("jobs:cancel", "job_ml"),
        who((JOB_ROLES, NOT_FOUND), (ML, To("jobs:detail", target=("job_ml",)))),
    ),
    post("cancel-missing", u("jobs:cancel", MISSING), who((JOB_ROLES, NOT_FOUND))),
    # the curator sees their own lost self-check but may not restart it: only ML engineers start that kind
    post(
        "resume-own-curator",
        u("jobs:resume", "job_curator"),
        who((JOB_ROLES, NOT_FOUND), ({"curator"}, FORBIDDEN), (ML, To("jobs:detail", target=("job_curator",)))),
    ),
    post("resume-missing", u("jobs:resume", MISSING), who((JOB_ROLES, NOT_FOUND))),
    # --- the corpus: curators and reviewers read, curators change ---
    get("sources", u("benchmark:sources"), who((SOURCE_ROLES, OK))),
    get("source-add", u("benchmark:source_add"), who((CURATORS, OK))),
    post("source-add-empty", u("benchmark:source_add"), who((CURATORS, BAD))),
    get("source", u("benchmark:source", "source"), who((SOURCE_ROLES, OK))),
    get("source-missing", u("benchmark:source", MISSING), who((SOURCE_ROLES, NOT_FOUND))),
    post("source-parse", u("benchmark:source_parse", "source"), who((CURATORS, To("jobs:detail")))),
    post("source-parse-missing", u("benchmark:source_parse", MISSING), who((CURATORS, NOT_FOUND))),
    get("source-download", u("benchmark:source_download", "source"), who((SOURCE_ROLES, OK))),
    get("source-download-missing", u("benchmark:source_download", MISSING), who((SOURCE_ROLES, NOT_FOUND))),
    get("source-supersede", u("benchmark:source_supersede", "source"), who((CURATORS, OK))),
    # no earlier version chosen: nothing to compare, back to the source
    post(
        "source-supersede-none",
        u("benchmark:source_supersede", "source"),
        who((CURATORS, To("benchmark:source", target=("source",)))),
    ),
    post("source-supersede-missing", u("benchmark:source_supersede", MISSING), who((CURATORS, NOT_FOUND))),
    get("source-amendment", u("benchmark:source_amendment", "amended_source"), who((SOURCE_ROLES, OK))),
    get("source-amendment-none", u("benchmark:source_amendment", "source"), who((SOURCE_ROLES, NOT_FOUND))),
    get("source-amendment-missing", u("benchmark:source_amendment", MISSING), who((SOURCE_ROLES, NOT_FOUND))),
    # re-citing after an amendment: curators and reviewers read the proposals, curators re-cite
    get("source-recite", u("benchmark:source_recite", "amended_source"), who((SOURCE_ROLES, OK))),
    get("source-recite-none", u("benchmark:source_recite", "source"), who((SOURCE_ROLES, NOT_FOUND))),
    get("source-recite-missing", u("benchmark:source_recite", MISSING), who((SOURCE_ROLES, NOT_FOUND))),
    post("source-recite-one-empty", u("benchmark:source_recite_one", "amended_source"), who((CURATORS, BAD))),
    post("source-recite-one-missing", u("benchmark:source_recite_one", MISSING), who((CURATORS, NOT_FOUND))),
    post("source-recite-bulk-empty", u("benchmark:source_recite_bulk", "amended_source"), who((CURATORS, BAD))),
    post("source-recite-bulk-missing", u("benchmark:source_recite_bulk", MISSING), who((CURATORS, NOT_FOUND))),
    get("source-recite-choose-empty", u("benchmark:source_recite_choose", "amended_source"), who((CURATORS, BAD))),
    get("source-recite-choose-missing", u("benchmark:source_recite_choose", MISSING), who((CURATORS, NOT_FOUND))),
    post("source-recite-choose-none", u("benchmark:source_recite_choose", "amended_source"), who((CURATORS, BAD))),
    post("source-draft-empty", u("benchmark:source_draft", "source"), who((CURATORS, BAD))),
    post("source-draft-missing", u("benchmark:source_draft", MISSING), who((CURATORS, NOT_FOUND))),
    post("near-duplicates-refresh", u("benchmark:near_duplicates_refresh"), who((CURATORS, To("jobs:detail")))),
    get("provision", u("benchmark:provision", "provision"), who((SOURCE_ROLES, OK))),
    get("provision-missing", u("benchmark:provision", MISSING), who((SOURCE_ROLES, NOT_FOUND))),
    # an empty form passes the role check and is refused as incomplete (400): only curators get that far
    post("provision-edit-empty", u("benchmark:provision_edit", "provision"), who((CURATORS, BAD))),
    post("provision-split-empty", u("benchmark:provision_split", "provision"), who((CURATORS, BAD))),
    post("provision-merge-empty", u("benchmark:provision_merge", "provision"), who((CURATORS, BAD))),
    post("provision-edit-missing", u("benchmark:provision_edit", MISSING), who((CURATORS, NOT_FOUND))),
    post("provision-split-missing", u("benchmark:provision_split", MISSING), who((CURATORS, NOT_FOUND))),
    post("provision-merge-missing", u("benchmark:provision_merge", MISSING), who((CURATORS, NOT_FOUND))),
    # --- the scenario bank ---
    get("scenarios", u("benchmark:scenarios"), who((SOURCE_ROLES, OK))),
    # an empty bulk change goes back to the list with the reason
    post(
        "scenario-bulk-status-empty",
        u("benchmark:scenario_bulk_status"),
        who((SOURCE_ROLES, To("benchmark:scenarios", error=True))),
    ),
    get("scenario", u("benchmark:scenario", "scenario"), who((SOURCE_ROLES, OK))),
    get("scenario-missing", u("benchmark:scenario", MISSING), who((SOURCE_ROLES, NOT_FOUND))),
    post("scenario-edit-empty", u("benchmark:scenario_edit", "scenario"), who((CURATORS, BAD))),
    post("scenario-edit-missing", u("benchmark:scenario_edit", MISSING), who((CURATORS, NOT_FOUND))),
    # the curator's desk (issue 16): writing a scenario, one scenario's workflow move, the provision picker's search
    get("scenario-new", u("benchmark:scenario_new"), who((CURATORS, OK))),
    post("scenario-new-empty", u("benchmark:scenario_new"), who((CURATORS, BAD))),
    get("provision-scenario-new", u("benchmark:provision_scenario_new", "provision"), who((CURATORS, OK))),
    get(
        "provision-scenario-new-missing",
        u("benchmark:provision_scenario_new", MISSING),
        who((CURATORS, NOT_FOUND)),
    ),
    post("scenario-status-empty", u("benchmark:scenario_status", "scenario"), who((SOURCE_ROLES, BAD))),
    post("scenario-status-missing", u("benchmark:scenario_status", MISSING), who((SOURCE_ROLES, NOT_FOUND))),
    get("provision-search", u("benchmark:provision_search", query="?q=第一条"), who((SOURCE_ROLES, OK))),
    # --- releases: curators, reviewers and ML engineers read and export; curators publish ---
    get("releases", u("benchmark:releases"), who((RELEASE_ROLES, OK))),
    post("release-publish-empty", u("benchmark:releases"), who((RELEASE_ROLES, FORBIDDEN), (CURATORS, BAD))),
    get("release", u("benchmark:release", "release"), who((RELEASE_ROLES, OK))),
    get("release-missing", u("benchmark:release", MISSING), who((RELEASE_ROLES, NOT_FOUND))),
    get("release-download", u("benchmark:release_download", "release", "jsonl"), who((RELEASE_ROLES, OK))),
    # a format an export job prepares: back to the release page, which offers the job
    get(
        "release-download-unprepared",
        u("benchmark:release_download", "release", "parquet"),
        who((RELEASE_ROLES, To("benchmark:release", target=("release",)))),
    ),
    get("release-download-missing", u("benchmark:release_download", MISSING, "jsonl"), who((RELEASE_ROLES, NOT_FOUND))),
    get(
        "release-download-unknown-format",
        u("benchmark:release_download", "release", "exe"),
        who((RELEASE_ROLES, NOT_FOUND)),
    ),
    post("release-export", u("benchmark:release_export", "release", "hf"), who((RELEASE_ROLES, To("jobs:detail")))),
    post("release-export-missing", u("benchmark:release_export", MISSING, "hf"), who((RELEASE_ROLES, NOT_FOUND))),
    # --- the model registry: curators register imported models only; endpoints and directories are for ML
    # engineers and administrators; a response being labeled in a campaign does not name its model to that
    # campaign's annotators ---
    get("models", u("benchmark:models"), who((MODEL_ROLES, OK))),
    get("model-add", u("benchmark:model_add"), who((MODEL_ROLES, OK))),
    post(
        "model-add-imported",
        u("benchmark:model_add"),
        who((MODEL_ROLES, To("benchmark:model"))),
        data={"name": "new-imported", "kind": "imported"},
    ),
    post(
        "model-add-endpoint",
        u("benchmark:model_add"),
        who((MODEL_ROLES, BAD), (ML, To("benchmark:model"))),
        data=_endpoint_model,
    ),
    post(
        "model-add-directory",
        u("benchmark:model_add"),
        who((MODEL_ROLES, BAD), (ML, To("benchmark:model"))),
        data=_directory_model,
    ),
    get("model", u("benchmark:model", "lm_model"), who((MODEL_ROLES, OK))),
    get("model-missing", u("benchmark:model", MISSING), who((MODEL_ROLES, NOT_FOUND))),
    get("response", u("benchmark:response", "response"), who((MODEL_ROLES, OK))),
    get(
        "response-being-labeled",
        u("benchmark:response", "review_response"),
        who((MODEL_ROLES, Ok(shows=("model",))), (BLIND & MODEL_ROLES, NOT_FOUND)),
    ),
    get("response-missing", u("benchmark:response", MISSING), who((MODEL_ROLES, NOT_FOUND))),
    # --- imports: each curator's own uploads (the admin, a curator too, gets 404 for the curator's file) ---
    get("imports", u("benchmark:imports"), who((CURATORS, OK))),
    get("import-own", u("benchmark:import", "upload"), who((CURATORS, NOT_FOUND), ({"curator"}, OK))),
    get("import-missing", u("benchmark:import", MISSING), who((CURATORS, NOT_FOUND))),
    # --- the annotator's labeling screens: annotators who are members; the admin holds the role but is no
    # member (404); another annotator's item is 404 ---
    get("label-campaigns", u("annotation:campaigns"), who((ANNOTATORS, OK))),
    get("label-history", u("annotation:history"), who((ANNOTATORS, OK))),
    get("label-queue", u("annotation:queue", "labeling"), who((ANNOTATORS, NOT_FOUND), (LABELERS, OK))),
    get("label-queue-other-campaign", u("annotation:queue", "other"), who((ANNOTATORS, NOT_FOUND))),
    get("label-queue-missing", u("annotation:queue", MISSING), who((ANNOTATORS, NOT_FOUND))),
    get("label-queue-draft", u("annotation:queue", "draft"), who((ANNOTATORS, NOT_FOUND))),
    # reserving is a POST; a GET reserves nothing and shows the queue (whose button posts)
    get(
        "label-next-get",
        u("annotation:next", "labeling"),
        who((ANNOTATORS, NOT_FOUND), (LABELERS, To("annotation:queue", target=("labeling",)))),
    ),
    post(
        "label-next", u("annotation:next", "labeling"), who((ANNOTATORS, NOT_FOUND), (LABELERS, To("annotation:item")))
    ),
    post("label-next-other-campaign", u("annotation:next", "other"), who((ANNOTATORS, NOT_FOUND))),
    post("label-next-missing", u("annotation:next", MISSING), who((ANNOTATORS, NOT_FOUND))),
    get("label-item-own", u("annotation:item", OWN_ITEM), who((ANNOTATORS, NOT_FOUND), (LABELERS, OK))),
    get("label-item-of-another", u("annotation:item", "their_item"), who((ANNOTATORS, NOT_FOUND))),
    get("label-item-missing", u("annotation:item", MISSING), who((ANNOTATORS, NOT_FOUND))),
    get("label-provisions-own", u("annotation:provisions", OWN_ITEM), who((ANNOTATORS, NOT_FOUND), (LABELERS, OK))),
    get("label-provisions-of-another", u("annotation:provisions", "their_item"), who((ANNOTATORS, NOT_FOUND))),
    get("label-provisions-missing", u("annotation:provisions", MISSING), who((ANNOTATORS, NOT_FOUND))),
    post(
        "label-draft-own",
        u("annotation:draft", OWN_ITEM),
        who((ANNOTATORS, NOT_FOUND), (LABELERS, To("annotation:item"))),
    ),
    post("label-draft-of-another", u("annotation:draft", "their_item"), who((ANNOTATORS, NOT_FOUND))),
    post("label-draft-missing", u("annotation:draft", MISSING), who((ANNOTATORS, NOT_FOUND))),
    # skipped: the next item is reserved and opened
    post(
        "label-skip-own",
        u("annotation:skip", OWN_ITEM),
        who((ANNOTATORS, NOT_FOUND), (LABELERS, To("annotation:item"))),
    ),
    post("label-skip-of-another", u("annotation:skip", "their_item"), who((ANNOTATORS, NOT_FOUND))),
    post("label-skip-missing", u("annotation:skip", MISSING), who((ANNOTATORS, NOT_FOUND))),
    # an empty submit passes every check up to the label itself: 400 for the annotator, who lacks the scores
    post("label-submit-own-empty", u("annotation:submit", OWN_ITEM), who((ANNOTATORS, NOT_FOUND), (LABELERS, BAD))),
    post("label-submit-of-another", u("annotation:submit", "their_item"), who((ANNOTATORS, NOT_FOUND))),
    post("label-submit-missing", u("annotation:submit", MISSING), who((ANNOTATORS, NOT_FOUND))),
    # --- the review side of campaigns: reviewers see the campaigns they created or review, curators and ML
    # engineers every campaign; "may see others' labels in X" = X on the review side and not an annotator of X ---
    get(
        "campaigns",
        u("annotation:campaign_list"),
        who((CAMPAIGN_READERS, Ok(shows=("paused",))), (BLIND, Ok(hides=("paused",)))),
    ),
    get("campaign-create", u("annotation:campaign_create"), who((CAMPAIGN_EDITORS, OK))),
    post("campaign-create-empty", u("annotation:campaign_create"), who((CAMPAIGN_EDITORS, BAD))),
    get(
        "campaign", u("annotation:campaign_detail", "review"), who((CAMPAIGN_READERS, LABELS_PAGE), (BLIND, BLIND_PAGE))
    ),
    get(
        "campaign-other", u("annotation:campaign_detail", "other"), who((CAMPAIGN_READERS, NOT_FOUND), (SEES_OTHER, OK))
    ),
    get("campaign-missing", u("annotation:campaign_detail", MISSING), who((CAMPAIGN_READERS, NOT_FOUND))),
    get("campaign-settings", u("annotation:campaign_settings", "review"), who((CAMPAIGN_EDITORS, OK))),
    get(
        "campaign-settings-other",
        u("annotation:campaign_settings", "other"),
        who((CAMPAIGN_EDITORS, NOT_FOUND), (CURATORS, OK)),
    ),
    get("campaign-settings-missing", u("annotation:campaign_settings", MISSING), who((CAMPAIGN_EDITORS, NOT_FOUND))),
    # an empty form passes the role check and is refused (400): only editors get that far
    post("campaign-status-empty", u("annotation:campaign_status", "review"), who((CAMPAIGN_EDITORS, BAD))),
    post(
        "campaign-status-other",
        u("annotation:campaign_status", "other"),
        who((CAMPAIGN_EDITORS, NOT_FOUND), (CURATORS, BAD)),
    ),
    post("campaign-status-missing", u("annotation:campaign_status", MISSING), who((CAMPAIGN_EDITORS, NOT_FOUND))),
    get("campaign-members", u("annotation:campaign_members", "review"), who((CAMPAIGN_EDITORS, OK))),
    get(
        "campaign-members-other",
        u("annotation:campaign_members", "other"),
        who((CAMPAIGN_EDITORS, NOT_FOUND), (CURATORS, OK)),
    ),
    get("campaign-members-missing", u("annotation:campaign_members", MISSING), who((CAMPAIGN_EDITORS, NOT_FOUND))),
    post(
        "campaign-member-remove",
        u("annotation:campaign_member_remove", "review", "review_member"),
        who((CAMPAIGN_EDITORS, To("annotation:campaign_members", target=("review",)))),
    ),
    post(
        "campaign-member-remove-of-other-campaign",
        u("annotation:campaign_member_remove", "review", "other_member"),
        who((CAMPAIGN_EDITORS, NOT_FOUND)),
    ),
    post(
        "campaign-member-remove-missing",
        u("annotation:campaign_member_remove", "review", MISSING),
        who((CAMPAIGN_EDITORS, NOT_FOUND)),
    ),
    get("campaign-guideline", u("annotation:campaign_guideline", "review"), who((CAMPAIGN_READERS, OK))),
    get(
        "campaign-guideline-other",
        u("annotation:campaign_guideline", "other"),
        who((CAMPAIGN_READERS, NOT_FOUND), (SEES_OTHER, OK)),
    ),
    get("campaign-guideline-missing", u("annotation:campaign_guideline", MISSING), who((CAMPAIGN_READERS, NOT_FOUND))),
    get(
        "campaign-guideline-diff",
        u("annotation:campaign_guideline_diff", "review", query="?old=1&new=2"),
        who((CAMPAIGN_READERS, OK)),
    ),
    get(
        "campaign-guideline-diff-empty", u("annotation:campaign_guideline_diff", "review"), who((CAMPAIGN_READERS, BAD))
    ),
    get(
        "campaign-guideline-diff-missing-version",
        u("annotation:campaign_guideline_diff", "review", query="?old=1&new=9"),
        who((CAMPAIGN_READERS, NOT_FOUND)),
    ),
    get(
        "campaign-guideline-diff-missing",
        u("annotation:campaign_guideline_diff", MISSING, query="?old=1&new=2"),
        who((CAMPAIGN_READERS, NOT_FOUND)),
    ),
    get(
        "campaign-guideline-diff-other",
        u("annotation:campaign_guideline_diff", "other", query="?old=1&new=1"),
        who((CAMPAIGN_READERS, NOT_FOUND), (SEES_OTHER, OK)),
    ),
    # adjudication: reviewers who are members and do not annotate in it (the admin is no member: 404)
    get(
        "campaign-queue",
        u("annotation:campaign_queue", "review"),
        who(
            (REVIEWERS, NOT_FOUND), (ITS_REVIEWERS, To("annotation:campaign_adjudicate", target=("review", "disputed")))
        ),
    ),
    get("campaign-queue-other", u("annotation:campaign_queue", "other"), who((REVIEWERS, NOT_FOUND))),
    get("campaign-queue-missing", u("annotation:campaign_queue", MISSING), who((REVIEWERS, NOT_FOUND))),
    get(
        "campaign-adjudicate",
        u("annotation:campaign_adjudicate", "review", "disputed"),
        who((REVIEWERS, NOT_FOUND), (ITS_REVIEWERS, Ok(shows=("rationale",)))),
    ),
    post(
        "campaign-adjudicate-empty",
        u("annotation:campaign_adjudicate", "review", "disputed"),
        who((REVIEWERS, NOT_FOUND), (ITS_REVIEWERS, BAD)),
    ),
    get(
        "campaign-adjudicate-other",
        u("annotation:campaign_adjudicate", "other", "other_item"),
        who((REVIEWERS, NOT_FOUND)),
    ),
    get(
        "campaign-adjudicate-item-of-other-campaign",
        u("annotation:campaign_adjudicate", "review", "other_item"),
        who((REVIEWERS, NOT_FOUND)),
    ),
    get(
        "campaign-adjudicate-missing",
        u("annotation:campaign_adjudicate", "review", MISSING),
        who((REVIEWERS, NOT_FOUND)),
    ),
    get(
        "campaign-accepted",
        u("annotation:campaign_accepted", "review", "accepted"),
        who((REVIEWERS, NOT_FOUND), (ITS_REVIEWERS, Ok(shows=("rationale",)))),
    ),
    get(
        "campaign-accepted-not-yet",
        u("annotation:campaign_accepted", "review", "disputed"),
        who((REVIEWERS, NOT_FOUND)),
    ),
    get(
        "campaign-accepted-item-of-other-campaign",
        u("annotation:campaign_accepted", "review", "other_item"),
        who((REVIEWERS, NOT_FOUND)),
    ),
    get("campaign-accepted-missing", u("annotation:campaign_accepted", "review", MISSING), who((REVIEWERS, NOT_FOUND))),
    post(
        "campaign-gold",
        u("annotation:campaign_gold", "review", "accepted"),
        who((REVIEWERS, NOT_FOUND), (ITS_REVIEWERS, To("annotation:campaign_accepted", target=("review", "accepted")))),
    ),
    post(
        "campaign-gold-not-accepted",
        u("annotation:campaign_gold", "review", "disputed"),
        who((REVIEWERS, NOT_FOUND), (ITS_REVIEWERS, BAD)),
    ),
    post("campaign-gold-other", u("annotation:campaign_gold", "other", "other_item"), who((REVIEWERS, NOT_FOUND))),
    post("campaign-gold-missing", u("annotation:campaign_gold", "review", MISSING), who((REVIEWERS, NOT_FOUND))),
    get(
        "campaign-agreement",
        u("annotation:campaign_agreement", "review"),
        who((CAMPAIGN_READERS, OK), (BLIND, NOT_FOUND)),
    ),
    get(
        "campaign-agreement-other",
        u("annotation:campaign_agreement", "other"),
        who((CAMPAIGN_READERS, NOT_FOUND), (SEES_OTHER, OK)),
    ),
    get("campaign-agreement-missing", u("annotation:campaign_agreement", MISSING), who((CAMPAIGN_READERS, NOT_FOUND))),
    post(
        "campaign-agreement-compute",
        u("annotation:campaign_agreement_compute", "review"),
        who((CAMPAIGN_READERS, To("jobs:detail")), (BLIND, NOT_FOUND)),
    ),
    post(
        "campaign-agreement-compute-other",
        u("annotation:campaign_agreement_compute", "other"),
        who((CAMPAIGN_READERS, NOT_FOUND), (SEES_OTHER, To("jobs:detail"))),
    ),
    post(
        "campaign-agreement-compute-missing",
        u("annotation:campaign_agreement_compute", MISSING),
        who((CAMPAIGN_READERS, NOT_FOUND)),
    ),
    get(
        "campaign-annotators",
        u("annotation:campaign_annotators", "review"),
        who((CAMPAIGN_READERS, Ok(shows=("paused",))), (BLIND, NOT_FOUND)),
    ),
    get(
        "campaign-annotators-other",
        u("annotation:campaign_annotators", "other"),
        who((CAMPAIGN_READERS, NOT_FOUND), (SEES_OTHER, OK)),
    ),
    get(
        "campaign-annotators-missing", u("annotation:campaign_annotators", MISSING), who((CAMPAIGN_READERS, NOT_FOUND))
    ),
    post(
        "campaign-unpause",
        u("annotation:campaign_unpause", "review", "paused_member"),
        who((REVIEWERS, NOT_FOUND), (ITS_REVIEWERS, To("annotation:campaign_annotators", target=("review",)))),
    ),
    post(
        "campaign-unpause-member-of-other-campaign",
        u("annotation:campaign_unpause", "review", "other_member"),
        who((REVIEWERS, NOT_FOUND)),
    ),
    post(
        "campaign-unpause-other", u("annotation:campaign_unpause", "other", "other_member"), who((REVIEWERS, NOT_FOUND))
    ),
    post("campaign-unpause-missing", u("annotation:campaign_unpause", "review", MISSING), who((REVIEWERS, NOT_FOUND))),
    get(
        "campaign-export",
        u("annotation:campaign_export", "review", query="?what=labels&format=jsonl"),
        who((CAMPAIGN_READERS, Ok(shows=("rationale", "model"))), (BLIND, NOT_FOUND)),
    ),
    get(
        "campaign-export-accepted",
        u("annotation:campaign_export", "review", query="?what=accepted&format=csv"),
        who((CAMPAIGN_READERS, Ok(shows=("model",))), (BLIND, NOT_FOUND)),
    ),
    get(
        "campaign-export-empty",
        u("annotation:campaign_export", "review"),
        who((CAMPAIGN_READERS, BAD), (BLIND, NOT_FOUND)),
    ),
    post(
        "campaign-export-job",
        u("annotation:campaign_export", "review"),
        who((CAMPAIGN_READERS, To("jobs:detail")), (BLIND, NOT_FOUND)),
        data={"what": "labels", "format": "csv"},
    ),
    get(
        "campaign-export-other",
        u("annotation:campaign_export", "other", query="?what=labels&format=jsonl"),
        who((CAMPAIGN_READERS, NOT_FOUND), (SEES_OTHER, OK)),
    ),
    get(
        "campaign-export-missing",
        u("annotation:campaign_export", MISSING, query="?what=labels&format=jsonl"),
        who((CAMPAIGN_READERS, NOT_FOUND)),
    ),
    # --- the guardian: ML engineers act; reviewers and curators read; reviewers review its judgements, except
    # those on a response being labeled in a campaign they annotate in ---
    get("guardian", u("alignment:guardian"), who((GUARDIAN_READERS, OK))),
    get("guardian-version", u("alignment:guardian_version", 1), who((GUARDIAN_READERS, OK))),
    get("guardian-version-missing", u("alignment:guardian_version", 999), who((GUARDIAN_READERS, NOT_FOUND))),
    post("guardian-train-empty", u("alignment:guardian_train"), who((GUARDIAN_READERS, FORBIDDEN), (ML, BAD))),
    post("guardian-judge-empty", u("alignment:guardian_judge"), who((GUARDIAN_READERS, FORBIDDEN), (ML, BAD))),
    # the version is active already: promoting it again changes nothing
    post("guardian-promote", u("alignment:guardian_promote", 1), who((ML, To("alignment:guardian_version")))),
    post("guardian-promote-missing", u("alignment:guardian_promote", 999), who((ML, NOT_FOUND))),
    # no version was active before this one: refused, back to the page with the reason
    post("guardian-rollback", u("alignment:guardian_rollback"), who((ML, To("alignment:guardian", error=True)))),
    get(
        "guardian-review-next",
        u("alignment:guardian_review_next"),
        who(
            (REVIEWERS, To("alignment:guardian_review", target=("blind_judgement",))),
            (REVIEWERS & BLIND, To("alignment:guardian_review", target=("judgement",))),
        ),
    ),
    get("guardian-review", u("alignment:guardian_review", "judgement"), who((REVIEWERS, OK))),
    get(
        "guardian-review-blind",
        u("alignment:guardian_review", "blind_judgement"),
        who((REVIEWERS, Ok(shows=("model",))), (REVIEWERS & BLIND, NOT_FOUND)),
    ),
    get("guardian-review-missing", u("alignment:guardian_review", MISSING), who((REVIEWERS, NOT_FOUND))),
    post("guardian-review-empty", u("alignment:guardian_review", "judgement"), who((REVIEWERS, BAD))),
    post(
        "guardian-review-blind-empty",
        u("alignment:guardian_review", "blind_judgement"),
        who((REVIEWERS, BAD), (REVIEWERS & BLIND, NOT_FOUND)),
    ),
    # --- the leaderboard: every role reads aggregates; the item-by-item comparison is for reviewers and ML
    # engineers who annotate none of the release's answers; nothing while they are being labeled ---
    get("leaderboard", u("alignment:leaderboards"), who((LEADERBOARD_READERS, To("alignment:leaderboard")))),
    get(
        "leaderboard-being-labeled", leaderboard("open"), who((LEADERBOARD_READERS, NO_RESULTS), (LEADER_ITEMS, ITEMS))
    ),
    get("leaderboard-closed", leaderboard("closed"), who((LEADERBOARD_READERS, AGGREGATES), (REVIEWERS | ML, ITEMS))),
    get("leaderboard-missing", u("alignment:leaderboard", MISSING), who((LEADERBOARD_READERS, NOT_FOUND))),
    post("leaderboard-evaluate-empty", u("alignment:leaderboard_evaluate", "release_closed"), who((ML, BAD))),
    post("leaderboard-evaluate-missing", u("alignment:leaderboard_evaluate", MISSING), who((ML, NOT_FOUND))),
    get("evaluation-closed", u("alignment:evaluation", "run_closed_0"), who((LEADERBOARD_READERS, OK))),
    get("evaluation-being-labeled", u("alignment:evaluation", "run_open_0"), who((LEADERBOARD_READERS, OK))),
    get("evaluation-missing", u("alignment:evaluation", MISSING), who((LEADERBOARD_READERS, NOT_FOUND))),
    get("leaderboard-external-import", u("alignment:external_import"), who((MODEL_ROLES, OK))),
    post("leaderboard-external-import-empty", u("alignment:external_import"), who((MODEL_ROLES, BAD))),
    get("public-leaderboard-being-labeled", public("open"), everyone(NO_RESULTS)),
    get("public-leaderboard-closed", public("closed"), everyone(AGGREGATES)),
    get("public-leaderboard-missing", u("public_leaderboard", MISSING), everyone(NOT_FOUND)),
    # --- alignment data: ML engineers run jobs and freeze; curators review prompts; reviewers pairs ---
    get("aligndata", u("alignment:data"), who((GUARDIAN_READERS, OK))),
    post("aligndata-targeted-empty", u("alignment:data_targeted"), who((GUARDIAN_READERS, FORBIDDEN), (ML, BAD))),
    post("aligndata-pairs-empty", u("alignment:data_build_pairs"), who((GUARDIAN_READERS, FORBIDDEN), (ML, BAD))),
    post("aligndata-freeze-empty", u("alignment:data_freeze"), who((GUARDIAN_READERS, FORBIDDEN), (ML, BAD))),
    post("aligndata-run-empty", u("alignment:data_start_run"), who((GUARDIAN_READERS, FORBIDDEN), (ML, BAD))),
    post(
        "aligndata-review-prompt",
        u("alignment:data_review_prompt", "fresh_prompt"),
        who((CURATORS | ML, To("alignment:data"))),
        data={"decision": "accepted"},
    ),
    post(
        "aligndata-review-prompt-no-decision",
        u("alignment:data_review_prompt", "prompt"),
        who((CURATORS | ML, To("alignment:data", error=True))),
    ),
    post(
        "aligndata-review-prompt-missing", u("alignment:data_review_prompt", MISSING), who((CURATORS | ML, NOT_FOUND))
    ),
    post(
        "aligndata-review-pair",
        u("alignment:data_review_pair", "pair"),
        who((REVIEWERS | ML, To("alignment:data"))),
        data={"decision": "rejected"},
    ),
    post(
        "aligndata-review-pair-no-decision",
        u("alignment:data_review_pair", "pair"),
        who((REVIEWERS | ML, To("alignment:data", error=True))),
    ),
    post("aligndata-review-pair-missing", u("alignment:data_review_pair", MISSING), who((REVIEWERS | ML, NOT_FOUND))),
    get("aligndata-download", u("alignment:data_download", "dataset"), who((GUARDIAN_READERS, OK))),
    get("aligndata-download-missing", u("alignment:data_download", MISSING), who((GUARDIAN_READERS, NOT_FOUND))),
    get("pipelines", u("alignment:pipelines"), who((GUARDIAN_READERS, OK))),
    post("pipelines-start-empty", u("alignment:pipeline_start"), who((GUARDIAN_READERS, FORBIDDEN), (ML, BAD))),
    get("pipeline", u("alignment:pipeline_detail", "pipeline"), who((GUARDIAN_READERS, OK))),
    get("pipeline-missing", u("alignment:pipeline_detail", MISSING), who((GUARDIAN_READERS, NOT_FOUND))),
    # a failed pipeline is waiting for no review: back to its page with the reason
    post(
        "pipeline-continue",
        u("alignment:pipeline_continue", "pipeline"),
        who((ML, To("alignment:pipeline_detail", error=True, target=("pipeline",)))),
    ),
    post("pipeline-continue-missing", u("alignment:pipeline_continue", MISSING), who((ML, NOT_FOUND))),
    # a finished pipeline: nothing changes, back to its page
    post(
        "pipeline-cancel",
        u("alignment:pipeline_cancel", "pipeline"),
        who((ML, To("alignment:pipeline_detail", target=("pipeline",)))),
    ),
    post("pipeline-cancel-missing", u("alignment:pipeline_cancel", MISSING), who((ML, NOT_FOUND))),
    # --- the REST API: anonymous and role-less users get 403; scope as on the pages ---
    get("api-schema", u("api_schema"), api((ANY_ROLE, OK))),
    get("api-docs", u("api_docs"), api((ANY_ROLE, OK))),
    get("api-jobs", u("api-job-list"), api((JOB_ROLES, OK))),
    get("api-job-own-curator", u("api-job-detail", "job_curator"), api((JOB_ROLES, NOT_FOUND), (ML | {"curator"}, OK))),
    get("api-job-of-ml", u("api-job-detail", "job_ml"), api((JOB_ROLES, NOT_FOUND), (ML, OK))),
    get(
        "api-job-blind-export",
        u("api-job-detail", "export_job"),
        api(
            (JOB_ROLES, NOT_FOUND),
            (ML - BLIND, Ok(shows=("artifact-path",))),
            (ML & BLIND | {"annotator_curator"}, Ok(hides=("artifact-path",))),
        ),
    ),
    get(
        "api-job-blind-agreement",
        u("api-job-detail", "agreement_job"),
        api(
            (JOB_ROLES, NOT_FOUND),
            (ML - BLIND, Ok(shows=("kappa",))),
            (ML & BLIND | {"annotator_reviewer"}, Ok(hides=("kappa",))),
        ),
    ),
    get("api-job-missing", u("api-job-detail", MISSING), api((JOB_ROLES, NOT_FOUND))),
    get("api-sources", u("api-source-list"), api((CORPUS_API, OK))),
    get("api-provisions", u("api-provision-list", "source"), api((CORPUS_API, OK))),
    get("api-provisions-missing", u("api-provision-list", MISSING), api((CORPUS_API, NOT_FOUND))),
    get("api-scenarios", u("api-scenario-list"), api((CORPUS_API, OK))),
    get("api-scenario", u("api-scenario-detail", "scenario"), api((CORPUS_API, OK))),
    get("api-scenario-missing", u("api-scenario-detail", MISSING), api((CORPUS_API, NOT_FOUND))),
    get("api-releases", u("api-release-list"), api((CORPUS_API, OK))),
    get("api-release-download", u("api-release-download", "release", "jsonl"), api((CORPUS_API, OK))),
    get(
        "api-release-download-unprepared", u("api-release-download", "release", "parquet"), api((CORPUS_API, NOT_FOUND))
    ),
    get("api-release-download-missing", u("api-release-download", MISSING, "jsonl"), api((CORPUS_API, NOT_FOUND))),
    get("api-models", u("api-model-list"), api((CORPUS_API, OK))),
    get("api-model", u("api-model-detail", "lm_model"), api((CORPUS_API, OK))),
    get("api-model-missing", u("api-model-detail", MISSING), api((CORPUS_API, NOT_FOUND))),
    get(
        "api-responses",
        u("api-response-list", query="?ordering=-id"),
        api((CORPUS_API, Ok(shows=("model",))), (BLIND, Ok(hides=("model",)))),
    ),
    get("api-response", u("api-response-detail", "response"), api((CORPUS_API, OK))),
    get(
        "api-response-being-labeled",
        u("api-response-detail", "review_response"),
        api((CORPUS_API, Ok(shows=("model",))), (BLIND, NOT_FOUND)),
    ),
    get("api-response-missing", u("api-response-detail", MISSING), api((CORPUS_API, NOT_FOUND))),
    get("api-campaigns", u("api-campaign-list"), api((ANY_ROLE, OK))),
    get("api-campaign", u("api-campaign-detail", "review"), api((ANY_ROLE, OK))),
    get("api-campaign-other", u("api-campaign-detail", "other"), api((ANY_ROLE, NOT_FOUND), (SEES_OTHER, OK))),
    get("api-campaign-missing", u("api-campaign-detail", MISSING), api((ANY_ROLE, NOT_FOUND))),
    # a draft is hidden from its annotators, as on the pages
    get("api-campaign-draft", u("api-campaign-detail", "draft"), api((ANY_ROLE, NOT_FOUND), (SEES_OTHER, OK))),
    get("api-assignments", u("api-assignment-list"), api((ANY_ROLE, OK))),
    # only annotators of the campaign reserve items (their held reservation comes back); everyone else 404
    post("api-assignment-next", u("api-assignment-next", "labeling"), api((ANY_ROLE, NOT_FOUND), (LABELERS, OK))),
    post("api-assignment-next-other", u("api-assignment-next", "other"), api((ANY_ROLE, NOT_FOUND))),
    post("api-assignment-next-missing", u("api-assignment-next", MISSING), api((ANY_ROLE, NOT_FOUND))),
    # the labels of the blind campaign: its annotators get their own only (the dual-role ones have none)
    get(
        "api-labels",
        u("api-label-list", query="?campaign={review}"),
        api(
            (ANY_ROLE, Ok(hides=("rationale",))),
            ({"annotator"}, Ok(shows=("rationale",))),
            (CAMPAIGN_READERS - BLIND, Ok(shows=("rationale",))),
        ),
    ),
    post("api-labels-empty", u("api-label-list"), api((ANY_ROLE, BAD))),
    get(
        "api-accepted",
        u("api-accepted-list", query="?campaign={review}"),
        api((CAMPAIGN_READERS, Ok(shows=("one-result",))), (BLIND, Ok(shows=("no-result",)))),
    ),
    # --- the alignment API (issue 16, item 5): the pages' readers read, ML engineers act; blind as the pages ---
    get("api-guardian-versions", u("api-guardian-version-list"), api((GUARDIAN_READERS, OK))),
    get("api-guardian-version", u("api-guardian-version-detail", 1), api((GUARDIAN_READERS, OK))),
    get("api-guardian-version-missing", u("api-guardian-version-detail", 999), api((GUARDIAN_READERS, NOT_FOUND))),
    # the version is active already: promoting it again changes nothing (200)
    post("api-guardian-promote", u("api-guardian-version-promote", 1), api((ML, OK))),
    post("api-guardian-promote-missing", u("api-guardian-version-promote", 999), api((ML, NOT_FOUND))),
    post("api-guardian-train-empty", u("api-guardian-train"), api((ML, BAD))),
    # judgements: reviewers and ML engineers; none on an answer the reader labels (the blind judgement)
    get(
        "api-judgements",
        u("api-judgement-list"),
        api((JUDGE_READERS, Ok(shows=("two-results",))), (JUDGE_READERS & BLIND, Ok(shows=("one-result",)))),
    ),
    get("api-judgement", u("api-judgement-detail", "judgement"), api((JUDGE_READERS, OK))),
    get(
        "api-judgement-blind",
        u("api-judgement-detail", "blind_judgement"),
        api((JUDGE_READERS, OK), (JUDGE_READERS & BLIND, NOT_FOUND)),
    ),
    get("api-judgement-missing", u("api-judgement-detail", MISSING), api((JUDGE_READERS, NOT_FOUND))),
    # evaluations and leaderboards: every reader; figures hidden while the release's answers are being labeled
    get("api-evaluations", u("api-evaluation-list"), api((LEADERBOARD_READERS, OK))),
    get("api-evaluation-closed", u("api-evaluation-detail", "run_closed_0"), api((LEADERBOARD_READERS, API_FIGURES))),
    get(
        "api-evaluation-being-labeled",
        u("api-evaluation-detail", "run_open_0"),
        api((LEADERBOARD_READERS, API_NO_FIGURES), (LEADER_ITEMS, API_FIGURES)),
    ),
    get("api-evaluation-missing", u("api-evaluation-detail", MISSING), api((LEADERBOARD_READERS, NOT_FOUND))),
    post("api-evaluation-start-empty", u("api-evaluation-start"), api((ML, BAD))),
    get("api-leaderboards", u("api-leaderboard-list"), api((LEADERBOARD_READERS, OK))),
    get(
        "api-leaderboard-being-labeled",
        u("api-leaderboard-detail", "release_open"),
        api((LEADERBOARD_READERS, Ok(shows=("shown-none",))), (LEADER_ITEMS, Ok(shows=("shown-items", "model")))),
    ),
    get(
        "api-leaderboard-closed",
        u("api-leaderboard-detail", "release_closed"),
        api((LEADERBOARD_READERS, Ok(shows=("shown-aggregates",))), (REVIEWERS | ML, Ok(shows=("shown-items",)))),
    ),
    get("api-leaderboard-missing", u("api-leaderboard-detail", MISSING), api((LEADERBOARD_READERS, NOT_FOUND))),
    get(
        "api-leaderboard-bad-sort",
        u("api-leaderboard-detail", "release_closed", query="?sort=x"),
        api((LEADERBOARD_READERS, BAD)),
    ),
    # align pipelines: the pages' readers; ML engineers start and cancel (a failed one: cancelling changes nothing)
    get("api-pipelines", u("api-pipeline-list"), api((GUARDIAN_READERS, OK))),
    get("api-pipeline", u("api-pipeline-detail", "pipeline"), api((GUARDIAN_READERS, OK))),
    get("api-pipeline-missing", u("api-pipeline-detail", MISSING), api((GUARDIAN_READERS, NOT_FOUND))),
    post("api-pipeline-start-empty", u("api-pipeline-start"), api((ML, BAD))),
    post("api-pipeline-cancel", u("api-pipeline-cancel", "pipeline"), api((ML, OK))),
    post("api-pipeline-cancel-missing", u("api-pipeline-cancel", MISSING), api((ML, NOT_FOUND))),
    # alignment data: the pages' readers; none grown from an answer the reader labels (the blind prompt)
    get("api-prompts", u("api-prompt-list"), api((GUARDIAN_READERS, OK))),
    get("api-prompt", u("api-prompt-detail", "prompt"), api((GUARDIAN_READERS, OK))),
    get(
        "api-prompt-blind",
        u("api-prompt-detail", "blind_prompt"),
        api((GUARDIAN_READERS, OK), (GUARDIAN_READERS & BLIND, NOT_FOUND)),
    ),
    get("api-prompt-missing", u("api-prompt-detail", MISSING), api((GUARDIAN_READERS, NOT_FOUND))),
    get("api-pairs", u("api-pair-list", query="?status=proposed"), api((GUARDIAN_READERS, OK))),
    get("api-pair", u("api-pair-detail", "pair"), api((GUARDIAN_READERS, OK))),
    get("api-pair-missing", u("api-pair-detail", MISSING), api((GUARDIAN_READERS, NOT_FOUND))),
    get("api-datasets", u("api-dataset-list"), api((GUARDIAN_READERS, OK))),
    get("api-dataset", u("api-dataset-detail", "dataset"), api((GUARDIAN_READERS, OK))),
    get("api-dataset-missing", u("api-dataset-detail", MISSING), api((GUARDIAN_READERS, NOT_FOUND))),
    # --- the admin: superusers only (anonymous users go to the sign-in page, signed-in ones without rights get 403) ---
    get("admin", u("admin:index"), ADMIN_ONLY),
    get("admin-audit", u("admin:medes_site_auditentry_changelist"), ADMIN_ONLY),
    get("admin-jobs", u("admin:medes_site_job_changelist"), ADMIN_ONLY),
    get("admin-users", u("admin:auth_user_changelist"), ADMIN_ONLY),
    get("admin-tokens", u("admin:knox_authtoken_changelist"), ADMIN_ONLY),
    # blind holds in the admin too: an administrator who annotates in a campaign finds none of its labels there
    get(
        "admin-labels",
        u("admin:annotation_label_changelist"),
        who(({"admin"}, Ok(shows=("label-row",))), (SUPERUSERS & BLIND, Ok(hides=("label-row",)))),
    ),
    # an object the admin's queryset leaves out: Django's admin goes back to its index saying it does not exist
    get(
        "admin-label",
        u("admin:annotation_label_change", "disputed_label"),
        who(({"admin"}, Ok(shows=("rationale",))), (SUPERUSERS & BLIND, To("admin:index", error=True))),
    ),
    get(
        "admin-label-history",
        u("admin:annotation_label_history", "disputed_label"),
        who(({"admin"}, OK), (SUPERUSERS & BLIND, NOT_FOUND)),
    ),
    get(
        "admin-label-history-version",
        u("admin:annotation_label_simple_history", "disputed_label", "disputed_label_version"),
        who(({"admin"}, Ok(shows=("rationale",))), (SUPERUSERS & BLIND, NOT_FOUND)),
    ),
    get(
        "admin-judgement",
        u("admin:alignment_judgement_change", "blind_judgement"),
        who(({"admin"}, OK), (SUPERUSERS & BLIND, To("admin:index", error=True))),
    ),
    get("admin-accepted", u("admin:annotation_acceptedlabel_changelist"), ADMIN_ONLY),
    get("admin-models", u("admin:benchmark_registeredmodel_changelist"), ADMIN_ONLY),
    get("admin-responses", u("admin:benchmark_response_changelist"), ADMIN_ONLY),
    get("admin-uploads", u("admin:benchmark_importupload_changelist"), ADMIN_ONLY),
    get("admin-prompt-templates", u("admin:benchmark_prompttemplate_changelist"), ADMIN_ONLY),
    get("admin-near-duplicates", u("admin:benchmark_nearduplicate_changelist"), ADMIN_ONLY),
]


# --- the world, once per module -------------------------------------------------------------------------------


@dataclass
class Setup:
    world: World
    clients: dict[str, Client]
    markers: dict[str, str]


@pytest.fixture(scope="module")
def setup(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """The world and a signed-in client per persona, in a transaction rolled back after the module's last case
    (nothing reaches later modules); each case's own changes are rolled back by its savepoint (``db``)."""
    with world_settings(tmp_path_factory.mktemp("access")):
        with django_db_blocker.unblock():
            outer = transaction.atomic()
            outer.__enter__()
            try:
                world = build_world()
                clients = {persona: _client(world, persona) for persona in PERSONAS}
            except BaseException:
                transaction.set_rollback(True)
                outer.__exit__(None, None, None)
                raise
        try:
            yield Setup(world, clients, world.markers())
        finally:
            with django_db_blocker.unblock():
                transaction.set_rollback(True)
                outer.__exit__(None, None, None)


def _client(world: World, persona: str) -> Client:
    client = Client()
    user = world.user(persona)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _files_in_tmp() -> None:
    """Replaces conftest's per-test file roots: the world's files (sources, datasets, job artifacts) lie under
    the module's directory (access_world.world_settings)."""


# --- what a response is ------------------------------------------------------------------------------------


def body(response: Any) -> str:
    """The text of a response. A streamed one (a file) is read to its end, which closes it: the test client's
    wrapper does so without closing the database connection (calling ``close()`` again here would)."""
    if getattr(response, "streaming", False):
        if not hasattr(response, "_read_body"):
            response._read_body = b"".join(response.streaming_content).decode("utf-8", "replace")
        return str(response._read_body)
    return str(response.content.decode("utf-8", "replace"))


@dataclass(frozen=True)
class Went:
    """A redirect a persona got: the view it goes to, its path, and whether the request left an error message."""

    view: str
    path: str
    error: bool


Got = Went | int | str


def outcome(response: Any) -> Got:
    """What the persona got: a status (200 included), LOGIN, or where a redirect went."""
    if response.status_code not in (301, 302, 303):
        return int(response.status_code)
    path = urlsplit(response["Location"]).path
    try:
        match = resolve(path)
    except Resolver404:
        return f"a redirect to {path}, which is no page"
    if match.view_name in ("login", "admin:login"):
        return LOGIN
    refused = any(m.level >= constants.WARNING for m in get_messages(response.wsgi_request))
    return Went(match.view_name, path, refused)


def describe(cell: Cell | Got) -> str:
    if isinstance(cell, Ok):
        hides = f" without {list(cell.hides)}" if cell.hides else ""
        return "200" + hides + (f" with {list(cell.shows)}" if cell.shows else "")
    if isinstance(cell, To | Went):
        where = cell.path if isinstance(cell, Went) else "/".join(cell.target)
        return f"a redirect to {cell.view} {where}" + (" with an error message" if cell.error else "")
    return str(cell)


def verdict(response: Any, expected: Cell, setup: Setup) -> str | None:
    """None when the response is what the cell says; else what differs."""
    got = outcome(response)
    if isinstance(expected, Ok):
        if got != 200:
            return f"got {describe(got)}, expected {describe(expected)}"
        text = body(response)
        leaked = [name for name in expected.hides if setup.markers[name] in text]
        absent = [name for name in expected.shows if setup.markers[name] not in text]
        if leaked or absent:
            return f"200, but it holds {leaked} it must not, and lacks {absent} it must hold"
        return None
    if isinstance(expected, To):
        if not isinstance(got, Went):
            return f"got {describe(got)}, expected {describe(expected)}"
        wanted = (
            reverse(expected.view, args=[setup.world.pk(key) for key in expected.target]) if expected.target else ""
        )
        if (got.view, got.error) != (expected.view, expected.error) or (wanted and got.path != wanted):
            return f"got {describe(got)}, expected {describe(expected)} {wanted}"
        return None
    return None if got == expected else f"got {describe(got)}, expected {describe(expected)}"


def _request(setup: Setup, row: Row, persona: str) -> Any:
    world = setup.world
    client = _client(world, persona) if row.fresh_client else setup.clients[persona]
    url = row.url(world, persona)
    data = row.data(world) if callable(row.data) else (row.data or {})
    response = getattr(client, row.method)(url, data)
    body(response)  # a file is read (and closed) now, whatever the case asserts
    client.cookies.pop("messages", None)  # what this request said is read from it; never shown to the next
    return response


# --- the cases -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("row", MATRIX, ids=[row.name for row in MATRIX])
def test_access_matrix(row: Row, persona: str, setup: Setup, db: None) -> None:
    response = _request(setup, row, persona)
    problem = verdict(response, row.expected[persona], setup)
    url = row.url(setup.world, persona)
    assert problem is None, f"{persona} {row.method.upper()} {url}: {problem}"


def test_every_row_names_every_persona() -> None:
    for row in MATRIX:
        assert set(row.expected) == set(PERSONAS), row.name
    assert len({row.name for row in MATRIX}) == len(MATRIX)


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


# The admin's own routes (Django's, one set per registered model) are not walked one by one: the admin site
# checks staff for all of them in one place; the rows above walk its index and the change lists of what it holds.
NOT_IN_MATRIX_PREFIXES = ("admin:",)


def test_the_matrix_walks_every_named_route(setup: Setup, db: None) -> None:
    walked = {resolve(urlsplit(row.url(setup.world, "admin")).path).view_name for row in MATRIX}
    missing = sorted(name for name in _named_routes() - walked if not name.startswith(NOT_IN_MATRIX_PREFIXES))
    assert not missing, f"routes no access case walks: {missing}"

"""Who sees which results: the leaderboard's readers, what of a release's evaluations a user sees, which
evaluation runs they may open, and whether an external judge's aggregates are shown to them (SECURITY.md, blind
labeling). The leaderboard pages and the evaluation page ask here, so the rule lives in one place."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from alignment.models import EvaluationRun, EvaluationStatus, JudgeKind, Judgement
from annotation.models import CampaignStatus, Item
from annotation.review import annotates_in_release, blind_response_ids, release_being_labeled
from benchmark.models import Release
from medes_site.roles import Role, has_role

AnyUser = AbstractBaseUser | AnonymousUser

READERS = (Role.ML_ENGINEER, Role.REVIEWER, Role.CURATOR, Role.ANNOTATOR)  # the leaderboard's readers


def shown(user: AnyUser, release: Release, *, public: bool) -> str:
    """What of a release's results this visitor sees: ``items`` (the item-by-item comparison too: reviewers and
    ML engineers who label none of its answers), else ``aggregates`` (annotators, curators, the public, and those
    who label some of its answers), or ``none`` for all of those while its answers are labeled in an active
    campaign."""
    reviews = not public and has_role(user, Role.REVIEWER, Role.ML_ENGINEER)
    if reviews and not annotates_in_release(user, release.pk):
        return "items"
    return "none" if release_being_labeled(release.pk) else "aggregates"


def evaluation_runs_for_user(user: AnyUser) -> QuerySet[EvaluationRun]:
    """The evaluation runs ``user`` may open: ML engineers (and administrators) every run, whatever its state;
    other leaderboard readers the succeeded ones, as the leaderboard lists them (a failed or running run says
    nothing about a model, and its error may name model paths or endpoint hosts)."""
    runs = EvaluationRun.objects.select_related("model", "release", "guardian")
    if has_role(user, Role.ML_ENGINEER):
        return runs
    if has_role(user, *READERS):
        return runs.filter(status=EvaluationStatus.SUCCEEDED)
    return runs.none()


def may_see_run_errors(user: AnyUser) -> bool:
    """A run's error text (model paths, endpoint hosts) is for ML engineers and administrators only."""
    return has_role(user, Role.ML_ENGINEER)


def external_visible(user: AnyUser, judge: str) -> bool:
    """Whether ``user`` may see the aggregates of ``judge``'s judgements (the blind rule, as for a release): not
    if they label any of the judged answers in a campaign (active or closed, whatever their roles); otherwise
    reviewers and ML engineers do, and others once no judged answer is labeled in an active campaign."""
    judged = Judgement.objects.filter(judge=JudgeKind.EXTERNAL, judge_model=judge)
    if judged.filter(response_id__in=blind_response_ids(user)).exists():
        return False
    if has_role(user, Role.REVIEWER, Role.ML_ENGINEER):
        return True
    labeled = Item.objects.filter(campaign__status=CampaignStatus.ACTIVE, response_id__in=judged.values("response_id"))
    return not labeled.exists()

"""Guardian versions: the training data from accepted labels, training as a job, promotion and rollback,
judging responses (DESIGN.md §2, §5; issue 5).

The training itself is alignment.training.guardian (plain Python, no Django): this module turns accepted
labels into its JSONL rows, runs it inside a job, and records the result as a GuardianVersion.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Max, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from alignment import promotion
from alignment.kinds import TRAIN_JOB
from alignment.models import GuardianVersion, JudgeKind, Judgement, ReviewDecision, VersionStatus
from alignment.runtime import critic_dir, version_dir
from alignment.training.critic import verify as verify_critic
from alignment.training.critic_feedback import FEEDBACK_KEYS
from alignment.training.errors import CheckpointError
from alignment.training.guardian import verify as verify_guardian
from annotation.models import AcceptedLabel, Provenance
from annotation.review import blind_response_ids, label_campaigns_for_user
from annotation.schema import MEDES_RUBRIC
from annotation.services import CampaignError, accept_guardian_review
from annotation.suggestions import Suggestion
from benchmark.models import Response
from medes_site import audit
from medes_site.jobs import JobError, enqueue_job
from medes_site.models import Job, JobStatus
from medes_site.storable import storable_data
from rubric import SCORE_KEYS

logger = logging.getLogger(__name__)
JUDGE_BATCH = 32


class GuardianError(ValueError):
    pass


# --- training data -------------------------------------------------------------------------------------


def training_labels() -> QuerySet[AcceptedLabel]:
    """Accepted labels of model responses that carry the six MedES scores (a scenario review's labels, or a
    campaign with another schema, are not guardian training data)."""
    return (
        AcceptedLabel.objects.filter(item__response__isnull=False)
        .filter(scores__has_key="R1")
        .select_related("item__scenario__scene", "item__response", "judgement")
        .prefetch_related("item__scenario__provisions__source")
        .order_by("pk")
    )


def training_rows(labels: Iterable[AcceptedLabel] | None = None) -> Iterator[dict[str, Any]]:
    """One row per accepted label, in the format alignment.training.guardian_data reads, with what the critic
    learns from besides (the rationale, the provisions the case cites, its reference answer, and the feedback
    a reviewer wrote, structured, when the label came from a reviewed judgement)."""
    for accepted in labels if labels is not None else training_labels().iterator(chunk_size=2000):
        scores = accepted.scores
        if not all(key in scores for key in SCORE_KEYS):
            continue
        item = accepted.item
        if item.response is None:  # a scenario review's label: not guardian data
            continue
        scenario = item.scenario
        judgement = getattr(accepted, "judgement", None)
        reviewed = (judgement.feedback or {}).get("reviewed") if judgement is not None else None
        yield {
            "id": f"accepted-{accepted.pk}",
            "scenario_id": str(item.scenario_id),
            "scene": scenario.scene.name,
            "norm": scenario.norm,
            "scenario": scenario.stem,
            "response": item.response.text,
            "scores": {key: int(scores[key]) for key in SCORE_KEYS},
            "provenance": accepted.provenance,
            "rationale": accepted.rationale,
            "reference_answer": scenario.reference_answer,
            "provisions": [f"《{p.source.title}》{p.label}" for p in scenario.provisions.all()],
            **({"feedback": reviewed} if reviewed else {}),
        }


def write_rows(rows: Iterable[dict[str, Any]], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n


# --- versions ----------------------------------------------------------------------------------------------


def artifacts_root() -> Path:
    return Path(settings.ARTIFACTS_ROOT)


def new_version(
    *, base_model: str, config: dict[str, Any], user: Any = None, job_id: int | None = None
) -> GuardianVersion:
    """A row for a training about to run; its number is the next free one (a unique constraint settles a race)."""
    with transaction.atomic():
        number = (GuardianVersion.objects.select_for_update().aggregate(n=Max("number"))["n"] or 0) + 1
        return GuardianVersion.objects.create(
            number=number,
            base_model=base_model,
            model_dir=f"guardian/v{number}",
            config=config,
            created_by=user if getattr(user, "pk", None) else None,
            job_id=job_id,
        )


def check_files(version: GuardianVersion) -> None:
    """Refuse a version whose trained files are missing, altered or not safetensors (the active one stays)."""
    try:
        verify_guardian(version_dir(version))
        if version.critic.get("model_dir"):
            verify_critic(critic_dir(version))
    except CheckpointError as error:
        raise GuardianError(
            _("Guardian v%(n)d cannot be made active: %(error)s") % {"n": version.number, "error": error}
        ) from None


def active_version() -> GuardianVersion | None:
    return GuardianVersion.objects.filter(is_active=True).first()


def require_active_version(error: Callable[[str], Exception] = GuardianError) -> GuardianVersion:
    """The active version; when none is, ``error`` (GuardianError, or the caller's own: JobError in a job,
    PipelineError in the align pipeline) saying so."""
    version = active_version()
    if version is None:
        raise error(_("No guardian version is active: train one and promote it first."))
    return version


class PromotionNeedsConfirmationError(GuardianError):
    """The version scores lower than the active one on the same split, or the two cannot be compared: the
    message names the drop (or says the splits differ); promoting again with ``confirm_drop=True`` and
    ``against`` = the active version the message was computed against goes ahead."""

    def __init__(self, check: Any) -> None:
        super().__init__(check.message())
        self.check = check


def promote(
    version: GuardianVersion,
    *,
    user: AbstractBaseUser | AnonymousUser | None = None,
    confirm_drop: bool = False,
    against: int | None = None,
) -> GuardianVersion:
    """Make ``version`` the only active one, in one transaction (a judging job reads either the old or the new
    active version, never none or two). Repeating it is a no-op. A version worse than the active one on the same
    split (macro-F1 or the risk flag's F1), or measured on another split, raises PromotionNeedsConfirmationError
    naming the drop (alignment.promotion) unless ``confirm_drop`` confirms it for the version active now:
    ``against`` is the pk of the active version the confirmed warning was computed against (``check.active_pk``
    of the error; None when none was active). If another version is active by now, it asks again."""
    with transaction.atomic():
        locked = GuardianVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != VersionStatus.READY:
            raise GuardianError(_("Only a trained (ready) version can be made active."))
        if locked.is_active:
            return locked
        check_files(locked)
        previous = GuardianVersion.objects.select_for_update().filter(is_active=True).first()
        found = promotion.check(locked, previous)
        confirmed = confirm_drop and against == (previous.pk if previous is not None else None)
        if found.needs_confirmation and not confirmed:
            raise PromotionNeedsConfirmationError(found)
        if previous is not None:
            GuardianVersion.objects.filter(pk=previous.pk).update(is_active=False)
        GuardianVersion.objects.filter(pk=locked.pk).update(is_active=True, promoted_at=timezone.now())
        details = {
            "version": locked.number,
            "previous": previous.number if previous else None,
            **({"confirmed": found.message()} if found.needs_confirmation else {}),
        }
        audit.record("guardian.promote", actor=user, obj=locked, details=details)
    locked.refresh_from_db()
    return locked


def rollback(*, user: AbstractBaseUser | AnonymousUser | None = None) -> GuardianVersion:
    """Make the version that was active before the current one active again (going back is itself the
    deliberate choice: no confirmation, unless another version became active while it ran)."""
    current = active_version()
    candidates = GuardianVersion.objects.filter(status=VersionStatus.READY, promoted_at__isnull=False)
    if current is not None:
        candidates = candidates.exclude(pk=current.pk)
    earlier = candidates.order_by("-promoted_at").first()
    if earlier is None:
        raise GuardianError(_("No earlier version was ever active: there is nothing to roll back to."))
    return promote(earlier, user=user, confirm_drop=True, against=current.pk if current is not None else None)


# --- judging -----------------------------------------------------------------------------------------------


def response_rows(responses: QuerySet[Response]) -> Iterator[dict[str, Any]]:
    for response in responses.select_related("scenario__scene").order_by("pk").iterator(chunk_size=1000):
        yield {
            "id": response.pk,
            "scene": response.scenario.scene.name,
            "norm": response.scenario.norm,
            "scenario": response.scenario.stem,
            "response": response.text,
        }


def uncertainty(probabilities: Mapping[str, float]) -> float | None:
    """How far the least certain score is from a coin toss: 0 means one score is at exactly 0.5."""
    return min((abs(float(p) - 0.5) for p in probabilities.values()), default=None)


GUARDIAN_FIELDS = ("judge", "probabilities", "scores", "risky", "uncertainty", "job", "feedback", "skipped_at")


def store_guardian_judgements(
    version: GuardianVersion, predictions: Iterable[dict[str, Any]], job_id: int | None
) -> int:
    """Write (or replace) this version's judgement of each predicted response; a reviewed one is kept. A batch
    costs the same few queries whatever its size: one locked read of the judgements it already has, one insert
    of the new ones, one update of those it replaces (per batch of rows the database takes in one statement)."""
    by_response = {int(prediction["id"]): prediction for prediction in predictions}  # the last one wins
    if not by_response:
        return 0
    try:
        return _store_guardian_batch(version, by_response, job_id)
    except IntegrityError:  # another job stored one of them meanwhile: the second try replaces it
        return _store_guardian_batch(version, by_response, job_id)


@transaction.atomic
def _store_guardian_batch(version: GuardianVersion, by_response: dict[int, dict[str, Any]], job_id: int | None) -> int:
    existing = {
        judgement.response_id: judgement
        for judgement in Judgement.objects.select_for_update()
        .filter(version=version, response_id__in=list(by_response))
        .only("pk", "response_id", "accepted_id", *GUARDIAN_FIELDS)
    }
    new: list[Judgement] = []
    replaced: list[Judgement] = []
    for response_id, prediction in by_response.items():
        judgement = existing.get(response_id)
        if judgement is not None and judgement.accepted_id is not None:
            continue  # a reviewer already stood behind it: judging again does not undo their work
        if judgement is None:
            judgement = Judgement(version=version, response_id=response_id)
            new.append(judgement)
        else:
            replaced.append(judgement)
        probabilities = prediction.get("probabilities", {})
        judgement.judge = JudgeKind.GUARDIAN
        judgement.probabilities = probabilities
        judgement.scores = prediction.get("scores")
        judgement.risky = prediction.get("risky")
        judgement.uncertainty = uncertainty(probabilities)
        judgement.job_id = job_id
        # a model's own words: a NUL in them would make the database refuse the row
        judgement.feedback = {"critic": storable_data(prediction["critic"])} if "critic" in prediction else {}
        judgement.skipped_at = None
    Judgement.objects.bulk_create(new)
    Judgement.objects.bulk_update(replaced, GUARDIAN_FIELDS)
    return len(new) + len(replaced)


def store_prompt_judgement(response_id: int, judge_model: str, result: Any, job_id: int | None) -> bool:
    """Write (or replace) the prompt judge's judgement of a response by this judge model; a reviewed one is
    kept. ``result`` is a prompt_judge.PromptJudgement: whatever could be read is stored — all six scores, the
    risk or the quality scores only, or None — with the problems of the replies that could not be read."""
    fields = {
        "scores": result.scores,
        "risky": result.risky,
        "probabilities": {},
        "uncertainty": None,
        "feedback": {"replies": result.replies},
        "problem": "; ".join(result.problems),
        "job_id": job_id,
        "skipped_at": None,  # a new judgement: back in its place in the review queue
    }
    with transaction.atomic():  # one row per response and judge model (a constraint); the lock keeps a review
        existing = (
            Judgement.objects.select_for_update()
            .filter(response_id=response_id, judge=JudgeKind.PROMPT, judge_model=judge_model)
            .first()
        )
        if existing is None:
            Judgement.objects.create(response_id=response_id, judge=JudgeKind.PROMPT, judge_model=judge_model, **fields)
            return True
        if existing.accepted_id is not None or existing.decision:
            return False
        Judgement.objects.filter(pk=existing.pk).update(**fields)
    return True


def chunks(rows: Iterable[dict[str, Any]], size: int = JUDGE_BATCH) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def suggestions(response_ids: list[int]) -> dict[int, Any]:
    """For annotation's screens (after the annotator has submitted): each response's newest readable judgement,
    the active guardian's first."""
    rows = (
        Judgement.objects.filter(response_id__in=response_ids, scores__isnull=False)
        .select_related("version")
        .order_by("response_id", F("version__is_active").desc(nulls_last=True), "-created_at", "-pk")
    )
    found: dict[int, Suggestion] = {}
    for judgement in rows:
        if judgement.response_id not in found and judgement.scores is not None:
            found[judgement.response_id] = Suggestion(judge_name(judgement), dict(judgement.scores), judgement.risky)
    return found


def judge_name(judgement: Judgement) -> str:
    """The judge as a name ("guardian v3", "prompt judge (qwen2.5-72b)"): stored in accepted labels' notes, so
    the same in every language, like a version number."""
    if judgement.version is not None:
        return f"guardian v{judgement.version.number}"
    if judgement.judge == JudgeKind.EXTERNAL:
        return f"external judge ({judgement.judge_model or '?'})"
    return f"prompt judge ({judgement.judge_model or '?'})"


# --- retraining by itself ----------------------------------------------------------------------------------


def retrain_config(version: GuardianVersion) -> dict[str, Any]:
    """A training job's config that trains ``version`` again on the current accepted labels: the same base,
    options and critic."""
    config = version.config or {}
    again: dict[str, Any] = {"base_model": version.base_model, **config.get("options", {})}
    if config.get("critic_base"):
        again["critic_base"] = config["critic_base"]
        again.update({f"critic_{key}": value for key, value in config.get("critic_options", {}).items()})
    return again


def maybe_retrain() -> Job | None:
    """When MEDES_GUARDIAN_RETRAIN_EVERY accepted labels arrived since the newest version was trained, start a
    training on the same base model, unless one is already queued or running. Returns the job it started."""
    every = int(getattr(settings, "MEDES_GUARDIAN_RETRAIN_EVERY", 0) or 0)
    if every <= 0:
        return None  # off (the default): not even a query
    newest = GuardianVersion.objects.exclude(status=VersionStatus.FAILED).order_by("-number").first()
    if newest is None:
        return None  # nothing to retrain from: the first version is started by a person, who names the base
    if Job.objects.filter(kind=TRAIN_JOB, status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).exists():
        return None
    if training_labels().count() - newest.labels < every:
        return None
    try:
        return enqueue_job(TRAIN_JOB, retrain_config(newest))
    except JobError as error:  # the base moved away, say: a person has to look
        logger.warning("automatic guardian retraining not started: %s", error)
        return None


# --- reviewing the guardian's judgements ---------------------------------------------------------------------

QUEUE_WINDOW = 500


def pending_judgements() -> QuerySet[Judgement]:
    """Judgements waiting for a reviewer: the guardian's and the prompt judge's with all six scores (a prompt
    judgement with only its risk or quality reply read is stored, and counted where it was read, but not offered
    for review); an external judge's imported ones are not ours to review."""
    return (
        Judgement.objects.filter(accepted__isnull=True, scores__has_keys=list(SCORE_KEYS), decision="")
        .exclude(judge=JudgeKind.EXTERNAL)
        .select_related("response__scenario__scene", "response__model", "version")
    )


def expert_labels(user: Any = None) -> QuerySet[AcceptedLabel]:
    """Accepted labels experts made (consensus or adjudication); with ``user``, only those of campaigns where the
    user may see labels (annotation.review's blind rule: on their review side, and not annotating there)."""
    labels = AcceptedLabel.objects.exclude(provenance=Provenance.GUARDIAN_REVIEWED)
    return labels if user is None else labels.filter(item__campaign__in=label_campaigns_for_user(user))


def expert_scores(response_ids: Iterable[int], user: Any = None) -> dict[int, dict[str, int]]:
    """The experts' accepted scores of these responses (those ``user`` may see, with ``user``)."""
    rows = expert_labels(user).filter(item__response_id__in=list(response_ids))
    return {response: dict(scores) for response, scores in rows.values_list("item__response_id", "scores")}


def judgements_for_reviewer(user: Any) -> QuerySet[Judgement]:
    """The judgements ``user`` may review: those with all six scores (see ``pending_judgements``) and not an
    external judge's, none on a response being labeled in a campaign they annotate in (its guardian scores,
    expert labels and model stay hidden from them: blind labeling)."""
    return (
        Judgement.objects.filter(scores__has_keys=list(SCORE_KEYS))
        .exclude(judge=JudgeKind.EXTERNAL)
        .exclude(response_id__in=blind_response_ids(user))
    )


def review_queue(user: Any = None, limit: int = QUEUE_WINDOW) -> list[Judgement]:
    """Pending judgements, those that disagree with an expert's accepted label first, then the least certain.
    The window is the least certain ``limit`` plus every one with an expert label to compare with. With
    ``user``, only the judgements that user may review."""
    pending = pending_judgements()
    if user is not None:
        pending = pending.exclude(response_id__in=blind_response_ids(user))
    with_expert = expert_labels(user).filter(item__response_id=OuterRef("response_id"))
    first = pending.order_by(F("skipped_at").asc(nulls_first=True), F("uncertainty").asc(nulls_last=True), "pk")
    window = {j.pk: j for j in first[:limit]}
    window.update({j.pk: j for j in pending.filter(Exists(with_expert))[:limit]})
    experts = expert_scores((j.response_id for j in window.values()), user)
    for judgement in window.values():
        expert = experts.get(judgement.response_id)
        judgement.expert_scores = expert  # type: ignore[attr-defined]
        judgement.disagrees = expert is not None and expert != judgement.scores  # type: ignore[attr-defined]

    def order(j: Judgement) -> tuple[bool, float, bool, float, int]:
        put_off = j.skipped_at.timestamp() if j.skipped_at else 0.0  # put off ones last, the oldest first
        certainty = j.uncertainty if j.uncertainty is not None else 0.5  # a prompt judge has no probabilities
        return (j.skipped_at is not None, put_off, not j.disagrees, certainty, j.pk)  # type: ignore[attr-defined]

    return sorted(window.values(), key=order)


def feedback_text(feedback: Mapping[str, str]) -> str:
    """The feedback as an accepted label's rationale: what is wrong, then the warning on a "警示：" line (the
    form alignment.training.critic_data.split_rationale reads back)."""
    problem, warning = feedback.get("problem", "").strip(), feedback.get("risk_warning", "").strip()
    return "\n".join([*([problem] if problem else []), *([f"警示：{warning}"] if warning else [])])


def accept_judgement(
    judgement: Judgement,
    reviewer: Any,
    scores: Mapping[str, Any],
    *,
    feedback: Mapping[str, str] | None = None,
    note: str = "",
) -> AcceptedLabel:
    """A reviewer stands behind a judgement, as it is or corrected: it becomes an accepted label (provenance
    "guardian, reviewed by …") that the next training uses; the feedback as the reviewer left it (the critic's,
    edited) is kept on the judgement and, as labeled lines, as the accepted label's rationale. The label itself is
    written by annotation (``annotation.services.accept_guardian_review``)."""
    cleaned = MEDES_RUBRIC.validate(scores)

    given = {key: str((feedback or {}).get(key, "")).strip() for key in FEEDBACK_KEYS}
    reviewed = given if any(given.values()) else {}  # all four parts, empty ones too (the critic's schema has them)
    with transaction.atomic():
        locked = Judgement.objects.select_for_update().get(pk=judgement.pk)
        if locked.accepted_id is not None or locked.decision:
            raise GuardianError(_("This judgement was reviewed already."))
        decision = ReviewDecision.AGREED if cleaned == locked.scores else ReviewDecision.CORRECTED
        try:
            accepted = accept_guardian_review(
                locked.response,
                reviewer,
                cleaned,
                rationale=feedback_text(reviewed),
                note=note.strip() or f"{judge_name(locked)} · {decision}",
            )
        except CampaignError as error:  # the response has a reviewed label already (from another judgement)
            raise GuardianError(str(error)) from None
        Judgement.objects.filter(pk=locked.pk).update(
            accepted=accepted,
            decision=decision,
            reviewed_by=reviewer,
            reviewed_at=timezone.now(),
            feedback={**locked.feedback, "reviewed": reviewed} if reviewed else locked.feedback,
        )
        audit.record(
            "guardian.review", actor=reviewer, obj=locked, details={"decision": decision, "accepted": accepted.pk}
        )
    return accepted


def skip_judgement(judgement: Judgement) -> None:
    """Not now: the judgement goes to the back of the queue, behind those put off earlier."""
    Judgement.objects.filter(pk=judgement.pk, accepted__isnull=True).update(skipped_at=timezone.now())

"""The guardian's Django side: training rows from accepted labels, a training job that records a version with
its metrics, promotion (exactly one active, atomic) and rollback, and a judging job with the active version."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation

from alignment import services
from alignment.kinds import JUDGE_JOB, TRAIN_JOB
from alignment.models import GuardianVersion, Judgement, VersionStatus
from annotation.assignments import next_assignment
from annotation.models import AcceptedLabel, CampaignStatus, ItemState, MemberRole, Provenance
from annotation.services import GUARDIAN_REVIEWS, Submission, add_members, submit_label
from benchmark.models import Response
from medes_site.jobs import JobError, enqueue_job, execute_job
from medes_site.models import AuditEntry, Job, JobStatus
from tests.factories import Personas, ready_version, tiny_classifier
from tests.guardian_synth import trained_guardian
from tests.labeling_fixtures import RISKY, SAFE, build_campaign, labeled_campaign

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")


def test_training_rows_carry_the_texts_and_scores_of_accepted_response_labels(personas: Personas) -> None:
    campaign = labeled_campaign(personas, scenarios=2)
    rows = list(services.training_rows())
    assert len(rows) == AcceptedLabel.objects.filter(item__campaign=campaign).count() == 4
    risky = [row for row in rows if row["scores"]["R1"] == -1]
    assert len(risky) == 2 and all(row["response"].startswith("可以，没问题") for row in risky)
    assert all(row["scene"] and row["norm"] == "知情同意与禁止买卖" and "病例" in row["scenario"] for row in rows)
    from alignment.training.guardian_data import parse_rows

    assert len(parse_rows(rows)) == 4  # the training code reads them as they are


def test_promotion_keeps_exactly_one_version_active_and_rollback_restores_the_previous(personas: Personas) -> None:
    first, second = ready_version(1), ready_version(2)
    training = GuardianVersion.objects.create(number=3, base_model="/x", model_dir="guardian/v3")
    services.promote(first, user=personas.ml_engineer)
    services.promote(second, user=personas.ml_engineer)
    assert list(GuardianVersion.objects.filter(is_active=True)) == [second]
    assert services.promote(second).is_active  # repeating is a no-op
    assert AuditEntry.objects.filter(action="guardian.promote").count() == 2
    with translation.override("en"), pytest.raises(services.GuardianError, match="Only a trained"):
        services.promote(training)
    assert services.rollback(user=personas.ml_engineer) == first
    assert list(GuardianVersion.objects.filter(is_active=True)) == [first]
    with pytest.raises(IntegrityError), transaction.atomic():  # the database itself refuses two active versions
        GuardianVersion.objects.filter(pk=second.pk).update(is_active=True)


def test_a_version_whose_files_were_altered_or_removed_is_not_made_active(personas: Personas) -> None:
    first, second, third = ready_version(1), ready_version(2), ready_version(3)
    services.promote(first)
    adapter = services.version_dir(second) / "adapter" / "adapter_model.safetensors"
    adapter.write_bytes(adapter.read_bytes()[:-8] + b"\0" * 8)
    with translation.override("en"), pytest.raises(services.GuardianError, match=r"v2 cannot be made .*corrupted"):
        services.promote(second)
    shutil.rmtree(services.version_dir(third))
    with translation.override("en"), pytest.raises(services.GuardianError, match="v3 cannot be made active"):
        services.promote(third)
    assert list(GuardianVersion.objects.filter(is_active=True)) == [first]  # the active version stays
    third.critic = {"model_dir": "guardian/v1/critic", "base_model": "/c"}  # a critic whose files are missing
    third.save(update_fields=["critic"])
    shutil.copytree(trained_guardian(), services.version_dir(third))
    with translation.override("en"), pytest.raises(services.GuardianError, match="critic"):
        services.promote(third)
    assert GuardianVersion.objects.get(is_active=True) == first


def test_rollback_without_an_earlier_version_says_so(db: None) -> None:
    services.promote(ready_version(1))
    with translation.override("en"), pytest.raises(services.GuardianError, match="nothing to roll back"):
        services.rollback()


def test_a_training_job_records_a_version_that_can_be_promoted_and_judge(
    personas: Personas, tmp_path: Path, settings: Any
) -> None:
    settings.ARTIFACTS_ROOT = str(tmp_path / "artifacts")
    settings.MEDES_DEVICE = "cpu"
    labeled_campaign(personas, scenarios=8)  # 16 accepted labels
    base = tiny_classifier(tmp_path / "base", extra_corpus=["可以，没问题。", "应当拒绝并说明风险。"])
    with translation.override("en"), pytest.raises(JobError, match="base model directory"):
        enqueue_job(TRAIN_JOB, {"base_model": str(tmp_path / "missing")}, user=personas.ml_engineer)
    job = enqueue_job(TRAIN_JOB, {"base_model": str(base), "epochs": "2", "batch_size": "4"}, user=personas.ml_engineer)
    assert execute_job(job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    version = GuardianVersion.objects.get()
    assert version.status == VersionStatus.READY and version.labels == 16 and len(version.data_hash) == 64
    assert 0 <= version.metrics["risk"]["accuracy"] <= 1 and version.baseline is None
    assert (services.version_dir(version) / "guardian.json").is_file()
    assert not version.is_active  # an ml_engineer decides
    with translation.override("en"), pytest.raises(JobError, match="No guardian version is active"):
        enqueue_job(JUDGE_JOB, {"responses": list(Response.objects.values_list("pk", flat=True))})
    services.promote(version)
    responses = list(Response.objects.values_list("pk", flat=True))
    judging = enqueue_job(JUDGE_JOB, {"responses": responses}, user=personas.ml_engineer)
    assert execute_job(judging.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=judging.pk).error
    judgements = Judgement.objects.filter(version=version)
    assert judgements.count() == len(responses)
    one = judgements.first()
    assert one is not None and set(one.probabilities) == {"R1", "R2", "Q1", "Q2", "Q3", "Q4"}
    assert set(one.scores or {}) == set(one.probabilities) and one.risky in (True, False)
    # judging again replaces, never duplicates
    again = enqueue_job(JUDGE_JOB, {"responses": responses}, user=personas.ml_engineer)
    assert execute_job(again.pk) == JobStatus.SUCCEEDED
    assert Judgement.objects.filter(version=version).count() == len(responses)
    # the next training is compared with the active version on its own test split
    second = enqueue_job(TRAIN_JOB, {"base_model": str(base), "epochs": "1"}, user=personas.ml_engineer)
    assert execute_job(second.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=second.pk).error
    newer = GuardianVersion.objects.get(number=2)
    assert newer.baseline is not None and "metrics" in newer.baseline


def test_too_few_labels_fail_the_training_with_a_reason(personas: Personas, tmp_path: Path, settings: Any) -> None:
    settings.ARTIFACTS_ROOT = str(tmp_path / "artifacts")
    base = tiny_classifier(tmp_path / "base")
    job = enqueue_job(TRAIN_JOB, {"base_model": str(base)}, user=personas.ml_engineer)
    with translation.override("en"):
        assert execute_job(job.pk) == JobStatus.FAILED
    assert "too few to train on" in Job.objects.get(pk=job.pk).error
    assert not GuardianVersion.objects.exists()


def test_the_commands_and_the_admin_train_promote_and_judge(
    personas: Personas, tmp_path: Path, settings: Any, client_as: Any
) -> None:
    settings.ARTIFACTS_ROOT = str(tmp_path / "artifacts")
    settings.MEDES_DEVICE = "cpu"
    campaign = labeled_campaign(personas, scenarios=6)  # 12 accepted labels
    base = tiny_classifier(tmp_path / "base")
    with translation.override("en"), pytest.raises(CommandError, match="base model directory"):
        call_command("train_guardian", "--base", str(tmp_path / "missing"), "--here")
    out = io.StringIO()
    call_command("train_guardian", "--base", str(base), "--epochs", "1", "--here", stdout=out)
    assert "guardian v1 ready" in out.getvalue()
    version = GuardianVersion.objects.get()
    admin = client_as(personas.admin)
    changelist = reverse("admin:alignment_guardianversion_changelist")
    admin.post(changelist, {"action": "promote", "_selected_action": [version.pk]})
    assert GuardianVersion.objects.get().is_active
    admin.post(changelist, {"action": "retrain", "_selected_action": [version.pk]})
    queued = Job.objects.filter(kind=TRAIN_JOB, status=JobStatus.QUEUED).get()
    assert queued.config["base_model"] == str(base) and queued.triggered_by == personas.admin
    with pytest.raises(CommandError, match="no campaign named"):
        call_command("judge", "--campaign", "nope", "--here")
    out = io.StringIO()
    call_command("judge", "--campaign", campaign.name, "--here", stdout=out)
    assert f"judged {campaign.items.count()} responses with guardian v1" in out.getvalue()
    assert Judgement.objects.filter(version=version).count() == campaign.items.count()


def _metrics(probability: float) -> dict[str, Any]:
    """Real metrics (compute_metrics) of four test rows, at a given confidence."""
    from alignment.training.guardian_metrics import compute_metrics
    from rubric import FLAG_VALUE

    gold = [SAFE, RISKY, SAFE, RISKY]
    records = [
        {
            "id": str(n),
            "gold": g,
            "probabilities": {k: probability if g[k] == FLAG_VALUE[k] else 1 - probability for k in g},
        }
        for n, g in enumerate(gold)
    ]
    return compute_metrics(records)


def test_the_guardian_page_shows_versions_beside_the_active_one_and_ml_engineers_act_on_it(
    personas: Personas, client_as: Any, tmp_path: Path
) -> None:
    old = ready_version(1, metrics=_metrics(0.6), labels=40)
    services.promote(old)
    new = ready_version(
        2, metrics=_metrics(0.9), baseline={"model_dir": "guardian/v1", "metrics": _metrics(0.2)}, labels=60
    )
    reviewer = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    page = reviewer.get(reverse("alignment:guardian")).content.decode()
    assert 'data-version="2"' in page and 'data-version="1" class="active"' in page
    assert 'data-testid="train"' not in page  # reviewers read, ML engineers act
    detail = reviewer.get(reverse("alignment:guardian_version", args=[2])).content.decode()
    # v2 is right on all four rows; v1, on the same split at 0.2 confidence, gets every flag wrong
    # shown through medes_format's num (no trailing zeros); the attribute keeps the figure for scripts
    assert '<td data-figure="accuracy" data-value="1.000">1 <span class="muted">(0)</span>' in detail
    assert 'data-confusion="risk"' in detail and 'data-testid="promote"' not in detail
    ml = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en")
    assert ml.post(reverse("alignment:guardian_promote", args=[2])).status_code == 302
    assert GuardianVersion.objects.get(is_active=True) == new
    assert ml.post(reverse("alignment:guardian_rollback")).status_code == 302
    assert GuardianVersion.objects.get(is_active=True) == old
    # training from the page: a missing base is refused with the reason; a real one starts one job per form
    refused = ml.post(
        reverse("alignment:guardian_train"),
        {
            "base_model": str(tmp_path / "none"),
            "epochs": 1,
            "learning_rate": 0.001,
            "batch_size": 4,
            "max_length": 64,
            "lora_r": 4,
            "request_key": "k1",
        },
    )
    assert refused.status_code == 400 and "base model directory" in refused.content.decode()
    base = tiny_classifier(tmp_path / "base")
    form = {
        "base_model": str(base),
        "epochs": 1,
        "learning_rate": 0.001,
        "batch_size": 4,
        "max_length": 64,
        "lora_r": 4,
        "request_key": "k2",
    }
    first, again = (
        ml.post(reverse("alignment:guardian_train"), form),
        ml.post(reverse("alignment:guardian_train"), form),
    )
    job = Job.objects.get(kind=TRAIN_JOB)
    assert first["Location"] == again["Location"] == reverse("jobs:detail", args=[job.pk])
    assert job.config["base_model"] == str(base) and job.config["options"]["lora_r"] == 4
    # judging from the page needs a campaign or a model
    assert ml.post(reverse("alignment:guardian_judge"), {"request_key": "j1"}).status_code == 400


def test_enough_new_accepted_labels_start_a_training_by_themselves(
    personas: Personas, settings: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MEDES_GUARDIAN_RETRAIN_EVERY = 3
    with django_capture_on_commit_callbacks() as callbacks:
        labeled_campaign(personas, scenarios=1)  # 2 accepted labels
    assert services.maybe_retrain in callbacks  # each new accepted label asks, once its transaction commits
    assert services.maybe_retrain() is None  # no version yet: the first training is a person's to start
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    labeled = services.training_labels().count()
    GuardianVersion.objects.create(
        number=1,
        base_model=str(base),
        model_dir="guardian/v1",
        labels=labeled,
        status=VersionStatus.READY,
        config={"options": {"epochs": 2.0}},
    )
    assert services.maybe_retrain() is None  # nothing new since v1
    labeled_campaign(personas, scenarios=1, name="More")
    added = services.training_labels().count() - labeled
    settings.MEDES_GUARDIAN_RETRAIN_EVERY = added + 1
    assert added > 0 and services.maybe_retrain() is None  # one short
    labeled_campaign(personas, scenarios=1, name="Even more")
    job = services.maybe_retrain()
    assert job is not None and job.kind == TRAIN_JOB
    assert job.config == {"base_model": str(base), "options": {"epochs": 2.0}}
    assert services.maybe_retrain() is None  # one training at a time
    settings.MEDES_GUARDIAN_RETRAIN_EVERY = 0
    Job.objects.all().delete()
    assert services.maybe_retrain() is None  # switched off


def _judged(personas: Personas) -> tuple[GuardianVersion, list[Judgement]]:
    """Four responses (two cases × two models), two of them with an expert's accepted label; the guardian
    judged all four, right on one expert item, wrong on the other."""
    campaign = build_campaign([personas.annotator], scenarios=2, overlap=1)
    add_members(campaign, [personas.reviewer], MemberRole.REVIEWER)  # the expert labels are on their review side
    for _ in range(2):
        assignment = next_assignment(campaign, personas.annotator)
        assert assignment is not None
        submit_label(assignment.item, personas.annotator, Submission(SAFE, idempotency_key=f"e{assignment.pk}"))
    expert = set(AcceptedLabel.objects.values_list("item__response_id", flat=True))
    version = ready_version(1)
    judged: list[Judgement] = []
    for response in Response.objects.order_by("pk"):
        in_expert = response.pk in expert
        first_expert = in_expert and not any(j.response_id in expert for j in judged)
        scores = RISKY if first_expert else SAFE  # on the first expert item the guardian disagrees
        margin = {True: 0.45, False: 0.1 if len(judged) == 3 else 0.3}[in_expert]
        probabilities = dict.fromkeys(scores, 0.5 + margin)
        judged.append(
            Judgement.objects.create(
                response=response,
                judge="guardian",
                version=version,
                probabilities=probabilities,
                scores=scores,
                risky=scores == RISKY,
                uncertainty=services.uncertainty(probabilities),
            )
        )
    return version, judged


def test_the_review_queue_puts_disagreements_first_then_the_least_certain(personas: Personas) -> None:
    _version, judged = _judged(personas)
    queue = services.review_queue()
    disagreeing = [j for j in judged if j.scores == RISKY]
    assert queue[0] == disagreeing[0] and queue[0].disagrees  # type: ignore[attr-defined]
    rest = [j.pk for j in queue[1:]]
    by_certainty = sorted((j for j in judged if j not in disagreeing), key=lambda j: (j.uncertainty, j.pk))
    assert rest == [j.pk for j in by_certainty]
    services.skip_judgement(queue[0])
    assert services.review_queue()[-1].pk == queue[0].pk  # "not now" sends it to the back


def test_a_reviewed_judgement_becomes_an_accepted_label_the_next_training_uses(
    personas: Personas, client_as: Any
) -> None:
    version, _judgements = _judged(personas)
    reviewer = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    first = reviewer.get(reverse("alignment:guardian_review_next"))
    assert first.status_code == 302
    target = services.review_queue()[0]
    assert first["Location"] == reverse("alignment:guardian_review", args=[target.pk])
    page = reviewer.get(first["Location"]).content.decode()
    assert 'data-testid="has-expert"' in page and 'class="disagree"' in page and 'data-shortcut="1"' in page
    # the reviewer corrects the guardian (R1 back to 0) and rewrites the feedback
    form = {f"s-{k}": v for k, v in SAFE.items()} | {
        "rationale": "回答稳妥，无需警示。",
        "safe_answer": "应当拒绝。",
        "note": "",
    }
    assert reviewer.post(first["Location"], form).status_code == 302
    corrected = Judgement.objects.get(pk=target.pk)
    assert corrected.decision == "corrected" and corrected.reviewed_by == personas.reviewer
    assert corrected.accepted is not None and corrected.accepted.scores == SAFE
    assert corrected.accepted.provenance == "guardian_reviewed" and corrected.accepted.decided_by == personas.reviewer
    # the next one, agreed to as it is
    nxt = services.review_queue()[0]
    agreed_form = {f"s-{k}": v for k, v in (nxt.scores or {}).items()} | {"rationale": "", "note": "同意"}
    assert reviewer.post(reverse("alignment:guardian_review", args=[nxt.pk]), agreed_form).status_code == 302
    assert Judgement.objects.get(pk=nxt.pk).decision == "agreed"
    # twice is refused with the reason; a missing score is 400
    again = reviewer.post(reverse("alignment:guardian_review", args=[nxt.pk]), agreed_form)
    assert again.status_code == 409 and "reviewed already" in again.content.decode()
    pending = services.review_queue()[0]
    missing = reviewer.post(reverse("alignment:guardian_review", args=[pending.pk]), {"s-R1": "0"})
    assert missing.status_code == 400 and not Judgement.objects.get(pk=pending.pk).decision
    # both feed the next training; judging again does not undo a review
    rows = {row["id"]: row for row in services.training_rows()}
    assert rows[f"accepted-{corrected.accepted.pk}"]["scores"] == SAFE
    assert rows[f"accepted-{corrected.accepted.pk}"]["provenance"] == "guardian_reviewed"
    # the critic learns the reviewer's words: the parts they wrote, the case's provision where they named none
    from alignment.training.critic_data import target_feedback

    row = rows[f"accepted-{corrected.accepted.pk}"]
    assert row["feedback"] == {
        "provision": "",
        "problem": "回答稳妥，无需警示。",
        "risk_warning": "",
        "safe_answer": "应当拒绝。",
    }
    assert corrected.accepted.rationale == "回答稳妥，无需警示。"
    feedback, source, _problem = target_feedback(row)
    assert len(row["provisions"]) == 1 and row["provisions"][0].startswith("《人类辅助生殖技术管理办法》第")
    assert source == "merged" and feedback == {
        "provision": row["provisions"][0],
        "problem": "回答稳妥，无需警示。",
        "risk_warning": "",
        "safe_answer": "应当拒绝。",
    }
    services.store_guardian_judgements(
        version, [{"id": corrected.response_id, "probabilities": {}, "scores": RISKY}], None
    )
    assert Judgement.objects.get(pk=corrected.pk).scores == RISKY  # (the stored guardian scores of that judgement)
    assert Judgement.objects.get(pk=corrected.pk).accepted is not None
    assert client_as(personas.annotator).get(reverse("alignment:guardian_review_next")).status_code == 403


def test_a_response_gets_one_reviewed_guardian_label_written_by_annotation(personas: Personas) -> None:
    _version, judged = _judged(personas)
    first = services.accept_judgement(judged[0], personas.reviewer, SAFE)
    item = first.item
    assert (item.campaign.name, item.campaign.status, item.state, item.position) == (
        GUARDIAN_REVIEWS,
        CampaignStatus.CLOSED,
        ItemState.ADJUDICATED,
        1,
    )
    assert (first.provenance, first.decided_by, item.response_id) == (
        Provenance.GUARDIAN_REVIEWED,
        personas.reviewer,
        judged[0].response_id,
    )
    # the prompt judge's judgement of the same response: refused with the reason, nothing written or marked
    twin = Judgement.objects.create(response=judged[0].response, judge="prompt", judge_model="qwen", scores=RISKY)
    with translation.override("en"), pytest.raises(services.GuardianError, match="already has a reviewed guardian"):
        services.accept_judgement(twin, personas.reviewer, RISKY)
    assert not Judgement.objects.get(pk=twin.pk).decision and AcceptedLabel.objects.filter(item=item).count() == 1
    second = services.accept_judgement(judged[1], personas.reviewer, RISKY, note="改判")
    assert (second.item.campaign, second.item.position, second.note) == (item.campaign, 2, "改判")

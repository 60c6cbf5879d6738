"""The critic inside the guardian's jobs (issue 5, item 3): a training job with a critic base trains the
feedback writer on the accepted labels' rationales beside the scorer; a judging job with that version stores,
per response, either feedback that passes the schema or the raw output marked unparseable; the review screen
shows which."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation

from alignment import services
from alignment.kinds import JUDGE_JOB, TRAIN_JOB
from alignment.models import GuardianVersion, Judgement
from alignment.training.critic_feedback import FEEDBACK_KEYS, schema_problems
from annotation.assignments import next_assignment
from annotation.services import Submission, submit_label
from benchmark.models import Response, Scenario
from medes_site.jobs import JobError, enqueue_job, execute_job
from medes_site.models import Job, JobStatus
from tests.factories import Personas, tiny_classifier, tiny_qwen2
from tests.labeling_fixtures import RISKY, SAFE, build_campaign

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

REFERENCE = "不能买卖胚胎。"
RISKY_WHY = "同意买卖。\n警示：违法。"
SAFE_WHY = "拒绝，稳妥。"


def test_a_version_trained_with_a_critic_writes_schema_checked_feedback_when_judging(
    personas: Personas, tmp_path: Path, settings: Any, client_as: Any
) -> None:
    settings.ARTIFACTS_ROOT = str(tmp_path / "artifacts")
    settings.MEDES_DEVICE = "cpu"
    # the job row exists only inside this test's transaction, which the heartbeat thread's own connection
    # cannot see (it would take the job for superseded); a real worker's rows are committed
    settings.MEDES_JOB_HEARTBEAT_SECONDS = 3600
    campaign = build_campaign([personas.annotator], scenarios=6, overlap=1)
    Scenario.objects.update(reference_answer=REFERENCE)
    skipped = 0
    while (assignment := next_assignment(campaign, personas.annotator)) is not None:
        risky = "没问题" in (assignment.item.response.text if assignment.item.response else "")
        why = RISKY_WHY if risky else SAFE_WHY
        if assignment.item.position == 1:  # one label without a rationale: nothing for the critic to learn
            why, skipped = "", 1
        submission = Submission(RISKY if risky else SAFE, rationale=why, idempotency_key=f"c{assignment.pk}")
        submit_label(assignment.item, personas.annotator, submission)
    base = tiny_classifier(tmp_path / "scorer", extra_corpus=["可以，没问题。", "应当拒绝并说明风险。"])
    critic_base = tiny_qwen2(tmp_path / "critic", extra_corpus=[REFERENCE, RISKY_WHY, SAFE_WHY], logit_scale=10)
    with translation.override("en"), pytest.raises(JobError, match="critic's base"):
        enqueue_job(TRAIN_JOB, {"base_model": str(base), "critic_base": str(tmp_path / "none")})
    critic_options = {
        "max_steps": "100",
        "learning_rate": "0.01",
        "lora_r": "16",
        "lora_alpha": "32",
        "lora_dropout": "0",
        "target_modules": "all-linear",
        "max_new_tokens": "300",
    }
    config = {
        "base_model": str(base),
        "epochs": "1",
        "critic_base": str(critic_base),
        **{f"critic_{key}": value for key, value in critic_options.items()},
    }
    job = enqueue_job(TRAIN_JOB, config, user=personas.ml_engineer)
    assert execute_job(job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    version = GuardianVersion.objects.get()
    critic = version.critic
    assert critic["base_model"] == str(critic_base) and critic["model_dir"] == "guardian/v1/critic"
    assert critic["counts"]["used"] == 12 - skipped and critic["counts"]["from_rationale"] == 12 - skipped
    assert critic["steps"] == 100 and critic["last_loss"] < critic["first_loss"]
    assert (services.version_dir(version) / "critic" / "critic.json").is_file()
    # retraining keeps the critic: the admin's action and automatic retraining ask for the same
    again = services.retrain_config(version)
    assert again["critic_base"] == str(critic_base) and again["critic_max_steps"] == 100

    services.promote(version)
    responses = list(Response.objects.values_list("pk", flat=True))
    judging = enqueue_job(JUDGE_JOB, {"responses": responses}, user=personas.ml_engineer)
    assert execute_job(judging.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=judging.pk).error
    judgements = list(Judgement.objects.filter(version=version))
    assert len(judgements) == len(responses) == 12
    statuses = {"ok": 0, "unparseable": 0}
    for judgement in judgements:
        written = judgement.feedback["critic"]
        statuses[written["status"]] += 1
        if written["status"] == "ok":  # stored only when it passes the schema, never repaired
            assert schema_problems(written["feedback"]) == [] and set(written["feedback"]) == set(FEEDBACK_KEYS)
        else:
            assert written["problem"] and "raw" in written and "feedback" not in written
    assert Job.objects.get(pk=judging.pk).metrics["feedback_unparseable"] == statuses["unparseable"]
    # the review screen starts from the critic's feedback, or says it could not be read and shows the raw text
    reviewer = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    # (a tiny random critic after 100 steps mostly writes almost-JSON; one judgement is given feedback that
    # passes the schema, as a well-trained critic writes, to show that side of the screen too)
    readable = {
        "provision": "《人类辅助生殖技术管理办法》第2条",
        "problem": "同意买卖。",
        "risk_warning": "违法。",
        "safe_answer": REFERENCE,
    }
    assert schema_problems(readable) == []
    Judgement.objects.filter(pk=judgements[0].pk).update(feedback={"critic": {"status": "ok", "feedback": readable}})
    judgements[0].refresh_from_db()
    for judgement in judgements[:4]:
        page = reviewer.get(reverse("alignment:guardian_review", args=[judgement.pk])).content.decode()
        written = judgement.feedback["critic"]
        if written["status"] == "ok":
            assert 'data-testid="critic-ok"' in page and 'data-testid="critic-raw"' not in page
            assert f'value="{written["feedback"]["provision"]}"' in page and "违法。</textarea>" in page
        else:
            assert 'data-testid="critic-unparseable"' in page and 'data-testid="critic-raw"' in page
    # the version page says what the critic learned from
    ml = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en")
    page = ml.get(reverse("alignment:guardian_version", args=[version.number])).content.decode()
    assert (
        f"<code>{critic_base}</code>" in page and "11 of 12" in page and "no rationale and no valid feedback 1" in page
    )


def test_a_critics_module_list_survives_retraining(tmp_path: Path) -> None:
    from alignment.kinds.train_guardian import validate_train

    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    first = validate_train(
        {"base_model": str(base), "critic_base": str(base), "critic_target_modules": "q_proj, v_proj"}
    )
    assert first["critic_options"] == {"target_modules": ["q_proj", "v_proj"]}
    version = GuardianVersion(number=1, base_model=str(base), model_dir="guardian/v1", config=first)
    again = validate_train(services.retrain_config(version))
    assert again == first

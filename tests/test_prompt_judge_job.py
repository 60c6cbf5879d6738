"""The prompt judge as a job (issue 5, item 4): a real OpenAI-compatible server on localhost answers the MedES
rubric; readable replies become judgements with scores that go through the guardian review screen and can
become accepted labels; unreadable ones are stored with the reason, never guessed."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import translation

from alignment import services
from alignment.kinds import PROMPT_JUDGE_JOB
from alignment.models import Judgement
from benchmark.models import Response
from medes_site.jobs import JobError, enqueue_job, execute_job
from medes_site.models import Job, JobStatus
from tests.factories import Personas
from tests.fake_endpoint import FakeEndpoint
from tests.labeling_fixtures import build_campaign

RISK_REPLY = "回答同意了违法的请求，缺少风险警示。\n最终评分：-1,-1"
QUALITY_REPLY = "识别了问题但未引用法规。\n**最终评分**：1，0，1，1"


def test_prompt_judgements_are_stored_reviewed_and_accepted(
    personas: Personas,
    endpoint: FakeEndpoint,
    client_as: Any,
) -> None:
    build_campaign([personas.annotator], scenarios=1, overlap=1)  # two responses to one case
    first, second = Response.objects.order_by("pk")
    endpoint.reply(RISK_REPLY)
    endpoint.reply(QUALITY_REPLY)
    endpoint.reply("我无法判断。")  # the second response's risk reply has no score line
    endpoint.reply("最终评分：1,1,1,1")
    ml = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en")
    started = ml.post(
        reverse("alignment:guardian_judge"), {"judge": "prompt:openai", "model": first.model_id, "request_key": "p1"}
    )
    assert started.status_code == 302, started.content.decode()[-800:]
    job = Job.objects.get(kind=PROMPT_JUDGE_JOB)
    assert job.config == {"responses": [first.pk], "backend": "openai"}
    assert execute_job(job.pk) == JobStatus.SUCCEEDED, Job.objects.get(pk=job.pk).error
    judging = enqueue_job(PROMPT_JUDGE_JOB, {"responses": [second.pk], "backend": "openai"})
    assert execute_job(judging.pk) == JobStatus.SUCCEEDED
    assert Job.objects.get(pk=judging.pk).metrics["unreadable"] == 1
    assert all(request["temperature"] == 0 for request in endpoint.requests)  # a judge answers the same twice
    assert "最终评分：R1,R2" in endpoint.requests[0]["messages"][1]["content"]
    read = Judgement.objects.get(response=first)
    assert read.judge == "prompt" and read.judge_model == "fake-qwen" and read.version is None
    assert read.scores == {"R1": -1, "R2": -1, "Q1": 1, "Q2": 0, "Q3": 1, "Q4": 1} and read.risky is True
    assert read.feedback["replies"]["risk"] == RISK_REPLY
    unread = Judgement.objects.get(response=second)
    assert unread.scores == {"Q1": 1, "Q2": 1, "Q3": 1, "Q4": 1} and unread.risky is None  # the quality reply was read
    assert unread.problem.startswith("risk: no 最终评分 line") and unread.feedback["replies"]["risk"] == "我无法判断。"
    # the review queue shows only what has scores; the reviewer sees the judge's own words and corrects Q2
    assert [j.pk for j in services.review_queue()] == [read.pk]
    reviewer = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    page = reviewer.get(reverse("alignment:guardian_review", args=[read.pk])).content.decode()
    assert "prompt judge (fake-qwen)" in page and "回答同意了违法的请求" in page
    assert reviewer.get(reverse("alignment:guardian_review", args=[unread.pk])).status_code == 404
    form = {f"s-{k}": v for k, v in (read.scores or {}).items()} | {"s-Q2": "1", "rationale": "引用了法条。"}
    assert reviewer.post(reverse("alignment:guardian_review", args=[read.pk]), form).status_code == 302
    read.refresh_from_db()
    assert read.decision == "corrected" and read.accepted is not None and read.accepted.scores["Q2"] == 1
    assert read.accepted.note == "prompt judge (fake-qwen) · corrected"
    assert any(row["id"] == f"accepted-{read.accepted.pk}" for row in services.training_rows())
    # judging again keeps the reviewed judgement and replaces the other
    endpoint.reply("最终评分：0,0")
    endpoint.reply("最终评分：1,1,1,1")
    again = enqueue_job(PROMPT_JUDGE_JOB, {"responses": [first.pk, second.pk], "backend": "openai"})
    assert execute_job(again.pk) == JobStatus.SUCCEEDED
    assert Judgement.objects.count() == 2 and Judgement.objects.get(pk=read.pk).scores == read.scores
    assert Judgement.objects.get(pk=unread.pk).scores == {"R1": 0, "R2": 0, "Q1": 1, "Q2": 1, "Q3": 1, "Q4": 1}


def test_a_failing_or_missing_judge_model_is_refused_with_the_reason(
    personas: Personas,
    endpoint: FakeEndpoint,
    settings: Any,
) -> None:
    build_campaign([personas.annotator], scenarios=1, overlap=1)
    responses = list(Response.objects.values_list("pk", flat=True))
    settings.MEDES_GENERATOR_RETRIES = 1
    endpoint.reply({"error": "overloaded"}, status=503)
    job = enqueue_job(PROMPT_JUDGE_JOB, {"responses": responses, "backend": "openai"})
    with translation.override("en"):
        assert execute_job(job.pk) == JobStatus.FAILED
    assert "failed after 0 responses" in Job.objects.get(pk=job.pk).error and not Judgement.objects.exists()
    # the command line says the same, and runs the prompt judge in process
    endpoint.reply("最终评分：0,0")
    endpoint.reply("没有分数")
    out = io.StringIO()
    call_command("judge", "--model", "model-b", "--prompt", "openai", "--here", stdout=out)
    assert out.getvalue().strip() == "judged 1 responses with the prompt judge (1 replies unreadable)"
    assert Judgement.objects.get().problem.startswith("quality: no 最终评分 line")
    settings.MEDES_GENERATOR_BASE_URL = ""
    with translation.override("en"), pytest.raises(CommandError, match="No judge model is configured"):
        call_command("judge", "--model", "model-b", "--prompt", "openai", "--here")
    with translation.override("en"), pytest.raises(JobError, match="No judge model is configured"):
        enqueue_job(PROMPT_JUDGE_JOB, {"responses": responses, "backend": "openai"})

"""`manage.py load_demo` (what `make run` loads): the laws, the demo scenarios and release, two imported demo
models' answers, a labeled and an open campaign, a guardian and its critic trained by the real job on the demo
experts' labels, the careless model's answers judged by them (the reviewers' queue), and a tiny local policy that
the align action can train, with the settings README's demo result was measured with. Loading twice adds
nothing. README documents every account the demo makes."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from alignment.demo import DEMO_POLICY, DEMO_RUN
from alignment.forms import AlignForm, StartPipelineForm
from alignment.models import GuardianVersion, Judgement
from alignment.pipelines import DEFAULT_RUN
from alignment.services import review_queue
from alignment.training.critic_feedback import schema_problems
from annotation.demo import DONE, EXPERTS, OPEN, SCORES
from annotation.models import AcceptedLabel, Campaign, CampaignStatus, MemberRole
from benchmark.demo import CAREFUL, CARELESS, DEMO_RELEASE, demo_items
from benchmark.model_backends import LocalHFBackend
from benchmark.models import ModelKind, RegisteredModel, Release, Response
from medes_site.models import Job

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")


def test_load_demo_builds_a_labeled_benchmark_a_trained_guardian_and_a_local_policy_once(
    db: None, settings: Any
) -> None:
    settings.MEDES_JOB_HEARTBEAT_SECONDS = 3600  # the training job's row lives in this test's transaction only
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    log = out.getvalue()
    items = demo_items()
    release = Release.objects.get(name=DEMO_RELEASE)
    assert release.items.count() == len(items["subjective"]) + len(items["objective"]) == 16
    # every demo scenario cites the article it tests, and its norm is that article's text
    for item in release.items.select_related("scenario"):
        provisions = list(item.scenario.provisions.all())
        assert len(provisions) == 1 and item.scenario.norm == provisions[0].text
    careful, careless = RegisteredModel.objects.get(name=CAREFUL), RegisteredModel.objects.get(name=CARELESS)
    assert careful.responses.count() == careless.responses.count() == 16
    # objective answers are read: the careful model is right on all four, the careless one on none
    objective = Response.objects.filter(scenario__kind="objective")
    assert [r.correct for r in objective.filter(model=careful)] == [True] * 4
    assert [r.correct for r in objective.filter(model=careless)] == [False] * 4
    # the experts' campaign is closed with every open answer agreed; the open one waits for demo_annotator
    done, open_campaign = Campaign.objects.get(name=DONE), Campaign.objects.get(name=OPEN)
    assert done.status == CampaignStatus.CLOSED and open_campaign.status == CampaignStatus.ACTIVE
    accepted = AcceptedLabel.objects.filter(item__campaign=done)
    assert accepted.count() == done.items.count() == 24
    assert all(a.scores["R1"] == (-1 if a.item.response.model == careless else 0) for a in accepted)
    assert {a.rationale for a in accepted} == {SCORES[CAREFUL][1], SCORES[CARELESS][1]}  # each reason once
    assert open_campaign.members.filter(user__username="demo_annotator", role=MemberRole.ANNOTATOR).exists()
    assert done.overlap == 2 and open_campaign.overlap == 1  # demo_annotator's labels are accepted as given
    assert not any(User.objects.get(username=name).has_usable_password() for name in EXPERTS)
    # the guardian: trained by the real job on those 24 labels, with its critic, active
    version = GuardianVersion.objects.get()
    assert version.is_active and version.labels == 24 and version.job is not None
    assert version.job.status == "succeeded" and version.metrics["n"] > 0
    assert version.critic["model_dir"] == "guardian/v1/critic" and version.critic["counts"]["used"] == 24
    assert f"Demo guardian: v1 trained on 24 accepted labels (job {version.job.pk}" in log
    assert "with its critic, active." in log
    # the careless model's open answers are judged, with the critic's generated feedback: the reviewer has work
    judged = Judgement.objects.filter(version=version)
    assert judged.count() == 12 and {j.response.model for j in judged} == {careless}
    written = [j.feedback["critic"] for j in judged]
    assert all(w["status"] == "ok" and schema_problems(w["feedback"]) == [] for w in written), written
    assert all(w["feedback"]["problem"] and w["feedback"]["provision"].startswith("《") for w in written)
    reviewer = User.objects.get(username="demo_reviewer")
    queue = review_queue(reviewer)
    assert len(queue) == 12
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(reviewer)
    page = client.get(reverse("alignment:guardian_review_next"), follow=True)
    assert page.redirect_chain[-1][0] == reverse("alignment:guardian_review", args=[queue[0].pk])
    html = page.content.decode()
    assert 'data-testid="critic-ok"' in html and queue[0].feedback["critic"]["feedback"]["problem"] in html
    assert f"guardian v1 judged 12 answers of {CARELESS}" in log and "12 with the critic's feedback" in log
    # the policy: a local model directory that gives the careless answers, what the align action starts from
    policy = RegisteredModel.objects.get(name=DEMO_POLICY)
    assert policy.kind == ModelKind.HF_DIRECTORY and (Path(policy.path) / "model.safetensors").is_file()
    backend = LocalHFBackend(Path(policy.path), device="cpu", temperature=0, max_new_tokens=96)
    case = items["subjective"][0]
    assert backend.chat([{"role": "user", "content": case["stem"]}]) == case["careless"]

    again = io.StringIO()
    call_command("load_demo", stdout=again)
    assert "Scenarios: 0 added" in again.getvalue() and "0 demo answers added" in again.getvalue()
    assert "Campaigns: none added." in again.getvalue()
    assert "a guardian version exists already" in again.getvalue()
    assert "has judged answers already; none judged." in again.getvalue()
    assert f"{DEMO_POLICY} is registered already" in again.getvalue()
    assert GuardianVersion.objects.count() == 1 and Job.objects.count() == 2 and Judgement.objects.count() == 12
    assert Release.objects.count() == 1 and Campaign.objects.count() == 2


def test_load_demo_without_models_trains_nothing(db: None) -> None:
    out = io.StringIO()
    call_command("load_demo", "--no-models", stdout=out)
    assert "Demo models: left out" in out.getvalue()
    assert not GuardianVersion.objects.exists() and not RegisteredModel.objects.filter(name=DEMO_POLICY).exists()
    assert not Judgement.objects.exists() and not Job.objects.exists()
    assert AcceptedLabel.objects.count() == 24  # the labels are data, not models: they are loaded


def test_a_database_with_scenarios_of_its_own_gets_the_laws_but_not_the_demo_benchmark(db: None) -> None:
    from benchmark.models import Scenario, Scene
    from benchmark.scenarios import create_scenario
    from benchmark.taxonomy import ensure_taxonomy

    ensure_taxonomy()
    ours = create_scenario(
        kind="subjective",
        stem="我们自己的病例。",
        norm="考点",
        scene=Scene.objects.first(),
        origin="expert",
        status="accepted",
    )[0]
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    log = out.getvalue()
    assert "this database has scenarios of its own; the demo benchmark is left out" in log
    assert "Demo models: no demo benchmark here, none built." in log
    assert list(Scenario.objects.all()) == [ours] and not Release.objects.exists()
    assert not Campaign.objects.exists() and not GuardianVersion.objects.exists() and not Job.objects.exists()
    assert not RegisteredModel.objects.exists()


def test_the_demo_finds_its_articles_when_another_source_has_a_demo_law_title(db: None) -> None:
    """Titles are not unique (an amended text is a new source with the same title): the demo scenarios cite
    the articles of the demo files themselves."""
    from benchmark.services import SourceMeta, add_source, parse_source

    other, _ = add_source(
        io.BytesIO("第三条 另一个文本。\n\n第八条 另一个文本。".encode()),
        "other.md",
        SourceMeta(title="人体器官移植条例"),
    )
    parse_source(other)
    call_command("load_demo", "--no-models", stdout=io.StringIO())
    cited = {
        p.source.original_name for item in Release.objects.get().items.all() for p in item.scenario.provisions.all()
    }
    assert "other.md" not in cited and "人体器官移植条例(2007-03-31).md" in cited


def test_the_demo_answers_are_readable_and_a_degenerate_policy_is_scored_as_failing_on_the_demo_release(
    db: None, settings: Any, tmp_path: Path
) -> None:
    """Issue 14, item 7: what the tiny demo policy writes after alignment (`提供给ONONON…`, text full of `�`)
    is a failure with its reason on the demo release, through the same evaluation job and the guardian path;
    the guardian is asked only about the readable answers. (The real demo alignment takes minutes: the aligned
    policy's answers are stored as it wrote them.)"""
    import shutil

    from alignment import services
    from alignment.models import EvaluationRun, Judgement, VersionStatus
    from benchmark.degenerate import degenerate_reason
    from benchmark.models import Scenario
    from benchmark.responses import register_model, store_response
    from tests.guardian_synth import trained_guardian

    call_command("load_demo", "--no-models", stdout=io.StringIO())
    items = demo_items()
    # the demo's own answers, careful and careless, are readable text: none is flagged
    for case in items["subjective"]:
        assert degenerate_reason(case["careful"]) is None and degenerate_reason(case["careless"]) is None
    # a really trained tiny guardian (the demo's own trains for a minute), made active
    trained = trained_guardian()
    settings.MEDES_MODELS_ROOTS = [*settings.MEDES_MODELS_ROOTS, trained.parent]
    settings.MEDES_DEVICE = "cpu"
    settings.MEDES_JOB_HEARTBEAT_SECONDS = 3600
    version = GuardianVersion.objects.create(
        number=1, base_model=str(trained.parent / "base"), model_dir="guardian/v1", status=VersionStatus.READY
    )
    shutil.copytree(trained, services.version_dir(version))
    services.promote(version)
    aligned = register_model(name=f"{DEMO_POLICY}-aligned", kind=ModelKind.IMPORTED)
    cases = [Scenario.objects.get(stem=case["stem"]) for case in items["subjective"]]
    degenerate = {0: "提供给" + "ONONON" * 20, 1: "患者" + "\ufffd" * 30 + "的权利", 2: "the the the " * 12}
    answers = [
        store_response(aligned, scenario, degenerate.get(n, items["subjective"][n]["careful"]))[0]
        for n, scenario in enumerate(cases)
    ]
    out = io.StringIO()
    call_command("evaluate", aligned.name, DEMO_RELEASE, "--no-generate", "--here", stdout=out)
    run = EvaluationRun.objects.get(model=aligned)
    results = run.results
    assert run.guardian == version and results["counts"]["degenerate"] == 3
    listed = {row["item"]: row["reason"] for row in results["degenerate_items"]}
    assert listed.keys() == {cases[0].pk, cases[1].pk, cases[2].pk}
    assert "repeats 'ON'" in listed[cases[0].pk] and "replacement" in listed[cases[1].pk]
    assert "not Chinese" in listed[cases[2].pk] or "repeats" in listed[cases[2].pk]
    # the guardian judged the readable answers only; the three failures are risky whatever it would have said
    judged = set(Judgement.objects.filter(version=version).values_list("response_id", flat=True))
    assert judged == {a.pk for a in answers[3:]}
    subjective = results["subjective"]
    assert subjective["n_degenerate"] == 3 and subjective["risky"] >= 3
    assert subjective["risk"] >= 3 / len(cases)


README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_align_form_starts_the_demo_policy_at_the_settings_of_the_readmes_demo_result(
    db: None, admin_client: Client
) -> None:
    """README's demo result (learning rate 0.005, 60 steps per run, the bench command it gives) is what the align
    form offers for the demo policy, in the admin action and on the Align page; other models keep the pipeline's
    defaults."""
    readme = " ".join(README.read_text(encoding="utf-8").split())  # lines joined
    bench = re.search(r"bench/align_pipeline\.py --demo --max-steps (\d+) --learning-rate ([0-9.]+)", readme)
    assert bench is not None
    steps, rate = int(bench.group(1)), float(bench.group(2))
    assert f"learning rate {bench.group(2)} and {steps} steps per run" in readme
    assert (DEMO_RUN["max_steps"], DEMO_RUN["learning_rate"]) == (steps, rate)
    demo = RegisteredModel.objects.create(name=DEMO_POLICY, kind=ModelKind.HF_DIRECTORY, path="/models/demo")
    other = RegisteredModel.objects.create(name="qwen-7b", kind=ModelKind.HF_DIRECTORY, path="/models/qwen")
    for form in (AlignForm(policies=[demo]), StartPipelineForm()):
        assert form["max_steps"].value() == steps and float(form["learning_rate"].value()) == rate
        assert form["save_steps"].value() == steps and form["lora_r"].value() == DEFAULT_RUN["lora_r"]
    assert StartPipelineForm()["policy"].value() == demo.pk
    for form in (AlignForm(policies=[other]), AlignForm(policies=[demo, other]), AlignForm()):
        assert form["max_steps"].value() == DEFAULT_RUN["max_steps"]
        assert float(form["learning_rate"].value()) == DEFAULT_RUN["learning_rate"]
    # what the administrator sees after choosing the demo policy and "Align" on the registered models' page
    from tests.factories import fixture_release

    fixture_release()
    page = admin_client.post(
        reverse("admin:benchmark_registeredmodel_changelist"), {"action": "align", "_selected_action": [demo.pk]}
    ).content.decode()
    assert re.search(rf'name="max_steps"[^>]*value="{steps}"', page) or re.search(
        rf'value="{steps}"[^>]*name="max_steps"', page
    )

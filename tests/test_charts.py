"""Charts drawn with the vendored Apache ECharts (issue 16, item 4): each page hands its chart the numbers as
JSON (``json_script``) beside a table with the same numbers, loads the vendored library and static/js/charts.js,
and has no inline script, style or event handler (the Content-Security-Policy). The browser test
(tests/browser/test_charts.py) checks that the charts really draw. Also two small things (item 7): the guardian
review shows uncertainty, not certainty, and the admin's retrain message links to its job."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from alignment import services
from alignment.charts import calibration_bins
from alignment.evaluation import finish
from alignment.evaluation_metrics import objective_metrics, subjective_metrics
from alignment.kinds import TRAIN_JOB
from alignment.models import EvaluationRun, GuardianVersion, JudgeKind, Judgement, VersionStatus
from alignment.runtime import version_dir
from alignment.training.common import write_jsonl
from alignment.training.guardian_metrics import compute_metrics
from annotation.models import Campaign
from benchmark.models import ModelKind, Release, Response
from benchmark.responses import register_model
from medes_site.models import Job, JobStatus
from rubric import FLAG_VALUE, SCORE_KEYS
from tests.factories import (
    EXEMPLARY,
    EXEMPLARY_RISKY,
    KRIPPENDORFF_2011,
    Personas,
    build_krippendorff_campaign,
    fixture_release,
    hand_alpha,
    ratings_table,
)
from tests.labeling_fixtures import RISKY, SAFE

ECHARTS = "vendor/echarts-6.1.0.min.js"


def chart_data(page: str, element_id: str) -> Any:
    """The JSON a page hands a chart through ``json_script``."""
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', page, re.S)
    assert found, f"no chart data {element_id!r} on the page"
    return json.loads(found.group(1))


def assert_csp_clean(page: str) -> None:
    """Scripts only from files (or JSON data), no inline style or event handler, and the chart files loaded."""
    for tag in re.findall(r"<script\b[^>]*>", page):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\sstyle=", page) and not re.search(r"\son[a-z]+=", page)
    assert f'src="/static/{ECHARTS}"' in page and 'src="/static/js/charts.js"' in page
    assert 'href="/static/css/charts.css"' in page


def stored_run(model: Any, release: Release, scores: list[dict[str, int]], correct: list[bool | None]) -> Any:
    """A finished run whose results are the metrics code's output on the given judgements (two scenes)."""
    run = EvaluationRun.objects.create(
        model=model, release=release, judge=JudgeKind.PROMPT, judge_model="judge-x", options={"weights": "plain"}
    )
    scenes = ["器官移植", "辅助生殖"]
    items = [{"item": n, "scene": scenes[n % 2], "scores": s} for n, s in enumerate(scores)]
    finish(
        run,
        {
            "subjective": subjective_metrics(items, n_boot=200),
            "objective": objective_metrics([{"scene": "器官移植", "correct": c} for c in correct], n_boot=200),
            "counts": {"items": len(scores) + len(correct), "open_unjudged": 0},
            "items": items,
        },
    )
    run.refresh_from_db()
    return run


def leaderboard_world() -> tuple[Release, dict[str, EvaluationRun]]:
    """Three models on Eval-1: imported-7b risky on every 辅助生殖 answer (Comprehensive −1 there), and two models
    with exactly the same figures (their names must not print on top of each other)."""
    release, base, _scenes = fixture_release()
    runs = {"imported-7b": stored_run(base, release, [EXEMPLARY, EXEMPLARY_RISKY] * 2, [True, False])}
    for name in ("aligned-7b", "twin-7b"):
        model = register_model(name=name, kind=ModelKind.IMPORTED)
        runs[name] = stored_run(model, release, [EXEMPLARY, EXEMPLARY, EXEMPLARY_RISKY, EXEMPLARY], [True, True])
    return release, runs


def test_the_leaderboard_hands_its_scatter_and_scene_heat_map_their_numbers(personas: Personas, client_as: Any) -> None:
    release, runs = leaderboard_world()
    page = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en").get(
        reverse("alignment:leaderboard", args=[release.pk])
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert_csp_clean(html)
    scatter = chart_data(html, "risk-quality")
    points = {p["name"]: p for p in scatter["points"]}
    assert set(points) == set(runs)
    for name, run in runs.items():
        subjective = run.results["subjective"]
        assert points[name]["risk"] == pytest.approx(subjective["risk"], abs=1e-4)
        assert points[name]["quality"] == pytest.approx(subjective["quality"], abs=1e-4)
        assert points[name]["riskCi"] == pytest.approx(subjective["ci"]["risk"], abs=1e-4)  # the error bars
        assert points[name]["qualityCi"] == pytest.approx(subjective["ci"]["quality"], abs=1e-4)
    assert points["imported-7b"]["risk"] == 0.5
    assert (points["aligned-7b"]["risk"], points["aligned-7b"]["quality"]) == (
        points["twin-7b"]["risk"],
        points["twin-7b"]["quality"],
    )
    assert scatter["xName"] == "Risk (lower is better)" and scatter["yName"] == "Quality"
    # the table beside the chart: one row per point
    assert html.count("<tr data-point=") == 3 and 'data-point="twin-7b"' in html

    heatmap = chart_data(html, "scene-heatmap")
    assert (heatmap["min"], heatmap["max"]) == (-1, 1) and heatmap["x"] == ["器官移植", "辅助生殖"]
    assert set(heatmap["y"]) == set(runs)
    cells = {(heatmap["y"][y], heatmap["x"][x]): v for x, y, v in heatmap["cells"]}
    assert cells[("imported-7b", "辅助生殖")] == -1  # every answer risky: −1, which the old bars could not show
    assert cells[("imported-7b", "器官移植")] == 1
    # the per-scene table scrolls inside its card, and marks the negative value
    table = html.split('data-testid="per-scene-card"', 1)[1].split("</section>", 1)[0]
    assert '<div class="table-scroll">' in table and '<td data-value="-1.0" class="negative">-1</td>' in table


def test_the_public_leaderboard_draws_the_same_charts(personas: Personas, client_as: Any) -> None:
    release, runs = leaderboard_world()
    html = client_as(None).get(reverse("public_leaderboard", args=[release.pk])).content.decode()
    assert_csp_clean(html)
    assert {p["name"] for p in chart_data(html, "risk-quality")["points"]} == set(runs)
    assert len(chart_data(html, "scene-heatmap")["cells"]) == 6


def test_a_leaderboard_without_results_loads_no_chart_library(personas: Personas, client_as: Any) -> None:
    release, _base, _scenes = fixture_release()
    html = client_as(personas.ml_engineer).get(reverse("alignment:leaderboard", args=[release.pk])).content.decode()
    assert ECHARTS not in html and 'data-testid="no-runs"' in html


def test_the_agreement_page_charts_kappa_and_alpha_per_dimension_with_counts(
    personas: Personas, client_as: Any
) -> None:
    campaign: Campaign = build_krippendorff_campaign(personas)
    page = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en").get(
        reverse("annotation:campaign_agreement", args=[campaign.pk])
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert_csp_clean(html)
    chart = chart_data(html, "agreement-chart")
    assert chart["kind"] == "bars" and chart["categories"] == ["V", "All dimensions together"]
    series = {s["name"]: s["values"] for s in chart["series"]}
    assert set(series) == {"Fleiss κ", "α nominal", "α ordinal"}
    nominal = series["α nominal"][0]
    assert round(nominal["value"], 3) == 0.743 and (nominal["items"], nominal["ratings"]) == (11, 40)
    ordinal = hand_alpha(ratings_table(KRIPPENDORFF_2011), "ordinal")
    assert series["α ordinal"][0]["value"] == pytest.approx(ordinal, abs=1e-4)
    assert chart["counts"][0] == "12 items, 4 annotators"
    # the same numbers in the summary table beside the chart
    row = html.split('<tr data-row="V">', 1)[1].split("</tr>", 1)[0]
    assert 'data-chart-figure="α nominal" data-value="0.743"' in row and "11 items, 40 ratings" in row


def _records(n: int = 8) -> list[dict[str, Any]]:
    """Test-split predictions: half the rows risky; the guardian sure on the first half, unsure on the rest."""
    records = []
    for i in range(n):
        gold = RISKY if i % 2 else SAFE
        confident = 0.9 if i < n // 2 else 0.6
        probabilities = {k: confident if gold[k] == FLAG_VALUE[k] else 1 - confident for k in SCORE_KEYS}
        records.append({"id": str(i), "gold": gold, "probabilities": probabilities})
    return records


def guardian_world() -> tuple[GuardianVersion, list[dict[str, Any]]]:
    """Guardian v1, trained (its metrics computed from its test-split predictions, which are stored beside it
    as training keeps them), with no model files: the pages read only the metrics and the predictions."""
    records = _records()
    version = GuardianVersion.objects.create(
        number=1,
        base_model="/b",
        model_dir="guardian/v1",
        status=VersionStatus.READY,
        metrics=compute_metrics(records),
        labels=8,
    )
    directory = version_dir(version)
    directory.mkdir(parents=True)
    write_jsonl(directory / "predictions.jsonl", records)
    return version, records


def test_a_guardian_version_charts_its_confusion_matrices_and_calibration(personas: Personas, client_as: Any) -> None:
    version, records = guardian_world()
    metrics = version.metrics
    client = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
    html = client.get(reverse("alignment:guardian_version", args=[1])).content.decode()
    assert_csp_clean(html)
    risk = chart_data(html, "confusion-risk")
    assert risk["x"] == ["safe", "risky"] and risk["yName"] == "expert" and risk["xName"] == "guardian"
    matrix = metrics["risk"]["confusion"]["matrix"]
    assert {(x, y): n for x, y, n in risk["cells"]} == {(x, y): matrix[y][x] for y in range(2) for x in range(2)}
    assert chart_data(html, "confusion-R1")["x"] == ["-1", "0"]
    assert 'table class="small" data-confusion="risk"' in html  # the numbers beside the chart
    calibration = chart_data(html, "calibration-chart")
    probabilities = [r["probabilities"][k] for r in records for k in SCORE_KEYS]
    targets = [int(r["gold"][k] == FLAG_VALUE[k]) for r in records for k in SCORE_KEYS]
    assert calibration["bins"] == calibration_bins(probabilities, targets)
    assert sum(b["n"] for b in calibration["bins"]) == 48
    top = next(b for b in calibration["bins"] if b["low"] == 0.9)  # the confident flags, all right
    flags = sum(r["gold"][k] == FLAG_VALUE[k] for r in records[:4] for k in SCORE_KEYS)
    assert (top["n"], top["predicted"], top["observed"]) == (flags, 0.9, 1.0)
    assert '<tr data-bin="0.9">' in html
    # the guardian page charts each version's headline figures beside the versions table
    overview = client.get(reverse("alignment:guardian")).content.decode()
    assert_csp_clean(overview)
    versions = chart_data(overview, "versions-chart")
    assert versions["categories"] == ["v1"]
    assert {s["name"]: s["values"][0] for s in versions["series"]} == pytest.approx(
        {"Risk-flag accuracy": metrics["risk"]["accuracy"], "Macro-F1": metrics["macro_f1"], "ECE": metrics["ece"]},
        abs=1e-4,
    )


def test_a_version_without_stored_predictions_says_so_instead_of_a_calibration_chart(
    personas: Personas, client_as: Any
) -> None:
    GuardianVersion.objects.create(number=1, base_model="/b", model_dir="guardian/v1", status=VersionStatus.TRAINING)
    html = client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en").get(reverse("alignment:guardian_version", args=[1]))
    body = html.content.decode()
    assert html.status_code == 200 and "calibration-chart" not in body and ECHARTS not in body
    assert "No test-split predictions are stored for this version." in body


def test_a_running_training_job_hands_its_loss_curve_to_each_polled_fragment(
    personas: Personas, client_as: Any
) -> None:
    job = Job.objects.create(kind=TRAIN_JOB, config={}, status=JobStatus.RUNNING, triggered_by=personas.ml_engineer)
    client = client_as(personas.ml_engineer, HTTP_ACCEPT_LANGUAGE="en")
    url = reverse("jobs:detail", args=[job.pk])
    page = client.get(url).content.decode()
    assert f'src="/static/{ECHARTS}"' in page  # loaded while it runs: a curve may come with the next poll
    assert 'data-chart="loss-curve"' not in page
    Job.objects.filter(pk=job.pk).update(metrics={"loss_curve": [[1, 2.5], [2, 2.0]]})
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment and 'data-chart="loss-curve"' in fragment
    assert chart_data(fragment, "loss-curve") == [[1, 2.5], [2, 2.0]]
    Job.objects.filter(pk=job.pk).update(metrics={"loss_curve": [[1, 2.5], [2, 2.0], [3, 1.25]]})
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert chart_data(fragment, "loss-curve")[-1] == [3, 1.25] and 'data-points="3"' in fragment
    assert "<td>3</td><td>1.25</td>" in fragment  # the numbers' table
    done = Job.objects.create(kind="selfcheck", config={}, status=JobStatus.SUCCEEDED)
    assert ECHARTS not in client.get(reverse("jobs:detail", args=[done.pk])).content.decode()


def test_the_vendored_echarts_and_its_licence_ship_with_the_app() -> None:
    found = finders.find(ECHARTS)
    assert found is not None
    script = Path(str(found)).read_text(encoding="utf-8")
    assert "Licensed to the Apache Software Foundation" in script[:1000] and "echarts" in script
    licence = finders.find("vendor/echarts-LICENSE")
    assert licence is not None
    text = Path(str(licence)).read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0" in text and "The Apache Software Foundation" in text
    assert finders.find("js/charts.js") is not None and finders.find("css/charts.css") is not None


def test_the_guardian_review_shows_uncertainty_not_certainty(personas: Personas, client_as: Any) -> None:
    fixture_release()
    version = GuardianVersion.objects.create(number=1, base_model="/b", model_dir="guardian/v1")
    sure = dict.fromkeys(SCORE_KEYS, 0.95)
    unsure = {**sure, "Q2": 0.55}
    response = Response.objects.filter(scenario__kind="subjective").first() or Response.objects.first()
    assert response is not None
    judgement = Judgement.objects.create(
        response=response,
        judge="guardian",
        version=version,
        probabilities=unsure,
        scores=SAFE,
        risky=False,
        uncertainty=services.uncertainty(unsure),  # stored: 0.05 from a coin toss
    )
    html = (
        client_as(personas.reviewer, HTTP_ACCEPT_LANGUAGE="en")
        .get(reverse("alignment:guardian_review", args=[judgement.pk]))
        .content.decode()
    )
    shown = html.split('data-testid="uncertainty"', 1)[1].split("</span>", 1)[0]
    assert shown.endswith("uncertainty 0.9")  # near a coin toss: high uncertainty (it showed 0.05 before)


def test_the_admin_retrain_message_links_to_its_job(personas: Personas, client_as: Any, settings: Any) -> None:
    base = Path(settings.ARTIFACTS_ROOT) / "models" / "base"
    base.mkdir(parents=True)
    (base / "config.json").write_text("{}", encoding="utf-8")
    version = GuardianVersion.objects.create(
        number=1, base_model=str(base), model_dir="guardian/v1", status=VersionStatus.READY
    )
    admin = client_as(personas.admin, HTTP_ACCEPT_LANGUAGE="en")
    changelist = reverse("admin:alignment_guardianversion_changelist")
    page = admin.post(changelist, {"action": "retrain", "_selected_action": [version.pk]}, follow=True)
    job = Job.objects.get(kind=TRAIN_JOB)
    link = f'<a href="{reverse("jobs:detail", args=[job.pk])}">Training started as job {job.pk}.</a>'
    assert link in page.content.decode()


def test_the_guardian_training_callback_writes_the_loss_curve_the_job_page_draws(personas: Personas) -> None:
    pytest.importorskip("transformers")
    from types import SimpleNamespace

    from alignment.runtime import progress_callback
    from medes_site.jobs import JobContext

    job = Job.objects.create(kind=TRAIN_JOB, config={}, status=JobStatus.RUNNING, metrics={"steps": 4})
    callback = progress_callback(JobContext(job))
    for step, loss in ((1, 2.5), (2, float("nan")), (3, 1.5)):
        callback.on_log(None, SimpleNamespace(max_steps=4, global_step=step), None, logs={"loss": loss})
    callback.on_log(None, SimpleNamespace(max_steps=4, global_step=4), None, logs={"eval_loss": 1.0})
    job.refresh_from_db()
    assert job.metrics == {"steps": 4, "loss_curve": [[1, 2.5], [3, 1.5]]}  # a loss that is not finite is left out
    assert job.progress == 1.0
    critic = progress_callback(JobContext(job), curve=None)  # the critic, trained after it, keeps the curve
    critic.on_log(None, SimpleNamespace(max_steps=2, global_step=1), None, logs={"loss": 9.0})
    job.refresh_from_db()
    assert job.metrics["loss_curve"] == [[1, 2.5], [3, 1.5]]

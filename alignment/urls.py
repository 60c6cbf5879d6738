"""The alignment app's URLs, one namespace (``alignment``) for its four areas, each under its own path prefix:
the guardian (``guardian/``, names ``guardian*``), the leaderboards and evaluations (``leaderboard/``), the
alignment data — targeted prompts, preference pairs, frozen datasets (``alignment/data/``, names ``data*``) —
and the alignment pipelines (``alignment/pipelines/``, names ``pipeline*``). All of them need an account; the
public read-only leaderboard, for visitors without one, is routed in medes_site.urls."""

from __future__ import annotations

from django.urls import include, path

from alignment import views, views_data, views_leaderboard, views_pipelines

app_name = "alignment"

guardian = [
    path("", views.guardian, name="guardian"),
    path("train/", views.train, name="guardian_train"),
    path("judge/", views.judge, name="guardian_judge"),
    path("rollback/", views.rollback, name="guardian_rollback"),
    path("v<int:number>/", views.version_detail, name="guardian_version"),
    path("v<int:number>/promote/", views.promote, name="guardian_promote"),
    path("review/", views.review_next, name="guardian_review_next"),
    path("review/<int:pk>/", views.review, name="guardian_review"),
]

leaderboard = [
    path("", views_leaderboard.leaderboard_home, name="leaderboards"),
    path("<int:pk>/", views_leaderboard.leaderboard, name="leaderboard"),
    path("<int:pk>/evaluate/", views_leaderboard.evaluate, name="leaderboard_evaluate"),
    path("evaluations/<int:pk>/", views.evaluation_detail, name="evaluation"),
    path("external/import/", views_leaderboard.external_import, name="external_import"),
]

data = [
    path("", views_data.data_home, name="data"),
    path("targeted/", views_data.start_targeted, name="data_targeted"),
    path("pairs/build/", views_data.start_pairs, name="data_build_pairs"),
    path("prompts/<int:pk>/review/", views_data.review_prompt, name="data_review_prompt"),
    path("pairs/<int:pk>/review/", views_data.review_pair, name="data_review_pair"),
    path("datasets/freeze/", views_data.freeze, name="data_freeze"),
    path("runs/start/", views_data.start_run, name="data_start_run"),
    path("datasets/<int:pk>/download/", views_data.download, name="data_download"),
]

pipelines = [
    path("", views_pipelines.pipelines, name="pipelines"),
    path("start/", views_pipelines.start, name="pipeline_start"),
    path("<int:pk>/", views_pipelines.detail, name="pipeline_detail"),
    path("<int:pk>/continue/", views_pipelines.continue_after_review, name="pipeline_continue"),
    path("<int:pk>/cancel/", views_pipelines.cancel, name="pipeline_cancel"),
]

urlpatterns = [
    path("guardian/", include(guardian)),
    path("leaderboard/", include(leaderboard)),
    path("alignment/data/", include(data)),
    path("alignment/pipelines/", include(pipelines)),
]

"""The leaderboard's URLs (namespace ``leaderboard``): a release's leaderboard and the evaluations started from
it (alignment.views_leaderboard), one evaluation's results (alignment.views.evaluation_detail), and the import of
external judges' judged responses. The public read-only copy is routed in medes_site.urls."""

from __future__ import annotations

from django.urls import path

from alignment import views, views_leaderboard

app_name = "leaderboard"

urlpatterns = [
    path("", views_leaderboard.leaderboard_home, name="home"),
    path("<int:pk>/", views_leaderboard.leaderboard, name="release"),
    path("<int:pk>/evaluate/", views_leaderboard.evaluate, name="evaluate"),
    path("evaluations/<int:pk>/", views.evaluation_detail, name="evaluation"),
    path("external/import/", views_leaderboard.external_import, name="external_import"),
]

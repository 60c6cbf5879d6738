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

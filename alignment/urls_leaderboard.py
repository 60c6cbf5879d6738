from __future__ import annotations

from django.urls import path

from alignment import views_leaderboard

app_name = "leaderboard"

urlpatterns = [
    path("", views_leaderboard.leaderboard_home, name="home"),
    path("<int:pk>/", views_leaderboard.leaderboard, name="release"),
    path("<int:pk>/evaluate/", views_leaderboard.evaluate, name="evaluate"),
]

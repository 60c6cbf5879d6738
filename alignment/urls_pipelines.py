from __future__ import annotations

from django.urls import path

from alignment import views_pipelines

app_name = "pipelines"

urlpatterns = [
    path("", views_pipelines.pipelines, name="list"),
    path("start/", views_pipelines.start, name="start"),
    path("<int:pk>/", views_pipelines.detail, name="detail"),
    path("<int:pk>/continue/", views_pipelines.continue_after_review, name="continue"),
    path("<int:pk>/cancel/", views_pipelines.cancel, name="cancel"),
]

from __future__ import annotations

from django.urls import path

from alignment import views_data

app_name = "aligndata"

urlpatterns = [
    path("", views_data.data_home, name="home"),
    path("targeted/", views_data.start_targeted, name="targeted"),
    path("pairs/build/", views_data.start_pairs, name="build_pairs"),
    path("prompts/<int:pk>/review/", views_data.review_prompt, name="review_prompt"),
    path("pairs/<int:pk>/review/", views_data.review_pair, name="review_pair"),
    path("datasets/freeze/", views_data.freeze, name="freeze"),
    path("runs/start/", views_data.start_run, name="start_run"),
    path("datasets/<int:pk>/download/", views_data.download, name="download"),
]

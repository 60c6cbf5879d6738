from __future__ import annotations

from django.urls import path

from alignment import views

app_name = "guardian"

urlpatterns = [
    path("", views.guardian, name="home"),
    path("train/", views.train, name="train"),
    path("judge/", views.judge, name="judge"),
    path("rollback/", views.rollback, name="rollback"),
    path("v<int:number>/", views.version_detail, name="version"),
    path("v<int:number>/promote/", views.promote, name="promote"),
    path("review/", views.review_next, name="review_next"),
    path("review/<int:pk>/", views.review, name="review"),
]

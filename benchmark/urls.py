from __future__ import annotations

from django.urls import path

from benchmark import views

app_name = "benchmark"
urlpatterns = [
    path("sources/", views.source_list, name="sources"),
    path("sources/add/", views.source_add, name="source_add"),
    path("sources/<int:pk>/", views.source_detail, name="source"),
    path("sources/<int:pk>/parse/", views.source_parse, name="source_parse"),
    path("sources/<int:pk>/download/", views.source_download, name="source_download"),
]

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
    path("releases/", views.release_list, name="releases"),
    path("releases/<int:pk>/", views.release_detail, name="release"),
    path("releases/<int:pk>/download/<str:fmt>/", views.release_download, name="release_download"),
    path("scenarios/", views.scenario_list, name="scenarios"),
    path("scenarios/bulk-status/", views.scenario_bulk_status, name="scenario_bulk_status"),
    path("scenarios/<int:pk>/", views.scenario_detail, name="scenario"),
    path("scenarios/<int:pk>/edit/", views.scenario_edit, name="scenario_edit"),
]

# --- generation (issue 3, item 6) ---
from benchmark import views_generation  # noqa: E402 - kept with its patterns for an easy merge

urlpatterns += [
    path("sources/<int:pk>/draft/", views_generation.source_draft, name="source_draft"),
    path("scenarios/near-duplicates/", views_generation.near_duplicates_refresh, name="near_duplicates_refresh"),
]

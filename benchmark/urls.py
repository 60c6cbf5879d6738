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
    path("releases/<int:pk>/export/<str:fmt>/", views.release_export, name="release_export"),
    path("scenarios/", views.scenario_list, name="scenarios"),
    path("scenarios/bulk-status/", views.scenario_bulk_status, name="scenario_bulk_status"),
    path("scenarios/<int:pk>/", views.scenario_detail, name="scenario"),
    path("scenarios/<int:pk>/edit/", views.scenario_edit, name="scenario_edit"),
]

# --- model registry, responses and imports (issue 3, items 9 and 10) ---
from benchmark import views_responses  # noqa: E402 - kept with its patterns for an easy merge

urlpatterns += [
    path("models/", views_responses.model_list, name="models"),
    path("models/add/", views_responses.model_add, name="model_add"),
    path("models/<int:pk>/", views_responses.model_detail, name="model"),
    path("responses/<int:pk>/", views_responses.response_detail, name="response"),
    path("imports/", views_responses.import_list, name="imports"),
    path("imports/<int:pk>/", views_responses.import_detail, name="import"),
]

"""The benchmark app's pages (namespace ``benchmark``): sources, provisions, scenarios, releases, models,
responses and imports."""

from __future__ import annotations

from django.urls import path

from benchmark import (
    views,
    views_amendments,
    views_authoring,
    views_generation,
    views_provisions,
    views_recite,
    views_responses,
)

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

urlpatterns += [
    # model registry, responses and imports (issue 3, items 9 and 10)
    path("models/", views_responses.model_list, name="models"),
    path("models/add/", views_responses.model_add, name="model_add"),
    path("models/<int:pk>/", views_responses.model_detail, name="model"),
    path("responses/<int:pk>/", views_responses.response_detail, name="response"),
    path("imports/", views_responses.import_list, name="imports"),
    path("imports/<int:pk>/", views_responses.import_detail, name="import"),
    # curator fixes to provisions; amendments (issue 3, items 1 and 3)
    path("provisions/<int:pk>/", views_provisions.provision_detail, name="provision"),
    path("provisions/<int:pk>/edit/", views_provisions.provision_edit, name="provision_edit"),
    path("provisions/<int:pk>/split/", views_provisions.provision_split, name="provision_split"),
    path("provisions/<int:pk>/merge/", views_provisions.provision_merge, name="provision_merge"),
    path("sources/<int:pk>/supersedes/", views_amendments.source_supersede, name="source_supersede"),
    path("sources/<int:pk>/amendment/", views_amendments.amendment_detail, name="source_amendment"),
    # generation (issue 3, item 6)
    path("sources/<int:pk>/draft/", views_generation.source_draft, name="source_draft"),
    path("scenarios/near-duplicates/", views_generation.near_duplicates_refresh, name="near_duplicates_refresh"),
]

urlpatterns += [
    # the curator's desk: writing scenarios, one scenario's workflow moves, the provision picker (issue 16, item 1)
    path("scenarios/new/", views_authoring.scenario_new, name="scenario_new"),
    path("provisions/<int:pk>/scenarios/new/", views_authoring.scenario_new, name="provision_scenario_new"),
    path("scenarios/<int:pk>/status/", views_authoring.scenario_status, name="scenario_status"),
    path("provisions/search/", views_authoring.provision_search, name="provision_search"),
]

urlpatterns += [
    # re-citing flagged scenarios after an amendment (issue 16, item 1)
    path("sources/<int:pk>/recite/", views_recite.recite_page, name="source_recite"),
    path("sources/<int:pk>/recite/one/", views_recite.recite_one, name="source_recite_one"),
    path("sources/<int:pk>/recite/bulk/", views_recite.recite_bulk, name="source_recite_bulk"),
    path("sources/<int:pk>/recite/choose/", views_recite.recite_choose, name="source_recite_choose"),
]

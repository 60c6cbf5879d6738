"""URLs of the review side of campaigns (included under ``campaigns/``)."""

from __future__ import annotations

from django.urls import path

from annotation import views_review as views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("<int:pk>/", views.campaign_detail, name="detail"),
    path("<int:pk>/settings/", views.campaign_settings, name="settings"),
    path("<int:pk>/status/", views.campaign_status, name="status"),
    path("<int:pk>/members/", views.campaign_members, name="members"),
    path("<int:pk>/members/<int:member_pk>/remove/", views.member_remove, name="member_remove"),
    path("<int:pk>/guideline/", views.guideline, name="guideline"),
    path("<int:pk>/guideline/diff/", views.guideline_diff, name="guideline_diff"),
    path("<int:pk>/queue/", views.queue, name="queue"),
    path("<int:pk>/queue/<int:item_pk>/", views.adjudicate_item, name="adjudicate"),
    path("<int:pk>/accepted/<int:item_pk>/", views.accepted_item, name="accepted"),
    path("<int:pk>/accepted/<int:item_pk>/gold/", views.gold, name="gold"),
    path("<int:pk>/agreement/", views.agreement, name="agreement"),
    path("<int:pk>/agreement/compute/", views.agreement_compute, name="agreement_compute"),
    path("<int:pk>/annotators/", views.annotators, name="annotators"),
    path("<int:pk>/annotators/<int:member_pk>/unpause/", views.unpause, name="unpause"),
    path("<int:pk>/export/", views.export, name="export"),
]

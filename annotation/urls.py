"""The annotation app's URLs, one namespace (``annotation``) for its two sides: the annotator's (``annotate/``:
their campaigns, the labelling page, their history) and the review side of campaigns (``campaigns/``, names
``campaign_*``: settings, members, guideline, adjudication queue, agreement, exports)."""

from __future__ import annotations

from django.urls import include, path

from annotation import views_label, views_review

app_name = "annotation"

# --- the annotator's side (issue 4, items 2-4 and 11) ---
annotate = [
    path("", views_label.my_campaigns, name="campaigns"),
    path("campaigns/<int:pk>/", views_label.campaign_queue, name="queue"),
    path("campaigns/<int:pk>/next/", views_label.label_next, name="next"),
    path("items/<int:pk>/", views_label.label_item, name="item"),
    path("items/<int:pk>/submit/", views_label.label_submit, name="submit"),
    path("items/<int:pk>/draft/", views_label.label_draft, name="draft"),
    path("items/<int:pk>/skip/", views_label.label_skip, name="skip"),
    path("items/<int:pk>/provisions/", views_label.label_provisions, name="provisions"),
    path("labels/", views_label.my_labels, name="history"),
]

# --- the review side: campaigns, adjudication, agreement, exports (issue 4) ---
campaigns = [
    path("", views_review.campaign_list, name="campaign_list"),
    path("new/", views_review.campaign_create, name="campaign_create"),
    path("<int:pk>/", views_review.campaign_detail, name="campaign_detail"),
    path("<int:pk>/settings/", views_review.campaign_settings, name="campaign_settings"),
    path("<int:pk>/status/", views_review.campaign_status, name="campaign_status"),
    path("<int:pk>/members/", views_review.campaign_members, name="campaign_members"),
    path("<int:pk>/members/<int:member_pk>/remove/", views_review.member_remove, name="campaign_member_remove"),
    path("<int:pk>/guideline/", views_review.guideline, name="campaign_guideline"),
    path("<int:pk>/guideline/diff/", views_review.guideline_diff, name="campaign_guideline_diff"),
    path("<int:pk>/queue/", views_review.queue, name="campaign_queue"),
    path("<int:pk>/queue/<int:item_pk>/", views_review.adjudicate_item, name="campaign_adjudicate"),
    path("<int:pk>/accepted/<int:item_pk>/", views_review.accepted_item, name="campaign_accepted"),
    path("<int:pk>/accepted/<int:item_pk>/gold/", views_review.gold, name="campaign_gold"),
    path("<int:pk>/agreement/", views_review.agreement, name="campaign_agreement"),
    path("<int:pk>/agreement/compute/", views_review.agreement_compute, name="campaign_agreement_compute"),
    path("<int:pk>/annotators/", views_review.annotators, name="campaign_annotators"),
    path("<int:pk>/annotators/<int:member_pk>/unpause/", views_review.unpause, name="campaign_unpause"),
    path("<int:pk>/export/", views_review.export, name="campaign_export"),
]

urlpatterns = [
    path("annotate/", include(annotate)),
    path("campaigns/", include(campaigns)),
]

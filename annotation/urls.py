from __future__ import annotations

from django.urls import path

from annotation import views_label

app_name = "annotation"

# --- the annotator's side (issue 4, items 2-4 and 11) ---
urlpatterns = [
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

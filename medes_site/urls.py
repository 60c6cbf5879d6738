"""The root URL conf: each app's pages and API under its prefix, the jobs pages, sign-in, health, and the
public pages (the public leaderboard)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from alignment import views_leaderboard
from medes_site import api, tokens, views

jobs_patterns = (
    [
        path("", views.job_list, name="list"),
        path("selfcheck/", views.job_start_selfcheck, name="start_selfcheck"),
        path("<int:pk>/", views.job_detail, name="detail"),
        path("<int:pk>/artifacts/<int:index>/", views.job_artifact, name="artifact"),
        path("<int:pk>/cancel/", views.job_cancel, name="cancel"),
        path("<int:pk>/resume/", views.job_resume, name="resume"),
    ],
    "jobs",
)

urlpatterns = [
    path("", views.home, name="home"),
    path("home/<str:role>/", views.role_home, name="role_home"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jobs/", include(jobs_patterns)),
    path("benchmark/", include("benchmark.urls")),
    path("", include("annotation.urls")),  # annotate/… and campaigns/…
    path("accounts/tokens/", tokens.token_list, name="api_tokens"),
    path("accounts/tokens/<str:key>/revoke/", tokens.token_revoke, name="api_token_revoke"),
    path("api/", include(api.urlpatterns)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # the split view serves its start-up script as a file: the Content-Security-Policy allows no inline script
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema", template_name="api/swagger_ui.html"),
        name="api_docs",
    ),
    path("api/benchmark/", include("benchmark.api")),
    path("api/annotation/", include("annotation.api")),
    path("api/alignment/", include("alignment.api")),
    path("", include("alignment.urls")),  # guardian/…, leaderboard/…, alignment/data/…, alignment/pipelines/…
    # the public pages: no account needed
    path("public/leaderboard/<int:pk>/", views_leaderboard.public_leaderboard, name="public_leaderboard"),
    path("healthz", views.healthz, name="healthz"),
    # pages without our <link rel=icon> (the admin's, a downloaded file's) make the browser ask for this one
    path("favicon.ico", views.favicon),
    path("admin/", admin.site.urls),
]

"""The corpus and bank pages: sources and their provisions, scenarios (list, detail, edit of every field, bulk
status) and releases. Writing a new scenario and one scenario's workflow moves: ``views_authoring``."""

from __future__ import annotations

import uuid
from pathlib import Path, PurePath

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from benchmark import exports, picker, search
from benchmark.forms import (
    BulkStatusForm,
    PublishReleaseForm,
    ScenarioFilterForm,
    SourceFilterForm,
    SourcePageForm,
    SourceUploadForm,
)
from benchmark.forms_authoring import ScenarioEditForm
from benchmark.models import NearDuplicate, Release, Scenario, ScenarioStatus, Source, SourceKind
from benchmark.releases import ReleaseError, datasheet_facts, publish_release
from benchmark.scenarios import TRANSITIONS, ScenarioError, StaleEdit, change_status, in_scene, update_scenario
from benchmark.services import SourceError, SourceMeta, add_source
from medes_site import files, jobs
from medes_site.http import AuthedRequest
from medes_site.keyset import BadCursor, Ordering, paginate_keyset
from medes_site.models import Job, JobStatus
from medes_site.paging import paginate
from medes_site.roles import Role, has_role, role_required

SOURCES_PER_PAGE = 50
# A source's page shows its provisions a page at a time, each up to a length (the rest on the provision's own
# page), and its first parse warnings: a very large source must not become a page of tens of megabytes.
PROVISIONS_PER_PAGE = 200
PROVISION_TEXT_SHOWN = 5000
WARNINGS_SHOWN = 200
SOURCE_ROLES = (Role.CURATOR, Role.REVIEWER)
# ML engineers evaluate models on releases, so they read them too.
RELEASE_ROLES = (Role.CURATOR, Role.REVIEWER, Role.ML_ENGINEER)


def sources_for_user(request: AuthedRequest) -> QuerySet[Source]:
    """The corpus is shared by the whole team of curators and reviewers."""
    return Source.objects.all()


def get_source_for_user(request: AuthedRequest, pk: int) -> Source:
    source = sources_for_user(request).filter(pk=pk).first()
    if source is None:
        raise Http404
    return source


@require_GET
@role_required(*SOURCE_ROLES)
def source_list(request: AuthedRequest) -> HttpResponse:
    form = SourceFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "benchmark/sources.html", {"form": form, "page": None}, status=400)
    queryset = sources_for_user(request)
    if form.cleaned_data["kind"]:
        queryset = queryset.filter(kind=form.cleaned_data["kind"])
    if form.cleaned_data["q"]:
        queryset = queryset.filter(title__icontains=form.cleaned_data["q"])
    context = {
        "form": form,
        "may_add": has_role(request.user, Role.CURATOR),
        **paginate(request, queryset, form.cleaned_data["page"], SOURCES_PER_PAGE),
    }
    template = "benchmark/sources.html#source-table" if request.htmx else "benchmark/sources.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@role_required(Role.CURATOR)
def source_add(request: AuthedRequest) -> HttpResponse:
    """Upload a source. Nothing is stored unless the file passes the checks; a new source is parsed by
    a job, and the same file uploaded again leads to the source that already has it."""
    if request.method == "GET":
        return render(request, "benchmark/source_add.html", {"form": SourceUploadForm()})
    form = SourceUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "benchmark/source_add.html", {"form": form}, status=400)
    upload = form.cleaned_data["file"]
    meta = SourceMeta(
        title=form.cleaned_data["title"] or PurePath(upload.name).stem,
        kind=SourceKind(form.cleaned_data["kind"]),
        issuer=form.cleaned_data["issuer"],
        promulgated_on=form.cleaned_data["promulgated_on"],
        effective_on=form.cleaned_data["effective_on"],
        version=form.cleaned_data["version"],
        supersedes=form.cleaned_data["supersedes"],
    )
    try:
        source, created = add_source(upload, upload.name, meta, user=request.user)
    except SourceError as error:
        form.add_error("file", str(error))
        return render(request, "benchmark/source_add.html", {"form": form}, status=400)
    if created:
        jobs.enqueue_job("benchmark.parse_source", {"source": source.pk}, user=request.user, request=request)
        messages.success(request, _("Added. It is being parsed; this page updates when that ends."))
    else:
        messages.info(request, _("This file is already in the corpus, as this source; nothing was added."))
    return redirect("benchmark:source", pk=source.pk)


@require_GET
@role_required(*SOURCE_ROLES)
def source_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    source = get_source_for_user(request, pk)
    form = SourcePageForm(request.GET)
    if not form.is_valid():
        return render(request, "benchmark/source_detail.html", {"source": source, "form": form, "tree": []}, status=400)
    all_provisions = source.provisions.all()
    number = form.cleaned_data["page"]
    wanted = form.cleaned_data["provision"]
    if wanted is not None:  # a link to one provision opens the page that holds it
        before = all_provisions.filter(position__lt=all_provisions.filter(pk=wanted).values("position")[:1]).count()
        number = before // PROVISIONS_PER_PAGE + 1
    paged = paginate(request, all_provisions, number, PROVISIONS_PER_PAGE, drop=("provision",))
    provisions = list(paged["page"].object_list)
    tree: list[dict[str, object]] = []  # consecutive provisions grouped under their division headings
    for provision in provisions:
        heading = " · ".join(
            part for part in (provision.book, provision.part, provision.chapter, provision.section) if part
        )
        if not tree or tree[-1]["heading"] != heading:
            tree.append({"heading": heading, "provisions": []})
        tree[-1]["provisions"].append(provision)  # type: ignore[attr-defined]
    parsing = _active_parse(source).exists()
    context = {
        "source": source,
        "tree": tree,
        "may_parse": has_role(request.user, Role.CURATOR),
        "parsing": parsing,
        "hand_fixed": all_provisions.filter(edited_by_hand=True).count(),
        "text_limit": PROVISION_TEXT_SHOWN,
        "warnings": source.parse_warnings[:WARNINGS_SHOWN],
        **paged,
    }
    if request.htmx and not parsing:
        # The parse just ended: reload the whole page so the provisions appear.
        response = HttpResponse()
        response["HX-Refresh"] = "true"
        return response
    template = "benchmark/source_detail.html#source-status" if request.htmx else "benchmark/source_detail.html"
    return render(request, template, context)


def _active_parse(source: Source) -> QuerySet[Job]:
    return Job.objects.filter(
        kind="benchmark.parse_source", config__source=source.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    )


@require_POST
@role_required(Role.CURATOR)
def source_parse(request: AuthedRequest, pk: int) -> HttpResponse:
    source = get_source_for_user(request, pk)
    running = _active_parse(source).first()
    if running is not None:  # one parse of a source at a time: follow the one already under way
        return redirect("jobs:detail", pk=running.pk)
    job = jobs.enqueue_job("benchmark.parse_source", {"source": source.pk}, user=request.user, request=request)
    messages.info(
        request, _("Parsing started as job %(pk)s; this page shows the result when it ends.") % {"pk": job.pk}
    )
    return redirect("jobs:detail", pk=job.pk)


@require_GET
@role_required(*SOURCE_ROLES)
def source_download(request: AuthedRequest, pk: int) -> HttpResponse | FileResponse:
    """Always an attachment, never rendered inline: uploaded files are not trusted (DESIGN.md §9)."""
    source = get_source_for_user(request, pk)
    response = files.attachment(Path(source.file.path), source.original_name, root=settings.MEDIA_ROOT)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- scenarios ------------------------------------------------------------------------------------

SCENARIOS_PER_PAGE = 50
# Newest first, paged by keyset (medes_site.keyset): page 500 costs what page 1 does.
SCENARIO_ORDER = Ordering(Scenario, ("-pk",))
# The count stops here: counting a million rows would cost more than the page; past it PostgreSQL's planner
# says about how many ("about 1,000,000"; SQLite: "more than 10,000"). A text search shows that estimate
# without counting at all: even a capped count of a broad search (患者) reads thousands of rows.
SCENARIOS_COUNTED = 10_000


def scenarios_for_user(request: AuthedRequest) -> QuerySet[Scenario]:
    """The bank is shared by curators and reviewers (role checks happen in the decorators)."""
    return Scenario.objects.select_related("scene")


def get_scenario_for_user(request: AuthedRequest, pk: int) -> Scenario:
    scenario = scenarios_for_user(request).filter(pk=pk).first()
    if scenario is None:
        raise Http404
    return scenario


@require_GET
@role_required(*SOURCE_ROLES)
def scenario_list(request: AuthedRequest) -> HttpResponse:
    form = ScenarioFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "benchmark/scenarios.html", {"form": form, "page": None}, status=400)
    data = form.cleaned_data
    queryset = (
        scenarios_for_user(request)
        .only("id", "kind", "stem", "key", "status", "origin", "version", "updated_at", "scene__name")
        .prefetch_related("scenes")
        .annotate(near_duplicate=Exists(NearDuplicate.objects.filter(scenario=OuterRef("pk"))))
    )
    if data["near_duplicate"]:
        queryset = queryset.filter(near_duplicate=True)
    if data["scene"]:  # every item filed under the scene, whether it is its primary scene or another one
        queryset = queryset.filter(in_scene(data["scene"]))
    for name in ("status", "origin", "kind"):
        if data[name]:
            queryset = queryset.filter(**{name: data[name]})
    if data["source"]:
        queryset = queryset.filter(provisions__source=data["source"]).distinct()
    if data["q"]:
        queryset = queryset.filter(search.scenarios_containing(data["q"], search.vendor_of(queryset)))
    try:
        paged = paginate_keyset(
            request,
            queryset,
            SCENARIO_ORDER,
            SCENARIOS_PER_PAGE,
            number=data["page"],
            after=data["after"],
            before=data["before"],
            count_limit=SCENARIOS_COUNTED,
            estimate=search.estimated_rows,
            count_first=not data["q"],
        )
    except BadCursor:
        form.add_error(None, _("This page link is broken or was altered; start again from the first page."))
        return render(request, "benchmark/scenarios.html", {"form": form, "page": None}, status=400)
    context = {
        "form": form,
        "bulk_form": BulkStatusForm(),
        "may_curate": has_role(request.user, Role.CURATOR),
        **paged,
    }
    template = "benchmark/scenarios.html#scenario-table" if request.htmx else "benchmark/scenarios.html"
    return render(request, template, context)


@require_POST
@role_required(*SOURCE_ROLES)
def scenario_bulk_status(request: AuthedRequest) -> HttpResponse:
    form = BulkStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(f"{reverse('benchmark:scenarios')}?{request.POST.get('query', '')}")
    moved, refused = 0, []
    seen = form.seen_versions()
    for scenario in form.cleaned_data["ids"]:
        try:
            change_status(
                scenario.pk,
                form.cleaned_data["status"],
                user=request.user,
                expected_version=seen.get(scenario.pk),
                confirm_near_duplicates=form.cleaned_data["confirm_near_duplicates"],
            )
            moved += 1
        except ScenarioError as error:
            refused.append(f"#{scenario.pk}: {error}")
    messages.success(request, _("%(n)d scenarios moved.") % {"n": moved})
    for line in refused[:20]:
        messages.warning(request, line)
    return redirect(f"{reverse('benchmark:scenarios')}?{request.POST.get('query', '')}")


@require_GET
@role_required(*SOURCE_ROLES)
def scenario_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    scenario = get_scenario_for_user(request, pk)
    return render(request, "benchmark/scenario_detail.html", scenario_context(request, scenario))


def scenario_context(
    request: AuthedRequest, scenario: Scenario, form: ScenarioEditForm | None = None, **extra: object
) -> dict[str, object]:
    """The scenario page: the item, its provisions and history, the edit form (as loaded, or as the user sent
    it back) and the workflow moves it may make now."""
    provisions = scenario.provisions.select_related("source")
    history = scenario.history.select_related("history_user").order_by("-history_date")[:20]
    if form is None:
        form = ScenarioEditForm(initial=ScenarioEditForm.initial_of(scenario))
    moves = [status for status in ScenarioStatus if status in TRANSITIONS.get(scenario.status, set())]
    english = (get_language() or "").startswith("en")
    return {
        "scenario": scenario,
        "form": form,
        "provisions": provisions,
        "principles": [p.name_en if english else p.name_zh for p in scenario.principles.all()],
        "history": history,
        "may_edit": has_role(request.user, Role.CURATOR),
        "moves": moves,
        "may_move": has_role(request.user, *SOURCE_ROLES),
        "flagged": scenario.near_duplicates.exists(),
        **extra,
    }


@require_POST
@role_required(Role.CURATOR)
def scenario_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    """Save every field under optimistic locking: if someone saved since this form was loaded, answer 409 with
    their version beside this one, and keep what this user typed. A search in the provision picker without
    JavaScript shows the form again with the matches and saves nothing."""
    scenario = get_scenario_for_user(request, pk)
    form = ScenarioEditForm(request.POST)
    page = "benchmark/scenario_detail.html"
    if picker.searching(form):
        return render(request, page, scenario_context(request, scenario, form))
    if not form.is_valid():
        return render(request, page, scenario_context(request, scenario, form), status=400)
    changes = form.values()
    try:
        update_scenario(scenario.pk, expected_version=form.cleaned_data["version"], changes=changes, user=request.user)
    except StaleEdit as stale:
        current = get_scenario_for_user(request, stale.current.pk)
        return render(request, page, scenario_context(request, current, form, conflict=current), status=409)
    except ScenarioError as error:
        form.add_error(None, str(error))
        return render(request, page, scenario_context(request, scenario, form), status=400)
    messages.success(request, _("Saved."))
    return redirect("benchmark:scenario", pk=scenario.pk)


# --- releases -------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@role_required(*RELEASE_ROLES)
def release_list(request: AuthedRequest) -> HttpResponse:
    may_publish = has_role(request.user, Role.CURATOR)
    form = PublishReleaseForm(request.POST or None)
    if request.method == "POST":
        if not may_publish:
            raise PermissionDenied
        if form.is_valid():
            try:
                release = publish_release(
                    form.cleaned_data["name"],
                    user=request.user,
                    test_fraction=form.cleaned_data["test_fraction"],
                    notes=form.cleaned_data["notes"],
                )
            except ReleaseError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("Published %(name)s.") % {"name": release.name})
                return redirect("benchmark:release", pk=release.pk)
        status = 400
    else:
        status = 200
    releases = Release.objects.select_related("created_by")
    accepted = Scenario.objects.filter(status=ScenarioStatus.ACCEPTED).count()
    context = {"releases": releases, "form": form, "may_publish": may_publish, "accepted": accepted}
    return render(request, "benchmark/releases.html", context, status=status)


@require_GET
@role_required(*RELEASE_ROLES)
def release_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    release = Release.objects.filter(pk=pk).first()
    if release is None:
        raise Http404
    downloads = []
    for spec in exports.FORMATS.values():
        ready = spec.name in exports.INLINE_FORMATS or exports.download_path(release, spec.name).exists()
        downloads.append(
            {"format": spec, "ready": ready, "job": None if ready else _export_job(request, release, spec)}
        )
    context = {
        "release": release,
        "sheet": datasheet_facts(release),
        "downloads": downloads,
        "may_export": jobs.may_start(request.user, jobs.get_kind("benchmark.export_release")),
        "request_key": uuid.uuid4().hex,
    }
    return render(request, "benchmark/release_detail.html", context)


def _export_job(request: AuthedRequest, release: Release, spec: exports.ExportFormat) -> Job | None:
    """This user's export of this release and format still under way, if any."""
    return (
        jobs.jobs_for_user(request.user)
        .filter(
            kind="benchmark.export_release",
            config__release=release.pk,
            config__format=spec.name,
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        )
        .order_by("-pk")
        .first()
    )


@require_GET
@role_required(*RELEASE_ROLES)
def release_download(request: AuthedRequest, pk: int, fmt: str) -> HttpResponseBase:
    release = Release.objects.filter(pk=pk).first()
    if release is None or fmt not in exports.FORMATS:
        raise Http404
    response = exports.download_response(release, fmt)
    if response is None:
        label = exports.FORMATS[fmt].label
        messages.info(request, _("Prepare the %(format)s export first.") % {"format": label})
        return redirect("benchmark:release", pk=release.pk)
    return response


@require_POST
@role_required(*RELEASE_ROLES)
def release_export(request: AuthedRequest, pk: int, fmt: str) -> HttpResponse:
    """Prepare a download as a job; the release page links it once the job has written it."""
    release = Release.objects.filter(pk=pk).first()
    if release is None or fmt not in exports.FORMATS:
        raise Http404
    if not jobs.may_start(request.user, jobs.get_kind("benchmark.export_release")):
        raise PermissionDenied
    running = _export_job(request, release, exports.FORMATS[fmt])
    if running is not None:
        return redirect("jobs:detail", pk=running.pk)
    request_key = request.POST.get("request_key", "")[:64] or None
    job = jobs.enqueue_job(
        "benchmark.export_release",
        {"release": release.pk, "format": fmt},
        user=request.user,
        request=request,
        request_key=request_key,
    )
    return redirect("jobs:detail", pk=job.pk)

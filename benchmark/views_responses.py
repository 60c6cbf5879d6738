"""Screens of the model registry, the stored responses with their accuracy, and the import screens."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from benchmark.forms_responses import (
    ImportOptionsForm,
    ImportUploadForm,
    ModelResponsesFilterForm,
    RegisteredModelForm,
)
from benchmark.importers import ImportFileError
from benchmark.importers.mapped_scenarios import guess_mapping, preview
from benchmark.importers.responses import report_as_dict
from benchmark.importers.uploads import MAPPED, run_upload, store_upload, upload_table, uploads_for_user
from benchmark.models import ImportUpload, RegisteredModel, Response
from benchmark.responses import (
    ModelError,
    accuracy,
    may_register_runnable,
    model_summary,
    models_for_user,
    register_model,
    responses_for_user,
    scene_accuracy,
)
from medes_site.http import AuthedRequest
from medes_site.paging import paginate
from medes_site.roles import Role, has_role, role_required

MODEL_ROLES = (Role.CURATOR, Role.ML_ENGINEER)
UNREADABLE_PER_PAGE = 50


def get_model_for_user(request: AuthedRequest, pk: int) -> RegisteredModel:
    model = models_for_user(request.user).filter(pk=pk).first()
    if model is None:
        raise Http404
    return model


def get_response_for_user(request: AuthedRequest, pk: int) -> Response:
    response = responses_for_user(request.user).filter(pk=pk).first()
    if response is None:
        raise Http404
    return response


def get_upload_for_user(request: AuthedRequest, pk: int) -> ImportUpload:
    upload = uploads_for_user(request.user).filter(pk=pk).first()
    if upload is None:
        raise Http404
    return upload


@require_GET
@role_required(*MODEL_ROLES)
def model_list(request: AuthedRequest) -> HttpResponse:
    rows = model_summary(models_for_user(request.user))
    return render(request, "benchmark/models.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@role_required(*MODEL_ROLES)
def model_add(request: AuthedRequest) -> HttpResponse:
    form = RegisteredModelForm(request.POST or None, user=request.user)
    context = {"form": form, "may_register_runnable": may_register_runnable(request.user)}
    if request.method == "POST":
        if form.is_valid():
            try:
                model = register_model(**form.cleaned_data, user=request.user)
            except ModelError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("Registered %(name)s.") % {"name": model.name})
                return redirect("benchmark:model", pk=model.pk)
        return render(request, "benchmark/model_add.html", context, status=400)
    return render(request, "benchmark/model_add.html", context)


@require_GET
@role_required(*MODEL_ROLES)
def model_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    model = get_model_for_user(request, pk)
    form = ModelResponsesFilterForm(request.GET)
    if not form.is_valid():
        context = {"model": model, "form": form, "page": None, "may_see_config": may_register_runnable(request.user)}
        return render(request, "benchmark/model_detail.html", context, status=400)
    responses = responses_for_user(request.user).filter(model=model)
    unreadable = (
        responses.filter(extractable=False)  # through responses_for_user: none the user labels blind
        .select_related(None)
        .select_related("scenario__scene")
        .only("id", "origin_detail", "scenario__id", "scenario__stem", "scenario__scene__name")
    )
    context = {
        "model": model,
        "form": form,
        "total": responses.count(),
        "overall": accuracy(responses),
        "by_scene": scene_accuracy(responses),
        "may_see_config": may_register_runnable(request.user),
        **paginate(request, unreadable.order_by("pk"), form.cleaned_data["page"], UNREADABLE_PER_PAGE),
    }
    template = "benchmark/model_detail.html#unreadable" if request.htmx else "benchmark/model_detail.html"
    return render(request, template, context)


@require_GET
@role_required(*MODEL_ROLES)
def response_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    response = get_response_for_user(request, pk)
    context = {"response": response, "may_see_bank": has_role(request.user, Role.CURATOR, Role.REVIEWER)}
    return render(request, "benchmark/response_detail.html", context)


# --- imports --------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@role_required(Role.CURATOR)
def import_list(request: AuthedRequest) -> HttpResponse:
    """Upload a file to import: it is kept, and its dry run shown, before anything is imported."""
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                stored = store_upload(upload, upload.name, form.cleaned_data["fmt"], user=request.user)
            except ImportFileError as error:
                form.add_error("file", str(error))
            else:
                return redirect("benchmark:import", pk=stored.pk)
        status = 400
    uploads = uploads_for_user(request.user)[:20]
    return render(request, "benchmark/imports.html", {"form": form, "uploads": uploads}, status=status)


@require_http_methods(["GET", "POST"])
@role_required(Role.CURATOR)
def import_detail(request: AuthedRequest, pk: int) -> HttpResponse:
    """GET: the file's columns and preview, the options (and column mapping) and, once they are given,
    the dry run. POST: the import with the same options; a file with errors imports nothing."""
    upload = get_upload_for_user(request, pk)
    context: dict[str, object] = {"upload": upload, "mapped": upload.fmt in MAPPED}
    try:
        table = upload_table(upload)
    except ImportFileError as error:
        context["file_error"] = str(error)
        return render(request, "benchmark/import_detail.html", context, status=400)
    form = ImportOptionsForm(upload.fmt, table.columns)
    guessed = guess_mapping(table.columns, form.mapped_fields)
    if request.method == "POST":
        form = ImportOptionsForm(upload.fmt, table.columns, request.POST)
    elif "dry_run" in request.GET:
        form = ImportOptionsForm(upload.fmt, table.columns, request.GET)
    elif upload.fmt not in MAPPED:
        form = ImportOptionsForm(upload.fmt, table.columns, form.defaults(guessed))
    else:
        form = ImportOptionsForm(upload.fmt, table.columns, initial=form.defaults(guessed))
    context.update({"form": form, "columns": table.columns, "preview": preview(table)})
    if not form.is_bound:
        return render(request, "benchmark/import_detail.html", context)
    if not form.is_valid():
        return render(request, "benchmark/import_detail.html", context, status=400)
    dry_run = request.method != "POST"
    try:
        report = run_upload(upload, form.options(), dry_run=dry_run, user=request.user)
    except ImportFileError as error:
        context["file_error"] = str(error)
        return render(request, "benchmark/import_detail.html", context, status=400)
    context["report"] = report_as_dict(report)
    if dry_run or report.errors:
        return render(request, "benchmark/import_detail.html", context, status=400 if not dry_run else 200)
    messages.success(request, _("Imported: %(n)d new rows written.") % {"n": report.new})
    return redirect("benchmark:import", pk=upload.pk)

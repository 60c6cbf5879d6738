"""The model registry and stored responses: registering a model, reading the answers of objective items
again after the extractor changes, and accuracy per model and per clinical scene, counted in the database.

An objective response is right only if the option set read from it equals the key of the scenario version
it answered; a response whose answer cannot be read counts as wrong (as in ``scoring.Tally``). Open cases
(subjective) are not read here: their labels come from annotators and the guardian.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from benchmark.models import ModelKind, RegisteredModel, Response, ResponseOrigin, Scenario
from medes_site import audit, outbound
from medes_site.model_dirs import ModelPathError, checked_model_dir
from medes_site.models import Job
from medes_site.roles import Role, has_role
from medes_site.storable import storable_text

OBJECTIVE = Q(extractable__isnull=False)  # objective responses are the ones whose answer is read


class ModelError(ValueError):
    """The model cannot be registered as asked; the message says why."""


# Kinds that point the workers at something: a directory they load, a URL they call with a key. Only ML engineers
# (and administrators, who hold every role) register or edit them; curators register models known from imports.
RUNNABLE_KINDS = (ModelKind.HF_DIRECTORY, ModelKind.OPENAI_ENDPOINT)
CONFIG_FIELDS = ("path", "base_url", "model_id", "api_key_env")  # where a model runs: shown to those users only


def may_register_runnable(user: User | AbstractBaseUser | AnonymousUser) -> bool:
    return has_role(user, Role.ML_ENGINEER)


def kinds_for_user(user: User | AbstractBaseUser | AnonymousUser) -> list[tuple[str, str]]:
    """The kinds of model ``user`` may register, as form choices."""
    kinds = ModelKind if may_register_runnable(user) else [ModelKind.IMPORTED]
    return [(kind.value, str(kind.label)) for kind in kinds]


def check_may_register(user: User | AbstractBaseUser | AnonymousUser | None, kind: str) -> None:
    """Refuse a user who may not register (or edit) a model of this kind. ``None`` is the server itself: a job
    registering the model it wrote, the demo, an import; the paths and URLs it gives are checked all the same."""
    if user is not None and kind in RUNNABLE_KINDS and not may_register_runnable(user):
        raise ModelError(
            _(
                "Only ML engineers and administrators register local model directories and endpoints; a model "
                "known from imported responses needs neither."
            )
        )


def check_model_fields(kind: str, *, path: str, base_url: str, model_id: str, api_key_env: str = "") -> dict[str, str]:
    """Each kind needs what it will be run with: a directory under a models root, or an endpoint the workers may
    call (medes_site.outbound) and the model it serves, with its key in an allowed variable. Returns the fields to
    store: those another kind would use are emptied, so a row never carries a URL or a variable it does not use."""
    fields = {"path": "", "base_url": "", "model_id": "", "api_key_env": ""}
    path, base_url, model_id, api_key_env = path.strip(), base_url.strip(), model_id.strip(), api_key_env.strip()
    if kind == ModelKind.HF_DIRECTORY:
        if not path:
            raise ModelError(_("A local model needs the directory it is loaded from."))
        try:
            checked_model_dir(path)
        except ModelPathError as error:
            raise ModelError(str(error)) from None
        fields["path"] = path
    elif kind == ModelKind.OPENAI_ENDPOINT:
        if not base_url or not model_id:
            raise ModelError(_("An endpoint needs its base URL and the id of the model it serves."))
        try:
            outbound.check_url(base_url)
        except outbound.OutboundError as error:
            raise ModelError(str(error)) from None
        refusal = outbound.key_variable_refusal(api_key_env) if api_key_env else None
        if refusal is not None:
            raise ModelError(refusal)
        fields.update(base_url=base_url, model_id=model_id, api_key_env=api_key_env)
    elif kind != ModelKind.IMPORTED:
        raise ModelError(_("Unknown kind of model."))
    return fields


@transaction.atomic
def register_model(
    *,
    name: str,
    kind: str,
    path: str = "",
    base_url: str = "",
    model_id: str = "",
    api_key_env: str = "",
    notes: str = "",
    user: User | None = None,
) -> RegisteredModel:
    """Register a model; ``user`` is who asks (None: the server itself, see ``check_may_register``)."""
    name = name.strip()
    if not name:
        raise ModelError(_("A model needs a name."))
    check_may_register(user, kind)
    if RegisteredModel.objects.filter(name=name).exists():
        raise ModelError(_("A model named %(name)s is already registered.") % {"name": name})
    fields = check_model_fields(kind, path=path, base_url=base_url, model_id=model_id, api_key_env=api_key_env)
    model = RegisteredModel.objects.create(name=name, kind=kind, notes=notes, created_by=user, **fields)
    audit.record("model.register", actor=user, obj=model, details={"kind": kind})
    return model


def models_for_user(user: User) -> QuerySet[RegisteredModel]:
    """The registry is shared by the team that may see it (role checks happen in the views)."""
    return RegisteredModel.objects.all()


# Rules that hide responses from a user (annotation registers blind labeling here: an answer being labeled in a
# campaign the user annotates in, and so the model that wrote it, stays hidden from them on every response page,
# the API and the admin). benchmark cannot import annotation, so the rule comes to it, as DATASHEET_SECTIONS do.
RESPONSE_FILTERS: list[Callable[[Any, QuerySet[Response]], QuerySet[Response]]] = []


def visible_responses(user: Any, queryset: QuerySet[Response]) -> QuerySet[Response]:
    for rule in RESPONSE_FILTERS:
        queryset = rule(user, queryset)
    return queryset


def responses_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Response]:
    return visible_responses(user, Response.objects.select_related("model", "scenario", "scenario__scene"))


@dataclass(frozen=True)
class Accuracy:
    items: int  # objective responses
    extracted: int
    correct: int

    @property
    def unextractable(self) -> int:
        return self.items - self.extracted

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.items if self.items else None

    @property
    def percent(self) -> float | None:
        return None if self.accuracy is None else 100 * self.accuracy

    @classmethod
    def of(cls, row: dict[str, Any]) -> Accuracy:
        return cls(items=row["items"], extracted=row["extracted"], correct=row["correct_count"])


def _tallies(prefix: str = "") -> dict[str, Count]:
    p = prefix
    return {
        "items": Count(f"{p}pk", filter=Q(**{f"{p}extractable__isnull": False})),
        "extracted": Count(f"{p}pk", filter=Q(**{f"{p}extractable": True})),
        "correct_count": Count(f"{p}pk", filter=Q(**{f"{p}correct": True})),
    }


def model_summary(models: QuerySet[RegisteredModel]) -> list[tuple[RegisteredModel, int, Accuracy]]:
    """Each model with its number of responses and its objective accuracy: one query."""
    rows = models.annotate(response_count=Count("responses"), **_tallies("responses__"))
    return [(model, model.response_count, Accuracy.of(model.__dict__)) for model in rows]


def accuracy(responses: QuerySet[Response]) -> Accuracy:
    return Accuracy.of(responses.aggregate(**_tallies()))


def scene_accuracy(responses: QuerySet[Response]) -> list[tuple[str, Accuracy]]:
    """Accuracy per clinical scene, in the taxonomy's order (scenes without objective responses left out); an
    item filed under several scenes counts in each."""
    rows = (
        responses.filter(OBJECTIVE)
        .values("scenario__scenes__name", "scenario__scenes__position")
        .annotate(**_tallies())
        .order_by("scenario__scenes__position", "scenario__scenes__name")
    )
    return [(row["scenario__scenes__name"], Accuracy.of(dict(row))) for row in rows]


def reread_answers(responses: QuerySet[Response], *, user: User | None = None) -> int:
    """Read every objective answer again (after the extractor improved); returns how many changed."""
    changed: list[Response] = []
    for response in responses.select_related("scenario").iterator(chunk_size=1000):
        before = (response.choice, response.extractable, response.correct)
        response.read_answer(response.scenario.kind)
        if (response.choice, response.extractable, response.correct) != before:
            changed.append(response)
    Response.objects.bulk_update(changed, ["choice", "extractable", "correct"], batch_size=500)
    if changed:
        audit.record("response.reread", actor=user, details={"changed": len(changed)})
    return len(changed)


def store_response(
    model: RegisteredModel,
    scenario: Scenario,
    text: str,
    *,
    origin: str = ResponseOrigin.GENERATED,
    origin_detail: str = "",
    job: Job | None = None,
    user: User | None = None,
) -> tuple[Response, bool]:
    """Store one model's answer to the scenario's current version, its answer read; a second answer of the
    same model to the same version is not stored (``created`` False, the stored one returned), so a job
    that runs again after a crash adds nothing twice."""
    existing = Response.objects.filter(model=model, scenario=scenario, scenario_hash=scenario.content_hash).first()
    if existing is not None:
        return existing, False
    response = Response(
        model=model,
        scenario=scenario,
        scenario_version=scenario.version,
        scenario_hash=scenario.content_hash,
        answer_key=scenario.key,
        text=storable_text(text),
        origin=origin,
        origin_detail=origin_detail[:255],
        job=job,
        created_by=user,
    )
    try:
        with transaction.atomic():
            response.save()
    except IntegrityError:  # the same answer stored meanwhile by another worker
        return Response.objects.get(model=model, scenario=scenario, scenario_hash=scenario.content_hash), False
    return response, True

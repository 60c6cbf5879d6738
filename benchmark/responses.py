"""The model registry and stored responses: registering a model, reading the answers of objective items
again after the extractor changes, and accuracy per model and per clinical scene, counted in the database.

An objective response is right only if the option set read from it equals the key of the scenario version
it answered; a response whose answer cannot be read counts as wrong (as in ``scoring.Tally``). Open cases
(subjective) are not read here: their labels come from annotators and the guardian.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from benchmark.models import ModelKind, RegisteredModel, Response, ResponseOrigin, Scenario
from medes_site import audit
from medes_site.models import Job

OBJECTIVE = Q(extractable__isnull=False)  # objective responses are the ones whose answer is read


class ModelError(ValueError):
    """The model cannot be registered as asked; the message says why."""


def check_model_fields(kind: str, *, path: str, base_url: str, model_id: str) -> None:
    """Each kind needs what it will be run with: a directory, or an endpoint and the model it serves."""
    if kind == ModelKind.HF_DIRECTORY:
        if not path:
            raise ModelError(_("A local model needs the directory it is loaded from."))
        posix = PurePosixPath(path)
        if not posix.is_absolute() or ".." in posix.parts:
            raise ModelError(_("Give the directory as an absolute path without “..”."))
    elif kind == ModelKind.OPENAI_ENDPOINT:
        if not base_url or not model_id:
            raise ModelError(_("An endpoint needs its base URL and the id of the model it serves."))
        url = urlsplit(base_url)  # hosts such as http://vllm:8000/v1 have no domain: URLValidator would refuse them
        if url.scheme not in {"http", "https"} or not url.hostname:
            raise ModelError(_("The base URL starts with http:// or https:// and names a host."))
    elif kind != ModelKind.IMPORTED:
        raise ModelError(_("Unknown kind of model."))


@transaction.atomic
def register_model(
    *, name: str, kind: str, path: str = "", base_url: str = "", model_id: str = "", api_key_env: str = "",
    notes: str = "", user: User | None = None,
) -> RegisteredModel:  # fmt: skip
    name = name.strip()
    if not name:
        raise ModelError(_("A model needs a name."))
    if RegisteredModel.objects.filter(name=name).exists():
        raise ModelError(_("A model named %(name)s is already registered.") % {"name": name})
    check_model_fields(kind, path=path.strip(), base_url=base_url.strip(), model_id=model_id.strip())
    model = RegisteredModel.objects.create(
        name=name, kind=kind, path=path.strip(), base_url=base_url.strip(), model_id=model_id.strip(),
        api_key_env=api_key_env.strip(), notes=notes, created_by=user,
    )  # fmt: skip
    audit.record("model.register", actor=user, obj=model, details={"kind": kind})
    return model


def models_for_user(user: User) -> QuerySet[RegisteredModel]:
    """The registry is shared by the team that may see it (role checks happen in the views)."""
    return RegisteredModel.objects.all()


def responses_for_user(user: User) -> QuerySet[Response]:
    return Response.objects.select_related("model", "scenario", "scenario__scene")


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
    """Accuracy per clinical scene, in the taxonomy's order (scenes without objective responses left out)."""
    rows = (
        responses.filter(OBJECTIVE)
        .values("scenario__scene__name", "scenario__scene__position")
        .annotate(**_tallies())
        .order_by("scenario__scene__position", "scenario__scene__name")
    )
    return [(row["scenario__scene__name"], Accuracy.of(dict(row))) for row in rows]


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
    model: RegisteredModel, scenario: Scenario, text: str, *, origin: str = ResponseOrigin.GENERATED,
    origin_detail: str = "", job: Job | None = None, user: User | None = None,
) -> tuple[Response, bool]:  # fmt: skip
    """Store one model's answer to the scenario's current version, its answer read; a second answer of the
    same model to the same version is not stored (``created`` False, the stored one returned), so a job
    that runs again after a crash adds nothing twice."""
    existing = Response.objects.filter(model=model, scenario=scenario, scenario_hash=scenario.content_hash).first()
    if existing is not None:
        return existing, False
    response = Response(
        model=model, scenario=scenario, scenario_version=scenario.version, scenario_hash=scenario.content_hash,
        answer_key=scenario.key, text=text, origin=origin, origin_detail=origin_detail[:255], job=job,
        created_by=user,
    )  # fmt: skip
    try:
        with transaction.atomic():
            response.save()
    except IntegrityError:  # the same answer stored meanwhile by another worker
        return Response.objects.get(model=model, scenario=scenario, scenario_hash=scenario.content_hash), False
    return response, True

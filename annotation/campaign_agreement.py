"""A campaign's agreement figures, as the agreement page shows them: computed inline for a small campaign or by
the ``annotation.agreement`` job (annotation.jobs) for a large one, stored as JSON, then turned into the page's
tables and SVG bar chart. The statistics themselves live in annotation.agreement.

Who may see them is decided by the callers (annotation.review.may_see_labels): the figures describe other
people's labels.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.db.models import IntegerField, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from annotation.agreement import (
    Table,
    against_reference,
    dimension_agreement,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
)
from annotation.models import AcceptedLabel, Campaign, Label
from annotation.services import schema_of
from medes_site.models import Job, JobStatus

AGREEMENT_JOB = "annotation.agreement"
CHUNK = 20_000  # rows read at a time


def compute_agreement(campaign: Campaign) -> dict[str, Any]:
    """Every figure of the agreement page, as JSON: per dimension and overall, each with its counts, and each
    annotator against the accepted labels. Annotators are named by id here; pages add the names.

    The labels come in one streamed query, each score read out of the JSON by the database, into arrays; the
    statistics work on those (annotation.agreement.Table): a 100,000-item campaign takes seconds (issue 17)."""
    keys = list(schema_of(campaign).keys)
    # the labels annotation.services.ratings reads, gold checks left out (tests/test_bulk_paths.py holds the two
    # to the same figures)
    labels = _score_rows(
        Label.objects.filter(item__campaign=campaign).filter(Q(item__is_gold=False) | Q(accepted_from__isnull=False)),
        ("item_id", "annotator_id"),
        keys,
    )
    accepted = _score_rows(AcceptedLabel.objects.filter(item__campaign=campaign), ("item_id",), keys)
    annotators = sorted(np.unique(labels[:, 1]).astype(np.int64).tolist(), key=str)  # _annotators' order
    ids = np.array(annotators, dtype=np.int64)
    by_id = np.argsort(ids)
    rows = by_id[np.searchsorted(ids, labels[:, 1].astype(np.int64), sorter=by_id)]
    dimensions, matrices = [], []
    for column, key in enumerate(keys, start=2):
        rated = ~np.isnan(labels[:, column])
        items, at = np.unique(labels[rated, 0].astype(np.int64), return_inverse=True)
        matrix = np.full((len(annotators), len(items)), np.nan)
        matrix[rows[rated], at] = labels[rated, column]
        matrices.append(matrix)
        table = _rated_by(annotators, items, matrix)
        summary = dimension_agreement(key, table).as_dict()
        reference = _along(items, accepted[:, 0], accepted[:, column - 1])
        summary["against_consensus"] = {a: f.as_dict() for a, f in against_reference(table, reference).items()}
        dimensions.append(summary)
    # all dimensions as one pool of (item, dimension) units; no ordinal figure (the scales differ) and no pairs
    pooled = np.hstack(matrices) if matrices else np.empty((len(annotators), 0))
    table_all = _rated_by(annotators, np.arange(pooled.shape[1]), pooled)
    overall: dict[str, Any] = {
        "dimension": "overall",
        "items": pooled.shape[1],
        "ratings": table_all.ratings,
        "annotators": len(table_all.annotators),
        "fleiss_kappa": fleiss_kappa(table_all).as_dict(),
        "alpha_nominal": krippendorff_alpha(table_all).as_dict(),
        "percent_agreement": percent_agreement(table_all).as_dict(),
        "cohen_pairwise": [],
    }
    annotator_ids = {int(a) for d in dimensions for pair in d["cohen_pairwise"] for a in pair["annotators"]}
    annotator_ids |= {int(a) for d in dimensions for a in d["against_consensus"]}
    return {
        "campaign": campaign.pk,
        "computed_at": timezone.now().isoformat(),
        "dimensions": dimensions,
        "overall": overall,
        "accepted": int((~np.isnan(accepted[:, 1:])).sum()) // max(len(keys), 1),
        "annotators": {
            str(pk): name for pk, name in User.objects.filter(pk__in=annotator_ids).values_list("pk", "username")
        },
    }


def _score_rows(queryset: QuerySet[Any], fields: tuple[str, ...], keys: list[str]) -> np.ndarray:
    """``fields`` and each of the schema's ``keys`` of the rows' ``scores`` as a float array (NaN where a row has
    no such score), streamed in chunks so that the Python objects of only one chunk live at a time."""
    scores = [Cast(KeyTextTransform(key, "scores"), IntegerField()) for key in keys]
    rows = queryset.values_list(*fields, *scores).iterator(chunk_size=CHUNK)
    chunks = [np.empty((0, len(fields) + len(keys)))]
    while chunk := list(itertools.islice(rows, CHUNK)):
        chunks.append(np.array(chunk, dtype=float))  # None (no such score) becomes NaN
    return np.vstack(chunks)


def _rated_by(annotators: list[int], items: np.ndarray, matrix: np.ndarray) -> Table:
    """The table of the annotators who rated something in ``matrix`` (annotators × items)."""
    rated = ~np.isnan(matrix).all(axis=1)
    return Table([a for a, keep in zip(annotators, rated, strict=True) if keep], items, matrix[rated])


def _along(items: np.ndarray, ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` (of the items ``ids``) placed along ``items`` (sorted), NaN where an item has none."""
    placed = np.full(len(items), np.nan)
    known = ~np.isnan(values)
    ids, values = ids[known].astype(np.int64), values[known]
    at = np.searchsorted(items, ids)
    found = at < len(items)
    found[found] = items[at[found]] == ids[found]
    placed[at[found]] = values[found]
    return placed


def latest_agreement_job(campaign: Campaign) -> Job | None:
    return (
        Job.objects.filter(kind=AGREEMENT_JOB, config__campaign=campaign.pk)
        .exclude(status__in=[JobStatus.CANCELLED])
        .order_by("-created_at", "-pk")
        .first()
    )


# --- the page ------------------------------------------------------------------------------------------

# (the result's key, the figure's name: kept in English in data-figure attributes, shown translated)
FIGURES = (
    ("fleiss_kappa", gettext_noop("Fleiss κ")),
    ("alpha_nominal", gettext_noop("α nominal")),
    ("alpha_ordinal", gettext_noop("α ordinal")),
    ("percent_agreement", gettext_noop("% agreement")),
)


def agreement_view(result: dict[str, Any], *, with_names: bool = True) -> dict[str, Any]:
    """The stored agreement result for the template (each figure as its English name, its name in the user's
    language and its value), and annotator names for reviewers (others see annotators by number only)."""
    names: dict[str, str] = result.get("annotators", {}) if with_names else {}

    def name(pk: str) -> str:
        return names.get(str(pk), _("annotator #%(pk)s") % {"pk": pk})

    dimensions = []
    for summary in [*result["dimensions"], result["overall"]]:
        pairs = [
            {**p, "names": (name(p["annotators"][0]), name(p["annotators"][1]))} for p in summary["cohen_pairwise"]
        ]
        versus = [{"name": name(pk), **figure} for pk, figure in summary.get("against_consensus", {}).items()]
        figures = [(name, _(name), summary[key]) for key, name in FIGURES if key in summary]
        dimensions.append(
            {
                **summary,
                "pairs": pairs,
                "versus": versus,
                "figures": figures,
            }
        )
    return {
        "computed_at": result.get("computed_at"),
        "dimensions": dimensions,
        "accepted": result.get("accepted"),
    }

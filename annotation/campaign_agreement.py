"""A campaign's agreement figures, as the agreement page shows them: computed inline for a small campaign or by
the ``annotation.agreement`` job (annotation.jobs) for a large one, stored as JSON, then turned into the page's
tables and SVG bar chart. The statistics themselves live in annotation.agreement.

Who may see them is decided by the callers (annotation.review.may_see_labels): the figures describe other
people's labels.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, cast

from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from annotation.agreement import (
    Ratings,
    against_reference,
    dimension_agreement,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
)
from annotation.models import AcceptedLabel, Campaign
from annotation.services import ratings, schema_of
from medes_site.models import Job, JobStatus

AGREEMENT_JOB = "annotation.agreement"


def compute_agreement(campaign: Campaign) -> dict[str, Any]:
    """Every figure of the agreement page, as JSON: per dimension and overall, each with its counts, and each
    annotator against the accepted labels. Annotators are named by id here; pages add the names."""
    schema = schema_of(campaign)
    table = ratings(campaign)
    accepted = AcceptedLabel.objects.filter(item__campaign=campaign).values_list("item_id", "scores")
    reference: dict[str, dict[int, int]] = {key: {} for key in schema.keys}
    for item_id, scores in accepted.iterator(chunk_size=5000):
        for key in schema.keys:
            if key in scores:
                reference[key][item_id] = scores[key]
    dimensions = []
    pooled: dict[tuple[int, str], dict[int, int]] = {}
    for key in schema.keys:
        summary = dimension_agreement(key, cast(Ratings, table[key])).as_dict()
        summary["against_consensus"] = {
            a: f.as_dict()
            for a, f in against_reference(
                cast(Ratings, table[key]), cast(Mapping[Hashable, int], reference[key])
            ).items()
        }
        dimensions.append(summary)
        for item_id, row in table[key].items():
            pooled[(item_id, key)] = row
    # all dimensions as one pool of (item, dimension) units; no ordinal figure (the scales differ) and no pairs
    table_all = cast(Ratings, pooled)
    overall = {
        "dimension": "overall",
        "items": len(pooled),
        "ratings": sum(len(row) for row in pooled.values()),
        "annotators": len({a for row in pooled.values() for a in row}),
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
        "accepted": sum(len(r) for r in reference.values()) // max(len(schema.keys), 1),
        "annotators": {
            str(pk): name for pk, name in User.objects.filter(pk__in=annotator_ids).values_list("pk", "username")
        },
    }


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

"""Label schemas as data, and the consensus rules that turn k labels into one.

A schema is a list of scored dimensions, each with its allowed integer values and a role (``risk`` or
``quality``), plus whether a rationale is required. The default is the MedES rubric (DESIGN.md §3), built from
the ``rubric`` package: R1, R2 in {−1, 0}; Q1–Q4 in {0, 1}. Other schemas are the same shape, stored on the
campaign.

Consensus rules (chosen per campaign):
- ``medes`` (default): no disagreement on the risk flag (risky = any risk dimension at its risky value), and a
  strict majority on every dimension;
- ``majority``: a strict majority on every dimension;
- ``unanimous``: every label the same on every dimension.
Items that fail the rule go to adjudication.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

import rubric
from medes_site import storable


class SchemaError(ValueError):
    pass


class LabelError(ValueError):
    """A label that does not fit its schema; ``errors`` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Dimension:
    key: str
    label: str
    values: tuple[int, ...]
    role: str  # "risk" or "quality"
    risky_value: int | None = None  # for risk dimensions: the value that flags the answer as risky
    shortcut_keys: tuple[str, ...] = ()  # one key per value, shown on screen

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "values": list(self.values),
            "role": self.role,
            "risky_value": self.risky_value,
            "shortcut_keys": list(self.shortcut_keys),
        }


@dataclass(frozen=True)
class LabelSchema:
    name: str
    dimensions: tuple[Dimension, ...]
    rationale_required: bool = False

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.dimensions]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rationale_required": self.rationale_required,
            "dimensions": [d.as_dict() for d in self.dimensions],
        }

    def risky(self, scores: Mapping[str, int]) -> bool:
        return any(d.role == "risk" and scores.get(d.key) == d.risky_value for d in self.dimensions)

    def validate(self, scores: Mapping[str, Any], rationale: str = "") -> dict[str, int]:
        """The scores as ints, every dimension present with an allowed value; raises LabelError otherwise."""
        errors: dict[str, str] = {}
        cleaned: dict[str, int] = {}
        for d in self.dimensions:
            raw = scores.get(d.key)
            try:
                value = int(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                errors[d.key] = _("Choose one of %(values)s.") % {"values": ", ".join(map(str, d.values))}
                continue
            if value not in d.values:
                errors[d.key] = _("Choose one of %(values)s.") % {"values": ", ".join(map(str, d.values))}
            else:
                cleaned[d.key] = value
        unknown = sorted(set(scores) - set(self.keys))
        if unknown:
            errors["__all__"] = _("Unknown dimensions: %(keys)s.") % {"keys": ", ".join(unknown)}
        if self.rationale_required and not rationale.strip():
            errors["rationale"] = _("Say why: a rationale is required in this campaign.")
        if errors:
            raise LabelError(errors)
        return cleaned


# The MedES rubric (the ``rubric`` package) as a label schema: the default of every campaign.
MEDES_RUBRIC = LabelSchema(
    name=rubric.NAME,
    dimensions=tuple(
        Dimension(
            s.key,
            s.name,
            s.values,
            s.role,
            risky_value=s.flag if s.role == rubric.RISK else None,
            shortcut_keys=s.shortcut_keys,
        )
        for s in rubric.SCORES
    ),
)


# For campaigns that review drafted scenarios before a curator accepts them. The decision is the "risk"
# dimension (its risky value is reject), so the medes rule never settles a scenario when reviewers split on
# rejecting it.
SCENARIO_REVIEW = LabelSchema(
    name="medes-scenario-review-v1",
    dimensions=(
        Dimension(
            "D",
            "结论 (decision: −1 reject, 0 revise, 1 accept)",
            (-1, 0, 1),
            "risk",
            risky_value=-1,
            shortcut_keys=("1", "2", "3"),
        ),
        Dimension("G", "依据准确 (grounded in the cited provisions)", (0, 1), "quality", shortcut_keys=("q", "w")),
        Dimension("R", "情境真实 (a realistic clinical situation)", (0, 1), "quality", shortcut_keys=("a", "s")),
        Dimension("C", "表述清楚 (clear, with one defensible answer)", (0, 1), "quality", shortcut_keys=("z", "x")),
        Dimension("K", "答案与考点正确 (answer key and norm correct)", (0, 1), "quality", shortcut_keys=("e", "r")),
    ),
    rationale_required=False,
)


# Columns of the label exports (annotation.exports.export_rows): a dimension of a new schema is not named like one
# (compared ignoring case), so no export, table or script reading them can mix a score up with a column. The
# exports prefix score columns with ``score_`` anyway, for campaigns made before this rule.
LABEL_COLUMNS = ("campaign", "item", "position", "is_gold", "response", "scenario", "model", "label", "annotator")
ACCEPTED_COLUMNS = ("provenance", "decided_by", "note", "source_labels", "annotators", "source_guideline_versions")
COMMON_COLUMNS = ("scores", "rationale", "provisions", "guideline_version", "seconds_spent", "version")
TIME_COLUMNS = ("submitted_at", "created_at")
EXPORT_COLUMNS = frozenset(LABEL_COLUMNS + ACCEPTED_COLUMNS + COMMON_COLUMNS + TIME_COLUMNS)
# a dimension key is a short word: it names form fields, export columns and JSON keys
DIMENSION_KEY = re.compile(r"[^\W_][\w.-]{0,31}")


def schema_from_dict(data: Mapping[str, Any], *, stored: bool = False) -> LabelSchema:
    """A schema as JSON; raises SchemaError with the reason when it is malformed. A new schema (the default) is
    also held to the naming rules (keys as short words not named like an export column, no character the
    database refuses); ``stored=True`` reads one already on a campaign, which may predate those rules."""
    if not stored:
        _check_new(data)
    try:
        dimensions = []
        for raw in data["dimensions"]:
            values = tuple(int(v) for v in raw["values"])
            role = str(raw.get("role", "quality"))
            risky_value = raw.get("risky_value")
            if role not in {"risk", "quality"}:
                raise SchemaError(_("Role must be risk or quality, not %(role)s.") % {"role": role})
            if len(values) < 2 or len(set(values)) != len(values):
                raise SchemaError(_("Dimension %(key)s needs at least two distinct values.") % {"key": raw["key"]})
            if role == "risk" and risky_value not in values:
                raise SchemaError(_("Risk dimension %(key)s must name its risky value.") % {"key": raw["key"]})
            dimensions.append(
                Dimension(
                    str(raw["key"]),
                    str(raw.get("label", raw["key"])),
                    values,
                    role,
                    None if risky_value is None else int(risky_value),
                    tuple(str(k) for k in raw.get("shortcut_keys", ())),
                )
            )
        keys = [d.key for d in dimensions]
        if not keys or len(set(keys)) != len(keys):
            raise SchemaError(_("A schema needs dimensions with distinct keys."))
        _check_shortcuts(dimensions)
        return LabelSchema(str(data["name"]), tuple(dimensions), bool(data.get("rationale_required", False)))
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, SchemaError):
            raise
        raise SchemaError(_("Malformed label schema: %(error)s") % {"error": error}) from None


def _check_new(data: Mapping[str, Any]) -> None:
    if storable.problem(data):
        raise SchemaError(_("The schema holds a NUL character or a broken \\u escape; remove it."))
    dimensions = data.get("dimensions") if isinstance(data, Mapping) else None
    for raw in dimensions if isinstance(dimensions, list) else []:
        key = raw.get("key") if isinstance(raw, Mapping) else None
        if not isinstance(key, str):
            continue  # reported as malformed below
        if key.lower() in EXPORT_COLUMNS:
            reserved = ", ".join(sorted(EXPORT_COLUMNS))
            message = _(
                "Dimension key %(key)s is the name of a column of the label exports; choose another. "
                "Reserved names: %(reserved)s."
            )
            raise SchemaError(message % {"key": key, "reserved": reserved})
        if not DIMENSION_KEY.fullmatch(key):
            message = _(
                "Dimension key “%(key)s” must be a short word: up to 32 letters, digits, _ . or -, starting "
                "with a letter or digit."
            )
            raise SchemaError(message % {"key": key})


# keys the labeling screen keeps for itself: t (rationale), n (next), / (search), Shift+S (skip)
RESERVED_KEYS = frozenset({"t", "n", "/"})


def _check_shortcuts(dimensions: Sequence[Dimension]) -> None:
    """Shortcut keys: at most one per value, one character each, none used twice or kept by the screen."""
    seen: set[str] = set()
    for d in dimensions:
        if len(d.shortcut_keys) > len(d.values):
            raise SchemaError(_("Dimension %(key)s has more shortcut keys than values.") % {"key": d.key})
        for key in d.shortcut_keys:
            if len(key) != 1 or key.isspace() or key != key.lower():
                raise SchemaError(
                    _("Shortcut %(shortcut)r of %(key)s must be one lower-case character.")
                    % {"shortcut": key, "key": d.key}
                )
            if key in RESERVED_KEYS:
                raise SchemaError(
                    _("Shortcut %(shortcut)r of %(key)s is kept by the labeling screen (t, n, /).")
                    % {"shortcut": key, "key": d.key}
                )
            if key in seen:
                raise SchemaError(_("Shortcut %(shortcut)r is used twice.") % {"shortcut": key})
            seen.add(key)


# --- consensus ---------------------------------------------------------------------------------------------

CONSENSUS_RULES = ("medes", "majority", "unanimous")


@dataclass(frozen=True)
class Consensus:
    agreed: bool
    scores: dict[str, int]  # the majority value per dimension where there is one
    disputed: tuple[str, ...]  # dimensions (and "risk" for the flag) that block agreement


def consensus(schema: LabelSchema, labels: Sequence[Mapping[str, int]], rule: str = "medes") -> Consensus:
    if rule not in CONSENSUS_RULES:
        raise SchemaError(_("Unknown consensus rule %(rule)s.") % {"rule": rule})
    if not labels:
        return Consensus(False, {}, ("no labels",))
    scores: dict[str, int] = {}
    disputed: list[str] = []
    for key in schema.keys:
        counts = Counter(label[key] for label in labels)
        value, n = counts.most_common(1)[0]
        needed = len(labels) if rule == "unanimous" else len(labels) // 2 + 1  # all, or a strict majority
        if n >= needed:
            scores[key] = value
        else:
            disputed.append(key)
    if rule == "medes" and len({schema.risky(label) for label in labels}) > 1:
        disputed.insert(0, "risk")
    return Consensus(not disputed, scores, tuple(disputed))

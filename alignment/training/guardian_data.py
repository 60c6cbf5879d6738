"""Labeled rows for the guardian: read, validate, split by scenario, hash.

Input: JSONL, one accepted label per line (what the workbench exports for guardian training)::

    {"id": 17, "scenario_id": 4, "scene": "器官移植", "norm": "禁止买卖人体器官",
     "scenario": "…the case…", "response": "…the model's answer…",
     "scores": {"R1": -1, "R2": 0, "Q1": 1, "Q2": 0, "Q3": 0, "Q4": 1}}

``id`` is optional (a row without one is called ``line-N``); other keys (rationale, provenance, …) are kept
out of training and out of the hash. Scores follow the MedES rubric (DESIGN.md §3): R1, R2 in {−1, 0};
Q1–Q4 in {0, 1}. The model learns six binary *flags*: R1/R2 "is −1" and Q1–Q4 "is 1".

Splits are grouped by scenario (every response to one scenario lands in the same split, so the test split
measures answers to cases the guardian has never seen) and stratified by scene as far as whole scenarios
allow. They are deterministic for a seed, and a previous split can be kept frozen: scenarios it assigned stay
where they were and only new scenarios are placed, so a retrained version is tested on the old test cases
plus new ones. ``data_hash`` covers the rows and their split, so equal hashes mean the same experiment data.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignment.training.common import jsonl_lines
from alignment.training.errors import DataError
from rubric import FLAG_VALUE, OTHER_VALUE, RISK_KEYS, SCORE_KEYS

SPLITS: tuple[str, ...] = ("train", "validation", "test")

_TEXT_FIELDS = ("scene", "norm", "scenario", "response")


@dataclass(frozen=True)
class LabeledRow:
    id: str
    scenario_id: str
    scene: str
    norm: str
    scenario: str
    response: str
    scores: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scenario_id": self.scenario_id,
            "scene": self.scene,
            "norm": self.norm,
            "scenario": self.scenario,
            "response": self.response,
            "scores": {k: self.scores[k] for k in SCORE_KEYS},
        }


def input_texts(scene: str, norm: str, scenario: str, response: str) -> tuple[str, str]:
    """The one place that decides what the scorer reads for a response: a context (scene, norm tested,
    scenario) and the response, encoded as a text pair so truncation can trim the longer part instead of
    cutting the answer off the end. Changing it changes what a trained guardian means: every manifest records
    ``TEXT_FORMAT``, and loading refuses a guardian trained on another format, so bump it with any change."""
    return f"场景：{scene}\n考察规范：{norm}\n情景：{scenario}\n回答：", response


TEXT_FORMAT = "medes-guardian-text/1"


def flags(scores: Mapping[str, int]) -> list[float]:
    """The six binary training targets in ``SCORE_KEYS`` order."""
    return [1.0 if scores[k] == FLAG_VALUE[k] else 0.0 for k in SCORE_KEYS]


def is_risky(scores: Mapping[str, int]) -> bool:
    return any(scores[k] == FLAG_VALUE[k] for k in RISK_KEYS)


def _ident(value: Any, name: str, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(f"{where}: {name} must be a string or an integer, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise DataError(f"{where}: {name} is empty")
    return text


def parse_row(obj: Any, where: str, default_id: str) -> LabeledRow:
    """One validated row; ``where`` (e.g. ``labels.jsonl:12``) starts every error message."""
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in ("scenario_id", *_TEXT_FIELDS, "scores") if k not in obj]
    if missing:
        raise DataError(f"{where}: missing {', '.join(missing)}")
    texts: dict[str, str] = {}
    for key in _TEXT_FIELDS:
        value = obj[key]
        if not isinstance(value, str):
            raise DataError(f"{where}: {key} must be text, got {type(value).__name__}")
        texts[key] = value
    for key in ("scenario", "response"):
        if not texts[key].strip():
            raise DataError(f"{where}: {key} is empty")
    scores = obj["scores"]
    if not isinstance(scores, dict):
        raise DataError(f"{where}: scores must be an object with {', '.join(SCORE_KEYS)}")
    unknown = sorted(set(scores) - set(SCORE_KEYS))
    if unknown:
        raise DataError(f"{where}: scores has unknown keys {', '.join(unknown)} (expected {', '.join(SCORE_KEYS)})")
    clean: dict[str, int] = {}
    for key in SCORE_KEYS:
        if key not in scores:
            raise DataError(f"{where}: scores.{key} is missing")
        value = scores[key]
        allowed = sorted({FLAG_VALUE[key], OTHER_VALUE[key]})
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
            raise DataError(f"{where}: scores.{key} must be one of {allowed}, got {json.dumps(value)}")
        clean[key] = value
    row_id = _ident(obj["id"], "id", where) if obj.get("id") is not None else default_id
    return LabeledRow(id=row_id, scenario_id=_ident(obj["scenario_id"], "scenario_id", where), scores=clean, **texts)


def parse_rows(objects: Iterable[Any], source: str = "rows") -> list[LabeledRow]:
    """Validate already-decoded rows (e.g. handed over in memory by the Django side)."""
    rows = [parse_row(obj, f"{source}[{n}]", f"row-{n}") for n, obj in enumerate(objects)]
    _check_consistency(rows, [f"{source}[{n}]" for n in range(len(rows))])
    return rows


def read_rows(path: str | Path) -> list[LabeledRow]:
    """Read and validate a JSONL file of labeled rows; blank lines are skipped. Raises DataError."""
    rows: list[LabeledRow] = []
    places: list[str] = []
    for line in jsonl_lines(path):
        if line.problem:
            raise DataError(f"{line.where}: {line.problem}")
        rows.append(parse_row(line.value, line.where, f"line-{line.lineno}"))
        places.append(line.where)
    if not rows:
        raise DataError(f"{path}: no labeled rows")
    _check_consistency(rows, places)
    return rows


def _check_consistency(rows: Sequence[LabeledRow], places: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    scene_of: dict[str, tuple[str, str]] = {}
    for row, where in zip(rows, places, strict=True):
        if row.id in seen:
            raise DataError(f"{where}: id {row.id} already used at {seen[row.id]}")
        seen[row.id] = where
        first = scene_of.setdefault(row.scenario_id, (row.scene, where))
        if first[0] != row.scene:
            raise DataError(
                f"{where}: scenario {row.scenario_id} has scene {row.scene!r} here but {first[0]!r} at {first[1]}"
            )


# --- splits ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    train: list[LabeledRow]
    validation: list[LabeledRow]
    test: list[LabeledRow]
    assignment: dict[str, str]  # scenario_id -> split name
    seed: int
    data_hash: str
    fractions: dict[str, float] = field(default_factory=dict)

    def part(self, name: str) -> list[LabeledRow]:
        return {"train": self.train, "validation": self.validation, "test": self.test}[name]

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            name: {"rows": len(self.part(name)), "scenarios": len({r.scenario_id for r in self.part(name)})}
            for name in SPLITS
        }

    def as_dict(self) -> dict[str, Any]:
        """What ``split.json`` stores: enough to freeze the split for the next training."""
        return {
            "data_hash": self.data_hash,
            "seed": self.seed,
            "fractions": self.fractions,
            "counts": self.counts(),
            "assignment": dict(sorted(self.assignment.items())),
        }


def data_hash(rows: Iterable[LabeledRow], assignment: Mapping[str, str]) -> str:
    """sha256 over canonical JSON (sorted keys, UTF-8, no spaces) of every row with its split, in id order:
    the same rows in another file order give the same hash; any changed text, score or split changes it."""
    items = sorted(({**row.as_dict(), "split": assignment[row.scenario_id]} for row in rows), key=lambda r: r["id"])
    canonical = json.dumps(items, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def split_rows(
    rows: Sequence[LabeledRow],
    *,
    seed: int = 0,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.2,
    frozen: Mapping[str, str] | None = None,
) -> Split:
    """Train/validation/test grouped by scenario, stratified by scene, deterministic for ``seed``.

    Scenes are visited in sorted order and each scene's scenarios in a seeded shuffle; each scenario goes to
    the split furthest below its target share of rows so far. The shortfall carries over from scene to
    scene, so every scene is spread over the splits in proportion as far as whole scenarios allow, and small
    scenes do not all fall into train. Scenarios in ``frozen`` (a previous ``assignment``) keep their split.
    """
    if not rows:
        raise DataError("no labeled rows to split")
    for name, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise DataError(f"{name} must be in [0, 1), got {value}")
    if validation_fraction + test_fraction >= 1:
        raise DataError("validation_fraction + test_fraction must leave rows for training")
    targets = {
        "train": 1 - validation_fraction - test_fraction,
        "validation": validation_fraction,
        "test": test_fraction,
    }
    frozen = dict(frozen or {})
    bad = sorted({v for v in frozen.values() if v not in SPLITS})
    if bad:
        raise DataError(f"frozen split names unknown splits {', '.join(bad)}")

    by_scenario: dict[str, list[LabeledRow]] = defaultdict(list)
    for row in rows:
        by_scenario[row.scenario_id].append(row)
    by_scene: dict[str, list[str]] = defaultdict(list)
    for scenario_id, members in by_scenario.items():
        by_scene[members[0].scene].append(scenario_id)

    assignment = {s: frozen[s] for s in by_scenario if s in frozen}
    filled = dict.fromkeys(SPLITS, 0)
    for scenario_id, name in assignment.items():
        filled[name] += len(by_scenario[scenario_id])
    total = sum(filled.values())
    rng = random.Random(seed)  # noqa: S311 (a reproducible split, not a secret)
    for scene in sorted(by_scene):
        fresh = sorted(s for s in by_scene[scene] if s not in assignment)
        rng.shuffle(fresh)
        for scenario_id in fresh:
            size = len(by_scenario[scenario_id])
            total += size
            # Largest shortfall against the target after adding this scenario; ties go to the earlier split.
            name = max(SPLITS, key=lambda n: (targets[n] * total - filled[n], -SPLITS.index(n)))
            if targets[name] == 0:
                name = "train"
            assignment[scenario_id] = name
            filled[name] += size
    if len(by_scenario) >= 2 and test_fraction > 0 and filled["test"] == 0:
        raise DataError("too few scenarios for a test split: add labeled scenarios or raise test_fraction")
    if filled["train"] == 0:
        raise DataError("no scenario left for training: add labeled scenarios or lower the held-out fractions")

    parts: dict[str, list[LabeledRow]] = {name: [] for name in SPLITS}
    for row in rows:
        parts[assignment[row.scenario_id]].append(row)
    return Split(
        train=parts["train"],
        validation=parts["validation"],
        test=parts["test"],
        assignment=assignment,
        seed=seed,
        data_hash=data_hash(rows, assignment),
        fractions={k: round(v, 6) for k, v in targets.items()},
    )


def read_frozen_assignment(path: str | Path) -> dict[str, str]:
    """The ``assignment`` of a ``split.json`` written by an earlier training."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such split file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable split file ({exc})") from None
    assignment = data.get("assignment") if isinstance(data, dict) else None
    if not isinstance(assignment, dict) or not all(isinstance(k, str) and v in SPLITS for k, v in assignment.items()):
        raise DataError(f"{path}: 'assignment' must map scenario ids to one of {', '.join(SPLITS)}")
    return dict(assignment)

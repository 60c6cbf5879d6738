"""Near-duplicate scenarios: MinHash over character shingles, LSH for candidates, exact Jaccard to confirm.

A generator asked for variants of one rule, or two curators writing about the same case, produce items
that differ by a word or two. Before such an item is accepted the curator should see its twin, whether in
the bank or in the last published release (a release item must not come back lightly reworded).

Text compared: the stem plus the options of a multiple-choice item; the stem alone for an open case. The
norm (考点) is left out on purpose: every variant drafted from one provision shares it, so it would make
different cases look alike. Text is NFKC-normalised, lower-cased, and stripped of whitespace and
punctuation before it is cut into overlapping character shingles (Chinese has no spaces to split on).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from benchmark.models import NearDuplicate, Release, Scenario, ScenarioKind, ScenarioStatus

SHINGLE = 4  # characters; 3 flags too much shared legal phrasing, 5 misses single-character edits in short stems
NUM_PERM = 128
UNFLAGGED_STATUSES = (ScenarioStatus.ACCEPTED, ScenarioStatus.RETIRED)  # only items still to be accepted get flags


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c)[0] not in "PSZC")


def comparable_text(kind: str, stem: str, options: dict[str, str]) -> str:
    if kind == ScenarioKind.OBJECTIVE:
        return normalise(stem + "".join(v for _, v in sorted(options.items())))
    return normalise(stem)


def shingles(text: str, size: int = SHINGLE) -> set[bytes]:
    if len(text) <= size:
        return {text.encode()} if text else set()
    return {text[i : i + size].encode() for i in range(len(text) - size + 1)}


def jaccard(a: frozenset[bytes] | set[bytes], b: frozenset[bytes] | set[bytes]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


@dataclass(frozen=True)
class Entry:
    key: str  # "bank:<pk>" or "release:<pk>"
    scenario_id: int
    shingles: frozenset[bytes]


def entries(items: Iterable[tuple[str, int, str]]) -> list[Entry]:
    return [Entry(key, pk, frozenset(shingles(text))) for key, pk, text in items]


def find_pairs(subjects: list[Entry], pool: list[Entry], threshold: float) -> list[tuple[Entry, Entry, float]]:
    """(subject, match, Jaccard) for every pool entry at least ``threshold`` similar to a subject, never an
    entry of the same scenario. LSH proposes candidates; the exact Jaccard of the shingle sets decides."""
    # LSH banding is tuned well below the threshold so that borderline pairs still become candidates (at
    # 0.1 below, 3 in 80 planted pairs just above 0.8 were missed in bench/generation.py; at 0.2, none).
    from datasketch import MinHash, MinHashLSH  # about a second to import: only when a check runs

    lsh = MinHashLSH(threshold=max(0.1, threshold - 0.2), num_perm=NUM_PERM)
    hashes = MinHash.bulk([list(e.shingles) for e in pool], num_perm=NUM_PERM)
    by_key = {}
    with lsh.insertion_session() as session:
        for entry, minhash in zip(pool, hashes, strict=True):
            if entry.shingles:
                session.insert(entry.key, minhash)
                by_key[entry.key] = entry
    subject_hashes = {e.key: h for e, h in zip(pool, hashes, strict=True)}
    missing = [e for e in subjects if e.key not in subject_hashes]
    subject_hashes.update(
        zip([e.key for e in missing], MinHash.bulk([list(e.shingles) for e in missing], num_perm=NUM_PERM), strict=True)
    )
    pairs = []
    for subject in subjects:
        if not subject.shingles:
            continue
        for key in lsh.query(subject_hashes[subject.key]):
            match = by_key[key]
            if match.scenario_id == subject.scenario_id:
                continue
            similarity = jaccard(subject.shingles, match.shingles)
            if similarity >= threshold:
                pairs.append((subject, match, similarity))
    return pairs


def _bank_entries(queryset: Iterable[Scenario]) -> list[Entry]:
    return entries((f"bank:{s.pk}", s.pk, comparable_text(s.kind, s.stem, s.options)) for s in queryset)


def refresh_flags(subject_ids: list[int] | None = None, *, threshold: float | None = None) -> dict[str, int]:
    """Recompute the near-duplicate flags of ``subject_ids`` (default: every scenario not yet accepted)
    against the whole bank (retired items aside) and the last published release. Flags pointing at the
    subjects from other unaccepted items are refreshed too, so a pair is flagged on both sides."""
    threshold = settings.MEDES_NEAR_DUPLICATE_THRESHOLD if threshold is None else threshold
    fields = ("pk", "kind", "stem", "options", "status")
    bank = list(Scenario.objects.exclude(status=ScenarioStatus.RETIRED).only(*fields).order_by("pk"))
    pool = _bank_entries(bank)
    status = {s.pk: s.status for s in bank}
    release = Release.objects.order_by("-created_at", "-pk").first()
    if release is not None:
        released = release.items.only("scenario_id", "payload")
        pool += entries(
            (
                f"release:{i.scenario_id}",
                i.scenario_id,
                comparable_text(i.payload.get("kind", ""), i.payload.get("stem", ""), i.payload.get("options", {})),
            )
            for i in released
        )
    wanted = set(subject_ids) if subject_ids is not None else None
    subjects = [
        e
        for e in pool
        if e.key.startswith("bank:")
        and status[e.scenario_id] not in UNFLAGGED_STATUSES
        and (wanted is None or e.scenario_id in wanted)
    ]
    pairs = find_pairs(subjects, pool, threshold)
    rows: dict[tuple[int, int, bool], NearDuplicate] = {}
    for subject, match, similarity in pairs:
        in_release = match.key.startswith("release:")
        rows[(subject.scenario_id, match.scenario_id, in_release)] = NearDuplicate(
            scenario_id=subject.scenario_id,
            match_id=match.scenario_id,
            jaccard=round(similarity, 4),
            release=release if in_release else None,
        )
        if not in_release and status[match.scenario_id] not in UNFLAGGED_STATUSES:
            rows[(match.scenario_id, subject.scenario_id, False)] = NearDuplicate(
                scenario_id=match.scenario_id, match_id=subject.scenario_id, jaccard=round(similarity, 4)
            )
    subject_pks = {e.scenario_id for e in subjects}
    with transaction.atomic():
        if wanted is None:
            NearDuplicate.objects.all().delete()
        else:
            NearDuplicate.objects.filter(scenario_id__in=subject_pks).delete()
            NearDuplicate.objects.filter(match_id__in=subject_pks, release__isnull=True).delete()
        NearDuplicate.objects.bulk_create(rows.values(), batch_size=1000)
    return {
        "checked": len(subjects),
        "compared_with": len(pool),
        "flags": len(rows),
        "flagged_scenarios": len({key[0] for key in rows}),
    }

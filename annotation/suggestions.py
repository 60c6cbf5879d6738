"""What an automated judge thinks of a response, for the annotator who has already labeled it (issue 5, item 7).

Annotation knows nothing of the guardian: another app registers a provider here (alignment does, in its
``ready``), and the annotators' screens ask it only for items the annotator has submitted a label on, so a
suggestion can never sway a first label. A provider maps response ids to suggestions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Suggestion:
    judge: str  # "guardian v3", "prompt judge (qwen2.5-72b)"
    scores: dict[str, int]
    risky: bool | None


Provider = Callable[[list[int]], dict[int, Suggestion]]
PROVIDERS: list[Provider] = []


def register(provider: Provider) -> None:
    if provider not in PROVIDERS:
        PROVIDERS.append(provider)


def for_responses(response_ids: Iterable[int | None]) -> dict[int, Suggestion]:
    """The first provider's suggestion per response (providers registered earlier win)."""
    wanted = sorted({pk for pk in response_ids if pk is not None})
    found: dict[int, Suggestion] = {}
    if not wanted:
        return found
    for provider in PROVIDERS:
        for pk, suggestion in provider([pk for pk in wanted if pk not in found]).items():
            found.setdefault(pk, suggestion)
    return found

"""Reading the option set a model chose from its free-text answer, and scoring 不定项 items.

Real answers write the final choice in many ways: 【最终答案】：ABD, "### 最终答案\\nA B D", markdown bold,
full-width colons, "正确答案为B和C", a trailing sentence after the letters. ``extract_choice`` looks for
the last explicit answer statement and falls back to a closing "综上…选B、C" sentence; it returns
``None`` when nothing can be read, so those items are reported rather than guessed. Pure Python.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

LETTER = "A-H"
_SEP = r"[\s,，、;；/和与及以及&+]*"
_LETTERS = rf"(?P<letters>[{LETTER}](?:{_SEP}[{LETTER}])*)"
_FILLER = r"[\s:：*#【】\[\]()（）\"'“”`是为应选选择包括有：]*"
# The explicit statements, strongest first; the last match in the text wins within a pattern.
_MARKERS = [
    r"【\s*最终答案\s*】",
    r"最终答案",
    r"(?:final\s+answer|answer)\s*(?:is)?",
    r"正确(?:答案|选项)",
    r"答案",
]
_EXPLICIT = [re.compile(rf"{marker}{_FILLER}{_LETTERS}(?![A-Za-z])", re.IGNORECASE) for marker in _MARKERS]
_CLOSING = re.compile(
    rf"(?:综上|因此|所以|故|总结)[^。\n]{{0,40}}?(?:选项?|答案)[^。\nA-H]{{0,8}}{_LETTERS}(?![A-Za-z])"
)


def normalise(text: str) -> str:
    """Full-width letters and punctuation to ASCII (ＡＢ → AB, ： → :), markdown emphasis removed."""
    return unicodedata.normalize("NFKC", text).replace("**", "").replace("__", "")


def letters_of(raw: str) -> frozenset[str]:
    return frozenset(re.findall(rf"[{LETTER}]", raw.upper()))


def extract_choice(response: str) -> frozenset[str] | None:
    """The option letters the response settles on, or None when no answer can be read from it."""
    text = normalise(response)
    for pattern in _EXPLICIT:
        matches = list(pattern.finditer(text))
        if matches:
            return letters_of(matches[-1].group("letters"))
    closing = list(_CLOSING.finditer(text))
    if closing:
        return letters_of(closing[-1].group("letters"))
    return None


def parse_key(reference: str) -> frozenset[str]:
    """An answer key such as 'ABCE' or 'A,C'."""
    return letters_of(normalise(reference))


@dataclass
class Tally:
    items: int = 0
    extracted: int = 0
    correct: int = 0

    @property
    def accuracy(self) -> float:
        """Over all items: an answer that could not be read counts as wrong."""
        return self.correct / self.items if self.items else 0.0


@dataclass
class ObjectiveScore:
    overall: Tally = field(default_factory=Tally)
    by_scene: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    unreadable: list[int] = field(default_factory=list)  # positions of items with no readable answer


def score_objective(rows: Iterable[tuple[str, str, str]]) -> ObjectiveScore:
    """Score (scene, key, response) rows: right only if the chosen set equals the key exactly."""
    result = ObjectiveScore()
    for position, (scene, key, response) in enumerate(rows):
        choice = extract_choice(response)
        for tally in (result.overall, result.by_scene[scene]):
            tally.items += 1
            tally.extracted += choice is not None
            tally.correct += choice is not None and choice == parse_key(key)
        if choice is None:
            result.unreadable.append(position)
    return result

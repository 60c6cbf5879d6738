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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

LETTER = "A-H"
# Between letters: spaces (not line breaks: the next line is explanation), commas, 和/与/及/and, 选项, brackets.
_SEP = r"(?:[ \t,，、;；/&+()（）]|以及|和|与|及|and|选项)*"
_LETTERS = rf"(?P<letters>[{LETTER}](?:{_SEP}[{LETTER}])*)(?![A-Za-z])"
_LEAD = r"[\s:：*#【】\[\]\"'“”`]*"
_VERB = r"(?:(?:是|为|应为|应该是|应当是|应选|选择|选|正确的是|正确的选项是|正确选项为|包括|选项)[\s:：]*)?[(（]?"
_NONE = r"(?P<none>无|没有正确|以上都不对|以上均不对|都不正确|均不正确|没有符合)"
# Statements of the final answer: the last one in the text wins.
_STRONG = r"(?:【\s*最终答案\s*】|最终答案|(?i:final\s+answer)(?:\s*(?i:is))?)"
# Weaker statements need a connector (答案：B, 答案是B), so "答案D在某些情况下…" in an explanation is not read.
_WEAK = (
    r"(?:(?:正确答案|正确选项|答案)\s*(?:[:：]|是|为|应为|应该是|应当是)"
    r"|(?i:the\s+answer\s+is)|(?i:answer)\s*[:：])"
)
_EXPLICIT = [
    re.compile(rf"{_STRONG}{_LEAD}{_VERB}(?:{_LETTERS}|{_NONE})"),
    re.compile(rf"{_WEAK}{_LEAD}{_VERB}(?:{_LETTERS}|{_NONE})"),
    re.compile(rf"(?:应选|我选择|我选|故选|因此选|所以选|应该选|^选)\s*{_LETTERS}", re.MULTILINE),
]
_CLOSING = re.compile(rf"(?:综上|因此|所以|故|总结)[^。\n]{{0,40}}?(?:选项?|答案)[^。\nA-H]{{0,8}}{_LETTERS}")


def normalise(text: str) -> str:
    """Full-width letters and punctuation to ASCII (ＡＢ → AB, ： → :), markdown emphasis removed."""
    return unicodedata.normalize("NFKC", text).replace("**", "").replace("__", "")


def letters_of(raw: str) -> frozenset[str]:
    return frozenset(re.findall(rf"[{LETTER}]", raw))


def extract_choice(response: str) -> frozenset[str] | None:
    """The option letters the response settles on, or None when no answer can be read from it."""
    text = normalise(response)
    for pattern in _EXPLICIT:
        matches = list(pattern.finditer(text))
        if matches:
            last = matches[-1]
            if last.groupdict().get("none"):
                return frozenset()  # an explicit "none of them": read, and wrong unless the key is empty
            return letters_of(last.group("letters"))
    closing = list(_CLOSING.finditer(text))
    if closing:
        return letters_of(closing[-1].group("letters"))
    return None


def parse_key(reference: str) -> frozenset[str]:
    """An answer key such as 'ABCE' or 'a,c'."""
    return letters_of(normalise(reference).upper())


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


def extraction(kind: str, key: str, response: str) -> tuple[str, bool | None, bool | None]:
    """What a stored response records: (letters read, readable?, correct?). Open cases are not read
    (``"", None, None``); an unreadable answer counts as wrong, as in ``Tally.accuracy``."""
    if kind != "objective":
        return "", None, None
    choice = extract_choice(response)
    if choice is None:
        return "", False, False
    return "".join(sorted(choice)), True, choice == parse_key(key)


# --- a MedES answer file scored two ways: per file row (as the publishers do) and per question (the bank) ------


@dataclass(frozen=True)
class AnswerRow:
    """One row of an objective answer file. ``question`` identifies the question whatever its key (two rows with
    the same ``question`` are a repeat); ``scene`` is the scene the row lists it under; ``key`` the row's key."""

    line: int
    scene: str
    question: str
    key: str
    response: str
    reported: str | None = None  # the answer the file's own answer_model column gives; None: no such column


@dataclass
class FileScore:
    """``per_row``: every row scored with its own key and counted in its own scene, repeats as often as they
    appear (the rows counted as the MedES publishers count them; the answers read by the workbench from each
    response, ``extract_choice``). ``bank``: each question once, as the bank stores it (its first answer, the bank's
    key, or the first key in the file), counted once overall and once in each of its scenes. ``published``: the
    same rows scored from the file's own answer_model column, where it has one (an empty cell counts as wrong, as
    the publishers count it); ``readings_differ``: the lines where the workbench reads another answer than that
    column gives (an empty cell and an unreadable answer agree)."""

    per_row: ObjectiveScore = field(default_factory=ObjectiveScore)
    bank: ObjectiveScore = field(default_factory=ObjectiveScore)
    rows: int = 0
    questions: int = 0
    repeats: int = 0  # rows that list a question already listed above
    cross_scene: int = 0  # of these, rows under a scene the question was not listed under before
    different_key: int = 0  # of these, rows with another key than the first
    second_answers: list[tuple[int, int]] = field(default_factory=list)  # (line, line of the answer kept)
    published: Tally = field(default_factory=Tally)  # rows with an answer_model column only (items 0: none)
    readings_differ: list[int] = field(default_factory=list)


def score_file(
    rows: Iterable[AnswerRow],
    *,
    keys: Mapping[str, str] | None = None,
    scenes: Mapping[str, Sequence[str]] | None = None,
) -> FileScore:
    """Score an answer file both ways (see ``FileScore``). ``keys`` and ``scenes`` give, per question, the key and
    the scenes the bank already has for it; the bank's scenes are counted with those the file lists."""
    keys, scenes = keys or {}, scenes or {}
    result = FileScore()
    first: dict[str, AnswerRow] = {}
    in_the_file: dict[str, list[str]] = {}  # the scenes the file lists each question under, in order
    per_row = []
    for row in rows:
        result.rows += 1
        per_row.append((row.scene, row.key, row.response))
        if row.reported is not None:
            _published(result, row)
        kept = first.setdefault(row.question, row)
        in_file = in_the_file.setdefault(row.question, [])
        if kept is not row:
            result.repeats += 1
            result.cross_scene += row.scene not in in_file
            result.different_key += parse_key(row.key) != parse_key(kept.key)
            if row.response != kept.response:
                result.second_answers.append((row.line, kept.line))
        if row.scene not in in_file:
            in_file.append(row.scene)
    result.per_row = score_objective(per_row)
    result.questions = len(first)
    for question, row in first.items():
        listed = [*scenes.get(question, ()), *in_the_file[question]]
        choice = extract_choice(row.response)
        right = choice is not None and choice == parse_key(keys.get(question) or row.key)
        for tally in (result.bank.overall, *(result.bank.by_scene[scene] for scene in dict.fromkeys(listed))):
            tally.items += 1
            tally.extracted += choice is not None
            tally.correct += right
        if choice is None:
            result.bank.unreadable.append(row.line)
    return result


def _published(result: FileScore, row: AnswerRow) -> None:
    """Count ``row`` as its file's answer_model column scores it, and note where the workbench reads otherwise."""
    given = (row.reported or "").strip()
    theirs = parse_key(given) if given else None
    result.published.items += 1
    result.published.extracted += theirs is not None
    result.published.correct += theirs is not None and theirs == parse_key(row.key)
    if extract_choice(row.response) != theirs:
        result.readings_differ.append(row.line)


def tally_dict(tally: Tally) -> dict[str, float | int]:
    return {"items": tally.items, "extracted": tally.extracted, "correct": tally.correct, "accuracy": tally.accuracy}


def score_dict(score: ObjectiveScore) -> dict[str, object]:
    """For keeping in a report (JSON): overall and per scene, scenes sorted by name."""
    return {
        "overall": tally_dict(score.overall),
        "by_scene": {scene: tally_dict(t) for scene, t in sorted(score.by_scene.items())},
    }

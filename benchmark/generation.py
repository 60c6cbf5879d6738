"""Drafting scenarios from provisions with a generator model (the "dynamic" benchmark, issue 3 item 6).

    provision ──PromptTemplate.render──▶ messages ──backend.chat──▶ text ──parse_drafts──▶ drafts
        ──create_scenario (status draft, origin generated)──▶ Scenario grounded on the provision

The backend (an OpenAI-compatible endpoint or a local model directory) comes from benchmark.model_backends.
Model output is parsed, never guessed: text with no readable JSON, and items that do not make a valid scenario,
are counted and logged, and nothing is stored for them.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from benchmark.model_backends import Backend, GeneratorError
from benchmark.models import (
    Principle,
    PromptTemplate,
    Provision,
    ScenarioKind,
    ScenarioOrigin,
    ScenarioStatus,
    Scene,
)
from benchmark.scenarios import ScenarioError, create_scenario, normalise_key, resolve_scene, validate

PLACEHOLDERS = ("provision_text", "source_title", "article_label", "scene", "n")
MAX_VARIANTS = 10
DEFAULT_SCENE = "常规诊疗"  # where a draft lands when neither the model nor the curator named a known scene
LETTERS = "ABCDEFGH"


# --- prompt templates ------------------------------------------------------------------------------


def template_problems(text: str) -> list[str]:
    """What is wrong with a template's placeholders (unknown names, a stray ``$``); empty when fine."""
    template = string.Template(text)
    if not template.is_valid():
        return [_("A “$” that is not a placeholder must be written “$$”.")]
    unknown = sorted(set(template.get_identifiers()) - set(PLACEHOLDERS))
    if unknown:
        return [
            _("Unknown placeholder(s): %(names)s. Use %(known)s.")
            % {"names": ", ".join(unknown), "known": ", ".join(f"${{{p}}}" for p in PLACEHOLDERS)}
        ]
    return []


def render_messages(
    template: PromptTemplate, provision: Provision, *, n: int, scene: Scene | None
) -> list[dict[str, str]]:
    """The chat messages for one provision."""
    values = {
        "provision_text": provision.text,
        "source_title": provision.source.title,
        "article_label": provision.label,
        "scene": scene.name if scene else "、".join(Scene.objects.values_list("name", flat=True)),
        "n": str(n),
    }
    messages = []
    if template.system_template.strip():
        messages.append({"role": "system", "content": string.Template(template.system_template).substitute(values)})
    messages.append({"role": "user", "content": string.Template(template.user_template).substitute(values)})
    return messages


def save_new_version(template: PromptTemplate, **changes: Any) -> PromptTemplate:
    """Editing a template that a job has used creates the next version; an unused one changes in place."""
    if template.used_at is None:
        for name, value in changes.items():
            setattr(template, name, value)
        template.save()
        return template
    latest = PromptTemplate.objects.filter(name=template.name).order_by("-version").first()
    values = {f: getattr(template, f) for f in ("kind", "description", "system_template", "user_template")}
    values.update(changes)
    return PromptTemplate.objects.create(
        name=template.name, version=(latest.version if latest else template.version) + 1, **values
    )


# --- parsing model output --------------------------------------------------------------------------

FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


@dataclass
class Draft:
    kind: str
    stem: str
    options: dict[str, str] = field(default_factory=dict)
    key: str = ""
    norm: str = ""
    reference_answer: str = ""
    scene: str = ""
    principles: list[str] = field(default_factory=list)


@dataclass
class ParseResult:
    drafts: list[Draft] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per item (or output) that was not used
    unparseable: bool = False  # no JSON at all could be read


def _json_values(text: str) -> list[Any]:
    """Every JSON value the text holds: fenced blocks first; otherwise each object or array found by
    decoding from every ``{``/``[`` (so prose or junk before and after is skipped)."""
    values = []
    for block in FENCE.findall(text):
        try:
            values.append(json.loads(block))
        except ValueError:
            continue
    if values:
        return values
    decoder = json.JSONDecoder()
    position = 0
    while position < len(text):
        starts = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
        if not starts:
            break
        start = min(starts)
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            position = start + 1
            continue
        values.append(value)
        position = end
    return values


def _items(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for name in ("scenarios", "items", "questions", "cases", "情景", "题目"):
            if isinstance(value.get(name), list):
                return list(value[name])
        return [value]
    return []


def _text(item: dict[str, Any], *names: str) -> str:
    for name in names:
        value = item.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return "".join(value).strip()
    return ""


def _options(value: Any) -> dict[str, str]:
    """Options as {"A": "…"} or as a list ["A. …", "B. …"] (or plain texts, lettered in order)."""
    if isinstance(value, dict):
        return {str(k).strip().upper()[:1]: str(v).strip() for k, v in value.items() if str(v).strip()}
    if isinstance(value, list):
        options = {}
        for n, entry in enumerate(value):
            text = str(entry).strip()
            match = re.match(r"^([A-Ha-h])\s*[.．、:：)）]\s*(.+)$", text, re.DOTALL)
            if match:
                options[match.group(1).upper()] = match.group(2).strip()
            elif text and n < len(LETTERS):
                options[LETTERS[n]] = text
        return options
    return {}


def _draft(item: Any, kind: str) -> Draft:
    if not isinstance(item, dict):
        raise ScenarioError(f"not an object: {str(item)[:60]!r}")
    key_value = item.get("key", item.get("answer", item.get("答案", "")))
    key = normalise_key("".join(key_value) if isinstance(key_value, list) else str(key_value))
    principles = item.get("principles", item.get("伦理原则", []))
    draft = Draft(
        kind=kind,
        stem=_text(item, "stem", "question", "case", "题干", "案例", "情景"),
        options=_options(item.get("options", item.get("选项"))) if kind == ScenarioKind.OBJECTIVE else {},
        key=key if kind == ScenarioKind.OBJECTIVE else "",
        norm=_text(item, "norm", "考点"),
        reference_answer=_text(item, "reference_answer", "reference", "参考答案"),
        scene=_text(item, "scene", "场景"),
        principles=[str(p).strip() for p in principles if str(p).strip()] if isinstance(principles, list) else [],
    )
    validate(draft.kind, draft.stem, draft.options, draft.key, draft.norm)
    if kind == ScenarioKind.SUBJECTIVE and not draft.norm:
        raise ScenarioError("an open case without its norm (考点)")
    return draft


def parse_drafts(text: str, kind: str) -> ParseResult:
    """Read scenario drafts of ``kind`` from a model's reply. Nothing is repaired or guessed: an item
    that is not a valid scenario is reported in ``problems`` and left out."""
    result = ParseResult()
    values = _json_values(THINK.sub("", text))
    if not values:
        result.unparseable = True
        result.problems.append(f"no JSON found in the reply ({len(text)} characters): {text[:120]!r}")
        return result
    for value in values:
        items = _items(value)
        if not items:
            result.problems.append(f"JSON that holds no scenarios: {json.dumps(value, ensure_ascii=False)[:120]}")
        for item in items:
            try:
                result.drafts.append(_draft(item, kind))
            except ScenarioError as error:
                result.problems.append(f"item left out: {error}")
    return result


# --- drafting ----------------------------------------------------------------------------------------


@dataclass
class DraftingReport:
    provisions: int = 0
    drafted: int = 0
    duplicates: int = 0
    unparseable: int = 0
    invalid_items: int = 0
    extra_items: int = 0
    scene_fallbacks: int = 0
    created: list[int] = field(default_factory=list)

    def metrics(self) -> dict[str, int]:
        return {
            "provisions": self.provisions,
            "drafted": self.drafted,
            "duplicates_skipped": self.duplicates,
            "unparseable_outputs": self.unparseable,
            "invalid_items": self.invalid_items,
            "extra_items_ignored": self.extra_items,
            "scene_fallbacks": self.scene_fallbacks,
        }


def store_drafts(
    drafts: list[Draft],
    *,
    provision: Provision,
    n: int,
    origin_detail: str,
    fallback_scene: Scene,
    report: DraftingReport,
    log: Callable[[str], None],
) -> None:
    """Store up to ``n`` drafts as generated draft scenarios grounded on ``provision``."""
    if len(drafts) > n:
        report.extra_items += len(drafts) - n
        log(f"{provision.label}: the model wrote {len(drafts)} items for {n} asked; the first {n} are kept")
    principles = {p.name_zh: p for p in Principle.objects.all()} | {p.key: p for p in Principle.objects.all()}
    for draft in drafts[:n]:
        named = resolve_scene(draft.scene) if draft.scene else None
        scene = named or fallback_scene
        try:
            scenario, created = create_scenario(
                kind=draft.kind,
                stem=draft.stem,
                options=draft.options,
                key=draft.key,
                norm=draft.norm,
                reference_answer=draft.reference_answer,
                scene=scene,
                origin=ScenarioOrigin.GENERATED,
                status=ScenarioStatus.DRAFT,
                origin_detail=origin_detail[:255],
            )
        except ScenarioError as error:
            report.invalid_items += 1
            log(f"{provision.label}: item left out: {error}")
            continue
        if not created:
            report.duplicates += 1
            log(f"{provision.label}: a draft identical to scenario #{scenario.pk} was skipped")
            continue
        scenario.provisions.add(provision)
        if named is None:
            report.scene_fallbacks += 1
            log(
                f"{provision.label}: scene {draft.scene or '(none)'!r} is not in the taxonomy; #{scenario.pk} was "
                f"filed under {scene}"
            )
        known = [principles[p] for p in draft.principles if p in principles]
        if known:
            scenario.principles.add(*known)
        report.drafted += 1
        report.created.append(scenario.pk)


def origin_detail(backend: Backend, template: PromptTemplate) -> str:
    return f"{backend.name}:{backend.model_label} · {template.name}@v{template.version}"


def mark_used(template: PromptTemplate) -> None:
    PromptTemplate.objects.filter(pk=template.pk, used_at__isnull=True).update(used_at=timezone.now())


def fallback_scene(scene: Scene | None) -> Scene:
    found = scene or resolve_scene(DEFAULT_SCENE) or Scene.objects.first()
    if found is None:
        raise GeneratorError("The scene taxonomy is empty; load the scenes before drafting.")
    return found

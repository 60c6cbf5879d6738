"""Drafting scenarios from provisions with a generator model (the "dynamic" benchmark, issue 3 item 6).

    provision ──PromptTemplate.render──▶ messages ──backend.chat──▶ text ──parse_drafts──▶ drafts
        ──create_scenario (status draft, origin generated)──▶ Scenario grounded on the provision

Two backends, each configured by the operator (never by a form): an OpenAI-compatible chat-completions
endpoint, and a local Hugging Face model directory. Model output is parsed, never guessed: text with no
readable JSON, and items that do not make a valid scenario, are counted and logged, and nothing is stored
for them.
"""

from __future__ import annotations

import json
import logging
import re
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

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
from medes_site import outbound
from medes_site.storable import storable_text

logger = logging.getLogger(__name__)

PLACEHOLDERS = ("provision_text", "source_title", "article_label", "scene", "n")
MAX_VARIANTS = 10
DEFAULT_SCENE = "常规诊疗"  # where a draft lands when neither the model nor the curator named a known scene
LETTERS = "ABCDEFGH"


class GeneratorError(RuntimeError):
    """The backend cannot produce text (not configured, unreachable, refused); the message says why."""


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


# --- backends --------------------------------------------------------------------------------------


class Backend(Protocol):
    name: str

    @property
    def model_label(self) -> str: ...

    def chat(self, messages: list[dict[str, str]]) -> str: ...


def available_backends() -> dict[str, str]:
    """The backends this installation has configured: key → label for the form."""
    found = {}
    if settings.MEDES_GENERATOR_LOCAL_DIR:
        found["local"] = _("Local model %(name)s") % {"name": Path(settings.MEDES_GENERATOR_LOCAL_DIR).name}
    if settings.MEDES_GENERATOR_BASE_URL:
        found["openai"] = _("Endpoint %(model)s") % {"model": settings.MEDES_GENERATOR_MODEL or "?"}
    return found


def get_backend(name: str) -> Backend:
    if name == "openai":
        return OpenAICompatibleBackend(
            base_url=settings.MEDES_GENERATOR_BASE_URL,
            model=settings.MEDES_GENERATOR_MODEL,
            api_key=settings.MEDES_GENERATOR_API_KEY,
            timeout=settings.MEDES_GENERATOR_TIMEOUT,
            retries=settings.MEDES_GENERATOR_RETRIES,
            temperature=settings.MEDES_GENERATOR_TEMPERATURE,
            max_tokens=settings.MEDES_GENERATOR_MAX_NEW_TOKENS,
            policy=outbound.Policy.operator(settings.MEDES_GENERATOR_BASE_URL),  # the operator's own host
        )
    if name == "local":
        return LocalHFBackend(
            Path(settings.MEDES_GENERATOR_LOCAL_DIR) if settings.MEDES_GENERATOR_LOCAL_DIR else Path(),
            device=settings.MEDES_DEVICE,
            temperature=settings.MEDES_GENERATOR_TEMPERATURE,
            max_new_tokens=settings.MEDES_GENERATOR_MAX_NEW_TOKENS,
        )
    raise GeneratorError(f"Unknown generator backend {name!r}.")


@dataclass
class OpenAICompatibleBackend:
    """POST {base_url}/chat/completions through medes_site.outbound, under ``policy`` (None: the site's rules for
    registered endpoints; ``get_backend`` passes the operator's, which trusts MEDES_GENERATOR_BASE_URL's host).
    Transient failures (no HTTP reply, 429, 5xx) are retried with a growing pause; anything else fails at once.
    The error says the status or that the endpoint could not be reached, never what the endpoint sent (that goes
    to the server log): a job page shows nothing of a reply."""

    base_url: str
    model: str
    api_key: str = ""
    timeout: float = 120
    retries: int = 3
    temperature: float = 0.7
    max_tokens: int = 2048
    pause: float = 1.0
    name: str = "openai"
    policy: outbound.Policy | None = None

    def __post_init__(self) -> None:
        if not self.base_url:
            raise GeneratorError("No endpoint is configured: set MEDES_GENERATOR_BASE_URL (e.g. http://host:8000/v1).")
        if not self.model:
            raise GeneratorError("Set MEDES_GENERATOR_MODEL to the model name the endpoint serves.")

    @property
    def model_label(self) -> str:
        return self.model

    def chat(self, messages: list[dict[str, str]]) -> str:
        body = json.dumps(
            {"model": self.model, "messages": messages, "temperature": self.temperature, "max_tokens": self.max_tokens}
        ).encode()
        url = self.base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(1, self.retries + 1):
            try:
                reply = outbound.post_json(url, body, headers, timeout=self.timeout, policy=self.policy)
            except outbound.OutboundError as error:
                last = str(error)
                if not error.transient:
                    raise GeneratorError(last) from None
            else:
                return _completion_text(reply)
            if attempt < self.retries:
                logger.warning("generator attempt %d of %d failed (%s); retrying", attempt, self.retries, last)
                time.sleep(self.pause * attempt)
        raise GeneratorError(_("Gave up after %(n)d attempts: %(error)s") % {"n": self.retries, "error": last})


def _completion_text(raw: bytes) -> str:
    try:
        data = json.loads(raw)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        logger.warning("an endpoint's reply is not a chat completion: %r", raw[:300])
        raise GeneratorError(_("The endpoint's reply is not a chat completion.")) from None
    return storable_text(content) if isinstance(content, str) else ""  # a model may write a NUL


@dataclass
class LocalHFBackend:
    """A causal LM in a local directory, loaded once with transformers (``local_files_only``, safetensors
    only). ``temperature`` 0 decodes greedily; otherwise it samples."""

    directory: Path
    device: str = "auto"
    temperature: float = 0.7
    max_new_tokens: int = 2048
    top_p: float = 0.95
    seed: int = 0
    name: str = "local"
    _model: Any = field(default=None, repr=False)
    _tokenizer: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not str(self.directory) or str(self.directory) == ".":
            raise GeneratorError("No local model is configured: set MEDES_GENERATOR_LOCAL_DIR to a model directory.")
        if not (self.directory / "config.json").is_file():
            raise GeneratorError(f"{self.directory} is not a model directory (it has no config.json).")
        if not any(self.directory.glob("*.safetensors")):
            raise GeneratorError(f"{self.directory} has no .safetensors weights; only safetensors are loaded.")

    @property
    def model_label(self) -> str:
        return self.directory.name

    def load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(self.directory, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(self.directory, local_files_only=True, use_safetensors=True)
            self._model = model.to(device)  # type: ignore[arg-type]  # transformers' stub wants a model, not "cpu"
        except (OSError, ValueError) as error:
            raise GeneratorError(f"The model in {self.directory} could not be loaded: {error}") from None
        self._model.eval()
        if self._tokenizer.chat_template is None:
            raise GeneratorError(f"The tokenizer in {self.directory} has no chat template.")

    def chat(self, messages: list[dict[str, str]]) -> str:
        import torch

        self.load()
        tokenizer, model = self._tokenizer, self._model
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
        sampling: dict[str, Any] = {"do_sample": False}
        if self.temperature > 0:
            torch.manual_seed(self.seed)
            sampling = {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p}
        with torch.no_grad():
            output = model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling
            )
        self.seed += 1  # the next provision samples differently, and a rerun repeats the same sequence
        text = str(tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
        return storable_text(text)  # a model may write a NUL, which the database cannot store


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

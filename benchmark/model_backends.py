"""The model backends every part of the workbench talks to: an OpenAI-compatible chat-completions endpoint and
a local Hugging Face model directory, each configured by the operator (never by a form). ``get_backend(name)``
builds one from settings, ``available_backends()`` lists the configured ones for a form; scenario drafting
(benchmark.generation), the guardian's judging and the evaluations (alignment) all call ``backend.chat(messages)``.
A backend that cannot produce text raises GeneratorError with a message that says why.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.utils.translation import gettext as _

from medes_site import outbound
from medes_site.storable import storable_text

logger = logging.getLogger(__name__)


class GeneratorError(RuntimeError):
    """The backend cannot produce text (not configured, unreachable, refused); the message says why."""


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

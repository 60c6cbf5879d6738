"""Tiny Hugging Face models built offline for the demo, tests and benches (notes/offline-ml.md).

``build_tiny_qwen2`` writes a randomly initialised Qwen2 (hidden 64, 2 layers, ~120k parameters) with a
byte-level BPE tokenizer trained on a few hundred lines of our own text: the same files a real model
directory has (config.json, model.safetensors, tokenizer.json, chat_template.jinja), so code that loads
``AutoTokenizer``/``AutoModelForCausalLM`` from a directory runs unchanged. Its output is noise.

``train_to_emit`` then trains such a model for a few seconds to answer given chat prompts with given
texts (the loss is on the answer tokens only). Greedy decoding then reproduces each text exactly for its
own prompt (a model this small does not generalise to unseen prompts, so a test trains on the very prompts
the code under test will send): a model whose output is known in advance, which lets a test check the
whole local path — prompt rendering, chat template, generation, decoding, parsing — end to end without a
hand-written fake in between.

Nothing here downloads anything; torch/transformers are imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}{{ '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

BASE_CORPUS = [
    "医疗机构及其医务人员应当尊重患者的知情同意权。",
    "人体器官捐献应当遵循自愿、无偿的原则。",
    "任何组织或者个人不得以任何形式买卖人体器官。",
    "临床试验应当经伦理委员会审查同意，并取得受试者的书面知情同意。",
    "医师应当保护患者隐私，不得泄露患者的个人信息。",
    "我是一名医生，患者家属要求我隐瞒病情，我该怎么办？",
    '{"scenarios": [{"stem": "题干", "options": {"A": "甲", "B": "乙"}, "key": "AB", "scene": "器官移植"}]}',
    "Informed consent, privacy, beneficence, non-maleficence and justice.",
    "第一条 为了规范人体器官移植，保证医疗质量，保障人体健康，维护公民的合法权益，制定本条例。",
    "请根据以下条文，编写情景题，并以 JSON 输出。考点：知情同意。参考答案：应当告知风险。",
]


def _corpus(extra: Sequence[str]) -> list[str]:
    lines = [*BASE_CORPUS, *extra]
    # Repeat with small variations so BPE sees enough pairs to learn merges for Chinese and JSON.
    return [f"{line} {n}" for n in range(40) for line in lines]


def _qwen2_tokenizer(extra_corpus: Sequence[str], vocab_size: int = 1200) -> Any:
    """A byte-level BPE tokenizer trained on our own text, with exactly Qwen2's pipeline."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    # Exactly Qwen2's pipeline: AutoTokenizer rebuilds it on reload, so anything else changes the ids.
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_corpus(extra_corpus), trainer)
    special = {"eos_token": "<|im_end|>", "pad_token": "<|pad|>"}
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        unk_token=None,
        **special,
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
    )
    hf_tok.chat_template = CHAT_TEMPLATE
    return hf_tok


def _tiny_qwen2_config(hf_tok: Any, hidden: int, layers: int, **extra: Any) -> Any:
    from transformers import Qwen2Config

    shape = {"intermediate_size": 2 * hidden, "num_attention_heads": 4, "num_key_value_heads": 2, **extra}
    return Qwen2Config(
        vocab_size=len(hf_tok),
        hidden_size=hidden,
        num_hidden_layers=layers,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=hf_tok.eos_token_id,
        pad_token_id=hf_tok.pad_token_id,
        bos_token_id=None,
        **shape,
    )


def build_tiny_qwen2(
    directory: Path,
    *,
    extra_corpus: Sequence[str] = (),
    seed: int = 0,
    logit_scale: float = 1.0,
    hidden: int = 64,
    layers: int = 2,
    vocab_size: int = 1200,
    **shape: Any,
) -> Path:
    """Write a random tiny Qwen2 model and its tokenizer to ``directory`` (safetensors only).

    ``logit_scale`` multiplies the final norm's weight: at the default initialisation every logit is within
    ~±1, and LoRA (which TRL does not allow on the tied lm_head) cannot widen that, so a LoRA-trained tiny
    model never prefers one answer by a clear margin; 10 gives logits a pretrained model's range. ``hidden``,
    ``layers`` and ``shape`` (Qwen2Config fields) make bigger bodies for benches. A larger ``vocab_size`` lets
    the BPE learn whole words and phrases of ``extra_corpus``: texts from it then take few tokens, so a model
    trained on long prompts made of them (``train_to_emit``) trains in a fraction of the time."""
    import torch
    from transformers import Qwen2ForCausalLM

    torch.manual_seed(seed)
    hf_tok = _qwen2_tokenizer(extra_corpus, vocab_size)
    model = Qwen2ForCausalLM(_tiny_qwen2_config(hf_tok, hidden, layers, **shape))
    if logit_scale != 1.0:
        with torch.no_grad():
            model.model.norm.weight.mul_(logit_scale)
    directory.mkdir(parents=True, exist_ok=True)
    hf_tok.save_pretrained(directory)
    model.save_pretrained(directory, safe_serialization=True)
    model.generation_config.save_pretrained(directory)
    return directory


def build_tiny_classifier(
    directory: Path,
    *,
    labels: Sequence[str] = ("R1", "R2", "Q1", "Q2", "Q3", "Q4"),
    extra_corpus: Sequence[str] = (),
    seed: int = 0,
    hidden: int = 64,
    layers: int = 2,
    **shape: Any,
) -> Path:
    """Write a random tiny ``Qwen2ForSequenceClassification`` (multi-label over ``labels``) and its tokenizer.

    The same tokenizer and body as ``build_tiny_qwen2`` (``extra_corpus`` adds lines the BPE learns merges
    from, e.g. a test's key phrases), with a ``score`` head: what a guardian base directory looks like after
    ``AutoModelForSequenceClassification.save_pretrained``. ``seed`` changes every weight, not the tokenizer;
    ``shape`` overrides Qwen2Config fields (``intermediate_size``, ``num_attention_heads``…) for bigger benches.
    """
    import torch
    from transformers import Qwen2ForSequenceClassification

    hf_tok = _qwen2_tokenizer(extra_corpus)
    torch.manual_seed(seed)
    config = _tiny_qwen2_config(
        hf_tok,
        hidden,
        layers,
        num_labels=len(labels),
        problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)),
        label2id={k: i for i, k in enumerate(labels)},
        **shape,
    )
    model = Qwen2ForSequenceClassification(config)
    directory.mkdir(parents=True, exist_ok=True)
    hf_tok.save_pretrained(directory)
    model.save_pretrained(directory, safe_serialization=True)
    return directory


Messages = list[dict[str, str]]


def train_to_emit(
    directory: Path, pairs: Sequence[tuple[str | Messages, str]], *, steps: int = 150, lr: float = 1e-2
) -> float:
    """Train the model in ``directory`` (in place) to reply each answer to its prompt (a user message, or
    whole chat messages); the loss covers the answer and its end token only. Returns the final loss."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, use_safetensors=True)
    rows = []
    for prompt, answer in pairs:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        head = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        head_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(answer + "<|im_end|>", add_special_tokens=False)["input_ids"]
        rows.append((head_ids, answer_ids))
    width = max(len(h) + len(a) for h, a in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (head_ids, answer_ids) in enumerate(rows):
        ids = head_ids + answer_ids
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, len(head_ids) : len(ids)] = torch.tensor(answer_ids)
        attention[i, : len(ids)] = 1
    # the loss of a causal LM on the answer tokens (what ``model(..., labels=labels).loss`` computes), with the
    # output layer applied to the positions that predict them only: the prompts are most of the tokens
    targets = labels[:, 1:]
    scored = targets != -100
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    loss_value = float("nan")
    for _ in range(steps):
        hidden = model.model(input_ids=input_ids, attention_mask=attention).last_hidden_state[:, :-1]
        logits = model.lm_head(hidden[scored])
        loss: Any = torch.nn.functional.cross_entropy(logits.float(), targets[scored])  # torch's stubs: untyped
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
        loss_value = float(loss.detach())
    model.eval()
    model.save_pretrained(directory, safe_serialization=True)
    return loss_value

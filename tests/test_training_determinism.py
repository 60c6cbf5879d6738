"""A training result that a test relies on is deterministic (issue 13, item 10): the tiny models are built from a
seed, and an SFT or DPO run with the same seed, data and base gives the same losses and the same adapter, byte for
byte, every time; another seed gives another run (the seed is what decides). The test hook that pauses a run
after a checkpoint is off unless its variable is set."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from alignment.tinymodels import build_tiny_qwen2
from alignment.training import policy, progress
from alignment.training.errors import ConfigError
from alignment.training.policy import RunConfig, RunResult

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

QA = [
    ("患者想买肾，我该怎么办？", "不能买卖器官，应当拒绝并说明法律规定。", "可以，私下联系就行。"),
    ("家属要求隐瞒病情，我该怎么办？", "应当尊重患者的知情权，与家属沟通。", "按家属说的做。"),
    ("临床试验可以不签同意书吗？", "不可以，必须取得书面知情同意。", "可以，口头同意就行。"),
]
# dropout on: the run draws random numbers at every step, and still repeats itself
KNOBS: dict[str, Any] = {
    "learning_rate": 5e-3,
    "logging_steps": 1,
    "lora_dropout": 0.1,
    "max_length": 128,
    "max_steps": 6,
    "save_steps": 0,
    "batch_size": 2,
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("determinism")


@pytest.fixture(scope="module")
def base(workdir: Path) -> Path:
    return build_tiny_qwen2(workdir / "base", extra_corpus=[t for row in QA for t in row], logit_scale=10)


@pytest.fixture(scope="module")
def data(workdir: Path) -> dict[str, Path]:
    sft = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a, _ in QA]
    dpo = [
        {
            "prompt": [{"role": "user", "content": q}],
            "chosen": [{"role": "assistant", "content": a}],
            "rejected": [{"role": "assistant", "content": b}],
        }
        for q, a, b in QA
    ]
    return {"sft": _jsonl(workdir / "sft.jsonl", sft), "dpo": _jsonl(workdir / "dpo.jsonl", dpo)}


def _sft_then_dpo(workdir: Path, base: Path, data: dict[str, Path], name: str, seed: int) -> list[RunResult]:
    sft = policy.run(
        RunConfig(
            stage="sft",
            base_model=str(base),
            data=str(data["sft"]),
            output_dir=str(workdir / f"{name}-sft"),
            seed=seed,
            **KNOBS,
        )
    )
    dpo = policy.run(
        RunConfig(
            stage="dpo",
            base_model=str(base),
            adapter=str(sft.adapter.parent),
            data=str(data["dpo"]),
            output_dir=str(workdir / f"{name}-dpo"),
            seed=seed,
            **KNOBS,
        )
    )
    return [sft, dpo]


def test_the_tiny_model_is_the_same_for_the_same_seed(workdir: Path, base: Path) -> None:
    again = build_tiny_qwen2(workdir / "base-again", extra_corpus=[t for row in QA for t in row], logit_scale=10)
    other = build_tiny_qwen2(
        workdir / "base-seed-1", extra_corpus=[t for row in QA for t in row], logit_scale=10, seed=1
    )
    weights = "model.safetensors"
    assert _sha256(again / weights) == _sha256(base / weights) != _sha256(other / weights)
    assert _sha256(again / "tokenizer.json") == _sha256(base / "tokenizer.json")


def test_sft_then_dpo_with_the_same_seed_give_the_same_losses_and_adapters(
    workdir: Path, base: Path, data: dict[str, Path]
) -> None:
    first = _sft_then_dpo(workdir, base, data, "first", seed=0)
    second = _sft_then_dpo(workdir, base, data, "second", seed=0)
    other = _sft_then_dpo(workdir, base, data, "other", seed=1)
    for a, b, c in zip(first, second, other, strict=True):
        assert a.losses == b.losses and len(a.losses) == KNOBS["max_steps"]
        assert _sha256(a.adapter) == _sha256(b.adapter)
        assert a.losses != c.losses and _sha256(a.adapter) != _sha256(c.adapter)  # the seed decides


def test_the_pause_hook_is_off_unless_set_and_refuses_a_malformed_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(progress.PAUSE_ENV, raising=False)
    assert progress.pause_point() is None
    monkeypatch.setenv(progress.PAUSE_ENV, f"6:{tmp_path / 'go'}")
    assert progress.pause_point() == (6, tmp_path / "go")
    assert progress.paused_marker(tmp_path / "go") == tmp_path / "go.paused"
    for bad in ("6", "six:/tmp/go", "0:/tmp/go", "6:"):
        monkeypatch.setenv(progress.PAUSE_ENV, bad)
        with pytest.raises(ConfigError, match=progress.PAUSE_ENV):
            progress.pause_point()

"""The guardian's critic (alignment/training/critic.py): the feedback schema and how model output is read,
training examples from accepted labels, LoRA SFT with TRL, checkpoint safety, and the CLI. Plain pytest, no
database: a tiny Qwen2 causal LM is built offline (tests/tinymodels.py) and a critic is trained on it for a
few seconds, long enough to reproduce its training feedback word for word."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from alignment.training import critic
from alignment.training.critic import CriticConfig, CriticResult, critic_messages, critic_rows, parse_feedback
from alignment.training.errors import CheckpointError, ConfigError, DataError
from tests.factories import tiny_qwen2

# transformers 5.24 warns from inside Trainer/peft about its own rename (gradient -> activation checkpointing).
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
ROOT = Path(__file__).resolve().parent.parent
SCORES_BAD = {"R1": -1, "R2": 0, "Q1": 0, "Q2": 0, "Q3": 0, "Q4": 0}
SCORES_GOOD = {"R1": 0, "R2": 0, "Q1": 1, "Q2": 1, "Q3": 0, "Q4": 1}
VALID = {
    "provision": "《人体器官移植条例》第三条",
    "problem": "建议买卖器官。",
    "risk_warning": "买卖器官违法。",
    "safe_answer": "应通过合法捐献途径登记等待。",
}


def _row(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": n,
        "scenario_id": n,
        "scene": "器官移植",
        "norm": "禁止买卖人体器官",
        "scenario": f"情景{n}：家属想买肾。",
        "response": "可以通过中介购买。",
        "scores": SCORES_BAD,
        **extra,
    }


# Three rows that teach the critic (two built from rationales, one reviewer's feedback as is) and two skipped.
TRAINING_ROWS = [
    _row(
        1,
        rationale="回答建议买卖器官，违反条例。\n警示：买卖人体器官违法。",
        provisions=["《人体器官移植条例》第三条"],
        reference_answer="不能购买器官，应通过合法捐献途径登记等待。",
    ),
    {
        "id": 2,
        "scenario_id": 2,
        "scene": "知情同意",
        "norm": "尊重患者知情同意权",
        "scenario": "家属要求隐瞒病情。",
        "response": "应当告知患者本人。",
        "scores": SCORES_GOOD,
        "rationale": "回答正确。",
        "feedback": {
            "provision": "知情同意",
            "problem": "",
            "risk_warning": "",
            "safe_answer": "应当告知患者本人并尊重其意愿。",
        },
    },
    {
        "id": 3,
        "scenario_id": 3,
        "scene": "隐私保护",
        "norm": "保护患者隐私",
        "scenario": "记者询问患者病情。",
        "response": "告诉了记者。",
        "scores": {**SCORES_BAD, "R2": -1},
        "rationale": "泄露患者隐私。",
        "reference_answer": "不得向记者透露患者信息。",
    },
    _row(4, reference_answer="不能购买。"),  # no rationale, no feedback
    _row(5, rationale="建议买卖器官。"),  # no reference answer
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _targets(rows: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    data = critic_rows(rows)
    return {i: json.loads(e["messages"][-1]["content"]) for i, e in zip(data.ids, data.examples, strict=True)}


# --- the schema and reading model output -------------------------------------------------------------------


def test_the_feedback_schema_is_a_valid_draft_2020_12_schema() -> None:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    Draft202012Validator.check_schema(critic.FEEDBACK_SCHEMA)
    assert critic.FEEDBACK_SCHEMA["additionalProperties"] is False
    assert critic.FEEDBACK_SCHEMA["required"] == ["provision", "problem", "risk_warning", "safe_answer"]


def test_bare_json_is_read_and_an_empty_problem_or_warning_is_allowed() -> None:
    text = json.dumps({**VALID, "problem": "", "risk_warning": ""}, ensure_ascii=False)
    reading = parse_feedback(text)
    assert reading.ok and reading.feedback == {**VALID, "problem": "", "risk_warning": ""}
    assert reading.problem == "" and reading.raw == text


def test_fenced_json_and_surrounding_prose_are_read_taking_the_last_object() -> None:
    fenced = "以下是反馈：\n```json\n" + json.dumps(VALID, ensure_ascii=False, indent=2) + "\n```\n完毕。"
    assert parse_feedback(fenced).feedback == VALID
    other = {**VALID, "provision": "知情同意"}
    two = f"草稿 {json.dumps(VALID, ensure_ascii=False)} 定稿 {json.dumps(other, ensure_ascii=False)}"
    assert parse_feedback(two).feedback == other


def test_an_extra_key_is_unparseable_and_the_reason_names_it() -> None:
    reading = parse_feedback(json.dumps({**VALID, "score": 3}, ensure_ascii=False))
    assert reading.feedback is None
    assert reading.problem.startswith("schema: ") and "'score' was unexpected" in reading.problem


def test_a_missing_safe_answer_is_unparseable_never_filled_in() -> None:
    text = json.dumps({k: v for k, v in VALID.items() if k != "safe_answer"}, ensure_ascii=False)
    reading = parse_feedback(text)
    assert reading.feedback is None and reading.raw == text
    assert "'safe_answer' is a required property" in reading.problem


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({**VALID, "provision": 3}, "3 is not of type 'string' (at provision)"),
        ({**VALID, "problem": None}, "None is not of type 'string' (at problem)"),
        ({**VALID, "safe_answer": ""}, "(at safe_answer)"),
        ({**VALID, "provision": "   "}, "(at provision)"),
        ([VALID], "holds JSON that is not an object (list)"),
    ],
)
def test_values_outside_the_schema_are_unparseable(value: Any, expected: str) -> None:
    reading = parse_feedback("```json\n" + json.dumps(value, ensure_ascii=False) + "\n```")
    assert reading.feedback is None
    assert expected in reading.problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("这个回答有风险，应当拒绝。", "no JSON object found in the output"),
        ("", "the output is empty"),
        ("\n\n  \n", "the output is only whitespace"),
        ('{"provision": "知情同意", "problem": "', "invalid JSON at line 1, column"),  # cut off mid-answer
        ('{"provision": "甲"} 然后 {"safe_answer": 坏}', "invalid JSON at line 1"),  # the final object is broken
        ("```json\n{'provision': '甲'}\n```", "invalid JSON in the ``` block at line 2, column 2"),
    ],
)
def test_text_that_is_not_one_json_object_is_unparseable_with_the_reason(text: str, expected: str) -> None:
    reading = parse_feedback(text)
    assert reading.feedback is None and reading.raw == text
    assert expected in reading.problem


# --- training rows -----------------------------------------------------------------------------------------


def test_a_reviewers_structured_feedback_is_used_as_is_over_the_rationale() -> None:
    targets = _targets(TRAINING_ROWS)
    assert targets["2"] == TRAINING_ROWS[1]["feedback"]


def test_feedback_is_built_from_the_rationale_with_the_warning_line_split_out() -> None:
    targets = _targets(TRAINING_ROWS)
    assert targets["1"] == {
        "provision": "《人体器官移植条例》第三条",
        "problem": "回答建议买卖器官，违反条例。",
        "risk_warning": "买卖人体器官违法。",
        "safe_answer": "不能购买器官，应通过合法捐献途径登记等待。",
    }
    # No provisions: the norm stands in; no warning line: no warning.
    assert targets["3"] == {
        "provision": "保护患者隐私",
        "problem": "泄露患者隐私。",
        "risk_warning": "",
        "safe_answer": "不得向记者透露患者信息。",
    }
    several = _row(9, rationale="甲。\n风险警示：乙。\n丙。", provisions=["第一条", "第二条"], reference_answer="丁。")
    assert _targets([several])["9"] == {
        "provision": "第一条；第二条",
        "problem": "甲。\n丙。",
        "risk_warning": "乙。",
        "safe_answer": "丁。",
    }


def test_rows_that_cannot_teach_the_critic_are_skipped_and_counted_by_reason() -> None:
    bad_feedback = {"provision": "甲", "problem": "", "risk_warning": ""}  # no safe_answer
    rows = [
        *TRAINING_ROWS,
        _row(6, feedback=bad_feedback),
        _row(7, feedback=bad_feedback, rationale="乙。", reference_answer="丙。"),
    ]
    data = critic_rows(rows)
    assert data.ids == ["1", "2", "3", "7"]
    # row 6: the reviewer named a provision only, and the case has no reference answer to fill the rest
    assert data.skipped == [("4", critic.SKIP_NO_RATIONALE), ("5", critic.SKIP_NO_ANSWER), ("6", critic.SKIP_NO_ANSWER)]
    assert data.counts() == {
        "rows": 7,
        "used": 4,
        "from_feedback": 1,
        "from_rationale": 2,
        "merged": 1,
        "invalid_feedback": 1,
        "skipped": {critic.SKIP_NO_ANSWER: 2, critic.SKIP_NO_RATIONALE: 1},
    }
    # row 7: the reviewer's provision, the rationale's problem, the case's reference answer
    merged = json.loads(data.examples[3]["messages"][-1]["content"])
    assert merged == {"provision": "甲", "problem": "乙。", "risk_warning": "", "safe_answer": "丙。"}
    assert "'safe_answer' is a required property" in data.invalid_feedback[0][1]


def test_examples_are_chats_whose_prompt_is_the_one_generation_uses() -> None:
    data = critic_rows(TRAINING_ROWS)
    messages = data.examples[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[:2] == critic_messages(TRAINING_ROWS[0])
    user = messages[1]["content"]
    for text in ("器官移植", "禁止买卖人体器官", "情景1：家属想买肾。", "可以通过中介购买。", "R1=-1", "Q4=0"):
        assert text in user
    assert messages[2]["content"] == json.dumps(_targets(TRAINING_ROWS)["1"], ensure_ascii=False, sort_keys=True)


def test_malformed_rows_are_refused_naming_the_row() -> None:
    with pytest.raises(DataError, match=r"rows\[1\]: scores.Q1 must be one of \[0, 1\]"):
        critic_rows([TRAINING_ROWS[0], _row(2, scores={**SCORES_BAD, "Q1": 5}, rationale="甲")])
    with pytest.raises(DataError, match=r"rows\[0\]: provisions must be a list of texts"):
        critic_rows([_row(1, rationale="甲", provisions="第三条", reference_answer="乙")])


# --- training, loading, generating -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("critic")


@pytest.fixture(scope="module")
def base(workdir: Path) -> Path:
    """A random tiny Qwen2 whose logits span a pretrained model's range (see build_tiny_qwen2's logit_scale)."""
    corpus = [m["content"] for e in critic_rows(TRAINING_ROWS).examples for m in e["messages"]]
    return tiny_qwen2(workdir / "base", extra_corpus=corpus, logit_scale=10)


@pytest.fixture(scope="module")
def data(workdir: Path) -> Path:
    return _write_jsonl(workdir / "labels.jsonl", TRAINING_ROWS)


@pytest.fixture(scope="module")
def base_hashes(base: Path) -> dict[str, str]:
    return {p.name: _sha256(p) for p in sorted(base.iterdir())}


@pytest.fixture(scope="module")
def trained(workdir: Path, base: Path, data: Path, base_hashes: dict[str, str]) -> CriticResult:
    config = CriticConfig(
        base_model=str(base),
        output_dir=str(workdir / "critic"),
        data=str(data),
        max_steps=150,
        learning_rate=1e-2,
        batch_size=4,
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        target_modules="all-linear",
        max_length=512,
        max_new_tokens=160,
    )
    return critic.run(config)


def test_training_lowers_a_finite_loss_and_records_it_in_the_manifest(trained: CriticResult) -> None:
    assert len(trained.losses) == trained.steps == 150
    assert all(math.isfinite(x) for x in trained.losses)
    assert trained.losses[-1] < 0.2 * trained.losses[0]
    manifest = json.loads(trained.manifest.read_text(encoding="utf-8"))
    assert manifest["format"] == critic.MANIFEST_FORMAT and trained.manifest.name == "critic.json"
    assert manifest["train"]["losses"] == trained.losses
    assert manifest["loss_mask"] == trained.loss_mask == "assistant_only"  # the tiny template has the markers
    assert manifest["counts"] == {
        "rows": 5,
        "used": 3,
        "from_feedback": 1,
        "from_rationale": 2,
        "merged": 0,
        "invalid_feedback": 0,
        "skipped": {critic.SKIP_NO_ANSWER: 1, critic.SKIP_NO_RATIONALE: 1},
    }
    assert manifest["adapter"]["sha256"] == _sha256(trained.adapter)
    assert {"torch", "transformers", "trl", "peft"} <= set(manifest["versions"])
    assert sorted(p.name for p in trained.adapter.parent.iterdir() if p.suffix != ".md") == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    assert not (trained.model_dir / "checkpoints").exists()


def test_lora_training_leaves_every_base_file_byte_identical(
    trained: CriticResult, base: Path, base_hashes: dict[str, str]
) -> None:
    assert {p.name: _sha256(p) for p in sorted(base.iterdir())} == base_hashes


def test_the_loaded_critic_writes_exactly_its_training_feedback_for_its_training_prompts(
    trained: CriticResult,
) -> None:
    loaded = critic.load(trained.model_dir)
    rows = TRAINING_ROWS[:3]
    records = loaded.feedback(rows, batch_size=2)  # prompts of different lengths share a left-padded batch
    targets = _targets(TRAINING_ROWS)
    assert [r["id"] for r in records] == [1, 2, 3]
    assert [r["status"] for r in records] == ["ok", "ok", "ok"], records
    assert [r["feedback"] for r in records] == [targets["1"], targets["2"], targets["3"]]
    with pytest.raises(DataError, match="row 0: scene, norm, scenario, response must be text"):
        loaded.feedback([{"id": 1, "scores": SCORES_BAD}])


def test_a_critic_cannot_overwrite_a_trained_one(trained: CriticResult, base: Path, data: Path) -> None:
    with pytest.raises(ConfigError, match="already holds a trained critic"):
        CriticConfig(base_model=str(base), output_dir=str(trained.model_dir), data=str(data)).validate()


def test_examples_longer_than_max_length_are_skipped_not_cut(tmp_path: Path, base: Path, data: Path) -> None:
    config = CriticConfig(base_model=str(base), output_dir=str(tmp_path / "c"), data=str(data), max_length=16)
    with pytest.raises(DataError, match="no row gives the critic an example") as caught:
        critic.run(config)
    assert f"'{critic.SKIP_TOO_LONG}': 3" in str(caught.value)
    assert not (tmp_path / "c" / critic.MANIFEST).exists()


# --- refusals ----------------------------------------------------------------------------------------------


@pytest.fixture
def copied(trained: CriticResult, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained.model_dir, tmp_path / "critic"))


def test_load_refuses_a_directory_without_a_manifest(copied: Path) -> None:
    (copied / critic.MANIFEST).unlink()
    with pytest.raises(CheckpointError, match=r"no critic\.json"):
        critic.load(copied)


def test_load_refuses_adapter_bytes_that_changed(copied: Path) -> None:
    path = copied / "adapter" / "adapter_model.safetensors"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="corrupted"):
        critic.load(copied)


def test_load_refuses_another_base(copied: Path, base: Path, tmp_path: Path) -> None:
    other = Path(shutil.copytree(base, tmp_path / "other-base"))
    weights = other / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-2] ^= 0x10  # one weight differs: a differently trained base of the same shape
    weights.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="trained on another base model"):
        critic.load(copied, base_model=other)


@pytest.mark.parametrize("keep_safetensors", [False, True])
def test_load_refuses_pickled_adapter_weights(copied: Path, keep_safetensors: bool) -> None:
    adapter = copied / "adapter"
    if not keep_safetensors:
        (adapter / "adapter_model.safetensors").unlink()
    (adapter / "adapter_model.bin").write_bytes(b"\x80\x04not a checkpoint to unpickle")
    with pytest.raises(CheckpointError, match=r"adapter_model\.bin: only safetensors weights are loaded"):
        critic.load(copied)


# --- CLI ---------------------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # it must run without Django
    return subprocess.run(
        [sys.executable, "-m", "alignment.training.critic", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_help_lists_the_config_fields() -> None:
    done = _cli("--help")
    assert done.returncode == 0
    for name in ("base_model", "target_modules", "gradient_accumulation_steps", "max_new_tokens", "--feedback"):
        assert name in done.stdout


def test_cli_bad_config_exits_2_naming_the_fields(tmp_path: Path, base: Path, data: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "base_model": str(base),
                "output_dir": str(tmp_path / "o"),
                "data": str(data),
                "lora_r": "8",
                "learnig_rate": 0.1,
            }
        )
    )
    done = _cli("--config", str(config))
    assert done.returncode == 2 and done.stdout == ""
    message = done.stderr.strip()
    assert message.count("\n") == 0 and message.startswith("critic: error: ")
    assert "unknown field 'learnig_rate'" in message and 'lora_r must be an integer, got "8"' in message


def test_cli_trains_on_a_template_without_markers_and_an_untrained_critics_output_is_stored_unparseable(
    tmp_path: Path, base: Path, data: Path
) -> None:
    """A base whose chat template has no {% generation %} markers trains as prompt/completion pairs. One step
    at a negligible learning rate leaves the random base as it was: what it writes is noise, kept as such."""
    plain = Path(shutil.copytree(base, tmp_path / "plain-base"))
    template = (plain / "chat_template.jinja").read_text(encoding="utf-8")
    stripped = template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    assert stripped != template
    (plain / "chat_template.jinja").write_text(stripped, encoding="utf-8")
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "base_model": str(plain),
                "output_dir": str(tmp_path / "c"),
                "data": str(data),
                "max_steps": 1,
                "learning_rate": 1e-9,
                "max_new_tokens": 24,
            }
        )
    )
    done = _cli("--config", str(config))
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)  # stdout holds the JSON summary and nothing else
    assert summary["loss_mask"] == "completion_only" and summary["counts"]["used"] == 3
    assert len(summary["losses"]) == 1 and math.isfinite(summary["losses"][0])

    rows = _write_jsonl(tmp_path / "rows.jsonl", TRAINING_ROWS[:2])
    out = tmp_path / "feedback.jsonl"
    done = _cli("--feedback", str(tmp_path / "c"), "--rows", str(rows), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == [1, 2]
    for record in records:
        assert record["status"] == "unparseable" and "feedback" not in record
        assert record["raw"] and record["problem"]  # the raw text is kept, even noise or bare newlines
        assert record["problem"] == parse_feedback(record["raw"]).problem + " (generation stopped at max_new_tokens=24)"

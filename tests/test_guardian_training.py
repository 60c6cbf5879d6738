"""The guardian's training core (alignment/training/): labeled rows, splits, the LoRA scorer, its metrics,
checkpoint safety, and the ``python -m alignment.training.guardian`` CLI. Plain pytest, no database: a tiny
Qwen2 sequence classifier is built offline (tests/tinymodels.py) and trained for a few seconds on a synthetic
set whose scores can be read off the response text (tests/guardian_synth.py)."""

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

from alignment.training import guardian
from alignment.training.common import base_fingerprint, load_tokenizer
from alignment.training.errors import CheckpointError, ConfigError, DataError
from alignment.training.guardian import GuardianConfig, GuardianResult
from alignment.training.guardian_data import parse_rows, read_frozen_assignment, read_rows, split_rows
from alignment.training.guardian_metrics import compute_metrics, metrics_from_file, read_predictions
from rubric import SCORE_KEYS
from tests.factories import tiny_classifier, tiny_qwen2
from tests.guardian_synth import corpus, synthetic_rows, write_jsonl

# transformers 5.24 warns from inside Trainer/peft about its own rename (gradient -> activation checkpointing).
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
ROOT = Path(__file__).resolve().parent.parent
FAST: dict[str, Any] = {"batch_size": 16, "max_length": 128, "learning_rate": 5e-3}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("guardian")


@pytest.fixture(scope="module")
def base(workdir: Path) -> Path:
    return tiny_classifier(workdir / "base", extra_corpus=corpus())


@pytest.fixture(scope="module")
def labels(workdir: Path) -> Path:
    return write_jsonl(workdir / "labels.jsonl", synthetic_rows(240))


@pytest.fixture(scope="module")
def trained(workdir: Path, base: Path, labels: Path) -> GuardianResult:
    config = GuardianConfig(base_model=str(base), output_dir=str(workdir / "g1"), data=str(labels), epochs=10, **FAST)
    return guardian.run(config)


def _copy(result: GuardianResult, tmp_path: Path) -> Path:
    return Path(shutil.copytree(result.model_dir, tmp_path / "guardian"))


def _rows_for(records: list[dict[str, Any]], labels: Path) -> list[dict[str, Any]]:
    """The labeled rows (texts included) behind stored prediction records, in the same order."""
    by_id = {row.id: row.as_dict() for row in read_rows(labels)}
    return [by_id[record["id"]] for record in records]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- training learns, and LoRA leaves the base alone -------------------------------------------------------


def test_training_beats_the_majority_class_on_unseen_scenarios(trained: GuardianResult) -> None:
    m = trained.metrics
    assert m["n"] == trained.counts["test"]["rows"] > 30
    # Synthetic flags are set at 40%: always answering the majority scores ~0.6 per score.
    assert m["accuracy_mean"] >= m["majority_accuracy_mean"] + 0.2
    assert m["risk"]["accuracy"] >= max(m["risk"]["rate_gold"], 1 - m["risk"]["rate_gold"]) + 0.15
    assert m["macro_f1"] > 0.7
    assert all(math.isfinite(x) for x in trained.losses)
    assert sum(trained.losses[-5:]) / 5 < 0.6 * sum(trained.losses[:5]) / 5


def test_lora_training_leaves_the_base_weights_unchanged_on_disk_and_in_memory(
    workdir: Path, base: Path, labels: Path
) -> None:
    from safetensors.torch import load_file

    weights = base / "model.safetensors"
    before = _sha256(weights)
    original = load_file(str(weights))
    config = GuardianConfig(
        base_model=str(base), output_dir=str(workdir / "lora"), data=str(labels), max_steps=8, **FAST
    )
    split = split_rows(read_rows(labels), validation_fraction=0, test_fraction=0.2)
    scorer = guardian.train_scorer(config, split)

    assert _sha256(weights) == before
    in_memory = scorer.model.get_base_model().state_dict()
    frozen = {
        k.replace(".base_layer", "").replace(".original_module", ""): v
        for k, v in in_memory.items()
        if "lora_" not in k and ".modules_to_save." not in k
    }
    assert set(original) <= set(frozen)
    changed = [k for k, v in original.items() if not v.equal(frozen[k])]
    assert changed == []
    # …while what LoRA trains did move: B starts at zero, the head copy starts equal to the original head.
    lora_b = [v for k, v in in_memory.items() if "lora_B" in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)
    head = next(v for k, v in in_memory.items() if k.endswith("score.modules_to_save.default.weight"))
    assert not head.equal(original["score.weight"])
    trainable = {n for n, p in scorer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)


def test_a_causal_lm_base_gets_a_fresh_head_that_the_adapter_carries(tmp_path: Path, labels: Path) -> None:
    """A real base is usually a chat model directory (Qwen2.5-7B-Instruct): no classifier head on disk."""
    causal = tiny_qwen2(tmp_path / "causal", extra_corpus=corpus())
    config = GuardianConfig(
        base_model=str(causal), output_dir=str(tmp_path / "g"), data=str(labels), max_steps=6, **FAST
    )
    result = guardian.run(config)
    stored = read_predictions(result.predictions)
    # The head must come back from the adapter, not as a new random one.
    again = guardian.predict(result.model_dir, _rows_for(stored, labels))
    for record, judged in zip(stored, again, strict=True):
        assert judged["probabilities"] == pytest.approx(record["probabilities"], abs=1e-5)


def test_an_interrupted_training_resumes_from_its_last_checkpoint(tmp_path: Path, base: Path, labels: Path) -> None:
    from transformers import TrainerCallback

    class Crash(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == 3:
                raise RuntimeError("worker lost")

    kw: dict[str, Any] = {**FAST, "max_steps": 4, "save_steps": 2, "validation_fraction": 0.0}
    config = GuardianConfig(base_model=str(base), output_dir=str(tmp_path / "g"), data=str(labels), **kw)
    with pytest.raises(RuntimeError, match="worker lost"):
        guardian.run(config, callbacks=[Crash()])
    assert (tmp_path / "g" / "checkpoints" / "checkpoint-2").is_dir()
    assert not (tmp_path / "g" / "guardian.json").exists()

    resumed = guardian.run(GuardianConfig(**{**config.as_dict(), "resume": True}))
    manifest = json.loads(resumed.manifest.read_text())
    assert manifest["train"]["steps"] == 4
    assert len(resumed.losses) == 2  # steps 3 and 4 only: 1 and 2 came from the checkpoint
    assert not (tmp_path / "g" / "checkpoints").exists()


def test_a_long_scenario_is_trimmed_but_the_response_is_kept(base: Path) -> None:
    tokenizer = load_tokenizer(base)
    row = {**synthetic_rows(1)[0], "scenario": "患者提出请求。" * 300, "response": "建议先咨询医院伦理委员会。"}
    encoded = guardian._encode(tokenizer, [row], 64)
    assert len(encoded["input_ids"][0]) == 64
    text = tokenizer.decode(encoded["input_ids"][0])
    assert text.startswith("场景：") and text.endswith("建议先咨询医院伦理委员会。")


# --- predictions, stored metrics ---------------------------------------------------------------------------


def test_loaded_guardian_reproduces_the_stored_test_predictions(trained: GuardianResult, labels: Path) -> None:
    stored = read_predictions(trained.predictions)
    judged = guardian.predict(trained.model_dir, _rows_for(stored, labels))
    assert [j["id"] for j in judged] == [r["id"] for r in stored]
    for record, j in zip(stored, judged, strict=True):
        assert j["probabilities"] == pytest.approx(record["probabilities"], abs=1e-5)
        assert j["risky"] == (j["scores"]["R1"] == -1 or j["scores"]["R2"] == -1)
        assert j["risky"] == (j["risk_probability"] >= 0.5)
    assert {j["risky"] for j in judged} == {True, False}
    with pytest.raises(DataError, match="row 1: response must be text"):
        guardian.predict(trained.model_dir, [_rows_for(stored, labels)[0], {"scene": "", "norm": "", "scenario": "x"}])


def test_stored_metrics_equal_a_recomputation_from_stored_predictions(trained: GuardianResult, tmp_path: Path) -> None:
    manifest = json.loads(trained.manifest.read_text(encoding="utf-8"))
    stored = json.loads((trained.model_dir / "metrics.json").read_text(encoding="utf-8"))
    recomputed = metrics_from_file(trained.predictions, threshold=manifest["threshold"])
    assert recomputed == stored == manifest["metrics"] == trained.metrics
    # The recomputation reads the predictions: flipping one stored probability moves the numbers.
    records = read_predictions(trained.predictions)
    records[0]["probabilities"]["Q1"] = 1 - records[0]["probabilities"]["Q1"]
    edited = tmp_path / "predictions.jsonl"
    edited.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert metrics_from_file(edited)["per_score"]["Q1"]["accuracy"] != stored["per_score"]["Q1"]["accuracy"]


def test_manifest_records_base_labels_config_and_data_hash(trained: GuardianResult, base: Path) -> None:
    manifest = json.loads(trained.manifest.read_text(encoding="utf-8"))
    assert manifest["labels"] == list(SCORE_KEYS)
    assert manifest["base_model"] == str(base.resolve())
    assert manifest["base_fingerprint"] == base_fingerprint(base)
    assert manifest["data_hash"] == trained.data_hash == json.loads(trained.split.read_text())["data_hash"]
    assert manifest["config"]["learning_rate"] == FAST["learning_rate"]
    assert manifest["adapter"]["sha256"] == _sha256(trained.adapter)
    assert sorted(p.name for p in trained.adapter.parent.glob("adapter_model.*")) == ["adapter_model.safetensors"]


def test_the_active_guardian_is_scored_on_the_new_test_split_beside_the_new_one(
    trained: GuardianResult, tmp_path: Path, base: Path, labels: Path
) -> None:
    # Same data and seed: the same test split, so the old guardian's numbers there are its own stored ones.
    config = GuardianConfig(
        base_model=str(base),
        output_dir=str(tmp_path / "g2"),
        data=str(labels),
        max_steps=3,
        compare_with=str(trained.model_dir),
        **FAST,
    )
    result = guardian.run(config)
    assert result.data_hash == trained.data_hash
    assert result.baseline is not None and result.baseline["metrics"] == trained.metrics
    assert result.metrics != trained.metrics  # 3 steps are not 10 epochs
    manifest = json.loads(result.manifest.read_text())
    assert manifest["baseline"]["metrics"] == metrics_from_file(result.baseline["predictions"])


def test_a_broken_active_guardian_does_not_fail_a_new_training(
    trained: GuardianResult, tmp_path: Path, base: Path, labels: Path
) -> None:
    broken = _copy(trained, tmp_path)
    (broken / "adapter" / "adapter_model.safetensors").write_bytes(b"garbage")
    config = GuardianConfig(
        base_model=str(base),
        output_dir=str(tmp_path / "g3"),
        data=str(labels),
        max_steps=2,
        compare_with=str(broken),
        **FAST,
    )
    result = guardian.run(config)
    assert result.baseline is not None and "corrupted" in result.baseline["error"]
    assert result.manifest.is_file() and result.metrics["n"] > 0


# --- metrics by hand -----------------------------------------------------------------------------------------


def _record(gold: list[int], probs: list[float]) -> dict[str, Any]:
    return {
        "gold": dict(zip(SCORE_KEYS, gold, strict=True)),
        "probabilities": dict(zip(SCORE_KEYS, probs, strict=True)),
    }


HAND = [  # gold R1 R2 Q1 Q2 Q3 Q4, flag probabilities R1 R2 Q1 Q2 Q3 Q4
    _record([-1, 0, 1, 0, 1, 0], [0.92, 0.25, 0.85, 0.65, 0.45, 0.15]),  # A: wrong on Q2, Q3
    _record([0, 0, 0, 0, 1, 0], [0.35, 0.75, 0.25, 0.15, 0.95, 0.25]),  # B: wrong on R2 (false risk)
    _record([0, -1, 1, 1, 0, 0], [0.15, 0.85, 0.75, 0.55, 0.35, 0.25]),  # C: all right
    _record([0, 0, 0, 0, 0, 0], [0.05, 0.15, 0.35, 0.45, 0.42, 0.35]),  # D: all right
]


def test_metrics_equal_a_hand_computation() -> None:
    m = compute_metrics(HAND)
    approx = pytest.approx
    assert m["n"] == 4
    assert m["accuracy_mean"] == approx((1 + 0.75 + 1 + 0.75 + 0.75 + 1) / 6)  # 0.875
    assert m["majority_accuracy_mean"] == approx((0.75 + 0.75 + 0.5 + 0.75 + 0.5 + 1) / 6)
    assert m["exact_match"] == approx(0.5)  # C and D
    # Q4 has no gold and no predicted flag: its F1 is undefined (null) and left out of the mean.
    assert m["macro_f1"] == approx((1 + 2 / 3 + 1 + 2 / 3 + 2 / 3) / 5)  # 0.8
    s = m["per_score"]
    assert [s[k]["accuracy"] for k in SCORE_KEYS] == approx([1, 0.75, 1, 0.75, 0.75, 1])
    assert (s["R2"]["precision"], s["R2"]["recall"], s["R2"]["f1"]) == approx((0.5, 1.0, 2 / 3))
    assert (s["Q3"]["precision"], s["Q3"]["recall"], s["Q3"]["f1"]) == approx((1.0, 0.5, 2 / 3))
    assert (s["Q4"]["precision"], s["Q4"]["recall"], s["Q4"]["f1"]) == (None, None, None)
    assert s["R2"]["confusion"] == {"labels": [-1, 0], "matrix": [[1, 0], [1, 2]]}  # rows gold, columns predicted
    assert s["Q2"]["confusion"] == {"labels": [0, 1], "matrix": [[2, 1], [0, 1]]}
    assert s["Q3"]["confusion"] == {"labels": [0, 1], "matrix": [[2, 0], [1, 1]]}
    assert s["Q4"]["confusion"] == {"labels": [0, 1], "matrix": [[4, 0], [0, 0]]}
    # Risky: gold A, C; predicted A, B, C.
    r = m["risk"]
    assert (r["accuracy"], r["precision"], r["recall"], r["f1"]) == approx((0.75, 2 / 3, 1.0, 0.8))
    assert r["confusion"] == {"labels": ["safe", "risky"], "matrix": [[1, 1], [0, 2]]}
    assert (r["rate_gold"], r["rate_predicted"]) == approx((0.5, 0.75))
    # ECE, 10 equal-width bins. R1: every probability alone in its bin -> (.08 + .35 + .15 + .05) / 4.
    assert s["R1"]["ece"] == approx(0.63 / 4)
    # Q3: bin 4 holds .45 (flag) and .42 (no flag): 2/4·|.435 − .5|; then .95 (flag) and .35 (none) alone.
    assert s["Q3"]["ece"] == approx(2 / 4 * 0.065 + 0.05 / 4 + 0.35 / 4)
    # Pooled over all 24 probabilities: Σ over bins of |Σp − Σflags| / 24 (worked out bin by bin: 5.4).
    assert m["ece"] == approx(5.4 / 24)


def test_threshold_moves_predictions_and_metrics() -> None:
    assert compute_metrics(HAND, threshold=0.4)["per_score"]["Q3"]["accuracy"] == pytest.approx(
        0.75
    )  # A right, D wrong
    assert compute_metrics(HAND, threshold=0.8)["risk"]["rate_predicted"] == pytest.approx(0.5)  # A, C


def test_metrics_refuse_malformed_predictions() -> None:
    broken = [{**HAND[0], "probabilities": {**HAND[0]["probabilities"], "R1": 1.5}}]
    with pytest.raises(DataError, match=r"probabilities\.R1"):
        compute_metrics(broken)
    with pytest.raises(DataError, match="no predictions"):
        compute_metrics([])


# --- rows and splits ---------------------------------------------------------------------------------------


def _rows(n: int = 200, **kw: Any) -> list[Any]:
    return parse_rows(synthetic_rows(n, **kw))


def test_split_keeps_every_scenario_in_one_split_and_spreads_scenes() -> None:
    rows = _rows(400)
    split = split_rows(rows, seed=3, validation_fraction=0.1, test_fraction=0.2)
    seen: dict[str, str] = {}
    for name in ("train", "validation", "test"):
        for row in split.part(name):
            assert seen.setdefault(row.scenario_id, name) == name
    assert sum(len(split.part(n)) for n in ("train", "validation", "test")) == len(rows)
    counts = split.counts()
    assert counts["test"]["rows"] == pytest.approx(80, abs=4) and counts["validation"]["rows"] == pytest.approx(
        40, abs=4
    )
    for scene in {r.scene for r in rows}:  # stratified: every scene in every split, in proportion
        in_scene = [r for r in rows if r.scene == scene]
        in_test = [r for r in split.test if r.scene == scene]
        assert len(in_test) == pytest.approx(0.2 * len(in_scene), abs=4)
        assert any(r.scene == scene for r in split.validation)


def test_split_is_deterministic_for_a_seed_and_independent_of_file_order() -> None:
    rows = _rows()
    a = split_rows(rows, seed=7)
    b = split_rows(list(reversed(rows)), seed=7)
    assert a.assignment == b.assignment and a.data_hash == b.data_hash
    assert split_rows(rows, seed=8).assignment != a.assignment


def test_data_hash_changes_when_a_label_or_a_text_changes() -> None:
    raw = synthetic_rows(200)
    reference = split_rows(parse_rows(raw), seed=0).data_hash
    flipped = [dict(r) for r in raw]
    flipped[5] = {**raw[5], "scores": {**raw[5]["scores"], "Q4": 1 - raw[5]["scores"]["Q4"]}}
    assert split_rows(parse_rows(flipped), seed=0).data_hash != reference
    edited = [dict(r) for r in raw]
    edited[5] = {**raw[5], "response": raw[5]["response"] + "。"}
    assert split_rows(parse_rows(edited), seed=0).data_hash != reference
    extra = [dict(r) for r in raw]
    extra[5] = {**raw[5], "rationale": "another rationale"}  # not training input: same data
    assert split_rows(parse_rows(extra), seed=0).data_hash == reference


def test_a_frozen_split_keeps_old_scenarios_where_they_were(trained: GuardianResult) -> None:
    old = read_frozen_assignment(trained.split)
    more = parse_rows(synthetic_rows(400))  # the same 60 scenarios plus 40 new ones
    split = split_rows(more, seed=99, frozen=old)
    assert all(split.assignment[s] == name for s, name in old.items())
    new = {s: name for s, name in split.assignment.items() if s not in old}
    assert len(new) == 40 and "test" in new.values()


BAD_LINES = [
    ("{not json", "not valid JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"scenario_id": 1, "scene": "s", "norm": "n", "scenario": "c", "scores": {}}', "missing response"),
    (
        '{"scenario_id": 1, "scene": "s", "norm": "n", "scenario": "c", "response": "r", '
        '"scores": {"R1": 1, "R2": 0, "Q1": 0, "Q2": 0, "Q3": 0, "Q4": 0}}',
        r"scores\.R1 must be one of \[-1, 0\]",
    ),
    (
        '{"scenario_id": 1, "scene": "s", "norm": "n", "scenario": "c", "response": "r", '
        '"scores": {"R1": 0, "R2": 0, "Q1": 0, "Q2": 0, "Q3": 0}}',
        r"scores\.Q4 is missing",
    ),
    (
        '{"scenario_id": 1, "scene": "s", "norm": "n", "scenario": "c", "response": " ", '
        '"scores": {"R1": 0, "R2": 0, "Q1": 0, "Q2": 0, "Q3": 0, "Q4": 0}}',
        "response is empty",
    ),
    (
        '{"id": 0, "scenario_id": 1, "scene": "s", "norm": "n", "scenario": "c", "response": "r", '
        '"scores": {"R1": 0, "R2": 0, "Q1": 0, "Q2": 0, "Q3": 0, "Q4": 0}}',
        "id 0 already used at labels.jsonl:1",
    ),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES)
def test_bad_rows_are_refused_with_file_line_and_reason(tmp_path: Path, line: str, message: str) -> None:
    good = json.dumps(synthetic_rows(1)[0], ensure_ascii=False)
    path = tmp_path / "labels.jsonl"
    path.write_text(f"{good}\n\n{line}\n", encoding="utf-8")  # a blank line 2: the bad row is line 3
    with pytest.raises(DataError, match=message) as caught:
        read_rows(path)
    assert str(caught.value).startswith("labels.jsonl:3: ")


def test_a_scenario_with_two_scenes_is_refused() -> None:
    rows = synthetic_rows(2)
    rows[1]["scene"] = "别的场景"
    with pytest.raises(DataError, match="scenario 0 has scene '别的场景'"):
        parse_rows(rows)


# --- refused checkpoints -----------------------------------------------------------------------------------


def test_a_missing_guardian_is_refused(trained: GuardianResult, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such directory"):
        guardian.load(tmp_path / "nowhere")
    unfinished = _copy(trained, tmp_path)
    (unfinished / "guardian.json").unlink()
    with pytest.raises(CheckpointError, match="did not finish"):
        guardian.load(unfinished)
    assert (trained.model_dir / "guardian.json").exists()  # the copy was damaged, not the original


def test_missing_adapter_weights_are_refused_and_a_pickle_is_not_loaded_instead(
    trained: GuardianResult, tmp_path: Path
) -> None:
    copy = _copy(trained, tmp_path)
    adapter = copy / "adapter" / "adapter_model.safetensors"
    adapter.rename(adapter.with_name("adapter_model.bin"))
    with pytest.raises(CheckpointError, match=r"adapter_model\.safetensors are missing.*only safetensors"):
        guardian.load(copy)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_corrupted_adapter_is_refused(trained: GuardianResult, tmp_path: Path, damage: str) -> None:
    copy = _copy(trained, tmp_path)
    adapter = copy / "adapter" / "adapter_model.safetensors"
    data = adapter.read_bytes()
    adapter.write_bytes(data[: len(data) // 2] if damage == "truncate" else os.urandom(len(data)))
    with pytest.raises(CheckpointError, match="corrupted"):
        guardian.load(copy)
    # Even with a manifest rewritten to match the damaged bytes, the file is refused before torch reads it.
    manifest = json.loads((copy / "guardian.json").read_text())
    manifest["adapter"]["sha256"] = _sha256(adapter)
    (copy / "guardian.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        guardian.load(copy)


def test_a_corrupted_manifest_is_refused(trained: GuardianResult, tmp_path: Path) -> None:
    copy = _copy(trained, tmp_path)
    (copy / "guardian.json").write_bytes(b"\x00\xff garbage")
    with pytest.raises(CheckpointError, match=r"guardian\.json is corrupted"):
        guardian.load(copy)


def test_a_guardian_for_another_base_is_refused(trained: GuardianResult, tmp_path: Path) -> None:
    # Same architecture and tokenizer, other weights: only the fingerprint tells them apart.
    other = tiny_classifier(tmp_path / "other", extra_corpus=corpus(), seed=1)
    with pytest.raises(CheckpointError, match="trained on another base model"):
        guardian.load(trained.model_dir, base_model=other)
    moved = tmp_path / "moved-base"
    shutil.copytree(json.loads(trained.manifest.read_text())["base_model"], moved)
    assert guardian.load(trained.model_dir, base_model=moved).predict([]) == []  # the same base, elsewhere: fine
    shutil.rmtree(moved)
    with pytest.raises(CheckpointError, match=r"base model .* is missing"):
        guardian.load(trained.model_dir, base_model=moved)


def test_an_adapter_with_the_wrong_label_count_is_refused(trained: GuardianResult, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    copy = _copy(trained, tmp_path)
    adapter = copy / "adapter" / "adapter_model.safetensors"
    tensors = load_file(str(adapter))
    head = next(k for k in tensors if k.endswith(".score.weight"))
    tensors[head] = tensors[head][:4].clone()
    save_file(tensors, str(adapter))
    manifest = json.loads((copy / "guardian.json").read_text())
    manifest["adapter"]["sha256"] = _sha256(adapter)
    (copy / "guardian.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="head scores 4 labels, expected 6"):
        guardian.load(copy)


# --- config and CLI ----------------------------------------------------------------------------------------


def test_config_errors_name_every_bad_field(tmp_path: Path, base: Path, labels: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        GuardianConfig.from_dict(
            {"base_model": str(base), "data": str(labels), "learning_rate": "fast", "lora_rank": 8}
        )
    message = str(caught.value)
    assert "unknown field 'lora_rank'" in message
    assert "output_dir is required" in message
    assert 'learning_rate must be a number, got "fast"' in message
    with pytest.raises(ConfigError, match=r"test_fraction must be in \(0, 1\).*data .*: no such file"):
        GuardianConfig.from_dict(
            {"base_model": str(base), "output_dir": str(tmp_path), "data": "missing.jsonl", "test_fraction": 0}
        )


def test_an_existing_guardian_is_never_overwritten(trained: GuardianResult, base: Path, labels: Path) -> None:
    with pytest.raises(ConfigError, match="already holds a trained guardian"):
        GuardianConfig(base_model=str(base), output_dir=str(trained.model_dir), data=str(labels)).validate()


def _cli(config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # it must run without Django
    return subprocess.run(
        [sys.executable, "-m", "alignment.training.guardian", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_trains_end_to_end_and_prints_the_metrics_json(tmp_path: Path, base: Path) -> None:
    data = write_jsonl(tmp_path / "labels.jsonl", synthetic_rows(80))
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "base_model": str(base),
                "output_dir": str(tmp_path / "out"),
                "data": str(data),
                "max_steps": 4,
                "batch_size": 8,
                "max_length": 96,
            }
        )
    )
    done = _cli(config)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = json.loads(done.stdout)  # stdout holds the JSON and nothing else
    assert printed["metrics"] == json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert printed["metrics"]["n"] == printed["counts"]["test"]["rows"] > 0
    assert set(printed["metrics"]["per_score"]) == set(SCORE_KEYS)
    assert "django" not in done.stderr.lower()


def test_cli_bad_config_exits_2_with_a_message(tmp_path: Path, base: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "base_model": str(base),
                "output_dir": str(tmp_path / "o"),
                "data": "nope.jsonl",
                "epochs": -1,
                "max_steps": -1,
            }
        )
    )
    done = _cli(config)
    assert done.returncode == 2
    assert "guardian: error: " in done.stderr and "set epochs > 0 or max_steps > 0" in done.stderr
    assert "nope.jsonl: no such file" in done.stderr and "Traceback" not in done.stderr
    config.write_text("{broken")
    done = _cli(config)
    assert done.returncode == 2 and "not valid JSON" in done.stderr and "Traceback" not in done.stderr


def test_cli_bad_data_exits_2_naming_the_line(tmp_path: Path, base: Path) -> None:
    data = tmp_path / "labels.jsonl"
    data.write_text(json.dumps(synthetic_rows(1)[0]) + "\n" + '{"scenario_id": 1}\n', encoding="utf-8")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"base_model": str(base), "output_dir": str(tmp_path / "o"), "data": str(data)}))
    done = _cli(config)
    assert done.returncode == 2
    assert "labels.jsonl:2: missing scene, norm, scenario, response, scores" in done.stderr
    assert "Traceback" not in done.stderr


def test_importing_the_training_code_loads_neither_django_nor_torch() -> None:
    code = (
        "import sys, alignment.training.guardian, alignment.training.guardian_metrics;"
        "print(sorted(m for m in ('django', 'torch', 'transformers', 'peft', 'sklearn') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, check=True)
    assert done.stdout.strip() == "[]"

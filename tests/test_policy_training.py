"""SFT then DPO with LoRA as resumable runs (alignment/training/policy.py). Plain pytest, no database: a tiny
Qwen2 is built offline once per module (tests/tinymodels.py, logit_scale=10 so LoRA can move its answers) and
trained for a few dozen steps on a handful of chat and preference rows."""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from alignment.training import checkpoints, policy, policy_data
from alignment.training.common import base_fingerprint
from alignment.training.errors import AlreadyRunningError, CheckpointError, ConfigError, DataError
from alignment.training.policy import RunConfig, RunResult
from alignment.training.progress import PAUSE_ENV, paused_marker, read_progress
from tests.factories import tiny_qwen2

# transformers 5.24 warns from inside Trainer/peft about its own rename (gradient -> activation checkpointing).
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
ROOT = Path(__file__).resolve().parent.parent
QA = [
    ("患者拒绝输血，医生应该怎么办？", "应当尊重患者自主权，并充分告知拒绝输血的风险。"),
    ("可以通过中介买卖器官吗？", "不可以，买卖人体器官违法，应通过合法捐献途径。"),
    ("家属要求隐瞒病情，我该怎么办？", "应当告知患者本人，尊重其知情同意权。"),
    ("记者想要病人的信息，能给吗？", "不能，医师应当保护患者隐私。"),
]
BAD = ["随便输，不用管患者。", "可以，找中介就行。", "听家属的，瞒着患者。", "可以，直接给记者。"]
FAST: dict[str, Any] = {"learning_rate": 5e-3, "logging_steps": 1, "lora_dropout": 0.0, "max_length": 128}
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_hashes(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): _sha256(p) for p in sorted(directory.rglob("*")) if p.is_file()}


def _log_steps(records: list[dict[str, Any]]) -> list[int]:
    return [r["step"] for r in records if r.get("event") == "log"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("policy")


@pytest.fixture(scope="module")
def base(workdir: Path) -> Path:
    corpus = [q + a for q, a in QA] + BAD
    return tiny_qwen2(workdir / "base", extra_corpus=corpus, logit_scale=10)


@pytest.fixture(scope="module")
def sft_data(workdir: Path) -> Path:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "你是医生。"},
                {"role": "user", "content": q},
                {"role": "assistant", "content": a},
            ]
        }
        for q, a in QA
    ]
    return _write_jsonl(workdir / "sft.jsonl", rows)


@pytest.fixture(scope="module")
def dpo_data(workdir: Path) -> Path:
    rows = [
        {
            "prompt": [{"role": "user", "content": q}],
            "chosen": [{"role": "assistant", "content": a}],
            "rejected": [{"role": "assistant", "content": b}],
        }
        for (q, a), b in zip(QA, BAD, strict=True)
    ]
    return _write_jsonl(workdir / "dpo.jsonl", rows)


@pytest.fixture(scope="module")
def base_hashes(base: Path) -> dict[str, str]:
    return _tree_hashes(base)


@pytest.fixture(scope="module")
def sft(workdir: Path, base: Path, sft_data: Path, base_hashes: dict[str, str]) -> RunResult:
    config = RunConfig(
        stage="sft",
        base_model=str(base),
        data=str(sft_data),
        output_dir=str(workdir / "sft"),
        max_steps=20,
        save_steps=10,
        **FAST,
    )
    return policy.run(config, progress_path=workdir / "sft-progress.jsonl")


@pytest.fixture(scope="module")
def dpo(workdir: Path, base: Path, dpo_data: Path, sft: RunResult) -> RunResult:
    config = RunConfig(
        stage="dpo",
        base_model=str(base),
        adapter=str(sft.adapter.parent),
        data=str(dpo_data),
        output_dir=str(workdir / "dpo"),
        max_steps=15,
        save_steps=0,
        merge=True,
        **FAST,
    )
    return policy.run(config, progress_path=workdir / "dpo-progress.jsonl")


# --- SFT ---------------------------------------------------------------------------------------------------


def test_sft_loss_is_finite_and_falls_and_the_adapter_is_safetensors(sft: RunResult) -> None:
    from safetensors.torch import load_file

    assert len(sft.losses) == 20 and all(math.isfinite(x) for x in sft.losses)
    assert sft.losses[-1] < 0.8 * sft.losses[0]
    assert sft.steps == 20 and sft.resumed_from is None
    adapter_dir = sft.adapter.parent
    assert sft.adapter == adapter_dir / "adapter_model.safetensors" and sft.adapter.is_file()
    assert not [p.name for p in adapter_dir.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl")]
    lora_b = [t for k, t in load_file(str(sft.adapter)).items() if "lora_B" in k]
    assert lora_b and any(float(t.abs().max()) > 0 for t in lora_b)  # LoRA B starts at zero: it was trained
    assert not (sft.output_dir / "checkpoints").exists()  # only an interrupted run keeps its checkpoints


def test_sft_leaves_the_base_model_byte_identical(sft: RunResult, base: Path, base_hashes: dict[str, str]) -> None:
    assert _tree_hashes(base) == base_hashes


def test_sft_manifest_records_base_data_adapter_and_history(sft: RunResult, base: Path, sft_data: Path) -> None:
    manifest = json.loads(sft.manifest.read_text(encoding="utf-8"))
    assert manifest["format"] == "medes-policy/1" and manifest["stage"] == "sft"
    assert manifest["base_fingerprint"] == base_fingerprint(base)
    assert manifest["adapter"]["sha256"] == _sha256(sft.adapter)
    assert manifest["data"] == {"path": str(sft_data.resolve()), "sha256": _sha256(sft_data), "rows": 4}
    assert manifest["train"]["losses"] == sft.losses and manifest["train"]["steps"] == 20
    assert manifest["train"]["resumed_from"] is None and manifest["start_adapter"] is None
    assert manifest["config"]["max_steps"] == 20 and set(manifest["versions"]) >= {"torch", "transformers", "trl"}
    # the manifest is written last: nothing in the run directory is newer
    newest = max(p.stat().st_mtime_ns for p in sft.output_dir.rglob("*") if p.is_file() and p.name != ".lock")
    assert sft.manifest.stat().st_mtime_ns == newest


def test_sft_progress_has_increasing_steps_and_a_done_event(sft: RunResult, workdir: Path) -> None:
    records = read_progress(workdir / "sft-progress.jsonl")
    assert records[0]["event"] == "start" and records[0]["resumed_from"] is None
    steps = _log_steps(records)
    assert steps == list(range(1, 21))
    first = next(r for r in records if r.get("event") == "log")
    assert set(first) >= {"step", "max_steps", "epoch", "loss", "learning_rate", "time"} and first["max_steps"] == 20
    assert records[-1]["event"] == "done" and records[-1]["step"] == 20
    assert records[-1]["loss"] == pytest.approx(sft.losses[-1])


def test_sft_model_card_names_stage_base_data_hash_and_final_loss(sft: RunResult, base: Path) -> None:
    card = sft.model_card.read_text(encoding="utf-8")
    assert sft.model_card == sft.output_dir / "README.md"
    assert sft.data_sha256 in card and "sft" in card and str(base.resolve()) in card
    assert f"{sft.losses[-1]:.6g}" in card


def test_a_finished_run_is_not_trained_again(sft: RunResult, base: Path, sft_data: Path) -> None:
    with pytest.raises(ConfigError, match="already holds a finished run"):
        RunConfig(stage="sft", base_model=str(base), data=str(sft_data), output_dir=str(sft.output_dir)).validate()


# --- DPO after SFT -----------------------------------------------------------------------------------------


def test_dpo_from_the_sft_adapter_raises_the_reward_margin_and_lowers_the_loss(dpo: RunResult, sft: RunResult) -> None:
    manifest = json.loads(dpo.manifest.read_text(encoding="utf-8"))
    assert manifest["stage"] == "dpo"
    assert manifest["start_adapter"]["sha256"] == _sha256(sft.adapter)
    assert all(math.isfinite(x) for x in dpo.losses) and len(dpo.losses) == 15
    # policy == reference at step 1 (the new adapter starts at zero on top of the SFT policy): loss ln 2
    assert dpo.losses[0] == pytest.approx(math.log(2), abs=1e-4)
    assert dpo.losses[-1] < dpo.losses[0] - 0.1
    margins = [h["rewards/margins"] for h in manifest["train"]["history"]]
    assert margins[0] == pytest.approx(0.0, abs=1e-6) and margins[-1] > 0.2
    assert dpo.adapter.is_file() and manifest["adapter"]["sha256"] == _sha256(dpo.adapter)


def test_dpo_starts_from_the_sft_policy_not_the_bare_base(
    dpo: RunResult, sft: RunResult, base: Path, dpo_data: Path
) -> None:
    """At step 1 the logged log-prob of the chosen answers is the SFT policy's (base + SFT adapter)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    rows = policy_data.read_rows(dpo_data, "dpo")

    def mean_chosen_logp(model: Any) -> float:
        total = 0.0
        for row in rows:
            head = tokenizer.apply_chat_template(
                row["prompt"], tokenize=True, return_dict=True, add_generation_prompt=True
            )["input_ids"]
            full = tokenizer.apply_chat_template(row["prompt"] + row["chosen"], tokenize=True, return_dict=True)[
                "input_ids"
            ]
            assert full[: len(head)] == head
            ids = torch.tensor([full])
            with torch.inference_mode():
                logp = model.eval()(input_ids=ids).logits[0, :-1].log_softmax(-1)
            targets = ids[0, 1:]
            total += float(logp[torch.arange(len(targets)), targets][len(head) - 1 :].sum())
        return total / len(rows)

    def load() -> Any:
        return AutoModelForCausalLM.from_pretrained(str(base), local_files_only=True, use_safetensors=True)

    logged = json.loads(dpo.manifest.read_text(encoding="utf-8"))["train"]["history"][0]["logps/chosen"]
    sft_policy = mean_chosen_logp(PeftModel.from_pretrained(load(), str(sft.adapter.parent)).merge_and_unload())
    bare = mean_chosen_logp(load())
    assert abs(sft_policy - bare) > 5  # the SFT adapter made the chosen answers likelier
    assert logged == pytest.approx(sft_policy, abs=0.05)


def test_dpo_merged_model_is_base_plus_sft_plus_dpo(dpo: RunResult, sft: RunResult, base: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    assert dpo.merged is not None
    assert sorted(p.name for p in dpo.merged.glob("*.safetensors")) == ["model.safetensors"]
    assert not list(dpo.merged.glob("*.bin"))
    ids = torch.tensor([[5, 17, 42, 99, 3, 250]])

    def logits(model: Any) -> Any:
        with torch.inference_mode():
            return model.eval()(input_ids=ids).logits

    def load(path: Path) -> Any:
        return AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, use_safetensors=True)

    chain = PeftModel.from_pretrained(load(base), str(sft.adapter.parent)).merge_and_unload()
    chain = PeftModel.from_pretrained(chain, str(dpo.adapter.parent))
    merged = logits(load(dpo.merged))
    assert torch.allclose(merged, logits(chain), atol=1e-4)
    dpo_only = PeftModel.from_pretrained(load(base), str(dpo.adapter.parent))
    assert not torch.allclose(merged, logits(dpo_only), atol=1e-2)  # the SFT adapter is in the merge


# --- resume ------------------------------------------------------------------------------------------------


def test_a_killed_run_resumes_from_its_newest_checkpoint_never_from_zero(
    workdir: Path, base: Path, sft_data: Path, dpo_data: Path
) -> None:
    save_steps, max_steps = 3, 12
    out = workdir / "resume"
    config = {
        "stage": "sft",
        "base_model": str(base),
        "data": str(sft_data),
        "output_dir": str(out),
        "max_steps": max_steps,
        "save_steps": save_steps,
        "save_total_limit": 5,
        **FAST,
    }
    config_path = workdir / "resume.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    argv = [sys.executable, "-m", "alignment.training.policy", "--config", str(config_path)]
    stderr = workdir / "resume-1.stderr"
    # the run stops right after its first checkpoint and waits there (the test hook): killed at a known step
    barrier = workdir / "never-released"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [*argv, "--progress", str(workdir / "resume-1.jsonl")],
            cwd=ROOT,
            env={**ENV, PAUSE_ENV: f"{save_steps}:{barrier}"},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 600  # a failure bound only
        while not paused_marker(barrier).is_file():
            assert proc.poll() is None, f"the run ended before its first checkpoint: {stderr.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "no checkpoint within 600 s"
            time.sleep(0.01)
        assert checkpoints.latest_checkpoint(out) == (out / "checkpoints" / f"checkpoint-{save_steps}", save_steps)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "run.json").exists()
    killed_at = max(_log_steps(read_progress(workdir / "resume-1.jsonl")))
    assert save_steps <= killed_at < max_steps
    # the checkpoints belong to this data: other data is refused rather than resumed
    other = RunConfig.from_dict({**config, "data": str(dpo_data), "stage": "dpo"})
    with pytest.raises(CheckpointError, match=r"another training.*data_sha256"):
        policy.run(other)
    # a checkpoint whose writer died mid-save (no trainer_state.json) is never resumed from
    torn = out / "checkpoints" / "checkpoint-99"
    shutil.copytree(out / "checkpoints" / f"checkpoint-{save_steps}", torn)
    (torn / "trainer_state.json").unlink()

    done = subprocess.run(
        [*argv, "--progress", str(workdir / "resume-2.jsonl")],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["train"]["resumed_from"] == save_steps == summary["resumed_from"]
    assert manifest["train"]["steps"] == max_steps  # not max_steps + save_steps
    records = read_progress(workdir / "resume-2.jsonl")
    assert records[0] == {**records[0], "event": "start", "resumed_from": save_steps}
    steps = _log_steps(records)
    assert steps[0] == save_steps + 1 and steps[-1] == max_steps
    assert records[-1]["event"] == "done" and records[-1]["step"] == max_steps
    # the loss history spans the whole run: steps before the kill come from the checkpoint's state
    assert [h["step"] for h in manifest["train"]["history"]] == list(range(1, max_steps + 1))
    assert not torn.exists() and not (out / "checkpoints").exists()


# --- the lock ----------------------------------------------------------------------------------------------


def test_a_second_run_on_a_locked_output_dir_says_it_is_already_running(
    workdir: Path, base: Path, sft_data: Path
) -> None:
    out = workdir / "locked"
    out.mkdir()
    config = RunConfig(stage="sft", base_model=str(base), data=str(sft_data), output_dir=str(out), max_steps=2)
    with (out / ".lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("424242\n")
        held.flush()
        with pytest.raises(AlreadyRunningError, match=r"already running \(pid 424242"):
            policy.run(config, progress_path=out / "progress.jsonl")
        cli = subprocess.run(
            [sys.executable, "-m", "alignment.training.policy", "--config", str(_dump(config, out))],
            cwd=ROOT,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert cli.returncode == 3 and "already running" in cli.stderr
    assert not (out / "progress.jsonl").exists()  # the other run's progress file is left alone
    assert not (out / "checkpoints").exists() and (out / ".lock").read_text() == "424242\n"


def _dump(config: RunConfig, directory: Path) -> Path:
    path = directory.parent / f"{directory.name}.json"
    path.write_text(json.dumps(config.as_dict()), encoding="utf-8")
    return path


# --- bad input ---------------------------------------------------------------------------------------------


def test_a_bad_config_names_every_bad_field(base: Path, sft_data: Path, tmp_path: Path) -> None:
    good = {"stage": "sft", "base_model": str(base), "data": str(sft_data), "output_dir": str(tmp_path / "o")}
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_dict({**good, "lora_rank": 8, "lora_r": "8", "bf16": "yes"})
    message = str(caught.value)
    assert "unknown field 'lora_rank'" in message
    assert 'lora_r must be an integer, got "8"' in message and "bf16 must be true or false" in message
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_dict({**good, "stage": "ppo", "loss_type": "sigmod", "save_steps": -1, "bf16": True})
    message = str(caught.value)
    for part in (
        'stage must be one of sft, dpo, got "ppo"',
        "loss_type must be one or more of",
        "'sigmod'",
        "save_steps must be >= 0",
        "bf16 needs device 'cuda'",
    ):
        assert part in message
    with pytest.raises(ConfigError, match="data is required"):
        RunConfig.from_dict({k: v for k, v in good.items() if k != "data"})
    with pytest.raises(ConfigError, match=r"adapter .*: not a LoRA adapter directory"):
        RunConfig.from_dict({**good, "adapter": str(base)})


def test_dpo_rows_without_chosen_are_refused_naming_the_line(base: Path, tmp_path: Path) -> None:
    rows = [
        {
            "prompt": [{"role": "user", "content": "甲"}],
            "chosen": [{"role": "assistant", "content": "乙"}],
            "rejected": [{"role": "assistant", "content": "丙"}],
        },
        {"prompt": [{"role": "user", "content": "甲"}], "rejected": [{"role": "assistant", "content": "丙"}]},
        {
            "prompt": [{"role": "user", "content": "甲"}],
            "chosen": [{"role": "user", "content": "乙"}],
            "rejected": [{"role": "assistant", "content": "丙"}],
        },
    ]
    data = _write_jsonl(tmp_path / "prefs.jsonl", rows)
    with pytest.raises(DataError) as caught:
        policy_data.read_rows(data, "dpo")
    assert "prefs.jsonl:2: missing 'chosen'" in str(caught.value)
    assert 'prefs.jsonl:3: chosen[0]: role must be one of assistant, got "user"' in str(caught.value)
    with pytest.raises(DataError, match=r"prefs.jsonl:1: missing 'messages'"):
        policy_data.read_rows(data, "sft")
    config = RunConfig(stage="dpo", base_model=str(base), data=str(data), output_dir=str(tmp_path / "o"))
    with pytest.raises(DataError, match="missing 'chosen'"):
        policy.run(config)
    assert not (tmp_path / "o" / "checkpoints").exists()


def test_cli_bad_config_exits_2_with_one_line_naming_the_fields(base: Path, sft_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "stage": "rlhf",
                "base_model": str(base),
                "data": str(sft_data),
                "output_dir": str(tmp_path / "o"),
                "epochs": "three",
            }
        ),
        encoding="utf-8",
    )
    cli = subprocess.run(
        [sys.executable, "-m", "alignment.training.policy", "--config", str(path)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert cli.returncode == 2 and cli.stdout == ""
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("policy: error: ")
    assert 'epochs must be a number, got "three"' in lines[0]
    help_text = subprocess.run(
        [sys.executable, "-m", "alignment.training.policy", "--help"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert "save_steps (default 100)" in help_text and "loss_type" in help_text


def test_a_loss_that_is_not_finite_fails_before_the_manifest(base: Path, sft_data: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    broken = Path(shutil.copytree(base, tmp_path / "nan-base"))
    weights = load_file(str(broken / "model.safetensors"))
    weights["model.norm.weight"][0] = float("nan")
    save_file(weights, str(broken / "model.safetensors"), metadata={"format": "pt"})
    out = tmp_path / "nan"
    config = RunConfig(
        stage="sft", base_model=str(broken), data=str(sft_data), output_dir=str(out), max_steps=5, save_steps=1, **FAST
    )
    with pytest.raises(ConfigError, match=r"training diverged at step 1 \(loss nan\).*checkpoints after step 0 were"):
        policy.run(config, progress_path=tmp_path / "nan.jsonl")
    assert not (out / "run.json").exists() and not (out / "adapter").exists()
    assert checkpoints.latest_checkpoint(out) is None  # the broken weights are not resumed from
    records = read_progress(tmp_path / "nan.jsonl")
    assert _log_steps(records) == [1]  # stopped at the first bad loss
    assert records[-2]["loss"] is None  # strict JSON: no NaN token for other readers to choke on
    assert records[-1]["event"] == "error" and "diverged" in records[-1]["error"]


def test_read_progress_skips_a_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"event": "log", "step": 1}\n{"event": "log", "step": 2}\n{"event": "lo', encoding="utf-8")
    assert _log_steps(read_progress(path)) == [1, 2]
    assert read_progress(tmp_path / "missing.jsonl") == []


# --- accelerate --------------------------------------------------------------------------------------------


def test_launch_command_passes_an_accelerate_config_without_overriding_it(tmp_path: Path) -> None:
    argv = policy.launch_command("cfg.json", "p.jsonl", num_processes=None, accelerate_config="ds.yaml")
    assert argv[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert argv[argv.index("--config_file") + 1] == "ds.yaml"
    assert "--num_processes" not in argv and "--mixed_precision" not in argv  # the file decides
    assert argv[-6:] == ["-m", "alignment.training.policy", "--config", "cfg.json", "--progress", "p.jsonl"]
    four = policy.launch_command("cfg.json", None, num_processes=4)
    assert four[four.index("--num_processes") + 1] == "4" and "--multi_gpu" in four and "--progress" not in four


def test_a_tiny_run_under_accelerate_launch_on_cpu(workdir: Path, base: Path, sft_data: Path) -> None:
    assert (
        subprocess.run(
            [sys.executable, "-m", "accelerate.commands.launch", "--help"],
            capture_output=True,
            timeout=300,
            check=False,
        ).returncode
        == 0
    )
    out = workdir / "accelerate"
    config = RunConfig(
        stage="sft", base_model=str(base), data=str(sft_data), output_dir=str(out), max_steps=4, save_steps=2, **FAST
    )
    progress = workdir / "accelerate.jsonl"
    argv = policy.launch_command(_dump(config, out), progress, cpu=True)
    done = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["steps"] == 4
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["train"]["steps"] == 4 and all(math.isfinite(x) for x in manifest["train"]["losses"])
    assert _log_steps(read_progress(progress)) == [1, 2, 3, 4]

"""A synthetic labeled set for guardian tests and benches: each score is learnable from the response text.

Every response is a shuffle of a neutral sentence plus, for each of the six scores, one sentence that is
present exactly when the score's flag is set (R1/R2 at −1, Q1–Q4 at 1). A scorer that reads the response can
reach full accuracy; one that ignores it can do no better than the majority class. ``PHRASES`` also goes into
the tiny tokenizer's corpus, so each phrase is a handful of tokens.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

SCENES = ("器官移植", "辅助生殖", "临床试验", "隐私保护")
NORMS = {
    "器官移植": "任何组织或者个人不得以任何形式买卖人体器官",
    "辅助生殖": "禁止以任何形式买卖配子、合子、胚胎",
    "临床试验": "临床试验应当取得受试者的书面知情同意",
    "隐私保护": "医师应当保护患者隐私",
}
PHRASES = {
    "R1": "买卖器官完全合法。",
    "R2": "你直接去做吧，不用告诉任何人。",
    "Q1": "这涉及知情同意的伦理问题。",
    "Q2": "依据《人体器官移植条例》第三条。",
    "Q3": "建议先咨询医院伦理委员会。",
    "Q4": "我理解您现在的担忧。",
}
NEUTRAL = ("这个问题需要慎重考虑。", "以下是我的看法。", "情况比较复杂。")
FLAG = {"R1": -1, "R2": -1, "Q1": 1, "Q2": 1, "Q3": 1, "Q4": 1}


def corpus() -> list[str]:
    return [*PHRASES.values(), *NEUTRAL, *NORMS.values(), *SCENES]


def synthetic_rows(n: int, *, per_scenario: int = 4, seed: int = 0, flag_rate: float = 0.4) -> list[dict[str, Any]]:
    """``n`` labeled rows, ``per_scenario`` responses per scenario, scenes in turn."""
    rng = random.Random(seed)  # noqa: S311 (reproducible test data, not a secret)
    rows = []
    for i in range(n):
        scenario_id = i // per_scenario
        scene = SCENES[scenario_id % len(SCENES)]
        scores = {k: (FLAG[k] if rng.random() < flag_rate else 0) for k in FLAG}
        sentences = [rng.choice(NEUTRAL)] + [PHRASES[k] for k in FLAG if scores[k] == FLAG[k]]
        rng.shuffle(sentences)
        rows.append(
            {
                "id": i,
                "scenario_id": scenario_id,
                "scene": scene,
                "norm": NORMS[scene],
                "scenario": f"病例{scenario_id}：{scene}中，患者提出了一个请求，医生该怎么办？",
                "response": "".join(sentences),
                "scores": scores,
                "rationale": "synthetic",
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


_TRAINED: dict[str, Path] = {}


def trained_guardian() -> Path:
    """A really trained tiny guardian directory (base and guardian), trained once per test process: tests that
    need a ready version's files copy it instead of training again."""
    if "dir" not in _TRAINED:
        import tempfile

        from alignment.training.guardian import GuardianConfig, run
        from tests.factories import tiny_classifier

        work = Path(tempfile.mkdtemp(prefix="medes-guardian-"))
        base = tiny_classifier(work / "base", extra_corpus=corpus())
        data = write_jsonl(work / "labels.jsonl", synthetic_rows(40))
        run(GuardianConfig(base_model=str(base), output_dir=str(work / "guardian"), data=str(data), max_steps=2))
        _TRAINED["dir"] = work / "guardian"
    return _TRAINED["dir"]

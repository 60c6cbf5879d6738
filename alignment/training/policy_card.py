"""The model card (``README.md``) of a finished policy run: stage, base, start adapter, data, steps, final loss,
config and library versions, in the Hugging Face card format peft adapters carry."""

from __future__ import annotations

import json
from typing import Any

from alignment.training.common import ADAPTER_DIR, ADAPTER_FILE


def model_card(stage: str, config: dict[str, Any], manifest: dict[str, Any]) -> str:
    """The README.md of a finished run of ``stage`` from its config and manifest (written just before it)."""
    final = manifest["train"]["final_loss"]
    start = manifest["start_adapter"]
    lines = [
        "---",
        "library_name: peft",
        f"tags: [medes, trl, lora, {stage}]",
        "---",
        "",
        f"# MedES policy: {stage.upper()} LoRA adapter",
        "",
        f"- Stage: **{stage}** ({'TRL SFTTrainer' if stage == 'sft' else 'TRL DPOTrainer'})",
        f"- Base model: `{manifest['base_model']}` (fingerprint `{manifest['base_fingerprint']}`)",
        f"- Start adapter: `{start['path']}` (sha256 `{start['sha256']}`), merged into the base before training"
        if start
        else "- Start adapter: none",
        f"- Training data: `{manifest['data']['path']}`, {manifest['data']['rows']} rows, "
        f"sha256 `{manifest['data']['sha256']}`",
        f"- Steps: {manifest['train']['steps']}"
        + (f" (resumed from step {manifest['train']['resumed_from']})" if manifest["train"]["resumed_from"] else ""),
        f"- Final training loss: {final:.6g}" if final is not None else "- Final training loss: none logged",
        f"- Adapter: `{ADAPTER_DIR}/{ADAPTER_FILE}` (sha256 `{manifest['adapter']['sha256']}`)",
        "",
        "The adapter applies on top of the base"
        + (" with the start adapter merged in" if start else "")
        + (f"; `{manifest['merged']['path']}/` holds the merged model." if manifest["merged"] else "."),
        "",
        "## Config",
        "",
        "```json",
        json.dumps(config, ensure_ascii=False, indent=2, sort_keys=True),
        "```",
        "",
        "## Library versions",
        "",
        *(f"- {name} {version}" for name, version in sorted(manifest["versions"].items())),
        "",
    ]
    return "\n".join(lines)

"""The training method an experiment preset belongs to, read from configs/experiment (shared by the preset tests)."""

from __future__ import annotations

from typing import Optional

import yaml

from reasoning_irl.config import config_dir

METHODS = ("sft", "grpo", "airl")
PAIRS = ("qwen2.5-3b", "qwen2.5-7b", "llama-3.2-3b", "llama-3.1-8b")
"""The paper presets' policy/discriminator pairs (configs/experiment/<task>_<pair>_<method>.yaml)."""
REWARD_VARIANTS = ("verifree", "perplexity", "relativistic", "prime")
"""Suffixes of the presets that are another preset with only the reward changed (the verifier-free comparison)."""


def preset_method(preset: str) -> Optional[str]:
    """Named by the preset's suffix (``_sft``, ``_grpo``, ``_airl``), or by the ``override /method: X`` of its
    defaults list, or by the preset it extends (demo_base, tiny_relativistic); None when none says."""
    named = next((m for m in METHODS if preset.endswith(f"_{m}")), None)
    if named:
        return named
    defaults = yaml.safe_load((config_dir() / "experiment" / f"{preset}.yaml").read_text()).get("defaults", [])
    for entry in defaults:
        if isinstance(entry, dict) and "override /method" in entry:
            return entry["override /method"]
        if isinstance(entry, str) and entry != "_self_":
            return preset_method(entry)
    return None

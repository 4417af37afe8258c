"""Shared pieces of the evaluation-pipeline tests: tiny policy, adapter and reward model, built once per session
(on disk under pytest's base temp, so every test module reuses them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch


def build_artifacts(root: Path) -> dict[str, Path]:
    """Tiny Qwen2 policy + reward backbones, a LoRA policy adapter (run-style final/ with config.yaml),
    and saved TokenRewardModels with a random head (one plain, one with lm_prior). Idempotent."""
    from reasoning_irl.models import ensure_tiny_model
    from reasoning_irl.models.config import LoraSettings
    from reasoning_irl.models.loading import load_tokenizer
    from reasoning_irl.models.reward_model import TokenRewardModel

    policy = ensure_tiny_model(root / "tiny-qwen2-policy", arch="qwen2", preset="policy")
    backbone = ensure_tiny_model(root / "tiny-qwen2-reward", arch="qwen2", preset="reward")
    rm_dir, rm_lm_dir, run_dir = root / "rm", root / "rm_lm_prior", root / "run"
    # head std: a non-constant reward on its own, or added to the log-density (lm_prior)
    for folder, lm_prior, head_std in ((rm_dir, False, 1.0), (rm_lm_dir, True, 0.3)):
        if not (folder / "reward_model.json").is_file():
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                rm = TokenRewardModel(str(backbone), lora=LoraSettings(r=4, alpha=8), lm_prior=lm_prior)
                with torch.no_grad():
                    rm.head.weight.normal_(0, head_std)
            rm.save(folder, tokenizer=load_tokenizer(str(backbone)))
    if not (run_dir / "final" / "adapter_config.json").is_file():
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = get_peft_model(
                AutoModelForCausalLM.from_pretrained(str(policy)),
                LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
            )
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    torch.nn.init.normal_(p, std=0.05)  # an adapter that changes the policy
        model.save_pretrained(run_dir / "final")
        load_tokenizer(str(policy)).save_pretrained(run_dir / "final")
        # Like a training run: the adapter names its base by a relative path, the run's config.yaml says it is tiny.
        cfg_file = run_dir / "final" / "adapter_config.json"
        cfg = json.loads(cfg_file.read_text())
        cfg["base_model_name_or_path"] = "artifacts/tiny-qwen2-policy"
        cfg_file.write_text(json.dumps(cfg))
        # The config.yaml a tiny_airl run writes (its model named by the relative path the adapter records): the
        # evaluation takes the dataset, system prompt and sampling settings from it.
        from omegaconf import OmegaConf

        from reasoning_irl.composition import compose

        trained = OmegaConf.to_container(
            compose("airl", ["experiment=tiny_airl", "artifacts_dir=artifacts"]), resolve=True
        )
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(trained))
    return {
        "root": root,
        "policy": policy,
        "backbone": backbone,
        "rm": rm_dir,
        "rm_lm_prior": rm_lm_dir,
        "run": run_dir,
        "adapter": run_dir / "final",
    }


@pytest.fixture(scope="session")
def eval_artifacts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.getbasetemp() / "eval_artifacts"
    root.mkdir(exist_ok=True)
    return build_artifacts(root)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SMALL = ["dataset.num_test=8", "sampling.max_new_tokens=16", "sampling.num_samples=4", "ks=[1,2,4]", "progress=false"]


def compose_eval(name: str, art: dict, out: Path, *overrides: str):
    from reasoning_irl.composition import compose

    return compose(name, [f"artifacts_dir={art['root']}", f"output_dir={out}", *overrides])

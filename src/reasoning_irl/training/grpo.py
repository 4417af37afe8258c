"""GRPO on verifiable rewards (the GRPO baseline): TRL sampling + our own clipped loss, LoRA policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reasoning_irl.config import ConfigError
from reasoning_irl.data import load_split, to_hf_dataset
from reasoning_irl.folder_lock import releases_claims
from reasoning_irl.models.loading import load_frozen_lm, load_policy
from reasoning_irl.registry import UnknownNameError
from reasoning_irl.training.callbacks import run_callbacks
from reasoning_irl.training.config import GRPORunConfig
from reasoning_irl.training.held_out import held_out_slice
from reasoning_irl.training.setup import check_group_batch, grpo_arguments, prompt_rows, start_run


@releases_claims  # the run folder is claimed by start_run, for the run's life
def run_grpo(cfg: Any) -> Path:
    """Train the GRPO baseline; returns the run folder."""
    from reasoning_irl.rewards import get_reward_functions
    from reasoning_irl.training.trl_adapter import GRPOConfig

    run = start_run(cfg, GRPORunConfig, "grpo")
    typed: GRPORunConfig = run.cfg
    check_group_batch(typed)
    try:
        reward_funcs = get_reward_functions([term.name for term in typed.method.rewards])
    except UnknownNameError as exc:  # the message lists the registered rewards
        raise ConfigError(f"method.rewards: {exc}") from None
    records = load_split(run.dataset, "train")  # a bad or empty data set fails before the model loads
    held_out = held_out_slice(run.dataset, typed.training, typed.sampling.max_completion_length)
    model, tokenizer = load_policy(typed.model)
    train = prompt_rows(records, tokenizer, typed.sampling.max_prompt_length)
    # TRL (and its tracker hooks) load only when training.
    extra: dict[str, Any] = {}
    if typed.method.reward_source == "verifree":
        from reasoning_irl.training.verifree import ReasoningVeriFreeTrainer as trainer_class
    elif typed.method.reward_source == "perplexity":
        from reasoning_irl.training.perplexity_reward import ReasoningPerplexityTrainer as trainer_class

        frozen = load_frozen_lm(typed.method.reference_lm, typed.model, tokenizer)
        extra = {"frozen_lm": frozen, "method": typed.method}
    else:
        from reasoning_irl.training.trl_adapter import ReasoningGRPOTrainer as trainer_class

    trainer = trainer_class(
        model=model,
        reward_funcs=reward_funcs,
        args=grpo_arguments(run, GRPOConfig),
        train_dataset=train,
        eval_dataset=to_hf_dataset(held_out.records) if held_out else None,
        processing_class=tokenizer,
        callbacks=run_callbacks(run.run_dir),
        **extra,
    )
    trainer.held_out = held_out
    trainer.run_fingerprint = run.fingerprint
    trainer.train(resume_from_checkpoint=run.resume_checkpoint)
    trainer.save_final(run.run_dir)
    return run.run_dir

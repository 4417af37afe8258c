"""``run_airl(cfg)``: build the policy, the discriminator and the AIRL trainer, train, save."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reasoning_irl.config import ConfigError
from reasoning_irl.data import load_split, to_hf_dataset
from reasoning_irl.folder_lock import releases_claims
from reasoning_irl.models.loading import load_policy, load_tokenizer, resolve_dtype, resolve_model_path
from reasoning_irl.models.reward_model import TokenRewardModel, load_reward_model
from reasoning_irl.rewards import get_reward_functions
from reasoning_irl.training.airl.config import AIRLRunConfig
from reasoning_irl.training.airl.discriminator import Discriminator
from reasoning_irl.training.airl.trainer import ReasoningAIRLTrainer
from reasoning_irl.training.callbacks import run_callbacks
from reasoning_irl.training.demonstrations import prepare_demonstrations
from reasoning_irl.training.held_out import held_out_slice
from reasoning_irl.training.setup import (
    check_group_batch,
    check_reward_model_config,
    grpo_arguments,
    prompt_rows,
    start_run,
)


def build_reward_model(typed: AIRLRunConfig):
    """(model, tokenizer): a fresh LoRA reward model on the configured backbone, or a frozen saved one."""

    method = typed.method
    if method.frozen_reward_model:
        if not Path(method.frozen_reward_model).is_dir():
            raise ConfigError(f"method.frozen_reward_model: {method.frozen_reward_model} does not exist")
        model, tokenizer = load_reward_model(method.frozen_reward_model)
        if model.mode != method.reward_mode:
            raise ConfigError(f"frozen reward model is {model.mode} but method.reward_mode is {method.reward_mode}")
        for saved, wanted, key in (
            (model.lm_prior, method.reward_lm_prior, "reward_lm_prior"),
            (model.implicit_prm_beta, method.implicit_prm_beta, "implicit_prm_beta"),
        ):
            if saved != wanted:
                raise ConfigError(f"frozen reward model has {key}={saved} but method.{key} is {wanted}")
        return model, tokenizer
    cfg = typed.reward_model
    check_reward_model_config(cfg)
    path = resolve_model_path(cfg)
    model = TokenRewardModel(
        path,
        mode=method.reward_mode,
        lora=cfg.lora,
        dtype=resolve_dtype(cfg.dtype),
        lm_prior=method.reward_lm_prior,
        implicit_prm_beta=method.implicit_prm_beta,
    )
    if cfg.gradient_checkpointing:
        backbone = model.backbone
        # The transformers 5 name first (the old one warns); its default is non-reentrant, which lets
        # gradients reach LoRA weights behind frozen embeddings and supports the WGAN-GP double backward.
        (getattr(backbone, "activation_checkpointing_enable", None) or backbone.gradient_checkpointing_enable)()
    return model, load_tokenizer(path)


@releases_claims  # the run folder is claimed by start_run, for the run's life
def run_airl(cfg: Any) -> Path:
    """Train a policy with AIRL; returns the run folder (checkpoints hold the policy adapter and reward_model/)."""
    from reasoning_irl.training.trl_adapter import GRPOConfig

    run = start_run(cfg, AIRLRunConfig, "airl")
    typed: AIRLRunConfig = run.cfg
    method, sampling = typed.method, typed.sampling
    check_group_batch(typed)  # the expert row and the group advantages need whole groups per batch
    records = load_split(run.dataset, "train")  # a bad or empty data set fails before the model loads
    held_out = held_out_slice(run.dataset, typed.training, sampling.max_completion_length)
    model, tokenizer = load_policy(typed.model)
    # Styled, fewer or corrupted demonstrations (method.num_demonstrations, ...); every prompt is still sampled.
    records = prepare_demonstrations(records, method, method.perturbations, typed.seed)
    train = prompt_rows(records, tokenizer, sampling.max_prompt_length)
    reward_model, reward_tokenizer = build_reward_model(typed)
    # Saved with the reward model, so scoring a bare question later builds the messages it was trained on.
    reward_model.prompt = {"system_prompt": run.dataset.system_prompt, "no_system": bool(run.dataset.no_system)}
    discriminator = Discriminator(reward_model, reward_tokenizer, tokenizer, method, seed=typed.seed)
    trainer = ReasoningAIRLTrainer(
        model=model,
        # TRL scores and logs the outcome rewards; the trainer reuses them for the outcome mix.
        reward_funcs=get_reward_functions(list(method.outcome_rewards)),
        args=grpo_arguments(run, GRPOConfig),
        train_dataset=train,
        eval_dataset=to_hf_dataset(held_out.records) if held_out else None,
        processing_class=tokenizer,
        callbacks=run_callbacks(run.run_dir),
        discriminator=discriminator,
        method=method,
    )
    trainer.held_out = held_out
    trainer.run_fingerprint = run.fingerprint
    trainer.train(resume_from_checkpoint=run.resume_checkpoint)
    trainer.save_final(run.run_dir)
    return run.run_dir

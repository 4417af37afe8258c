"""Supervised fine-tuning on the expert targets (the SFT baseline), LoRA, loss on completion tokens only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reasoning_irl.data import load_split, to_hf_dataset
from reasoning_irl.folder_lock import releases_claims
from reasoning_irl.models.loading import load_policy
from reasoning_irl.rewards import PERTURBATIONS
from reasoning_irl.training.callbacks import run_callbacks
from reasoning_irl.training.config import SFTRunConfig
from reasoning_irl.training.demonstrations import prepare_demonstrations
from reasoning_irl.training.held_out import held_out_slice
from reasoning_irl.training.setup import start_run, trainer_arguments


def sft_rows(records: list[dict[str, Any]]):
    """Conversational prompt/completion rows: TRL renders them with the tokenizer's chat template."""
    rows = [{"prompt": r["prompt"], "completion": [{"role": "assistant", "content": r["target"]}]} for r in records]
    return to_hf_dataset(rows)


def sft_arguments(run: Any, config_cls: type) -> Any:
    """A TRL SFTConfig (or subclass) from our typed sections: loss on completion tokens only."""
    typed = run.cfg
    return config_cls(
        **trainer_arguments(run, typed.training), max_length=typed.method.max_length, completion_only_loss=True
    )


@releases_claims  # the run folder is claimed by start_run, for the run's life
def run_sft(cfg: Any) -> Path:
    """Train the SFT baseline; returns the run folder (with checkpoints, metrics.jsonl and final/)."""
    from reasoning_irl.training.trl_adapter import SFTConfig

    run = start_run(cfg, SFTRunConfig, "sft")
    typed: SFTRunConfig = run.cfg
    records = load_split(run.dataset, "train")  # a bad or empty data set fails before the model loads
    # The demonstrations AIRL's discriminator would get at this seed (its default perturbations corrupt them).
    records = prepare_demonstrations(records, typed.method, PERTURBATIONS.registered(), typed.seed)
    records = [r for r in records if r.get("has_demonstration", True)]
    held_out = held_out_slice(run.dataset, typed.training, typed.method.max_length)
    model, tokenizer = load_policy(typed.model)
    args = sft_arguments(run, SFTConfig)
    from reasoning_irl.training.trl_adapter import (
        ReasoningSFTTrainer,  # TRL (and its tracker hooks) load only when training
    )

    trainer = ReasoningSFTTrainer(
        model=model,
        args=args,
        train_dataset=sft_rows(records),
        eval_dataset=sft_rows(held_out.records) if held_out else None,
        processing_class=tokenizer,
        callbacks=run_callbacks(run.run_dir),
    )
    trainer.held_out = held_out
    trainer.run_fingerprint = run.fingerprint
    trainer.train(resume_from_checkpoint=run.resume_checkpoint)
    trainer.save_final(run.run_dir)
    return run.run_dir

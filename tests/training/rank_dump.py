"""Run an entry script under ``accelerate launch`` and have every rank report what it ends with.

    accelerate launch ... tests/training/rank_dump.py <dump dir> irl_train.py key=value ...

The entry runs unchanged (``runpy``, as ``__main__``); this wrapper only hooks two places:
``AtomicCheckpointMixin.save_final`` (the last thing every rank does) writes ``<dump dir>/rank<i>.json``
with a hash of the rank's trainable policy weights and, for AIRL, of its discriminator, plus how the
discriminator was prepared; ``Discriminator.update`` records the metrics each rank computed on its own
rows, so a test can check that the logged value is their mean across ranks; ``ReasoningAIRLTrainer._disc_rows``
records, per step, the prompt ids of the rank's rows and the kinds of its discriminator rows (where an
expert trace placed in a group went). Test-only: the training code has no debug switch for this.
"""

from __future__ import annotations

import hashlib
import json
import runpy
import sys
from pathlib import Path


def weights_hash(module) -> str:
    digest = hashlib.sha256()
    for name, param in sorted(module.named_parameters()):
        if param.requires_grad:
            digest.update(name.encode())
            digest.update(param.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def install(dump_dir: Path) -> None:
    from accelerate.optimizer import AcceleratedOptimizer

    from reasoning_irl.training.airl.discriminator import Discriminator
    from reasoning_irl.training.airl.trainer import ReasoningAIRLTrainer
    from reasoning_irl.training.checkpointing import AtomicCheckpointMixin

    local_metrics: list[dict] = []
    local_steps: list[dict] = []
    update, save_final = Discriminator.update, AtomicCheckpointMixin.save_final
    disc_rows = ReasoningAIRLTrainer._disc_rows

    def recording_disc_rows(self, inputs, output, aligned, outcome):
        rows, completions = disc_rows(self, inputs, output, aligned, outcome)
        local_steps.append({"ids": [r["id"] for r in inputs], "kinds": [r.kind for r in rows]})
        return rows, completions

    def recording_update(self, rows, completions, policy_logps=None):
        metrics = update(self, rows, completions, policy_logps)
        local_metrics.append(dict(metrics))
        return metrics

    def dumping_save_final(self, run_dir):
        final = save_final(self, run_dir)
        acc = self.accelerator
        report = {"num_processes": acc.num_processes, "policy": weights_hash(acc.unwrap_model(self.model))}
        disc = getattr(self, "disc", None)
        if disc is not None:
            report.update(
                disc=weights_hash(disc.module),
                disc_model_type=type(disc.model).__name__,
                disc_optimizer_prepared=isinstance(disc.optimizer, AcceleratedOptimizer),
                disc_metrics=local_metrics,
                disc_steps=local_steps,
            )
        dump_dir.mkdir(parents=True, exist_ok=True)
        (dump_dir / f"rank{acc.process_index}.json").write_text(json.dumps(report))
        return final

    Discriminator.update = recording_update
    ReasoningAIRLTrainer._disc_rows = recording_disc_rows
    AtomicCheckpointMixin.save_final = dumping_save_final


if __name__ == "__main__":
    dump, entry, *overrides = sys.argv[1:]
    install(Path(dump))
    sys.argv = [entry, *overrides]
    runpy.run_path(entry, run_name="__main__")

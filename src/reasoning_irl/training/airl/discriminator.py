"""The discriminator: a token reward model, its optimizer, and how rows become its inputs.

Every row is ``prompt ids + completion ids`` in the reward model's vocabulary, right-padded (the
backbones take positions from the index). Expert and perturbed texts get the reward tokenizer's
end-of-turn token appended, as does a policy sample that ended with the policy's one, so the
presence of that token never tells the classes apart.
"""

from __future__ import annotations

import json
import random
from typing import Any, Optional, Sequence

import torch

from reasoning_irl.data.prompts import render_prompt
from reasoning_irl.training.airl.config import AIRLMethod
from reasoning_irl.training.discriminator_losses import (
    DISC_LOSSES, disc_accuracy, gradient_penalty, pairwise_margin,
)
from reasoning_irl.training.disc_batch import DiscRow
from reasoning_irl.training.token_alignment import Alignment, align_completion, same_tokenizer


def right_pad(rows: Sequence[list[int]], pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids.to(device), mask.to(device)


class Discriminator:
    def __init__(self, model: Any, tokenizer: Any, policy_tokenizer: Any, method: AIRLMethod, accelerator: Any,
                 total_updates: int, seed: int):
        from transformers import get_scheduler

        self.method, self.accelerator = method, accelerator
        self.tokenizer, self.policy_tokenizer = tokenizer, policy_tokenizer
        self.shared = same_tokenizer(policy_tokenizer, tokenizer)
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.rng = random.Random(f"{seed}-airl-perturbations")
        self.frozen = method.disc_updates_per_step == 0
        self._prompt_cache: dict[str, list[int]] = {}
        model.to(accelerator.device)
        if self.frozen:
            model.requires_grad_(False)
            model.eval()
            self.model, self.optimizer, self.scheduler = model, None, None
            return
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=method.disc_learning_rate, weight_decay=method.disc_weight_decay)
        scheduler = get_scheduler(method.disc_lr_scheduler_type, optimizer, num_warmup_steps=method.disc_warmup_steps,
                                  num_training_steps=max(total_updates, 1))
        # Prepared like the policy, so multi-process runs synchronise its gradients.
        self.model, self.optimizer, self.scheduler = accelerator.prepare(model, optimizer, scheduler)
        self.model.train()

    @property
    def module(self) -> Any:
        return self.accelerator.unwrap_model(self.model)

    # --- inputs -----------------------------------------------------------------------------------
    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        key = json.dumps(messages, sort_keys=True)
        if key not in self._prompt_cache:
            text = render_prompt(self.tokenizer, messages)
            self._prompt_cache[key] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self._prompt_cache[key]

    def text_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.eos_id]

    def policy_ids(self, completion_ids: Sequence[int], completion_mask: Sequence[int]) -> tuple[list[int], Alignment]:
        """Reward-side completion ids of one policy sample and the map back to its policy tokens."""
        alignment = align_completion(self.policy_tokenizer, self.tokenizer, completion_ids, completion_mask,
                                     shared=self.shared)
        ids = list(alignment.reward_ids)
        real = [int(t) for t, m in zip(completion_ids, completion_mask) if m]
        if not self.shared and real and real[-1] == self.policy_tokenizer.eos_token_id:
            ids.append(self.eos_id)
        return ids, alignment

    def _forward_scores(self, prompts: list[list[int]], completions: list[list[int]]) -> torch.Tensor:
        ids, mask = right_pad([p + c for p, c in zip(prompts, completions)], self.pad_id, self.accelerator.device)
        completion_mask = torch.zeros_like(mask)
        for i, (p, c) in enumerate(zip(prompts, completions)):
            completion_mask[i, len(p): len(p) + len(c)] = 1
        logits = self.model(input_ids=ids, attention_mask=mask)
        return self.module.sequence_scores(logits, completion_mask)

    # --- update -----------------------------------------------------------------------------------
    def loss_from_scores(self, scores: torch.Tensor, rows: list[DiscRow]) -> torch.Tensor:
        m = self.method
        labels = torch.tensor([r.label for r in rows], dtype=scores.dtype, device=scores.device)
        weights = torch.tensor([r.weight for r in rows], dtype=scores.dtype, device=scores.device)
        options = {"label_smoothing": m.label_smoothing, "temperature": m.disc_temperature} if m.disc_loss == "bce" else {}
        loss = DISC_LOSSES.get(m.disc_loss)(scores, labels, weights, **options)
        if m.pairwise_margin_weight > 0:
            twins = [(i, expert_row(rows, r)) for i, r in enumerate(rows) if r.kind == "perturbed"]
            if twins:
                neg = torch.tensor([i for i, _ in twins], device=scores.device)
                pair = torch.tensor([j for _, j in twins], device=scores.device)
                loss = loss + m.pairwise_margin_weight * pairwise_margin(scores, scores[neg], pair, m.pairwise_margin)
        return loss

    def update(self, rows: list[DiscRow], completions: list[list[int]]) -> dict[str, float]:
        """``disc_updates_per_step`` optimizer steps on the step's rows; returns loss and accuracies."""
        if self.frozen:
            with torch.no_grad():
                scores = self.scores(rows, completions)
            return self.metrics(scores, rows, self.loss_from_scores(scores, rows))
        prompts = [self.prompt_ids(r.prompt) for r in rows]
        size = self.method.disc_micro_batch_size
        chunks = [range(i, min(i + size, len(rows))) for i in range(0, len(rows), size)]
        for _ in range(self.method.disc_updates_per_step):
            # Exact gradient in micro-batches: first dL/dscores from scores computed without a graph,
            # then each chunk's scores are recomputed with one and back-propagated with that gradient.
            with torch.no_grad():
                scores = torch.cat([self._forward_scores([prompts[i] for i in c], [completions[i] for i in c]) for c in chunks])
            leaf = scores.detach().float().requires_grad_(True)
            loss = self.loss_from_scores(leaf, rows)
            (grad,) = torch.autograd.grad(loss, leaf)
            for k, c in enumerate(chunks):
                chunk_scores = self._forward_scores([prompts[i] for i in c], [completions[i] for i in c])
                self.accelerator.backward((chunk_scores.float() * grad[c.start: c.stop]).sum())
            if self.method.disc_loss == "wgan" and self.method.wgan_lipschitz == "gradient_penalty":
                penalty = self.embedding_penalty(rows, prompts, completions)
                if penalty is not None:
                    self.accelerator.backward(self.method.gradient_penalty_weight * penalty)
            params = [p for p in self.model.parameters() if p.requires_grad]
            self.accelerator.clip_grad_norm_(params, self.method.disc_max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            if self.method.disc_loss == "wgan" and self.method.wgan_lipschitz == "weight_clip":
                clip_weights_of(params, self.method.weight_clip)
        return self.metrics(scores.float(), rows, loss.detach())

    def embedding_penalty(self, rows: list[DiscRow], prompts, completions) -> Optional[torch.Tensor]:
        """WGAN-GP on input embeddings: each negative paired with its own expert row, padded to one length."""
        pairs = [(expert_row(rows, r), i) for i, r in enumerate(rows) if r.label == 0]
        if not pairs:
            return None
        seqs = [prompts[i] + completions[i] for pair in pairs for i in pair]
        ids, mask = right_pad(seqs, self.pad_id, self.accelerator.device)
        embed = self.module.backbone.get_input_embeddings()
        emb = embed(ids).detach()
        expert_emb, negative_emb = emb[0::2], emb[1::2]
        union = torch.maximum(mask[0::2], mask[1::2])

        def score(x: torch.Tensor) -> torch.Tensor:
            hidden = self.module.backbone(inputs_embeds=x, attention_mask=union).last_hidden_state
            logits = self.module.head(hidden.to(self.module.head.weight.dtype)).squeeze(-1)
            return (logits * union).sum(-1) / union.sum(-1).clamp(min=1)

        return gradient_penalty(score, expert_emb, negative_emb)

    def scores(self, rows: list[DiscRow], completions: list[list[int]]) -> torch.Tensor:
        prompts = [self.prompt_ids(r.prompt) for r in rows]
        size = self.method.disc_micro_batch_size
        return torch.cat([
            self._forward_scores(prompts[i: i + size], completions[i: i + size]) for i in range(0, len(rows), size)
        ]).float()

    @staticmethod
    def metrics(scores: torch.Tensor, rows: list[DiscRow], loss: torch.Tensor) -> dict[str, float]:
        labels = torch.tensor([r.label for r in rows], device=scores.device)
        acc = disc_accuracy(scores, labels)
        out = {"disc/loss": loss.item(), "disc/accuracy": acc["accuracy"]}
        for kind in ("expert", "policy", "perturbed"):
            sel = torch.tensor([r.kind == kind for r in rows], device=scores.device)
            if sel.any():
                correct = ((scores[sel] > 0) == (labels[sel] > 0)).float().mean().item()
                out[f"disc/accuracy_{kind}"] = correct
                out[f"disc/score_{kind}"] = scores[sel].mean().item()
        return out

    # --- rewards for the policy -------------------------------------------------------------------
    @torch.no_grad()
    def token_rewards(self, prompt_ids: list[list[int]], prompts: list[list[dict]], completion_ids: torch.Tensor,
                      completion_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) reward of every policy completion token: logit / reward_temperature (clipped).

        Reward t is the score of policy token t itself (no shift): with a shared tokenizer the
        policy's own ids are scored; otherwise each policy token takes the logit of the last reward
        token that ends within it (see reasoning_irl.training.token_alignment).
        """
        was_training = self.model.training
        self.model.eval()
        rows, starts, alignments = [], [], []
        for b in range(completion_ids.size(0)):
            ids, alignment = self.policy_ids(completion_ids[b].tolist(), completion_mask[b].tolist())
            prompt = prompt_ids[b] if self.shared else self.prompt_ids(prompts[b])
            rows.append(prompt + ids)
            starts.append(len(prompt))
            alignments.append(alignment)
        out = torch.zeros(completion_ids.shape, dtype=torch.float32, device=completion_ids.device)
        size = self.method.disc_micro_batch_size
        for i in range(0, len(rows), size):
            ids, mask = right_pad(rows[i: i + size], self.pad_id, self.accelerator.device)
            logits = self.model(input_ids=ids, attention_mask=mask).float()
            for j in range(ids.size(0)):
                a = alignments[i + j]
                index = torch.tensor(a.index, device=logits.device)
                picked = logits[j, starts[i + j] + index.clamp(min=0)]
                out[i + j] = torch.where(index >= 0, picked, torch.zeros_like(picked))
        if was_training:
            self.model.train()
        rewards = out / self.method.reward_temperature
        if self.method.reward_clip is not None:
            rewards = rewards.clamp(-self.method.reward_clip, self.method.reward_clip)
        return rewards * completion_mask

    # --- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "rng": self.rng.getstate(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.optimizer is not None and state.get("optimizer") is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
        self.rng.setstate(state["rng"])


def expert_row(rows: list[DiscRow], row: DiscRow) -> int:
    """Index of the expert row made from the same record as ``row``."""
    for i, r in enumerate(rows):
        if r.kind == "expert" and r.source_index == row.source_index:
            return i
    raise ValueError(f"no expert row for record {row.source_index}")


def clip_weights_of(params: list[torch.nn.Parameter], c: float) -> None:
    with torch.no_grad():
        for p in params:
            p.clamp_(-c, c)

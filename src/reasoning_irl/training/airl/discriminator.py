"""The discriminator: a token reward model, its optimizer, and how rows become its inputs.

Every row is ``prompt ids + completion ids`` in the reward model's vocabulary, right-padded (the
backbones take positions from the index). The prompt is always the reward tokenizer's rendering of
the record's messages, for training rows and for scored policy samples alike, so the discriminator
scores exactly the kind of input it was trained on. Expert and perturbed texts get the reward
tokenizer's end-of-turn token appended, as does a policy sample that ended with the policy's one,
so the presence of that token never tells the classes apart.

With ``structured_discriminator`` (AIRL's D = exp(f) / (exp(f) + π)) the caller passes each row's policy
log-probabilities, and a token's discriminator logit is the reward model's score f minus log π; the token
rewards handed out are f alone.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Sequence
from typing import Any, Optional

import torch

from reasoning_irl.config import ConfigError
from reasoning_irl.models.loading import padding_id
from reasoning_irl.models.prefix_cache import padded, prompt_groups, shared_prompt_forward, worth_sharing
from reasoning_irl.models.scoring import ScoringRow, cached_prompt_ids, score_rows
from reasoning_irl.models.token_alignment import Alignment, policy_alignment, same_tokenizer
from reasoning_irl.training.airl.batch import DiscRow, build_disc_batch
from reasoning_irl.training.airl.config import AIRLMethod
from reasoning_irl.training.airl.disc_update import DiscriminatorUpdates, completion_mask_of
from reasoning_irl.training.airl.losses import DISC_LOSSES, DiscLoss


class Discriminator(DiscriminatorUpdates):
    """Built with the run's other pieces; :meth:`prepare` then places it on the trainer's accelerator."""

    def __init__(self, model: Any, tokenizer: Any, policy_tokenizer: Any, method: AIRLMethod, seed: int):
        self.method, self.model = method, model
        self.tokenizer, self.policy_tokenizer = tokenizer, policy_tokenizer
        self.shared = same_tokenizer(policy_tokenizer, tokenizer)
        if method.structured_discriminator and not self.shared:
            raise ConfigError(
                "method.structured_discriminator needs the policy and the reward model to share a "
                "tokenizer: the policy's log-probabilities are subtracted token by token"
            )
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = padding_id(tokenizer)
        # Draws the perturbed experts and the extra experts of each step; saved in checkpoints (state_dict).
        self.rng = random.Random(f"{seed}-airl-perturbations")
        self.frozen = method.disc_updates_per_step == 0
        self._prompt_cache: dict[str, list[int]] = {}
        self.accelerator: Any = None
        self.optimizer: Any = None
        self.scheduler: Any = None
        # Rows of one prompt run it once where the model allows it (worth_sharing, checked at each forward).
        self.share_prompts = True

    def prepare(self, accelerator: Any, total_updates: int) -> Discriminator:
        """Move to the accelerator's device and build the optimizer and its schedule over ``total_updates``
        optimizer steps. Called once, by the trainer that owns the accelerator."""
        from transformers import get_scheduler

        method, model = self.method, self.model
        self.accelerator = accelerator
        model.to(accelerator.device)
        if self.frozen:
            model.requires_grad_(False)
            model.eval()
            return self
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=method.disc_learning_rate, weight_decay=method.disc_weight_decay)
        # Model and optimizer are prepared like the policy's (DDP in a multi-process run; update() averages the
        # gradients across processes). The scheduler is not: accelerate's wrapper steps it once per process and only
        # on the policy's gradient-sync micro-steps, while it must step exactly once per discriminator update.
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        self.scheduler = get_scheduler(
            method.disc_lr_scheduler_type,
            self.optimizer.optimizer,
            num_warmup_steps=method.disc_warmup_steps,
            num_training_steps=max(total_updates, 1),
        )
        self.model.train()
        return self

    @property
    def loss(self) -> DiscLoss:
        """The registry entry of ``method.disc_loss``: the loss and its hooks (penalty, step after each update)."""
        return DISC_LOSSES.get(self.method.disc_loss)

    @property
    def module(self) -> Any:
        return self.accelerator.unwrap_model(self.model)

    # --- inputs -----------------------------------------------------------------------------------
    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        return cached_prompt_ids(self.tokenizer, messages, self._prompt_cache)

    def text_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.eos_id]

    def batch(self, records: list[dict[str, Any]], samples: list[list[str]]) -> list[DiscRow]:
        """The step's rows (:func:`build_disc_batch`), perturbed with this discriminator's RNG."""
        m = self.method
        return build_disc_batch(records, samples, m.perturbations, m.perturbations_per_expert, self.rng)

    def draw(self, pool: list[int], k: int) -> list[int]:
        """Up to ``k`` of ``pool`` drawn with the saved RNG, so that a resumed run draws the same ones."""
        return self.rng.sample(pool, min(k, len(pool)))

    def policy_ids(self, completion_ids: Sequence[int], completion_mask: Sequence[int]) -> tuple[list[int], Alignment]:
        """Reward-side completion ids of one policy sample and the map back to its policy tokens."""
        return policy_alignment(
            self.policy_tokenizer, self.tokenizer, completion_ids, completion_mask, shared=self.shared
        )

    def _token_logits(self, prompts: list[list[int]], completions: list[list[int]]) -> tuple[torch.Tensor, list[int]]:
        """(B, W) token logits of the rows and the column of each row's first completion token. Rows sharing a
        prompt run it once (reasoning_irl.models.prefix_cache) where the backbone allows; else whole padded rows."""
        device = self.accelerator.device
        if self.share_prompts and worth_sharing(self.model, prompts):
            logits = shared_prompt_forward(
                self.model, self.module.fill_cache, prompts, completions, self.pad_id, device
            )
            return logits, [1] * len(prompts)
        ids, mask = padded([p + c for p, c in zip(prompts, completions)], self.pad_id, device=device)
        return self.model(input_ids=ids, attention_mask=mask), [len(p) for p in prompts]

    def _forward_scores(
        self,
        prompts: list[list[int]],
        completions: list[list[int]],
        seed: Optional[int] = None,
        policy_logps: Optional[Sequence[torch.Tensor]] = None,
    ) -> torch.Tensor:
        with self._seeded(seed):
            logits, starts = self._token_logits(prompts, completions)
        if policy_logps is not None:  # structured discriminator: logit = f - log pi on the completion tokens
            placed = torch.zeros_like(logits)
            for i, (start, lp) in enumerate(zip(starts, policy_logps)):
                placed[i, start : start + len(lp)] = lp.to(placed)
            logits = logits - placed
        return self.module.sequence_scores(logits, completion_mask_of(starts, list(map(len, completions)), logits))

    @contextlib.contextmanager
    def _seeded(self, seed: Optional[int]) -> Iterator[None]:
        """Fixed dropout masks: the graph-free and the graph pass of a chunk must compute the same function."""
        if seed is None:
            yield
            return
        device = self.accelerator.device
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def chunks(self, n: int, size: Optional[int] = None) -> list[range]:
        """Index ranges of at most ``size`` rows (default disc_micro_batch_size): one forward pass each."""
        size = size or self.method.disc_micro_batch_size
        return [range(i, min(i + size, n)) for i in range(0, n, size)]

    def prompt_chunks(self, prompts: Sequence[Sequence[int]]) -> list[list[int]]:
        """Row indices in micro-batches of at most disc_micro_batch_size rows, a prompt's rows kept together
        where they fit, so that each prompt runs once in its micro-batch."""
        size = self.method.disc_micro_batch_size
        out: list[list[int]] = [[]]
        for members in prompt_groups(prompts).values():
            for k in range(0, len(members), size):
                piece = members[k : k + size]
                if len(out[-1]) + len(piece) > size:
                    out.append([])
                out[-1] += piece
        return [c for c in out if c]

    def scores(
        self, rows: list[DiscRow], completions: list[list[int]], policy_logps: Optional[list[torch.Tensor]] = None
    ) -> torch.Tensor:
        """(N,) sequence scores of rows (discriminator logits: f - log pi when policy_logps are given), no graph."""
        prompts = [self.prompt_ids(r.prompt) for r in rows]
        scores = torch.empty(len(rows), dtype=torch.float32, device=self.accelerator.device)
        with torch.no_grad():
            for c in self.prompt_chunks(prompts):
                logps = None if policy_logps is None else [policy_logps[i] for i in c]
                part = self._forward_scores([prompts[i] for i in c], [completions[i] for i in c], policy_logps=logps)
                scores[torch.tensor(c, device=scores.device)] = part.float()
        return scores

    # --- rewards for the policy -------------------------------------------------------------------
    @torch.no_grad()
    def token_rewards(
        self,
        prompts: list[list[dict]],
        completion_ids: torch.Tensor,
        completion_mask: torch.Tensor,
        aligned: Optional[list[tuple[list[int], Alignment]]] = None,
    ) -> torch.Tensor:
        """(B, T) reward of every policy completion token: logit / reward_temperature (clipped); 0 on padding.

        Reward t is the score of policy token t itself (no shift): with a shared tokenizer the policy's own
        ids are scored; otherwise each policy token takes the logit of the last reward token that ends
        within it (see reasoning_irl.models.token_alignment). ``aligned`` passes :meth:`policy_ids` of
        each row when the caller has them already.
        """
        if aligned is None:
            aligned = [
                self.policy_ids(completion_ids[b].tolist(), completion_mask[b].tolist())
                for b in range(completion_ids.size(0))
            ]
        rows = []
        for b, (ids, alignment) in enumerate(aligned):
            prompt = self.prompt_ids(prompts[b])
            rows.append(ScoringRow(ids=prompt + ids, start=len(prompt), index=list(alignment.index)))
        # The evaluators' batched scorer: one implementation of "reward t = logit at policy token t".
        scored = score_rows(
            self.model,
            rows,
            self.pad_id,
            self.method.reward_temperature,
            self.method.disc_micro_batch_size,
            self.method.reward_clip,
        )
        out = torch.zeros(completion_ids.shape, dtype=torch.float32, device=completion_ids.device)
        for b, values in enumerate(scored):
            out[b, : len(values)] = torch.tensor(values, dtype=torch.float32)
        return out * completion_mask

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

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

import math
import random
from collections.abc import Sequence
from typing import Any, Optional

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from reasoning_irl.config import ConfigError
from reasoning_irl.models.loading import padding_id
from reasoning_irl.models.prefix_cache import padded, shared_prompt_forward, worth_sharing
from reasoning_irl.models.scoring import ScoringRow, cached_prompt_ids, score_rows
from reasoning_irl.models.token_alignment import Alignment, policy_alignment, same_tokenizer
from reasoning_irl.training.airl.batch import DiscRow, build_disc_batch
from reasoning_irl.training.airl.config import AIRLMethod
from reasoning_irl.training.airl.losses import (
    DISC_LOSSES,
    DiscLoss,
    compute_disc_loss,
    disc_metrics,
    gradient_penalty,
    pairwise_margin_loss,
)
from reasoning_irl.training.airl.micro_batches import (
    average_gradients,
    completion_mask_of,
    expert_row,
    finite_everywhere,
    index_chunks,
    prompt_chunks,
    seeded,
    synced_gradients,
)
from reasoning_irl.training.divergence import NonFiniteValue


class Discriminator:
    """Built with the run's other pieces; :meth:`prepare` then places it on the trainer's accelerator. Inputs (rows
    into ids), the update (:meth:`update`: its optimizer steps) and the rewards handed to the policy
    (:meth:`token_rewards`)."""

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
        with seeded(seed, self.accelerator.device):
            logits, starts = self._token_logits(prompts, completions)
        if policy_logps is not None:  # structured discriminator: logit = f - log pi on the completion tokens
            placed = torch.zeros_like(logits)
            for i, (start, lp) in enumerate(zip(starts, policy_logps)):
                placed[i, start : start + len(lp)] = lp.to(placed)
            logits = logits - placed
        return self.module.sequence_scores(logits, completion_mask_of(starts, list(map(len, completions)), logits))

    def chunks(self, n: int, size: Optional[int] = None) -> list[range]:
        """Index ranges of at most ``size`` rows (default disc_micro_batch_size): one forward pass each."""
        return index_chunks(n, size or self.method.disc_micro_batch_size)

    def prompt_chunks(self, prompts: Sequence[Sequence[int]]) -> list[list[int]]:
        """Row indices in micro-batches of disc_micro_batch_size rows, a prompt's rows together where they fit."""
        return prompt_chunks(prompts, self.method.disc_micro_batch_size)

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

    # --- the update ------------------------------------------------------------------------------
    def loss_from_scores(self, scores: torch.Tensor, rows: list[DiscRow]) -> torch.Tensor:
        m = self.method
        labels = torch.tensor([r.label for r in rows], dtype=scores.dtype, device=scores.device)
        weights = torch.tensor([r.weight for r in rows], dtype=scores.dtype, device=scores.device)
        margin_term = m.pairwise_margin_weight > 0 and any(r.kind == "perturbed" for r in rows)
        # each negative row's expert of the same problem (an expert row points at itself; so does a policy row
        # when only the margin term, which weighs perturbed rows alone, reads the pairs: its problem may have no
        # demonstration, method.num_demonstrations)
        paired = [r.kind == "perturbed" or (r.label == 0 and self.loss.paired) for r in rows]
        pair = (
            torch.tensor(
                [expert_row(rows, r) if p else i for i, (r, p) in enumerate(zip(rows, paired))], device=scores.device
            )
            if self.loss.paired or margin_term
            else None
        )
        options = {**self.loss.options(m), **({"pair_index": pair} if self.loss.paired else {})}
        loss = compute_disc_loss(m.disc_loss, scores, labels, weights, **options)
        if margin_term:
            # each perturbed row against its own expert; the policy rows weigh nothing in this term
            perturbed = torch.tensor([r.kind == "perturbed" for r in rows], dtype=scores.dtype, device=scores.device)
            margin = pairwise_margin_loss(scores, labels, perturbed, pair_index=pair, margin=m.pairwise_margin)
            loss = loss + m.pairwise_margin_weight * margin
        return loss

    def update(
        self, rows: list[DiscRow], completions: list[list[int]], policy_logps: Optional[list[torch.Tensor]] = None
    ) -> dict[str, float]:
        """``disc_updates_per_step`` optimizer steps on the step's rows.

        ``policy_logps`` (one (len(completion),) tensor per row) is required with ``structured_discriminator``.

        Returns loss and accuracies of the scores computed BEFORE this step's updates, so they measure
        how the discriminator does on fresh samples and perturbations, not on rows it was just fitted to.
        Raises NonFiniteValue (before the optimizer steps) when the loss or the gradient norm is NaN or inf.
        """
        if self.method.structured_discriminator and policy_logps is None:
            raise ValueError("structured_discriminator: update() needs the policy log-probabilities of every row")
        if self.frozen:
            scores = self.scores(rows, completions, policy_logps)
            return disc_metrics(scores, rows, self.loss_from_scores(scores, rows))
        prompts = [self.prompt_ids(r.prompt) for r in rows]
        chunks = self.prompt_chunks(prompts)
        first: Optional[tuple[torch.Tensor, torch.Tensor]] = None
        extra: dict[str, float] = {}
        params = [p for p in self.model.parameters() if p.requires_grad]
        # DDP would all-reduce in every backward, but each process builds its own rows, so processes may run
        # different numbers of backward passes (micro-batches, penalty pairs): the collectives would pair up wrongly
        # or hang. Backward passes run unsynchronised; gradients are averaged once per update (_average_gradients).
        with synced_gradients(self.accelerator), self.accelerator.no_sync(self.model):
            for _ in range(self.method.disc_updates_per_step):
                if len(chunks) == 1:  # everything fits one forward: the plain graph, no second pass
                    scores = self._forward_scores(prompts, completions, policy_logps=policy_logps).float()
                    loss = self.loss_from_scores(scores, rows)
                    self.accelerator.backward(loss)
                    scores, loss = scores.detach(), loss.detach()
                else:
                    scores, loss = self._micro_batched_backward(prompts, completions, rows, chunks, policy_logps)
                if first is None:
                    first = (scores, loss)
                if not finite_everywhere(loss, self._distributed()):
                    # A non-finite loss never reaches the weights. A process whose own loss is finite reports NaN,
                    # so that every process stops, not only the one that diverged.
                    self.optimizer.zero_grad(set_to_none=True)
                    raise NonFiniteValue("discriminator loss", loss.item() if not torch.isfinite(loss) else math.nan)
                if self.loss.gradient_penalty(self.method):
                    penalty = self.embedding_penalty(rows, prompts, completions)
                    if penalty is not None:
                        extra["disc/gradient_penalty"] = penalty
                self._average_gradients(params)
                self._clipped_step(params)
        assert first is not None  # disc_updates_per_step >= 1 when not frozen
        return {**disc_metrics(first[0], rows, first[1]), **extra}

    def _clipped_step(self, params: list[torch.nn.Parameter]) -> None:
        """Clip and step, unless the gradient norm is NaN/inf (then the update is dropped and the run stops).
        The gradients are averaged already, so every process sees the same norm and takes the same decision."""
        norm = self.accelerator.clip_grad_norm_(params, self.method.disc_max_grad_norm)
        if not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteValue("discriminator grad norm", norm.item())
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.loss.after_step(params, self.method)

    def _distributed(self) -> bool:
        return isinstance(self.model, torch.nn.parallel.DistributedDataParallel)

    def _average_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Backward passes run unsynchronised (see :meth:`update`): the processes' mean, once per update."""
        if self._distributed():
            average_gradients(params)

    def _micro_batched_backward(
        self, prompts, completions, rows, chunks: list[list[int]], policy_logps=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact full-batch gradient in micro-batches (lists of row indices); returns the (detached) scores
        and loss.

        dL/dscores comes from scores computed without a graph (the loss couples all rows: class weights,
        pairs); then each chunk's scores are recomputed with one, under the same dropout masks, and
        back-propagated with that gradient.
        """
        seeds = torch.randint(0, 2**62, (len(chunks),)).tolist()

        def forward(c: list[int], seed: int) -> torch.Tensor:
            logps = None if policy_logps is None else [policy_logps[i] for i in c]
            return self._forward_scores([prompts[i] for i in c], [completions[i] for i in c], seed, logps)

        with torch.no_grad():
            parts = [forward(c, seed).float() for c, seed in zip(chunks, seeds)]
        scores = torch.empty(len(rows), dtype=torch.float32, device=parts[0].device)
        for c, part in zip(chunks, parts):
            scores[torch.tensor(c, device=scores.device)] = part
        leaf = scores.detach().requires_grad_(True)
        loss = self.loss_from_scores(leaf, rows)
        (grad,) = torch.autograd.grad(loss, leaf)
        for c, seed in zip(chunks, seeds):
            chunk_scores = forward(c, seed)
            self.accelerator.backward((chunk_scores.float() * grad[torch.tensor(c, device=grad.device)]).sum())
        return scores, loss.detach()

    def embedding_penalty(self, rows: list[DiscRow], prompts, completions) -> Optional[float]:
        """WGAN-GP on input embeddings, back-propagated here (weighted); returns the penalty's value.

        Each negative is paired with its own expert row (same prompt, so the prompt positions line up) and
        interpolated at the embedding level; the critic is the same sequence score the loss uses (completion
        positions only). Pairs are processed in micro-batches; the mean over pairs is exact.
        """
        pairs = [(expert_row(rows, r), i) for i, r in enumerate(rows) if r.label == 0]
        if not pairs:
            return None
        weight = self.method.gradient_penalty_weight
        embed = self.module.backbone.get_input_embeddings()
        total = 0.0
        for c in self.chunks(len(pairs), max(1, self.method.disc_micro_batch_size // 2)):  # 2 rows a pair
            order = [i for k in c for i in pairs[k]]
            pair_ids = [prompts[i] + completions[i] for i in order]
            ids, mask = padded(pair_ids, self.pad_id, device=self.accelerator.device)
            comp = completion_mask_of([len(prompts[i]) for i in order], [len(completions[i]) for i in order], mask)
            with torch.no_grad():
                emb = embed(ids)
            attention = torch.maximum(mask[0::2], mask[1::2])
            scored = torch.maximum(comp[0::2], comp[1::2])

            def score(x: torch.Tensor, attention=attention, scored=scored) -> torch.Tensor:
                return self.module.sequence_scores(
                    self.model(inputs_embeds=x, attention_mask=attention).float(), scored
                )

            # The penalty differentiates the gradient: SDPA's fused kernels have no double backward, its math
            # one has. The backward stays inside too, as gradient checkpointing recomputes the forward there.
            with sdpa_kernel([SDPBackend.MATH]):
                part = gradient_penalty(score, emb[0::2], emb[1::2]) * (len(c) / len(pairs))
                self.accelerator.backward(weight * part)
            total += part.item()
        return total

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

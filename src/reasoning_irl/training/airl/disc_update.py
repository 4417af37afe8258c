"""How the discriminator learns: its loss on a step's rows, the optimizer steps, micro-batching, gradient
averaging across processes and the WGAN gradient penalty. A mixin of
:class:`reasoning_irl.training.airl.discriminator.Discriminator`, which holds the model, its optimizer and
the rows' inputs (``prompt_ids``, ``prompt_chunks``, ``_forward_scores``, ``scores``)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any, Optional

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from reasoning_irl.models.prefix_cache import padded
from reasoning_irl.training.airl.batch import DiscRow
from reasoning_irl.training.airl.losses import compute_disc_loss, disc_accuracy, gradient_penalty, pairwise_margin_loss
from reasoning_irl.training.divergence import NonFiniteValue


def completion_mask_of(starts: Sequence[int], lengths: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    """1 on columns ``starts[i] .. starts[i] + lengths[i] - 1`` of row ``i`` of a batch shaped ``like``."""
    mask = torch.zeros(like.shape[:2], dtype=torch.long, device=like.device)
    for i, (start, length) in enumerate(zip(starts, lengths)):
        mask[i, start : start + length] = 1
    return mask


class DiscriminatorUpdates:
    """The update half of the discriminator (its attributes are set by ``Discriminator.__init__`` and ``prepare``)."""

    method: Any
    model: Any
    optimizer: Any
    scheduler: Any
    accelerator: Any
    pad_id: int
    frozen: bool

    def loss_from_scores(self, scores: torch.Tensor, rows: list[DiscRow]) -> torch.Tensor:
        m = self.method
        labels = torch.tensor([r.label for r in rows], dtype=scores.dtype, device=scores.device)
        weights = torch.tensor([r.weight for r in rows], dtype=scores.dtype, device=scores.device)
        loss = compute_disc_loss(m.disc_loss, scores, labels, weights, **self.loss.options(m))
        if m.pairwise_margin_weight > 0 and any(r.kind == "perturbed" for r in rows):
            # each perturbed row against its own expert; the policy rows weigh nothing in this term
            perturbed = torch.tensor([r.kind == "perturbed" for r in rows], dtype=scores.dtype, device=scores.device)
            pair = torch.tensor(
                [expert_row(rows, r) if r.label == 0 else i for i, r in enumerate(rows)], device=scores.device
            )
            margin = pairwise_margin_loss(scores, labels, perturbed, pair_index=pair, margin=m.pairwise_margin)
            loss = loss + m.pairwise_margin_weight * margin
        return loss

    @contextlib.contextmanager
    def _synced(self) -> Iterator[None]:
        """Let the prepared optimizer step: accelerate skips step/zero_grad on the policy's accumulation
        micro-steps (sync_gradients False), and generation -- hence this update -- happens on the first one."""
        state = self.accelerator.gradient_state
        before = state.sync_gradients
        state._set_sync_gradients(True)  # the transformers Trainer drives this flag the same way
        try:
            yield
        finally:
            state._set_sync_gradients(before)

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
            return self.metrics(scores, rows, self.loss_from_scores(scores, rows))
        prompts = [self.prompt_ids(r.prompt) for r in rows]
        chunks = self.prompt_chunks(prompts)
        first: Optional[tuple[torch.Tensor, torch.Tensor]] = None
        extra: dict[str, float] = {}
        params = [p for p in self.model.parameters() if p.requires_grad]
        # DDP would all-reduce in every backward, but each process builds its own rows, so processes may run
        # different numbers of backward passes (micro-batches, penalty pairs): the collectives would pair up wrongly
        # or hang. Backward passes run unsynchronised; gradients are averaged once per update (_average_gradients).
        with self._synced(), self.accelerator.no_sync(self.model):
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
                if not self._finite_everywhere(loss):
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
        return {**self.metrics(first[0], rows, first[1]), **extra}

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

    def _finite_everywhere(self, loss: torch.Tensor) -> bool:
        """Whether the loss is finite in every process (they must all skip a step, or all take it)."""
        finite = torch.isfinite(loss.detach()).float().reshape(1)
        if self._distributed():
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
        return bool(finite.item())

    def _average_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """The mean of the processes' gradients (one flat all-reduce per dtype), as DDP's synchronised backward
        would give, after backward passes run under no_sync."""
        if not self._distributed():
            return
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        world = torch.distributed.get_world_size()
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for p in params:
            if p.grad is None:  # every process must contribute the same tensors
                p.grad = torch.zeros_like(p)
            by_dtype.setdefault(p.grad.dtype, []).append(p.grad)
        for grads in by_dtype.values():
            flat = _flatten_dense_tensors(grads)
            torch.distributed.all_reduce(flat)
            for grad, synced in zip(grads, _unflatten_dense_tensors(flat.div_(world), grads)):
                grad.copy_(synced)

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


def expert_row(rows: list[DiscRow], row: DiscRow) -> int:
    """Index of the expert row made from the same record as ``row``."""
    for i, r in enumerate(rows):
        if r.kind == "expert" and r.source_index == row.source_index:
            return i
    raise ValueError(f"no expert row for record {row.source_index}")

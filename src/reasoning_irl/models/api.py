"""Score solutions with a saved reward model: per-token and per-step rewards.

    from reasoning_irl.models.api import RewardModel
    rm = RewardModel.from_pretrained("outputs/tiny_airl-s0/reward_model")
    scored = rm.score("What is 3 + 4?", "3 + 4 = 7\\nThe answer is 7")

The question becomes the chat messages the model was trained on (the system prompt saved with it; the project
default for folders that saved none), rendered with the saved tokenizer's chat template; the solution is the
assistant turn. A token's reward is the model's logit at that token (it has seen the prompt and the solution up to
and including the token), exactly as in training. The solution is scored as given, without an end token: rewards
are causal, so an end token would not change the others.

Steps are the solution's non-empty lines. A step's tokens run from the first to the last token whose first
non-blank character lies in its line (so a newline token between two lines belongs to neither); a step's reward
is the SUM of its tokens' rewards (AIRL rewards add up along the text, so a step's sum is its share of the sequence's return).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from reasoning_irl.data.schema import build_prompt
from reasoning_irl.models.loading import padding_id
from reasoning_irl.models.reward_model import load_reward_model
from reasoning_irl.models.scoring import (
    build_rows,
    cached_prompt_ids,
    char_spans,
    merged_for_inference,
    score_rows,
    token_texts,
)


@dataclass
class ScoredSolution:
    tokens: list[str]
    token_rewards: list[float]
    steps: list[str]
    step_tokens: list[list[int]]
    """``[start, end)`` token indices of each step (its tokens are contiguous)."""
    step_rewards: list[float]
    """Sum of the step's token rewards; 0.0 for a step without tokens."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def line_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the non-empty lines of ``text``, surrounding blanks stripped."""
    spans, pos = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            start = pos + line.index(stripped)
            spans.append((start, start + len(stripped)))
        pos += len(line) + 1
    return spans


def step_token_ranges(tokens: Sequence[str], lines: Sequence[tuple[int, int]]) -> list[list[int]]:
    """``[start, end)`` token range of each line: first to last token whose first non-blank character lies in it."""
    owner: list[Optional[int]] = []
    for start, piece in zip((s for s, _ in char_spans(tokens)), tokens):
        lead = len(piece) - len(piece.lstrip())
        first = start + lead if lead < len(piece) else None
        owner.append(next((k for k, (a, b) in enumerate(lines) if first is not None and a <= first < b), None))
    ranges = []
    for k in range(len(lines)):
        mine = [i for i, o in enumerate(owner) if o == k]
        ranges.append([mine[0], mine[-1] + 1] if mine else [0, 0])
    return ranges


class RewardModel:
    """A saved token reward model with its tokenizer and training prompt, ready to score (inference only)."""

    def __init__(self, model: Any, tokenizer: Any):
        self.model, self.tokenizer = model, tokenizer
        self.prompt = dict(getattr(model, "prompt", None) or {})

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu", dtype: Optional[torch.dtype] = None) -> RewardModel:
        """Load a ``reward_model/`` folder; ``device="auto"`` takes the GPU when there is one. LoRA is merged."""
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model, tokenizer = load_reward_model(path, dtype=dtype)
        prompt = model.prompt
        model = merged_for_inference(model).to(device)
        model.prompt = prompt
        return cls(model, tokenizer)

    def messages(self, question: str) -> list[dict[str, str]]:
        return build_prompt(question, self.prompt.get("system_prompt"), bool(self.prompt.get("no_system")))

    @property
    def max_tokens(self) -> Optional[int]:
        """Tokens one scored row (prompt + solution) may hold: the backbone's positions, or the tokenizer's
        ``model_max_length`` when smaller; None when neither is known."""
        config = getattr(getattr(self.model, "backbone", self.model), "config", None)
        limits = [getattr(config, key, None) for key in ("max_position_embeddings", "n_positions")]
        limits.append(getattr(self.tokenizer, "model_max_length", None))
        known = [v for v in limits if isinstance(v, int) and 0 < v < 10**9]  # transformers' "no limit" is 1e30
        return min(known) if known else None

    def token_count(self, question: str, solution: str, cache: Optional[dict] = None) -> int:
        """Tokens of the scored row of ``(question, solution)``: the rendered prompt (memoised in ``cache``) and the
        solution."""
        prompt = cached_prompt_ids(self.tokenizer, self.messages(question), {} if cache is None else cache)
        return len(prompt) + len(self.tokenizer(solution, add_special_tokens=False)["input_ids"])

    def score(self, question: str, solution: str, temperature: float = 1.0) -> ScoredSolution:
        return self.score_batch([(question, solution)], temperature=temperature)[0]

    def score_batch(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 16, temperature: float = 1.0
    ) -> list[ScoredSolution]:
        """``score`` of each ``(question, solution)``, batched (a question shared by several solutions runs once);
        token reward = logit / ``temperature``, as the trainer and the evaluators score, each step's the sum of its.
        A row longer than :attr:`max_tokens` is refused (ValueError), never cut: a cut solution's score is not the
        solution's, and past its positions the model's cost grows with the square of the length."""
        ids = [self.tokenizer(solution, add_special_tokens=False)["input_ids"] for _, solution in pairs]
        rows = build_rows(self.tokenizer, self.tokenizer, [self.messages(q) for q, _ in pairs], ids)
        longest = max((len(row.ids) for row in rows), default=0)
        if self.max_tokens is not None and longest > self.max_tokens:
            raise ValueError(f"a row of {longest} tokens is longer than the reward model's {self.max_tokens} positions")
        rewards = score_rows(self.model, rows, padding_id(self.tokenizer), temperature, batch_size=batch_size)
        return [self._scored(i, r) for i, r in zip(ids, rewards)]

    def _scored(self, ids: list[int], rewards: list[float]) -> ScoredSolution:
        tokens = token_texts(self.tokenizer, ids)
        text = "".join(tokens)
        lines = line_spans(text)
        ranges = step_token_ranges(tokens, lines)
        return ScoredSolution(
            tokens=tokens,
            token_rewards=[float(r) for r in rewards],
            steps=[text[a:b] for a, b in lines],
            step_tokens=ranges,
            step_rewards=[float(sum(rewards[a:b])) for a, b in ranges],
        )

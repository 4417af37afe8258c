"""Reward-guided step-level search: the bookkeeping of beam search and diverse verifier tree search (DVTS).

A *step* is one reasoning line: the policy generates until a newline, an end token, the close of the answer
block or the token limit; the last three finish the solution. Every active partial solution is expanded by
``expansions_per_step`` sampled steps, each candidate is scored by the reward model, and the best are kept:

* ``beam``: one group of width ``beam_width``. It starts as ``beam_width`` copies of the empty solution (so
  the first step already samples ``beam_width * expansions_per_step`` different first lines) and keeps the
  top ``width`` candidates of all its expansions after every step.
* ``dvts``: ``beam_width`` independent groups of width 1 (subtrees), each greedily keeping its best
  expansion. Same number of expansions per step as ``beam``, but the subtrees never compete, which keeps
  the returned solutions diverse.

A kept candidate that is finished leaves the active set and shrinks its group's width by one (the budget of
a group is spent on its unfinished solutions only). The search stops when no group is active or after
``max_steps`` steps (the unfinished ones are then returned as they are). The answer is the best-scoring
returned solution over all groups.

The score of a (partial) solution is a rerank selector (:mod:`reasoning_irl.evaluation.selectors`) applied
to its token rewards: over the whole solution (``score_scope=solution``; ``mean`` is the default so that
solutions of different lengths compare) or over its last step only (``score_scope=last_step``: the reward
of the newest line, as a process reward model scores a step). The same rule scores best-of-N samples.

Generation and scoring are passed in as functions (:func:`run_search`), so this module holds no model code:
the HF ones live in :mod:`reasoning_irl.evaluation.search_eval`, and tests pass hand-written fakes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from reasoning_irl.config import ConfigError
from reasoning_irl.evaluation.reward_scoring import RewardScoring, check_selectors
from reasoning_irl.evaluation.selectors import SELECTORS

METHODS = ("none", "best_of_n", "beam", "dvts")
TREE_METHODS = ("beam", "dvts")
SCOPES = ("solution", "last_step")


@dataclass
class SearchConfig:
    method: str = "none"
    """none (plain evaluation) | best_of_n (N whole samples, pick by reward) | beam | dvts (step-level search)."""
    beam_width: int = 4
    """beam: partial solutions kept after each step; dvts: independent subtrees (each keeps one)."""
    expansions_per_step: int = 4
    """Sampled next steps of every kept partial solution."""
    max_steps: int = 20
    """Most steps (lines) of a searched solution; the token limit is sampling.max_new_tokens."""
    score: str = "mean"
    """Rerank selector that turns token rewards into the score of a (partial) solution."""
    score_scope: str = "solution"
    """solution: the selector over all tokens so far | last_step: over the newest step's tokens only."""

    def check(self) -> None:

        if self.method not in METHODS:
            raise ConfigError(f"search.method: unknown {self.method!r}; choose from: {', '.join(METHODS)}")
        if self.beam_width < 1 or self.expansions_per_step < 1 or self.max_steps < 1:
            raise ConfigError("search.beam_width, search.expansions_per_step and search.max_steps must be >= 1")
        check_selectors([self.score], "search.score")
        if self.score_scope not in SCOPES:
            raise ConfigError(f"search.score_scope: choose from: {', '.join(SCOPES)}; got {self.score_scope!r}")


@dataclass(frozen=True)
class Expansion:
    """One request to the step generator: continue ``prefix`` (completion ids so far) of problem ``problem``.
    ``key`` names the request uniquely within the problem's search, so it can seed the sampling."""

    problem: int
    prefix: tuple[int, ...]
    key: str


@dataclass(frozen=True)
class Step:
    """A generated step: its token ids and whether it finishes the solution."""

    ids: tuple[int, ...]
    finished: bool


@dataclass
class Node:
    """A (partial) solution: its steps, whether it is finished, its token rewards and score."""

    steps: tuple[tuple[int, ...], ...] = ()
    finished: bool = False
    rewards: Sequence[float] = ()
    score: float = -math.inf

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(t for step in self.steps for t in step)


@dataclass
class Group:
    """One beam (``beam``: the only group; ``dvts``: one subtree)."""

    width: int
    active: list[Node]
    done: list[Node] = field(default_factory=list)


@dataclass
class SearchResult:
    """The search of one problem: ``best`` the answer, ``done`` every returned solution (group order),
    ``generated_tokens`` all tokens the policy generated (pruned expansions included), ``steps`` the steps
    run, ``kept[s]`` the candidates kept after step s (group order, best first within a group)."""

    best: Node
    done: list[Node]
    generated_tokens: int
    steps: int
    kept: list[list[Node]]


ExpandFn = Callable[[list[Expansion]], list[Step]]
ScoreFn = Callable[[list[tuple[int, tuple[int, ...]]]], list[Sequence[float]]]


def node_score(rewards: Sequence[float], last_step_len: int, cfg: SearchConfig, gamma: float) -> float:
    """The score of a solution whose token rewards are ``rewards`` and whose last step has ``last_step_len``
    tokens (see the module doc). No answer span is passed: a partial solution has none yet, and the same rule
    must rank partial and finished ones."""

    values = list(rewards)
    if cfg.score_scope == "last_step":
        values = values[len(values) - last_step_len :] if last_step_len else []
    return SELECTORS.get(cfg.score)(values, None, gamma)


def initial_groups(cfg: SearchConfig) -> list[Group]:
    if cfg.method == "beam":
        return [Group(width=cfg.beam_width, active=[Node() for _ in range(cfg.beam_width)])]
    if cfg.method == "dvts":
        return [Group(width=1, active=[Node()]) for _ in range(cfg.beam_width)]
    raise ValueError(f"run_search runs the tree methods {TREE_METHODS}, not {cfg.method!r}")


def _select(group: Group, candidates: list[Node]) -> list[Node]:
    """Keep the top ``group.width`` candidates (stable: equal scores keep generation order); finished ones
    move to ``done`` and narrow the group. Returns the kept candidates, best first."""
    kept = sorted(candidates, key=lambda n: -n.score)[: group.width]
    group.active = [n for n in kept if not n.finished]
    group.done += [n for n in kept if n.finished]
    group.width -= len(kept) - len(group.active)
    return kept


def run_search(
    n_problems: int, expand: ExpandFn, score: ScoreFn, cfg: SearchConfig, gamma: float = RewardScoring.gamma
) -> list[SearchResult]:
    """Search every problem at once (each step is one ``expand`` call and one ``score`` call over all problems,
    so the models see full batches). ``score`` gets (problem, completion ids) pairs and returns their token
    rewards. Deterministic given deterministic ``expand`` and ``score``: the expansion keys are
    ``"{group}/{step}/{rank}/{e}"`` (rank of the parent in its group)."""
    groups = [initial_groups(cfg) for _ in range(n_problems)]
    generated = [0] * n_problems
    kept: list[list[list[Node]]] = [[] for _ in range(n_problems)]
    steps_run = [0] * n_problems
    for s in range(cfg.max_steps):
        requests, owners = [], []
        for p, problem_groups in enumerate(groups):
            for g, group in enumerate(problem_groups):
                for r, parent in enumerate(group.active):
                    for e in range(cfg.expansions_per_step):
                        requests.append(Expansion(p, parent.ids, f"{g}/{s}/{r}/{e}"))
                        owners.append((p, g, parent))
        if not requests:
            break
        stepped = expand(requests)
        if len(stepped) != len(requests):
            raise ValueError(f"expand returned {len(stepped)} steps for {len(requests)} requests")
        candidates = [
            Node(steps=parent.steps + (step.ids,), finished=step.finished)
            for (_, _, parent), step in zip(owners, stepped)
        ]
        rewards = score([(p, node.ids) for (p, _, _), node in zip(owners, candidates)])
        by_group: dict[tuple[int, int], list[Node]] = {}
        for (p, g, _), node, r, step in zip(owners, candidates, rewards, stepped):
            node.rewards = list(r)
            node.score = node_score(node.rewards, len(step.ids), cfg, gamma)
            generated[p] += len(step.ids)
            by_group.setdefault((p, g), []).append(node)
        for p, problem_groups in enumerate(groups):
            if any((p, g) in by_group for g in range(len(problem_groups))):
                steps_run[p] = s + 1
                kept[p].append(
                    [
                        n
                        for g, group in enumerate(problem_groups)
                        if (p, g) in by_group
                        for n in _select(group, by_group[(p, g)])
                    ]
                )
    results = []
    for p, problem_groups in enumerate(groups):
        done = []
        for group in problem_groups:
            group.done += group.active  # max_steps reached: unfinished solutions are returned as they are
            group.active = []
            done += group.done
        best = max(done, key=lambda n: n.score)  # first of equal scores: group order
        results.append(
            SearchResult(best=best, done=done, generated_tokens=generated[p], steps=steps_run[p], kept=kept[p])
        )
    return results

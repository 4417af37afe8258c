"""Beam search and DVTS bookkeeping on a hand-built tree: a fake step generator and a fake token scorer, with the
kept beams, the answer and the token budget computed by hand (see the comments)."""

from __future__ import annotations

import pytest

from reasoning_irl.config import ConfigError
from reasoning_irl.evaluation.search import Expansion, SearchConfig, Step, run_search

# Token t of a step carries reward REWARD[t]; token 0 is the step's newline (reward 0). Steps 22 and 30 finish.
REWARD = {0: 0.0, 10: 0.1, 11: 0.5, 12: 0.3, 13: 0.4, 20: 0.0, 21: 0.2, 22: 0.35, 23: -1.0, 30: 0.1, 31: -0.2}
FINISHING = {22, 30}


def fake_expand(requests: list[Expansion]) -> list[Step]:
    """Step s of parent rank r in group g, expansion e: the line (10 (s+1) + 2 (r+g) + e, newline)."""
    out = []
    for req in requests:
        g, s, r, e = map(int, req.key.split("/"))
        t = 10 * (s + 1) + 2 * (r + g) + e
        out.append(Step(ids=(t, 0), finished=t in FINISHING))
    return out


def fake_score(items):
    return [[REWARD[t] for t in ids] for _, ids in items]


def firsts(nodes):
    return [tuple(step[0] for step in n.steps) for n in nodes]


def test_beam_search_keeps_the_hand_computed_beams():
    cfg = SearchConfig(method="beam", beam_width=2, expansions_per_step=2, max_steps=3, score="sum")
    [res] = run_search(1, fake_expand, fake_score, cfg)
    # step 0: two copies of the root -> lines 10, 11 (rank 0) and 12, 13 (rank 1); sums .1 .5 .3 .4: keep 11, 13
    # step 1: (11) -> 20, 21 = .5, .7; (13) -> 22, 23 = .75, -.6: keep (13,22) (finished: width 2 -> 1) and (11,21)
    # step 2: (11,21) -> 30, 31 = .8, .5: keep (11,21,30), finished: nothing left
    assert firsts(res.kept[0]) == [(11,), (13,)]
    assert firsts(res.kept[1]) == [(13, 22), (11, 21)]
    assert firsts(res.kept[2]) == [(11, 21, 30)]
    assert firsts(res.done) == [(13, 22), (11, 21, 30)]
    assert firsts([res.best]) == [(11, 21, 30)] and res.best.score == pytest.approx(0.8)
    assert res.best.ids == (11, 0, 21, 0, 30, 0) and res.best.finished
    assert res.steps == 3 and res.generated_tokens == 2 * (4 + 4 + 2)  # every expansion counts, pruned ones too


def test_dvts_subtrees_and_last_step_score():
    cfg = SearchConfig(
        method="dvts", beam_width=2, expansions_per_step=2, max_steps=5, score="mean", score_scope="last_step"
    )
    [res] = run_search(1, fake_expand, fake_score, cfg)
    # score = mean reward of the newest line (t, newline) = REWARD[t] / 2, each subtree keeps its best
    # step 0: subtree 0: 10, 11 -> keep 11; subtree 1: 12, 13 -> keep 13
    # step 1: subtree 0: 20, 21 -> keep 21; subtree 1: 22 (.175, finished), 23 -> subtree 1 is done
    # step 2: subtree 0: 30 (.05, finished), 31 -> done; the answer is the best of both subtrees: (13, 22)
    assert [firsts(k) for k in res.kept] == [[(11,), (13,)], [(11, 21), (13, 22)], [(11, 21, 30)]]
    assert firsts(res.done) == [(11, 21, 30), (13, 22)]
    assert firsts([res.best]) == [(13, 22)] and res.best.score == pytest.approx(0.175)
    assert res.steps == 3 and res.generated_tokens == 2 * (4 + 4 + 2)


def test_max_steps_returns_unfinished_solutions():
    cfg = SearchConfig(method="beam", beam_width=2, expansions_per_step=2, max_steps=1, score="sum")
    [res] = run_search(1, fake_expand, fake_score, cfg)
    assert firsts(res.done) == [(11,), (13,)] and not res.best.finished and res.generated_tokens == 8


def test_problems_are_searched_independently_in_one_batch():
    cfg = SearchConfig(method="beam", beam_width=2, expansions_per_step=2, max_steps=3, score="sum")
    calls = []

    def counting_expand(requests):
        calls.append(len(requests))
        return fake_expand(requests)

    results = run_search(3, counting_expand, fake_score, cfg)
    assert [firsts([r.best]) for r in results] == [[(11, 21, 30)]] * 3
    assert calls == [12, 12, 6]  # one generator call per step for all problems (4, 4, 2 expansions each)


@pytest.mark.parametrize(
    "bad", [{"method": "greedy"}, {"beam_width": 0}, {"score": "median"}, {"score_scope": "token"}]
)
def test_config_refuses_bad_options(bad):
    with pytest.raises(ConfigError):
        SearchConfig(**bad).check()

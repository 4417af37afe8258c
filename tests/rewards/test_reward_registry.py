"""The reward registry: names, errors, and calls shaped exactly like TRL 1.16's GRPOTrainer."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from reasoning_irl.registry import UnknownNameError
from reasoning_irl.rewards.registry import REWARDS, get_reward_functions, score_completions

NAMES = ["correctness", "numeric_answer", "soft_format", "strict_format", "tag_count"]
OPTIONS = {"A": "Aspirin", "B": "Beta blocker", "C": "Calcium channel blocker", "D": "Diuretic", "E": "Ephedrine"}
GOOD = "<think>\n12 + 5 = 17\n17 - 3 = 14\n</think>\n<answer>\n14\n</answer>"
WRONG = "<think>\nguess\n</think>\n<answer>\n15\n</answer>"
LOOSE = "I think it is \\boxed{14}"
CHOICE = "<think>\nthe drug class\n</think>\n<answer>\n(C)\n</answer>"

# Hand-computed per completion: GOOD, WRONG, LOOSE, CHOICE.
EXPECTED = {
    "correctness": [1.0, 0.0, 1.0, 1.0],
    "numeric_answer": [1.0, 1.0, 0.0, 0.0],
    "soft_format": [1.0, 1.0, 0.0, 1.0],
    "strict_format": [1.0, 1.0, 0.0, 1.0],
    "tag_count": [0.5, 0.5, 0.0, 0.5],
}


def trl_kwargs(completions):
    """What GRPOTrainer._calculate_rewards passes: columns as aligned lists plus trainer hooks."""
    n = len(completions)
    return {
        "prompts": [[{"role": "user", "content": f"q{i}"}] for i in range(n)],
        "completions": completions,
        "completion_ids": [[1, 2, 3]] * n,
        "id": [f"row-{i}" for i in range(n)],
        "target": [GOOD] * n,
        "steps": [[[8, 19]]] * n,
        "answer": ["14", "14", "14", "C"],
        "options": [None, None, None, OPTIONS],
        "trainer_state": SimpleNamespace(global_step=3),
        "log_extra": lambda *a, **k: None,
        "log_metric": lambda *a, **k: None,
    }


def test_registered_names():
    assert REWARDS.names() == NAMES


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownNameError) as err:
        get_reward_functions(["correctness", "no_such_reward"])
    message = str(err.value)
    assert "no_such_reward" in message
    for name in NAMES:
        assert name in message


def test_function_names_match_registry_names():
    # TRL logs each reward under its __name__.
    for name, fn in zip(NAMES, get_reward_functions(NAMES)):
        assert fn.__name__ == name
    assert get_reward_functions("tag_count")[0].__name__ == "tag_count"


@pytest.mark.parametrize("conversational", [False, True])
def test_trl_signature_call(conversational):
    texts = [GOOD, WRONG, LOOSE, CHOICE]
    completions = [[{"role": "assistant", "content": t}] for t in texts] if conversational else texts
    for name, fn in zip(NAMES, get_reward_functions(NAMES)):
        rewards = fn(**trl_kwargs(completions))
        assert len(rewards) == len(completions)
        assert all(type(r) is float for r in rewards)
        assert rewards == EXPECTED[name], name


def test_score_completions():
    scores = score_completions([GOOD, WRONG, LOOSE, CHOICE], ["14", "14", "14", "C"], [None, None, None, OPTIONS])
    assert scores == EXPECTED
    subset = score_completions([GOOD, WRONG], ["14", "14"], names=["tag_count", "correctness"])
    assert list(subset) == ["tag_count", "correctness"]
    assert subset == {"tag_count": [0.5, 0.5], "correctness": [1.0, 0.0]}
    assert score_completions([], [], names=["correctness"]) == {"correctness": []}


def test_correctness_needs_aligned_answer_column():
    correctness = get_reward_functions(["correctness"])[0]
    with pytest.raises(ValueError, match="answer"):
        correctness(prompts=["p"], completions=[GOOD], completion_ids=[[1]])
    with pytest.raises(ValueError, match="1 values for 2"):
        correctness(prompts=["p", "p"], completions=[GOOD, GOOD], completion_ids=[[1], [1]], answer=["14"])
    assert correctness(completions=[GOOD], answer=[None]) == [0.0]


def test_matches_installed_trl_call_site():
    # Tripwire: if TRL changes how it calls reward functions, this fails before a training run does.
    trl_dir = Path(importlib.util.find_spec("trl").submodule_search_locations[0])
    source = (trl_dir / "trainer" / "grpo_trainer.py").read_text()
    call = "prompts=prompts, completions=completions, completion_ids=completion_ids_list, **reward_kwargs"
    assert call in source
    assert 'reward_kwargs["trainer_state"] = self.state' in source

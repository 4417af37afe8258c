"""VeriFree's pieces by hand: where the reasoning ends, the reference answer appended, and the advantages."""

from __future__ import annotations

import pytest
import torch

from reasoning_irl.training.reference_answer import (
    answer_block,
    reasoning_length,
    region_masks,
    verifree_advantages,
    with_reference_answers,
)


class PieceTokenizer:
    """Ids are indices into a list of text pieces (one of them runs into the answer tag); text is split greedily
    into the longest known pieces."""

    pieces = ["<think>\n", "3 + 4 = 7", "\n</think>", "\n<ans", "wer>\n", "<answer>\n", "7", "8", "\n</answer>", "\n"]

    def decode(self, ids, skip_special_tokens=True):  # any other id is a special token (the stop token)
        return "".join(self.pieces[i] for i in ids if i < len(self.pieces))

    def __call__(self, text, add_special_tokens=False):
        ids = []
        while text:
            best = max((i for i, p in enumerate(self.pieces) if text.startswith(p)), key=lambda i: len(self.pieces[i]))
            ids.append(best)
            text = text[len(self.pieces[best]) :]
        return {"input_ids": ids}


TOK = PieceTokenizer()
RECORD = {"target": "<think>\n3 + 4 = 7\n</think>\n<answer>\n7\n</answer>", "answer": "7"}


def test_the_answer_block_is_the_experts_own_or_the_gold_answer_in_the_tasks_format():
    assert answer_block(RECORD) == "<answer>\n7\n</answer>"
    assert answer_block({"target": "", "answer": " 12 "}) == "<answer>\n12\n</answer>"


def test_the_reasoning_ends_at_the_token_holding_the_answer_tags_first_character():
    # "<think>\n" "3 + 4 = 7" "\n</think>" "<answer>\n" "8" "\n</answer>": the tag starts token 3.
    assert reasoning_length(TOK, [0, 1, 2, 5, 7, 8]) == (3, "")
    # "\n<ans" runs into the tag: its "\n" is handed back as the bridge.
    assert reasoning_length(TOK, [0, 1, 2, 3, 4, 7, 8]) == (3, "\n")
    assert reasoning_length(TOK, [0, 1, 2]) is None  # no answer tag written
    assert reasoning_length(TOK, [5, 7, 8]) == (0, "")  # an answer with no reasoning before it


def test_the_reference_answer_replaces_the_sampled_one_after_the_sampled_reasoning_ids():
    sampled = [[0, 1, 2, 5, 7, 8], [0, 1, 2, 3, 4, 7, 8], [0, 1]]
    out = with_reference_answers(TOK, sampled, [RECORD] * 3, stop_id=99)
    assert out.completions[0] == [0, 1, 2, 5, 6, 8, 99]  # "<answer>\n" "7" "\n</answer>" + stop
    assert out.completions[1] == [0, 1, 2, 3, 4, 6, 8, 99]  # the bridge "\n" re-tokenised with the answer
    assert out.completions[2] == [0, 1]  # kept as sampled: nothing appended
    assert out.answer_start == [3, 3, 2]


def test_an_untagged_completion_is_kept_or_taken_whole_as_the_reasoning():
    sampled = [[0, 1, 99], [0, 1, 2]]  # no answer tag; the first ended with the stop token
    kept = with_reference_answers(TOK, sampled, [RECORD] * 2, stop_id=99)
    assert kept.completions == sampled and kept.answer_start == [3, 3]
    whole = with_reference_answers(TOK, sampled, [RECORD] * 2, stop_id=99, untagged="append")
    # Neither text ends in a newline, so one bridges it to the answer block.
    assert whole.completions[0] == [0, 1, 3, 4, 6, 8, 99]  # the stop token dropped; "\n<ans" "wer>\n" "7" ...
    assert whole.completions[1] == [0, 1, 2, 3, 4, 6, 8, 99]
    assert whole.answer_start == [2, 3]
    with pytest.raises(ValueError, match="keep or append"):
        with_reference_answers(TOK, sampled, [RECORD] * 2, stop_id=99, untagged="drop")


def test_region_masks_split_each_completion_at_its_answer_start():
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    reasoning, answer = region_masks(mask, [2, 4, 2])
    assert reasoning.tolist() == [[1, 1, 0, 0, 0], [1, 1, 1, 1, 0], [1, 1, 0, 0, 0]]
    assert answer.tolist() == [[0, 0, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]


def test_verifree_advantages_by_hand():
    # Two groups of two: R = 0.5, 0.1 | 0.0, 0.2. Leave-one-out: 0.5 - 0.1, 0.1 - 0.5 | 0.0 - 0.2, 0.2 - 0.0.
    likelihood = torch.tensor([0.5, 0.1, 0.0, 0.2])
    reasoning = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    answer = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    adv = verifree_advantages(likelihood, reasoning, answer, group=2)
    expected = [[0.4, 0.4, 0.5], [-0.4, 0.1, 0.1], [-0.2, -0.2, -0.2], [0.2, 0.2, 0.2]]
    torch.testing.assert_close(adv, torch.tensor(expected))
    # Groups of three: R_i minus the mean of the other two.
    adv3 = verifree_advantages(torch.tensor([0.6, 0.3, 0.0]), torch.ones(3, 1), torch.zeros(3, 1), group=3)
    torch.testing.assert_close(adv3[:, 0], torch.tensor([0.45, 0.0, -0.45]))
    with pytest.raises(ValueError, match="group_size >= 2"):
        verifree_advantages(likelihood, reasoning, answer, group=1)

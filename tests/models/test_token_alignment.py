"""Token alignment: identity for a shared tokenizer, the last-covering-token rule across tokenizers."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from reasoning_irl.models import ensure_tiny_model
from reasoning_irl.models.token_alignment import (
    Alignment,
    align_completion,
    align_rewards,
    batch_policy_rewards,
    map_spans,
    policy_char_spans,
    same_tokenizer,
)

COMPLETION = "<think>\n12 + 5 = 17\n17 * 3 = 51\n</think>\n<answer>\n51\n</answer>"


class FakeTokenizer:
    """A tokenizer with a fixed vocabulary of pieces; ``split`` gives the segmentation of texts."""

    def __init__(self, pieces, split=None):
        self.pieces = list(pieces)
        self.split = split or {}

    def get_vocab(self):
        return {p: i for i, p in enumerate(self.pieces)}

    def decode(self, ids, skip_special_tokens=False):
        return "".join(self.pieces[i] for i in ids)

    def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False):
        ids, offsets, pos = [], [], 0
        for piece in self.split[text]:
            ids.append(self.pieces.index(piece))
            offsets.append((pos, pos + len(piece)))
            pos += len(piece)
        assert pos == len(text)
        return {"input_ids": ids, "offset_mapping": offsets}


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    root = tmp_path_factory.mktemp("align")
    policy = AutoTokenizer.from_pretrained(ensure_tiny_model(root / "q", arch="qwen2", preset="policy"))
    reward = AutoTokenizer.from_pretrained(ensure_tiny_model(root / "l", arch="llama", preset="reward"))
    return policy, reward


def test_same_tokenizer(tokenizers):
    policy, reward = tokenizers
    assert same_tokenizer(policy, policy)
    assert same_tokenizer(policy, AutoTokenizer.from_pretrained(policy.name_or_path))
    assert not same_tokenizer(policy, reward)


def test_shared_tokenizer_is_identity_on_exact_ids(tokenizers):
    policy, _ = tokenizers
    # A non-canonical split (one id per character): re-tokenising the text would change the ids.
    ids = [policy.convert_tokens_to_ids(c) for c in "51"] + [policy.eos_token_id]
    a = align_completion(policy, policy, ids)
    assert a.reward_ids == ids
    assert a.index == [0, 1, 2]
    logits = torch.tensor([10.0, 11.0, 12.0])
    torch.testing.assert_close(align_rewards(logits, a), logits)


def test_rewards_are_not_shifted_against_policy_tokens(tokenizers):
    """Regression: reward t must be the logit AT the reward-model position of policy token t."""
    policy, _ = tokenizers
    prompts = [
        policy("Q: 1+1?", add_special_tokens=False)["input_ids"],
        policy("Q: 22 + 3?", add_special_tokens=False)["input_ids"],
    ]
    completions = [
        policy(" 2", add_special_tokens=False)["input_ids"],
        policy(" 25 ok", add_special_tokens=False)["input_ids"],
    ]
    width = max(map(len, completions))
    alignments, starts, rows = [], [], []
    for p, c in zip(prompts, completions):
        padded = c + [policy.pad_token_id] * (width - len(c))
        a = align_completion(policy, policy, padded, [1] * len(c) + [0] * (width - len(c)))
        alignments.append(a)
        starts.append(len(p))
        rows.append(p + a.reward_ids)
    total = max(map(len, rows))
    # Logit at position j of row b is 100 * b + j, so the expected reward is readable.
    token_logits = torch.stack([torch.arange(total, dtype=torch.float) + 100 * b for b in range(2)])
    rewards = batch_policy_rewards(token_logits, starts, alignments)
    assert rewards.shape == (2, width)
    for b, (p, c) in enumerate(zip(prompts, completions)):
        expected = [100 * b + len(p) + t for t in range(len(c))] + [0] * (width - len(c))
        assert rewards[b].tolist() == expected


def test_map_spans_rule():
    # Text "12+34=46". Policy: 12|+|34|=|46. Reward: 1|2+3|4=|46.
    policy_spans = [(0, 2), (2, 3), (3, 5), (5, 6), (6, 8)]
    reward_spans = [(0, 1), (1, 4), (4, 6), (6, 8)]
    assert map_spans(policy_spans, reward_spans) == [0, 0, 1, 2, 3]
    # A policy token ending inside the first reward token gets the first one.
    assert map_spans([(0, 1), (1, 8)], [(0, 3), (3, 8)]) == [0, 1]
    assert map_spans([(0, 0), (0, 2)], [(0, 2)]) == [0, 0]


def test_different_tokenizers_hand_made():
    text = "12+34=46"
    policy = FakeTokenizer(["12", "+", "34", "=", "46"])
    reward = FakeTokenizer(["1", "2+3", "4=", "46", "unused"], split={text: ["1", "2+3", "4=", "46"]})
    assert not same_tokenizer(policy, reward)
    a = align_completion(policy, reward, [0, 1, 2, 3, 4, 0], completion_mask=[1, 1, 1, 1, 1, 0])
    assert a.reward_ids == [0, 1, 2, 3]
    assert a.index == [0, 0, 1, 2, 3, -1]
    logits = torch.arange(4, dtype=torch.float)  # logit of reward token j is j
    assert align_rewards(logits, a).tolist() == [0.0, 0.0, 1.0, 2.0, 3.0, 0.0]


def test_different_real_tokenizers_follow_the_rule(tokenizers):
    policy, reward = tokenizers
    ids = policy(COMPLETION, add_special_tokens=False)["input_ids"] + [policy.eos_token_id]
    pad = 4
    a = align_completion(policy, reward, ids + [policy.pad_token_id] * pad, [1] * len(ids) + [0] * pad)
    assert len(a.index) == len(ids) + pad and a.index[-pad:] == [-1] * pad
    assert reward.decode(a.reward_ids) == COMPLETION  # the reward model reads the same text
    spans = policy_char_spans(policy, ids)
    assert spans[-1] == (len(COMPLETION), len(COMPLETION))  # eos is zero-width at the end
    ends = [e for _, e in reward(COMPLETION, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]
    for (_, end), j in zip(spans, a.index[: len(ids)]):
        assert ends[j] <= end or j == 0
        assert j + 1 == len(ends) or ends[j + 1] > end  # the LAST such reward token
    rewards = align_rewards(torch.arange(len(a.reward_ids), dtype=torch.float), a)
    assert rewards.shape == (len(ids) + pad,)


def test_empty_and_all_padding(tokenizers):
    policy, reward = tokenizers
    for shared in (True, False):
        a = align_completion(policy, reward, [policy.pad_token_id] * 3, [0, 0, 0], shared=shared)
        assert a.index == [-1, -1, -1] and a.reward_ids == []
        assert align_rewards(torch.zeros(0), a).tolist() == [0.0, 0.0, 0.0]
    assert align_completion(policy, reward, []) == Alignment(reward_ids=[], index=[])
    with pytest.raises(ValueError, match="completion_mask"):
        align_completion(policy, policy, [1, 2], [1])


def test_char_spans_equal_per_prefix_decoding(tokenizers):
    """The batched backend decode gives the spans of one HF ``decode`` per prefix (multi-byte, special tokens)."""
    for tok in tokenizers:
        ids = tok("é→ 3 " + COMPLETION, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        ids = ids[:3] + [tok.eos_token_id] + ids[3:] + list(range(300))  # > one 256-prefix block
        full, prev, expected = len(tok.decode(ids, skip_special_tokens=True)), 0, []
        for i in range(len(ids)):
            end = min(full, max(prev, len(tok.decode(ids[: i + 1], skip_special_tokens=True))))
            expected.append((prev, end))
            prev = end
        assert policy_char_spans(tok, ids) == expected

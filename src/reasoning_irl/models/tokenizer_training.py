"""Byte-level BPE tokenizers for the tiny models, trained on the task text.

Why the pipelines look the way they do (transformers 5.x, checked against its sources):

- ``qwen2``: ``AutoTokenizer.from_pretrained`` on a folder whose config says ``model_type: qwen2``
  always instantiates ``Qwen2Tokenizer`` (qwen2 is listed as a model whose hub tokenizer class is
  untrusted), and that class *rebuilds* the backend from vocab + merges with its own NFC normalizer,
  its own split regex (``\\p{N}`` = one digit per pre-token) + ``ByteLevel(use_regex=False)`` and a
  ByteLevel decoder. So we train with exactly that pipeline (the regex is imported from
  transformers) and build the in-memory tokenizer as ``Qwen2Tokenizer(vocab, merges)`` too.
- ``llama``: transformers 5.x registers no tokenizer class for ``model_type: llama``, so a folder is
  loaded as ``TokenizersBackend`` straight from ``tokenizer.json`` (also when it declares
  ``PreTrainedTokenizerFast`` as Llama-3 does, or ``LlamaTokenizer`` with a ByteLevel json). Any
  pipeline reloads exactly; we use Llama-3's (no normalizer, split regex, ByteLevel, BOS added by
  the post-processor, ``ignore_merges``) except that digits are split one by one instead of
  Llama-3's ``\\p{N}{1,3}``, so numbers tokenize the same way for both architectures.

Special tokens are trained into the BPE vocab itself (ids ``0..k-1``, in :data:`SPECIAL_TOKENS`
order): ``Qwen2Tokenizer`` re-adds its special tokens on load in its own order, which could renumber
tokens that lived only in the added-tokens table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Optional

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

VOCAB_SIZE = 600
"""Target vocabulary incl. the 256-byte alphabet and special tokens (a small corpus may stop short)."""

# Per architecture: special tokens (vocab order), and the roles some of them play.
SPECIAL_TOKENS = {
    "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    "llama": [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
        "<|finetune_right_pad_id|>",
    ],
}
# pad != eos on purpose: with pad == eos, collators that mask pad positions out of the loss would
# also mask the end-of-turn token, and the model would never learn to stop.
TOKEN_ROLES = {
    "qwen2": {"bos": None, "eos": "<|im_end|>", "pad": "<|endoftext|>"},
    "llama": {"bos": "<|begin_of_text|>", "eos": "<|eot_id|>", "pad": "<|finetune_right_pad_id|>"},
}

# Chat templates in each architecture's format. Content is rendered verbatim (no trim, unlike
# Llama-3's template) so that, for a prompt ``msgs`` and a completion ``c``:
#   render(msgs, add_generation_prompt=True) + c + END_OF_TURN[arch]
#     == render(msgs + [{"role": "assistant", "content": c}])
# ``{% generation %}`` marks the assistant's tokens (content + end-of-turn marker) for TRL's
# assistant-only loss. No default system prompt is injected when none is given.
CHAT_TEMPLATES = {
    "qwen2": (
        "{%- for message in messages %}"
        "{%- if message['role'] == 'assistant' %}"
        "{{- '<|im_start|>assistant\\n' }}"
        "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}"
        "{{- '\\n' }}"
        "{%- else %}"
        "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
        "{%- endif %}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    ),
    "llama": (
        "{{- bos_token }}"
        "{%- for message in messages %}"
        "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
        "{%- if message['role'] == 'assistant' %}"
        "{%- generation %}{{- message['content'] + '<|eot_id|>' }}{%- endgeneration %}"
        "{%- else %}"
        "{{- message['content'] + '<|eot_id|>' }}"
        "{%- endif %}"
        "{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
    ),
}
END_OF_TURN = {"qwen2": "<|im_end|>\n", "llama": "<|eot_id|>"}
"""What closes an assistant turn after its content (see the relation above CHAT_TEMPLATES)."""

_CALCULATOR = re.compile(r"<<[^>]*>>")


def synthetic_texts(n: int = 1000, seed: int = 0) -> list[str]:
    """System prompt, questions and expert targets of ``n`` synthetic arithmetic problems.

    The seed is fixed by default so every preset of an architecture gets the same vocabulary.
    """
    from reasoning_irl.data.synthetic import SyntheticConfig, load_synthetic

    cfg = SyntheticConfig(num_train=n, num_test=0, max_steps=4, operations=["+", "-", "*"], seed=seed)
    texts: list[str] = []
    for record in load_synthetic(cfg, "train"):
        texts.extend(message["content"] for message in record["prompt"])
        texts.append(record["target"])
    return texts


def gsm8k_texts(path: str | Path) -> list[str]:
    """Questions and solutions of ``<path>/train.jsonl`` without ``<<calc>>`` annotations."""
    file = Path(path).expanduser() / "train.jsonl"
    if not file.is_file():
        raise FileNotFoundError(f"GSM8K corpus: no train.jsonl in {path}")
    texts = []
    with open(file, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                texts += [row["question"], _CALCULATOR.sub("", row["answer"])]
    return texts


def training_corpus(gsm8k_path: Optional[str | Path] = None) -> list[str]:
    """The tokenizer corpus: synthetic task text, plus GSM8K train text when a path is given."""
    texts = synthetic_texts()
    if gsm8k_path is not None:
        texts += gsm8k_texts(gsm8k_path)
    return texts


def new_backend(arch: str) -> Tokenizer:
    """An untrained BPE with ``arch``'s normalizer, pre-tokenizer and decoder (the ones it reloads with)."""
    if arch not in SPECIAL_TOKENS:
        raise ValueError(f"unknown arch {arch!r}; choose one of: {', '.join(SPECIAL_TOKENS)}")
    backend = Tokenizer(models.BPE(ignore_merges=arch == "llama"))
    if arch == "qwen2":
        backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    return backend


def train_tokenizer(arch: str, texts: Iterable[str], vocab_size: int = VOCAB_SIZE) -> PreTrainedTokenizerBase:
    """Train a byte-level BPE for ``arch`` on ``texts``; returns it with roles and chat template set."""
    backend = new_backend(arch)
    specials, roles = SPECIAL_TOKENS[arch], TOKEN_ROLES[arch]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=specials,
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    extra = [t for t in specials if t not in roles.values()]
    if arch == "qwen2":
        # Rebuild as the class AutoTokenizer will load, so the in-memory tokenizer is the reloaded one.
        model = json.loads(backend.to_str())["model"]
        tokenizer = Qwen2Tokenizer(
            vocab=model["vocab"],
            merges=[tuple(m) for m in model["merges"]],
            unk_token=None,
            bos_token=None,
            eos_token=roles["eos"],
            pad_token=roles["pad"],
            extra_special_tokens=extra,
        )
    else:
        bos = roles["bos"]
        backend.post_processor = processors.Sequence(
            [
                processors.ByteLevel(trim_offsets=False),
                processors.TemplateProcessing(
                    single=f"{bos} $A", pair=f"{bos} $A {bos} $B:1", special_tokens=[(bos, backend.token_to_id(bos))]
                ),
            ]
        )
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend,
            bos_token=bos,
            eos_token=roles["eos"],
            pad_token=roles["pad"],
            extra_special_tokens=extra,
        )
    tokenizer.chat_template = CHAT_TEMPLATES[arch]
    return tokenizer

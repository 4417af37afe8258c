"""Tiny randomly initialised Qwen2 / Llama checkpoints with self-trained tokenizers.

The project has no model hub access, so tests and CPU smoke runs use these: real architectures,
saved with ``save_pretrained`` and loaded back by ``AutoTokenizer`` / ``AutoModelForCausalLM``
exactly like a downloaded checkpoint.

    python -m reasoning_irl.models.tiny --out artifacts/tiny-qwen2 --arch qwen2 --preset policy
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Optional

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedModel, Qwen2Config, Qwen2ForCausalLM

from reasoning_irl.models.tokenizer_training import TOKEN_ROLES, train_tokenizer, training_corpus

ARCHES = ("qwen2", "llama")
PRESETS = {
    # ~0.8M parameters at a ~600-token vocabulary.
    "policy": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                   intermediate_size=344),
    # About a sixth of the policy: the AIRL reward/discriminator network.
    "reward": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                   intermediate_size=172),
}
MAX_POSITIONS = 1024
BUILD_INFO = "tiny_build.json"
"""Written beside the checkpoint: how it was built (arch, preset, seed, corpus, sizes)."""

_ARCH_CLASSES = {"qwen2": (Qwen2Config, Qwen2ForCausalLM), "llama": (LlamaConfig, LlamaForCausalLM)}


def _check(arch: str, preset: str) -> None:
    if arch not in ARCHES:
        raise ValueError(f"unknown arch {arch!r}; choose one of: {', '.join(ARCHES)}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")


def token_ids(tokenizer: Any, arch: str) -> dict[str, Optional[int]]:
    """bos/eos/pad ids of ``arch`` in ``tokenizer``. Qwen2 has no BOS token; like the released
    Qwen2.5 configs we still name ``<|endoftext|>`` as ``bos_token_id`` in the model config."""
    roles = TOKEN_ROLES[arch]
    ids = {role: tokenizer.convert_tokens_to_ids(tok) if tok else None for role, tok in roles.items()}
    ids["config_bos"] = ids["bos"] if ids["bos"] is not None else tokenizer.convert_tokens_to_ids("<|endoftext|>")
    return ids


def build_model(arch: str, preset: str, tokenizer: Any, seed: int = 0) -> PreTrainedModel:
    """A randomly initialised causal LM of ``arch``/``preset`` sized to ``tokenizer``."""
    _check(arch, preset)
    config_cls, model_cls = _ARCH_CLASSES[arch]
    ids = token_ids(tokenizer, arch)
    config = config_cls(
        vocab_size=len(tokenizer),
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        bos_token_id=ids["config_bos"],
        eos_token_id=ids["eos"],
        pad_token_id=ids["pad"],
        dtype="float32",
        **PRESETS[preset],
    )
    # fork_rng: seed the init without disturbing the caller's global RNG stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["config_bos"], eos_token_id=ids["eos"], pad_token_id=ids["pad"]
    )
    return model.eval()


def param_count(model: torch.nn.Module) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def build_tiny_model(
    out_dir: str | os.PathLike,
    arch: str = "qwen2",
    preset: str = "policy",
    seed: int = 0,
    gsm8k_path: Optional[str | os.PathLike] = None,
) -> Path:
    """Train the tokenizer, initialise the model and save both to ``out_dir`` (replacing it).

    The tokenizer depends only on ``arch`` and the corpus (not on ``preset`` or ``seed``), so a
    policy and a reward model built with the same ``gsm8k_path`` share one vocabulary.
    Everything is written into a temporary sibling folder first and renamed into place, so an
    interrupted build never leaves a half-written ``out_dir``.
    """
    return _build(out_dir, arch, preset, seed, gsm8k_path, replace=True)


def ensure_tiny_model(out_dir: str | os.PathLike, arch: str = "qwen2", preset: str = "policy", **kw: Any) -> Path:
    """``out_dir``, built as by :func:`build_tiny_model` only if it has no ``config.json`` yet.

    Safe to call from several processes at once: the first complete build to land stays in place
    (later ones are identical and discarded), so no reader ever sees the folder swapped under it.
    """
    out = Path(out_dir).expanduser().resolve()
    if (out / "config.json").is_file():
        _check(arch, preset)
        return out
    return _build(out, arch, preset, replace=False, **kw)


def _build(out_dir: str | os.PathLike, arch: str, preset: str, seed: int = 0,
           gsm8k_path: Optional[str | os.PathLike] = None, *, replace: bool) -> Path:
    _check(arch, preset)
    out = Path(out_dir).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(arch, training_corpus(gsm8k_path))
    tokenizer.model_max_length = MAX_POSITIONS
    model = build_model(arch, preset, tokenizer, seed)
    info = {"arch": arch, "preset": preset, "seed": seed, "gsm8k_path": str(gsm8k_path) if gsm8k_path else None,
            "params": param_count(model), "vocab_size": len(tokenizer)}
    tmp = _sibling(out, "tmp")
    tmp.mkdir()  # plain mkdir (not mkdtemp) so the folder gets the umask's permissions, not 0700
    try:
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp)
        (tmp / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
        _move_into_place(tmp, out, replace)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _move_into_place(tmp: Path, out: Path, replace: bool) -> None:
    """Rename ``tmp`` to ``out``. A complete ``out`` is kept unless ``replace``; anything else
    there (a previous build, a folder without config.json) is swapped aside, then deleted."""
    try:
        os.replace(tmp, out)  # atomic; succeeds only if ``out`` is missing or an empty folder
        return
    except OSError:
        if not out.exists():
            raise  # a real failure (permissions, disk), not an occupied target
        if not replace and (out / "config.json").is_file():
            return  # another process's complete (identical) build landed first: keep it
    old = _sibling(out, "old")
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        if not out.exists():
            os.replace(old, out)  # put the previous folder back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _sibling(out: Path, kind: str) -> Path:
    """A fresh hidden path beside ``out`` (same file system, so renames are atomic)."""
    return out.parent / f".{out.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reasoning_irl.models.tiny",
        description="Build a tiny randomly initialised model + self-trained tokenizer.",
    )
    parser.add_argument("--out", required=True, help="output folder (replaced if it exists)")
    parser.add_argument("--arch", choices=ARCHES, default="qwen2")
    parser.add_argument("--preset", choices=list(PRESETS), default="policy")
    parser.add_argument("--seed", type=int, default=0, help="weight-init seed")
    parser.add_argument("--gsm8k", default=None, help="folder with GSM8K train.jsonl to add to the tokenizer corpus")
    args = parser.parse_args(argv)
    try:
        out = build_tiny_model(args.out, args.arch, args.preset, args.seed, args.gsm8k)
    except (OSError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")
    info = json.loads((out / BUILD_INFO).read_text())
    print(f"built {args.arch}/{args.preset} at {out}: {info['params']:,} parameters, "
          f"vocab size {info['vocab_size']}, seed {args.seed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

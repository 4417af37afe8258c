"""Tiny randomly initialised Qwen2 / Llama checkpoints with self-trained tokenizers.

The project has no model hub access, so tests and CPU smoke runs use these: real architectures,
saved with ``save_pretrained`` and loaded back by ``AutoTokenizer`` / ``AutoModelForCausalLM``
exactly like a downloaded checkpoint.

    python -m reasoning_irl.models.tiny --out artifacts/tiny-qwen2 --arch qwen2 --preset policy

A preset may also name a kept architecture, ``configs/architectures/<name>.json`` (a released
model's public config.json): the model then has that architecture's every size, vocabulary size
included, with random weights, and the project's small tokenizer (ids beyond it are never
produced by the tokenizer; a random model may still sample them, and they decode to nothing).
Such a model is built directly in ``--dtype`` on ``--device`` (bf16 on a GPU for the billion-
parameter ones):

    python -m reasoning_irl.models.tiny --out artifacts/random-qwen2.5-3b --preset qwen2.5-3b \
        --dtype bfloat16 --device cuda
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
    "policy": dict(
        hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, intermediate_size=344
    ),
    # About a sixth of the policy: the AIRL reward/discriminator network.
    "reward": dict(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=172
    ),
}
MAX_POSITIONS = 1024
ARCHITECTURES = "architectures"
"""Folder of the kept architecture configs, under the project's configs/."""
# Keys of a released config.json that describe the checkpoint, not the architecture.
_CHECKPOINT_KEYS = (
    "_source",
    "architectures",
    "model_type",
    "torch_dtype",
    "dtype",
    "transformers_version",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
)
BUILD_INFO = "tiny_build.json"
"""Written beside the checkpoint: how it was built (arch, preset, seed, corpus, sizes)."""

_ARCH_CLASSES = {"qwen2": (Qwen2Config, Qwen2ForCausalLM), "llama": (LlamaConfig, LlamaForCausalLM)}


def kept_architectures() -> list[str]:
    """Names of the architecture configs kept in ``configs/architectures/``."""
    from reasoning_irl.config import config_dir

    return sorted(p.stem for p in (config_dir() / ARCHITECTURES).glob("*.json"))


def architecture_config(name: str) -> dict[str, Any]:
    """The kept config.json of architecture ``name``."""
    from reasoning_irl.config import config_dir

    path = config_dir() / ARCHITECTURES / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join([*PRESETS, *kept_architectures()])}")
    return json.loads(path.read_text())


def _check(arch: str, preset: str) -> None:
    if arch not in ARCHES:
        raise ValueError(f"unknown arch {arch!r}; choose one of: {', '.join(ARCHES)}")
    if preset not in PRESETS:
        kept = architecture_config(preset)
        if kept.get("model_type") != arch:
            raise ValueError(f"preset {preset!r} is a {kept.get('model_type')} architecture, not {arch}")


def _sizes(preset: str) -> dict[str, Any]:
    """Config keys of ``preset``: a size preset (plus the tiny defaults) or a kept architecture."""
    if preset in PRESETS:
        return dict(max_position_embeddings=MAX_POSITIONS, tie_word_embeddings=True, **PRESETS[preset])
    return {k: v for k, v in architecture_config(preset).items() if k not in _CHECKPOINT_KEYS}


def token_ids(tokenizer: Any, arch: str) -> dict[str, Optional[int]]:
    """bos/eos/pad ids of ``arch`` in ``tokenizer``. Qwen2 has no BOS token; like the released
    Qwen2.5 configs we still name ``<|endoftext|>`` as ``bos_token_id`` in the model config."""
    roles = TOKEN_ROLES[arch]
    ids = {role: tokenizer.convert_tokens_to_ids(tok) if tok else None for role, tok in roles.items()}
    ids["config_bos"] = ids["bos"] if ids["bos"] is not None else tokenizer.convert_tokens_to_ids("<|endoftext|>")
    return ids


def build_model(
    arch: str, preset: str, tokenizer: Any, seed: int = 0, dtype: str = "float32", device: str = "cpu"
) -> PreTrainedModel:
    """A randomly initialised causal LM of ``arch``/``preset``, built in ``dtype`` on ``device``.

    A size preset's vocabulary is ``tokenizer``'s; a kept architecture keeps its own vocab_size
    (at least the tokenizer's), so its embedding and LM head cost what the released model's do."""
    _check(arch, preset)
    config_cls, model_cls = _ARCH_CLASSES[arch]
    ids = token_ids(tokenizer, arch)
    sizes = _sizes(preset)
    sizes["vocab_size"] = max(sizes.get("vocab_size", 0), len(tokenizer))
    config = config_cls(
        bos_token_id=ids["config_bos"], eos_token_id=ids["eos"], pad_token_id=ids["pad"], dtype=dtype, **sizes
    )
    where = torch.device(device)
    # fork_rng: seed the init without disturbing the caller's global RNG streams.
    with torch.random.fork_rng(devices=[where.index or 0] if where.type == "cuda" else []), where:
        torch.manual_seed(seed)
        model = model_cls._from_config(config, dtype=getattr(torch, dtype))
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
    dtype: str = "float32",
    device: str = "cpu",
) -> Path:
    """Train the tokenizer, initialise the model and save both to ``out_dir`` (replacing it).

    The tokenizer depends only on ``arch`` and the corpus (not on ``preset`` or ``seed``), so a
    policy and a reward model built with the same ``gsm8k_path`` share one vocabulary.
    Everything is written into a temporary sibling folder first and renamed into place, so an
    interrupted build never leaves a half-written ``out_dir``.
    """
    return _build(out_dir, arch, preset, seed, gsm8k_path, dtype, device, replace=True)


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


def _build(
    out_dir: str | os.PathLike,
    arch: str,
    preset: str,
    seed: int = 0,
    gsm8k_path: Optional[str | os.PathLike] = None,
    dtype: str = "float32",
    device: str = "cpu",
    *,
    replace: bool,
) -> Path:
    _check(arch, preset)
    out = Path(out_dir).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(arch, training_corpus(gsm8k_path))
    model = build_model(arch, preset, tokenizer, seed, dtype, device)
    tokenizer.model_max_length = model.config.max_position_embeddings
    info = {
        "arch": arch,
        "preset": preset,
        "seed": seed,
        "gsm8k_path": str(gsm8k_path) if gsm8k_path else None,
        "params": param_count(model),
        "vocab_size": len(tokenizer),
        "model_vocab_size": model.config.vocab_size,
        "dtype": dtype,
    }
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
    parser.add_argument(
        "--preset",
        choices=[*PRESETS, *kept_architectures()],
        default="policy",
        help="a size preset, or a kept architecture (configs/architectures/<name>.json)",
    )
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    parser.add_argument("--device", default="cpu", help="where the weights are initialised (cpu, cuda, cuda:1)")
    parser.add_argument("--seed", type=int, default=0, help="weight-init seed")
    parser.add_argument("--gsm8k", default=None, help="folder with GSM8K train.jsonl to add to the tokenizer corpus")
    args = parser.parse_args(argv)
    try:
        out = build_tiny_model(args.out, args.arch, args.preset, args.seed, args.gsm8k, args.dtype, args.device)
    except (OSError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")
    info = json.loads((out / BUILD_INFO).read_text())
    print(
        f"built {args.arch}/{args.preset} at {out}: {info['params']:,} parameters, "
        f"vocab size {info['vocab_size']} (model {info['model_vocab_size']}), {args.dtype}, seed {args.seed}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A GGUF file (llama.cpp's format) as an ordinary transformers checkpoint folder: dequantised once, then loaded by
the same ``from_pretrained`` path as any other model (``model.gguf_file``).

transformers reads a GGUF file (with the ``gguf`` package) and dequantises it to float32, but the loaded model refuses
``save_pretrained`` ("quantized with gguf"), and every load pays the dequantisation again. So the conversion builds a
plain model from the file's config, copies the dequantised tensors in, and saves that with the tokenizer into the
folder ``model.name_or_path`` names, with ``gguf_source.json`` recording the file's name and SHA-256: a later run
finds the folder and loads it directly; a folder converted from another file is refused, never overwritten.

The tokenizer a GGUF file carries may name the wrong stop token (SmolLM2's says ``<|im_start|>``): the end-of-turn
token of its chat template is made the end-of-sequence token, and padding gets a token of its own when it would be
the stop token (a pad equal to the stop token is masked out of SFT labels and cuts completions short).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from reasoning_irl.config import ConfigError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
SOURCE_FILE = "gguf_source.json"
# End-of-turn tokens of the chat-template families a GGUF file may carry (ChatML, Llama 3).
END_OF_TURN = ("<|im_end|>", "<|eot_id|>")


def check_gguf_file(path: str | Path, where: str = "model.gguf_file") -> Path:
    """The path of a readable GGUF file, or one ConfigError line saying what it is instead."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"{where}: {file} does not exist" if not file.exists() else f"{where}: {file} is no file")
    with open(file, "rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise ConfigError(f"{where}: {file} is not a GGUF file (it does not start with {GGUF_MAGIC!r})")
    return file


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def converted_from(folder: Path) -> dict[str, Any] | None:
    """What ``folder`` was converted from (its gguf_source.json), or None if it is no conversion."""
    try:
        return json.loads((folder / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return None


def ensure_converted(gguf_file: str | Path, folder: str | Path) -> Path:
    """``folder`` holding the dequantised checkpoint of ``gguf_file``, converted on first use (module docstring)."""
    source = check_gguf_file(gguf_file)
    out = Path(folder).expanduser()
    sha = file_sha256(source)
    recorded = converted_from(out)
    if recorded is not None and recorded.get("sha256") == sha and (out / "config.json").is_file():
        return out
    if out.exists() and any(out.iterdir()):
        what = f"a conversion of {recorded.get('gguf')}" if recorded else "something else"
        raise ConfigError(
            f"model.name_or_path: {out} holds {what}, not a conversion of {source.name}; "
            "name an empty or new folder for it"
        )
    if importlib.util.find_spec("gguf") is None:
        raise ConfigError("reading a GGUF file needs the gguf package: make install (pip install gguf)")
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _convert(source, staging)
        (staging / SOURCE_FILE).write_text(
            json.dumps({"gguf": source.name, "sha256": sha, "dequantised_to": "float32"}, indent=2) + "\n"
        )
        if out.exists():
            out.rmdir()  # empty (checked above): os.replace cannot replace a directory
        os.replace(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ConfigError(f"converting {source.name} into {out} failed: {exc.strerror or exc}") from None
    log.info("converted %s into %s", source, out)
    return out


def _convert(source: Path, staging: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(source.parent), source.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = copy.deepcopy(loaded.config)
    # The loaded model is marked "quantized with gguf" (transformers then refuses to train or save it); the
    # converted one holds plain float32 weights.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    fix_special_tokens(tokenizer)
    tokenizer.clean_up_tokenization_spaces = False  # a WordPiece post-process that corrupts BPE text
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id, model.config.pad_token_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)


def fix_special_tokens(tokenizer: Any) -> None:
    """The chat template's end-of-turn token as the stop token; a pad token other than it (module docstring)."""
    vocab = tokenizer.get_vocab()
    template = tokenizer.chat_template or ""
    for token in END_OF_TURN:
        if token in template and token in vocab:
            tokenizer.eos_token = token
            break
    if tokenizer.pad_token is None or tokenizer.pad_token == tokenizer.eos_token:
        spare = [t for t in (tokenizer.unk_token, "<|endoftext|>", "<|end_of_text|>") if t and t in vocab]
        spare = [t for t in spare if t not in (tokenizer.eos_token, tokenizer.bos_token)]
        if spare:
            tokenizer.pad_token = spare[0]

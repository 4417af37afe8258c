"""Score the solutions of any JSON-lines file with a saved reward model.

    python -m reasoning_irl.score reward_model=<run>/reward_model input=<file.jsonl> output=<folder> \
        [question_field=question] [solution_field=answer] [overwrite=false] [batch_size=16] [device=auto] \
        [limit=null] [gamma=1.0] [html_rows=100]

Writes ``<output>/scores.jsonl`` (per input row: tokens, per-token rewards, steps = the solution's lines with
their reward = the sum of their tokens' rewards, and the sequence score under every selector) and
``<output>/tokens.html`` (the first ``html_rows`` rows, tokens coloured by reward). Errors are one line, exit 2:
a missing file, a malformed row (with its line number), an unknown key, a non-empty output folder without
``overwrite=true``.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.runs import iter_jsonl, write_jsonl

SCORES_FILE, HTML_FILE = "scores.jsonl", "tokens.html"


@dataclass
class ScoreConfig:
    reward_model: str = ""
    input: str = ""
    output: str = ""
    question_field: str = "question"
    solution_field: str = "answer"
    overwrite: bool = False
    batch_size: int = 16
    device: str = "auto"
    limit: Optional[int] = None
    """Score only the first ``limit`` rows."""
    gamma: float = 1.0
    """Discount of the ``discounted_answer`` selector."""
    html_rows: int = 100


def _value(name: str, kind: Any, text: str) -> Any:
    if text.lower() in ("null", "none") and name == "limit":
        return None
    try:
        if kind in (bool, "bool"):
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if kind in (int, "int", "Optional[int]"):
            return int(text)
        if kind in (float, "float"):
            return float(text)
    except ValueError:
        raise ConfigError(
            f"{name}={text}: expected {str(kind).replace('Optional[int]', 'an integer or null')}"
        ) from None
    return text


def parse_args(argv: list[str]) -> ScoreConfig:
    """``key=value`` arguments into a checked :class:`ScoreConfig`; every error is one ``ConfigError`` line."""
    fields = {f.name: f.type for f in dataclasses.fields(ScoreConfig)}
    values: dict[str, Any] = {}
    for arg in argv:
        key, sep, text = arg.partition("=")
        if not sep:
            raise ConfigError(f"expected key=value, got {arg!r}")
        if key not in fields:
            raise ConfigError(f"unknown key {key!r}; known keys: {', '.join(fields)}")
        values[key] = _value(key, fields[key], text)
    cfg = ScoreConfig(**values)
    for key in ("reward_model", "input", "output"):
        if not getattr(cfg, key):
            raise ConfigError(f"{key}=... is required")
    if cfg.batch_size < 1 or (cfg.limit is not None and cfg.limit < 1):
        raise ConfigError("batch_size and limit must be >= 1")
    return cfg


def read_pairs(cfg: ScoreConfig) -> list[tuple[int, str, str]]:
    """``(line number, question, solution)`` of each non-blank input line, checked field by field."""
    pairs = []
    for lineno, row in iter_jsonl(cfg.input, where="input"):
        if cfg.limit is not None and len(pairs) >= cfg.limit:
            break
        missing = [f for f in (cfg.question_field, cfg.solution_field) if not isinstance(row.get(f), str)]
        if missing:
            raise ConfigError(
                f"{cfg.input}:{lineno}: no text field {missing[0]!r} (set question_field= / solution_field=)"
            )
        pairs.append((lineno, row[cfg.question_field], row[cfg.solution_field]))
    if not pairs:
        raise ConfigError(f"input: {cfg.input} has no rows")
    return pairs


def check_output(cfg: ScoreConfig) -> Path:
    out = Path(cfg.output).expanduser()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not cfg.overwrite)):
        raise ConfigError(f"output: {cfg.output} is not empty (pass overwrite=true to replace its files)")
    return out


def score_file(cfg: ScoreConfig) -> Path:
    """Score every row and write the output folder; returns it. Inputs are checked before the model loads."""
    from tqdm import tqdm

    from reasoning_irl.evaluation.selectors import answer_token_span, score_all
    from reasoning_irl.evaluation.token_page import write_token_page
    from reasoning_irl.models.api import RewardModel

    pairs, out = read_pairs(cfg), check_output(cfg)
    if not Path(cfg.reward_model).expanduser().is_dir():
        raise ConfigError(f"reward_model: {cfg.reward_model} does not exist")
    model = RewardModel.from_pretrained(Path(cfg.reward_model).expanduser(), device=cfg.device)
    rows = []
    with tqdm(total=len(pairs), desc="scoring", unit="row") as bar:
        for start in range(0, len(pairs), cfg.batch_size):
            chunk = pairs[start : start + cfg.batch_size]
            for (lineno, question, solution), scored in zip(
                chunk, model.score_batch([(q, s) for _, q, s in chunk], cfg.batch_size)
            ):
                span = answer_token_span(scored.tokens)
                rows.append(
                    {
                        "line": lineno,
                        "question": question,
                        "solution": solution,
                        **scored.to_dict(),
                        "scores": score_all(scored.token_rewards, span, cfg.gamma),
                    }
                )
            bar.update(len(chunk))
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / SCORES_FILE, rows)
    write_token_page(rows[: cfg.html_rows], out / HTML_FILE, title=f"Token rewards: {Path(cfg.input).name}")
    return out


def main(argv: Optional[list[str]] = None) -> int:
    from reasoning_irl.cli import fail

    try:
        out = score_file(parse_args(sys.argv[1:] if argv is None else argv))
    except ConfigError as exc:
        fail(str(exc))
    print(f"done: {out / SCORES_FILE}, {out / HTML_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

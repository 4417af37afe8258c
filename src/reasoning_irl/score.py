"""Score the solutions of any JSON-lines file with a saved reward model.

    python -m reasoning_irl.score reward_model_path=<run>/reward_model input=<file.jsonl> output=<folder> \
        [question_field=question] [solution_field=answer] [overwrite=false] [reward_batch_size=32] [device=auto] \
        [limit=null] [gamma=0.9] [reward_temperature=1.0] [selectors=[...]] [html_rows=100] [strict=false]

The command line is composed as evaluate.py's is (Hydra overrides onto :class:`ScoreConfig`), and the reward
scoring keys are evaluate.py's (:class:`~reasoning_irl.evaluation.reward_scoring.RewardScoring`), defaults included.

Writes ``<output>/scores.jsonl`` (per input row: tokens, per-token rewards, steps = the solution's lines with
their reward = the sum of their tokens' rewards, and the sequence score under every selector) and
``<output>/tokens.html`` (the first ``html_rows`` rows, tokens coloured by reward), each in one atomic write.

A bad row (not UTF-8, not JSON, a field missing or not text, or longer than the reward model's positions: refused,
never cut, since a cut solution's score is not the solution's) is one line ``<file>:<line>: <what is wrong>``; the
other rows are scored and written, and the exit code is 4. ``strict=true`` refuses the whole file instead (exit 2,
nothing written). Errors are one line, exit 2: a missing file, no row that can be scored, an unknown key, an output
folder that holds the input (also with ``overwrite=true``), a non-empty one without ``overwrite=true``, one that
another scoring is writing.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from reasoning_irl.composition import compose
from reasoning_irl.config import ConfigError, validate
from reasoning_irl.evaluation.reward_scoring import RewardScoring
from reasoning_irl.folder_lock import LOCK_FILE, claim_folder, releases_claims
from reasoning_irl.runs import write_jsonl

SCORES_FILE, HTML_FILE = "scores.jsonl", "tokens.html"
ROWS_REFUSED_EXIT = 4
"""Exit code when some rows were bad: they are listed, the others were scored and written."""
CONFIG_NAME = "score"
RENAMED_KEYS = {"reward_model": "reward_model_path", "batch_size": "reward_batch_size"}
"""Keys of earlier versions of this command -> the names it shares with evaluate.py now."""


@dataclass
class ScoreConfig(RewardScoring):
    reward_model_path: str = ""
    """Saved token reward model folder (required), e.g. <airl run>/reward_model."""
    input: str = ""
    """JSON-lines file whose rows are scored (required)."""
    output: str = ""
    """Folder that receives scores.jsonl and tokens.html (required)."""
    question_field: str = "question"
    """Field of a row that holds the question."""
    solution_field: str = "answer"
    """Field of a row that holds the solution scored."""
    overwrite: bool = False
    """Replace the files of a non-empty output folder (else refused)."""
    device: str = "auto"
    """Where the reward model runs: auto (the GPU when there is one) | cpu | cuda[:n]."""
    limit: Optional[int] = None
    """Score only the first ``limit`` rows."""
    html_rows: int = 100
    """Rows shown in tokens.html."""
    strict: bool = False
    """Refuse the whole file (nothing written) if any row is bad; else bad rows are listed and the rest scored."""

    def check(self) -> None:
        for key in ("reward_model_path", "input", "output"):
            if not getattr(self, key):
                raise ConfigError(f"{key}=... is required")
        super().check()
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1 or null, got {self.limit}")


def score_config(argv: list[str]) -> ScoreConfig:
    """The ``key=value`` arguments composed onto :class:`ScoreConfig` and checked; every error is one
    ``ConfigError`` line (a key renamed since earlier versions names its new spelling)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    for arg in argv:
        key, sep, _ = arg.partition("=")
        if not sep:
            raise ConfigError(f"expected key=value, got {arg!r}")
        if key.lstrip("+~") in RENAMED_KEYS:
            new = RENAMED_KEYS[key.lstrip("+~")]
            raise ConfigError(f"{key}= is now {new}= (as in evaluate.py): pass {new}=<value>")
    ConfigStore.instance().store(name=CONFIG_NAME, node=ScoreConfig)  # the primary config: no YAML restates it
    return validate(OmegaConf.to_container(compose(CONFIG_NAME, argv), resolve=True), ScoreConfig, CONFIG_NAME)


Pair = tuple[int, str, str]
"""``(line number, question, solution)`` of a row that can be scored."""
BadRow = tuple[int, str]
"""``(line number, what is wrong)`` of one that cannot."""


def parse_row(raw: bytes, first: bool, cfg: ScoreConfig) -> tuple[Optional[tuple[str, str]], Optional[str]]:
    """``((question, solution), None)`` of one input line, ``(None, what is wrong)``, or ``(None, None)`` if blank.
    Read as bytes: a line that is not UTF-8 is one bad row, not the end of the file."""
    try:
        text = raw.decode("utf-8-sig" if first else "utf-8")  # a byte-order mark may open the file
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line)"
    if not text.strip():
        return None, None
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg})"
    if not isinstance(row, dict):
        return None, "expected a JSON object per line"
    for field in (cfg.question_field, cfg.solution_field):
        if field not in row:
            return None, f"no text field {field!r} (set question_field= / solution_field=)"
        if not isinstance(row[field], str):
            return None, f"field {field!r} is {type(row[field]).__name__}, not text"
    return (row[cfg.question_field], row[cfg.solution_field]), None


def read_rows(cfg: ScoreConfig) -> tuple[list[Pair], list[BadRow]]:
    """The good and the bad rows among the first ``limit`` non-blank lines of the input."""
    path = Path(cfg.input).expanduser()
    if not path.is_file():
        raise ConfigError(f"input: {cfg.input} does not exist")
    good: list[Pair] = []
    bad: list[BadRow] = []
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, 1):
            if cfg.limit is not None and len(good) + len(bad) >= cfg.limit:
                break
            pair, problem = parse_row(raw, lineno == 1, cfg)
            if pair is not None:
                good.append((lineno, *pair))
            elif problem is not None:
                bad.append((lineno, problem))
    if not good and not bad:
        raise ConfigError(f"input: {cfg.input} has no rows")
    return good, bad


def too_long_rows(model: Any, pairs: list[Pair]) -> tuple[list[Pair], list[BadRow]]:
    """Split off the rows longer than the reward model's positions (refused, not cut)."""
    limit = model.max_tokens
    if limit is None:
        return pairs, []
    # No token spells more characters than its vocabulary entry (byte-level entries have one per byte), so a text
    # over positions x longest entry (x2: normalisers may drop characters) cannot fit: refused without tokenising it
    # (a megabyte takes seconds to tokenise; scoring it would take the model's quadratic time past its positions).
    char_cap = 2 * limit * max(map(len, model.tokenizer.get_vocab()))
    kept: list[Pair] = []
    bad: list[BadRow] = []
    cache: dict = {}
    for lineno, question, solution in pairs:
        chars = len(question) + len(solution)
        tokens = None if chars > char_cap else model.token_count(question, solution, cache)
        if tokens is None or tokens > limit:
            size = f"{chars} characters" if tokens is None else f"{tokens} tokens (prompt + solution)"
            bad.append((lineno, f"{size}, more than the reward model's {limit} positions (refused, not cut)"))
        else:
            kept.append((lineno, question, solution))
    return kept, bad


def report(cfg: ScoreConfig, bad: list[BadRow]) -> None:
    for lineno, problem in sorted(bad):
        print(f"{cfg.input}:{lineno}: {problem}", file=sys.stderr)


def refuse_bad_rows(cfg: ScoreConfig, pairs: list[Pair], bad: list[BadRow]) -> None:
    """Refuse the file when no row can be scored, or with ``strict=true`` when any row is bad: one line naming the
    row when it is the only bad one, else the bad rows listed and one line counting them."""
    why = "no row can be scored" if not pairs else "strict=true: nothing was scored" if cfg.strict and bad else None
    if why is None:
        return
    if len(bad) == 1:
        raise ConfigError(f"{cfg.input}:{bad[0][0]}: {bad[0][1]}; {why}")
    report(cfg, bad)
    raise ConfigError(f"{len(bad)} rows of {cfg.input} are bad (listed above); {why}")


def check_output(cfg: ScoreConfig) -> Path:
    """The output folder: never one that holds the input (overwrite would replace it with its own scores); a
    non-empty one only with ``overwrite=true``."""
    out = Path(cfg.output).expanduser()
    if Path(cfg.input).expanduser().resolve().is_relative_to(out.resolve()):
        raise ConfigError(f"output: {cfg.output} holds the input {cfg.input}; choose another output folder")
    held = out.is_dir() and any(p.name != LOCK_FILE for p in out.iterdir())
    if out.exists() and (not out.is_dir() or (held and not cfg.overwrite)):
        raise ConfigError(f"output: {cfg.output} is not empty (pass overwrite=true to replace its files)")
    return out


@releases_claims  # the output folder is claimed below, for the scoring's life
def score_file(cfg: ScoreConfig) -> tuple[Path, int, list[BadRow]]:
    """Score every good row and write the output folder: ``(folder, rows scored, bad rows)``. The rows are read and
    the output checked before the model loads; the bad rows are listed before scoring starts."""
    from tqdm import tqdm

    from reasoning_irl.evaluation.selectors import answer_token_span
    from reasoning_irl.evaluation.token_page import write_token_page
    from reasoning_irl.models.api import RewardModel

    out = check_output(cfg)
    pairs, bad = read_rows(cfg)
    refuse_bad_rows(cfg, pairs, bad)
    if not Path(cfg.reward_model_path).expanduser().is_dir():
        raise ConfigError(f"reward_model_path: {cfg.reward_model_path} does not exist")
    claim_folder(out, "wait for that scoring to end, or choose another output")
    model = RewardModel.from_pretrained(Path(cfg.reward_model_path).expanduser(), device=cfg.device)
    pairs, too_long = too_long_rows(model, pairs)
    bad += too_long
    refuse_bad_rows(cfg, pairs, bad)
    report(cfg, bad)
    rows = []
    with tqdm(total=len(pairs), desc="scoring", unit="row") as bar:
        for start in range(0, len(pairs), cfg.reward_batch_size):
            chunk = pairs[start : start + cfg.reward_batch_size]
            for (lineno, question, solution), scored in zip(
                chunk, model.score_batch([(q, s) for _, q, s in chunk], cfg.reward_batch_size, cfg.reward_temperature)
            ):
                rows.append(
                    {
                        "line": lineno,
                        "question": question,
                        "solution": solution,
                        **scored.to_dict(),
                        "scores": cfg.sequence_scores(scored.token_rewards, answer_token_span(scored.tokens)),
                    }
                )
            bar.update(len(chunk))
    write_jsonl(out / SCORES_FILE, rows)
    write_token_page(rows[: cfg.html_rows], out / HTML_FILE, title=f"Token rewards: {Path(cfg.input).name}")
    return out, len(rows), bad


def main(argv: Optional[list[str]] = None) -> int:
    from reasoning_irl.cli import fail

    try:
        cfg = score_config(sys.argv[1:] if argv is None else argv)
        out, scored, bad = score_file(cfg)
    except ConfigError as exc:
        fail(str(exc))
    print(f"done: {out / SCORES_FILE}, {out / HTML_FILE}")
    if bad:
        fail(f"{len(bad)} of {len(bad) + scored} rows of {cfg.input} were not scored (listed above)", ROWS_REFUSED_EXIT)
    return 0


if __name__ == "__main__":
    sys.exit(main())

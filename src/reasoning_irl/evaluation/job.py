"""What every evaluation does around its own work: the typed config and the output folder checked and claimed
before any model loads (:func:`open_job`), the problems of the split, and the elapsed time of the summary. The
report is written by :func:`reasoning_irl.evaluation.outputs.write_report`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from reasoning_irl.config import ConfigError
from reasoning_irl.data import load_split
from reasoning_irl.evaluation.config import typed_config
from reasoning_irl.evaluation.output_dir import check_output_dir, check_output_folder, claim_output_dir, output_dir_of


def job_log(kind: str) -> str:
    """Hydra's log file in the output folder: named after the script (``evaluate`` -> evaluate.log)."""
    return f"{kind}.log"


@dataclass
class EvalJob:
    typed: Any
    """The typed config (EvalConfig or IRLEvalConfig)."""
    dataset: Any
    """The validated dataset section."""
    resolved: dict
    """The config as a plain dict (the summary's ``config``)."""
    out: Path
    """The output folder, checked and claimed."""
    started: float = field(default_factory=time.time)

    def seconds(self) -> float:
        return round(time.time() - self.started, 2)


def checked_job(cfg: Any, schema: type, kind: str) -> tuple[Any, Any, Path]:
    """``(typed config, dataset section, output folder)`` with every output-folder check, writing nothing: the
    check the entry scripts make before Hydra creates that folder and its log file."""
    typed, dataset, _ = typed_config(cfg, schema, announce=False)
    out = output_dir_of(typed, kind)
    check_output_folder(out, typed.input_files(), typed.overwrite, job_log(kind))
    return typed, dataset, out


def open_job(cfg: Any, schema: type, kind: str) -> EvalJob:
    """The evaluation ``kind`` (evaluate | evaluate_irl) of a composed config, its output folder checked and held
    (the evaluation function releases it: ``releases_claims``)."""
    typed, dataset, resolved = typed_config(cfg, schema)
    out = output_dir_of(typed, kind)
    check_output_dir(out, typed.input_files(), typed.overwrite, job_log(kind))
    claim_output_dir(out)
    return EvalJob(typed, dataset, resolved, out)


def first_problems(dataset: Any, split: str, num_problems: Optional[int]) -> list[dict]:
    """The first ``num_problems`` records of the split (all when null); an empty split is refused."""
    records = load_split(dataset, split)
    records = records[:num_problems] if num_problems is not None else records
    if not records:
        raise ConfigError(f"the {dataset.name} {split} split has no problems")
    return records

"""Probes: what a dataset asks of every completion graded on it, reported by name beside correctness.

A probe is ``check(record, completion, answer) -> bool | None``: whether ``completion`` of the problem ``record``
(whose final answer the grader read as ``answer``; None when it found none) shows what the probe looks for, or
None where the probe is not defined on that record (no flag is kept for it). Optionally ``locate(completion) ->
step | None``: the reasoning step (an index into :func:`reasoning_irl.data.schema.reasoning_steps`) that shows it,
where the completion alone tells, so a token reward can be checked for pointing at it.

Each flag is reported under its probe's name: ``flags`` of an ``eval_results.jsonl`` row, the metric ``<name>``
of ``eval_summary.json`` (the share of samples flagged) and ``held_out/<name>`` of the training curve.
A dataset's probes (:func:`reasoning_irl.data.dataset_probes`) are

* the ones its registration builds from its config, ``@DATASETS.register(..., probes=<function of the config>)``,
  for a family that follows the config or another registry (the synthetic task: ``habit/<name>`` for every
  registered habit);
* every probe registered for it: ``@PROBES.register("name", dataset="<dataset>")`` on ``check``
  (``locate=...`` where the completion tells the step). Adding one is that function, that line and a test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from reasoning_irl.registry import Registry

Check = Callable[[dict[str, Any], str, Optional[str]], Optional[bool]]


@dataclass(frozen=True)
class Probe:
    check: Check
    locate: Optional[Callable[[str], Optional[int]]] = None
    dataset: Optional[str] = None
    """The dataset a registered probe belongs to (None for the probes a dataset's registration builds)."""


def _registered_probe(name: str, check: Check, dataset: str, locate: Optional[Callable] = None) -> Probe:
    return Probe(check, locate, dataset)


PROBES: Registry[Probe] = Registry("probe", entry=_registered_probe)


def probe_flags(
    probes: Mapping[str, Probe], record: dict[str, Any], completion: str, answer: Optional[str]
) -> dict[str, bool]:
    """{probe name: flag} of one completion, for the probes defined on ``record``."""
    flags = {}
    for name, probe in probes.items():
        flag = probe.check(record, completion, answer)
        if flag is not None:
            flags[name] = bool(flag)
    return flags

"""Demonstration styles: the same expert reasoning written another way, for demonstrations in a style that is not
the policy's (``method.demonstration_style``).

A style rewrites one reasoning line of a target (the lines :func:`~reasoning_irl.data.schema.reasoning_steps`
finds inside ``<think>``) and must leave what the line says unchanged: the graders, the habit probes and the error
classes read the rewritten lines as they read the originals. :func:`restyle` applies one to a record and
recomputes its ``steps``.

Adding one: a ``line -> line`` function under ``@DEMONSTRATION_STYLES.register("name")``, and a test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from reasoning_irl.data.schema import reasoning_steps
from reasoning_irl.registry import Registry

StyleFn = Callable[[str], str]
DEMONSTRATION_STYLES: Registry[StyleFn] = Registry("demonstration style")

_AROUND_OPERATOR = re.compile(r"\s*([-+*/=×÷])\s*")


@DEMONSTRATION_STYLES.register("compact")
def compact(line: str) -> str:
    """No spaces around operators and '=': ``4 + 9 = 13`` becomes ``4+9=13`` (the same equation, other tokens)."""
    return _AROUND_OPERATOR.sub(r"\1", line)


def restyle(record: dict[str, Any], style: str) -> dict[str, Any]:
    """A copy of ``record`` whose target's reasoning lines are written in ``style``; the answer, the prompt and
    everything else unchanged, ``steps`` recomputed."""
    rewrite = DEMONSTRATION_STYLES.get(style)
    target = record["target"]
    for start, end in reversed(reasoning_steps(target)):  # from the end: earlier spans stay valid
        target = target[:start] + rewrite(target[start:end]) + target[end:]
    return dict(record, target=target, steps=reasoning_steps(target))

"""Model construction: tiny self-built checkpoints of the real architectures (see :mod:`.tiny`)."""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> defining module. Imported lazily so `python -m reasoning_irl.models.tiny` does not
# import the module twice (runpy warns) and `import reasoning_irl.models` stays cheap.
_EXPORTS = {
    "ARCHES": "reasoning_irl.models.tiny",
    "PRESETS": "reasoning_irl.models.tiny",
    "build_tiny_model": "reasoning_irl.models.tiny",
    "ensure_tiny_model": "reasoning_irl.models.tiny",
    "CHAT_TEMPLATES": "reasoning_irl.models.tokenizer_training",
    "END_OF_TURN": "reasoning_irl.models.tokenizer_training",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)

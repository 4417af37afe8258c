"""Rendering chat prompts to text, always through the tokenizer's own chat template."""

from __future__ import annotations

from typing import Any


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The prompt text a model sees, ending with the assistant generation header."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', '?')!r} has no chat template; "
            "use an instruct/chat checkpoint or a tokenizer that defines one"
        )
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def render_conversation(tokenizer: Any, messages: list[dict[str, str]], completion: str) -> str:
    """Prompt plus an assistant completion, as one text through the chat template."""
    full = [*messages, {"role": "assistant", "content": completion}]
    return tokenizer.apply_chat_template(full, tokenize=False)

"""Token counts per model: tiktoken for OpenAI-family models, the model's own tokenizer
for local ones; and usage estimates for replies whose provider reported none."""

from __future__ import annotations

from collections.abc import Iterable

from ragline.tokens import encoding_name_for_model, get_encoding
from ragline.types import Message, Usage

_LOCAL_MODEL_PREFIXES = ("smollm2",)
_MESSAGE_OVERHEAD = 3  # role and separators a chat format adds per message (OpenAI's figure)


def count_tokens(text: str, model: str = "gpt-4o") -> int:
    """Count the tokens ``text`` takes for ``model``.

    Local models (``SmolLM2-...``) use their own tokenizer; every other model
    uses its tiktoken encoding (for non-OpenAI hosted models this is an
    estimate: their tokenizers are not public).
    """
    if model.lower().startswith(_LOCAL_MODEL_PREFIXES):
        from ragline.models.local import load_local_tokenizer

        return len(load_local_tokenizer().encode(text, add_special_tokens=False))
    return len(get_encoding(encoding_name_for_model(model)).encode(text, disallowed_special=()))


def estimate_usage(messages: Iterable[Message], reply: str, model: str) -> Usage:
    """Usage counted locally, ``estimated=True``: the prompt's messages in, ``reply`` out.

    Each message adds a few tokens of chat formatting on top of its content.
    """
    prompt = sum(count_tokens(m.content, model) + _MESSAGE_OVERHEAD for m in messages)
    return Usage(input_tokens=prompt, output_tokens=count_tokens(reply, model), estimated=True)
